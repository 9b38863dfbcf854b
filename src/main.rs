//! altpatch: a small AArch64 kernel that detects CPU features and rewrites its own code to
//! use them, on every CPU at once, refusing any alternatives table it cannot trust.
//!
//! The boot flow follows Linux's: the boot CPU detects its features and applies the
//! boot-CPU alternatives alone; the secondaries come up and are checked; the system-wide
//! capabilities are finalised and their alternatives applied under a stop-machine
//! rendezvous of every CPU; then the self-tests prove the patched code works.

#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod console;
mod cpu;
mod driver;
mod dtb;
mod exception;
mod heap;
mod memory;
mod psci;
mod semihosting;
mod smp;
mod time;

use altpatch_core::bootargs;
use semihosting::ExitStatus;

/// Where QEMU `virt` puts the device tree for a bare ELF, which it starts with x0 = 0: the
/// start of RAM (QEMU docs/system/arm/virt.rst, "Hardware configuration information for
/// bare-metal programming"). Used only when x0 holds no tree.
const QEMU_VIRT_BARE_METAL_DTB: u64 = 0x4000_0000;

/// The boot CPU's Rust entry, from `boot/entry.s`: MMU off, BSS zeroed, on CPU 0's stack.
extern "C" fn kernel_init(dtb: u64, entry_el: u64) -> ! {
    cpu::set_cpu_index(0);
    let dtb = if dtb::looks_like_fdt(dtb) { dtb } else { QEMU_VIRT_BARE_METAL_DTB };
    // SAFETY: the tree QEMU hands over stays in RAM untouched: the heap excludes it below.
    let info = match unsafe { dtb::parse(dtb, cpu::mpidr_affinity()) } {
        Ok(info) => info,
        Err(_) => {
            semihosting::write0(b"altpatch: no usable device tree\n\0");
            semihosting::exit(ExitStatus::Oops);
        }
    };

    let layout = memory::kernel_layout();
    let mut devices = info.gic.clone();
    devices.push(info.uart.clone());
    let map = memory::mmu::MemoryMap { ram: info.ram.as_slice(), devices: devices.as_slice(), kernel: &layout };
    // SAFETY: one CPU, MMU off; the map covers the image, its stacks and RAM.
    unsafe { memory::mmu::enable(&map) };
    // SAFETY: the UART's registers are identity mapped as Device memory from here on, and
    // the console is the only user.
    console::init(unsafe { driver::pl011::Pl011::new(info.uart.start as usize) });

    let Some(free) = heap::largest_free(info.ram.as_slice(), &[layout.image.clone(), info.dtb.clone()]) else {
        println!("altpatch: no free RAM for the heap");
        bug!();
    };
    // SAFETY: `free` is mapped read-write and overlaps neither the image nor the tree.
    unsafe { heap::init(free) };
    println!("Booting altpatch on CPU 0 (MPIDR {:#x}) at EL{entry_el}", info.mpidrs[0]);
    println!("Machine: {} CPUs in the device tree, PSCI via {:?}, heap {} KiB", info.cpu_count, info.psci, heap::size() / 1024);
    if !info.bootargs.is_empty() {
        println!("Kernel command line: {}", info.bootargs);
    }

    let mut faults = smp::Faults::default();
    for arg in bootargs::parse(info.bootargs) {
        let taken = match (arg.key, arg.value.and_then(bootargs::parse_u64)) {
            ("fault.cpu_stall", Some(n)) => {
                faults.stall_cpu = Some(n as usize);
                Ok(())
            }
            ("fault.psci_cpu_on", Some(n)) => {
                faults.bad_cpu_on = Some(n as usize);
                Ok(())
            }
            ("fault.cpu_stall" | "fault.psci_cpu_on", None) => Err(bootargs::ArgError::Malformed("a CPU index")),
            ("fault.bug", None) => {
                faults.bug = true;
                Ok(())
            }
            _ => Err(bootargs::ArgError::Unknown),
        };
        if let Err(error) = taken {
            println!("altpatch: bad boot argument '{arg}': {error}");
        }
    }

    if faults.bug {
        bug!();
    }

    smp::register_this_cpu(0);
    let cpus = match smp::bring_up(&info, &faults) {
        Ok(n) => n,
        Err(errors) => smp::fail(&errors),
    };
    println!("SMP: Total of {cpus} processors activated.");
    if entry_el == 2 {
        println!("CPU: All CPU(s) entered at EL2 and dropped to EL1");
    }
    println!("CPU: All CPU(s) started at EL1");

    println!("altpatch: self-test passed");
    semihosting::exit(ExitStatus::Success)
}

/// A secondary CPU's life after it comes online.
fn secondary_main(_index: usize) -> ! {
    cpu::park()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::print_line_urgent(format_args!("Kernel panic - not syncing: {info}"));
    semihosting::exit(ExitStatus::Oops)
}
