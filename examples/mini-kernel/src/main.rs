//! A minimal AArch64 kernel that takes Linux-style boot-time alternatives through altpatch's
//! public crates only, with a capability list of its own.
//!
//! Boot (QEMU `virt`, EL1, started as a bare ELF by aarch64-rt's `entry`):
//!
//! 1. aarch64-rt enables the MMU with its initial identity map; [`main`] builds the kernel's
//!    own page table (text read-only and executable, everything else never executable).
//! 2. The boot CPU detects its capabilities ([`caps::MiniCaps`]); the table is checked
//!    whole (`altpatch_aarch64::check`): any defect is printed and the kernel exits 3.
//! 3. The boot pass: the boot CPU's boot-scope capabilities, applied under the rendezvous
//!    with the boot CPU alone in the set.
//! 4. The secondaries come up through PSCI CPU_ON (aarch64-rt's `start_core`), detect their
//!    own capabilities and wait in `Rendezvous::participate`.
//! 5. The system pass: the capabilities every CPU has, applied under the rendezvous with every
//!    online CPU held, through a writable, never-executable alias of the text.
//! 6. Every CPU runs the self-test of every patched site; the kernel exits 0 when all pass.

#![no_std]
#![no_main]

extern crate alloc;

mod caps;
mod console;
mod cpus;
#[cfg(feature = "foreign-object")]
mod foreign;
mod mmu;
mod platform;
mod selftest;
mod smp;

use aarch64_cpu::registers::{CurrentEL, ELR_EL1, ESR_EL1, FAR_EL1, MPIDR_EL1, Readable};
use aarch64_rt::{ExceptionHandlers, RegisterStateRef, entry, exception_handlers};
use alloc::vec::Vec;
use altpatch_aarch64::{Applied, ArmPlatform, CapabilityList, Checked, Image, PassError, Passes};
use altpatch_rendezvous::{Completed, CpuSet};
use linked_list_allocator::LockedHeap;
use qemu_virt::fdt;

use caps::{CapMask, IdRegs, MiniCaps, Scope};
use cpus::CPUS;
use platform::{ExitStatus, RENDEZVOUS, exit};

entry!(main, 16);

/// The heap: the engine's checked table and plans, and the page tables.
#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();
/// The heap's memory (in .bss, zeroed by aarch64-rt's entry).
static mut HEAP_MEMORY: [u8; 1 << 20] = [0; 1 << 20];

/// How long a CPU may take to come online, and the rendezvous to gather every CPU.
const CPU_TIMEOUT_US: u64 = 5_000_000;

/// The boot, phase by phase (the crate docs above): the machine, the boot CPU, the table,
/// the boot pass, the secondaries, the system pass, the self-tests.
fn main(x0: u64, _x1: u64, _x2: u64, _x3: u64) -> ! {
    ArmPlatform::enable_event_stream();
    let machine = early_init(x0);

    // 1. The boot CPU's capabilities.
    let (boot_caps, boot_ctr) = (IdRegs::read().caps(), caps::read_ctr_el0());
    CPUS.arrive(0, boot_caps, boot_ctr);
    let boot_enabled = boot_caps.in_scope(Scope::Boot);
    report_detected(boot_enabled);

    // 2. The whole table, checked once against the kernel's own list, every defect named.
    let layout = mmu::ImageLayout::get();
    // SAFETY: mini-kernel.ld inserts alternatives.ld into the read-only data; the text is
    // mapped read-only (written only through `TextAliasMap` by the passes) and the read-only
    // data never writable, both for good (`mmu::init`); this is the kernel's one `Image`.
    let mut image = unsafe { Image::new(layout.text.0..layout.text.1, layout.rodata.0..layout.rodata.1) };
    let checked = image.check::<MiniCaps>().unwrap_or_else(|err| fail(err));
    report_checked(&checked);

    // 3. The boot pass: the boot CPU alone in the stop window.
    println!("alternatives: applying boot alternatives");
    let passes = Passes {
        rendezvous: &RENDEZVOUS,
        alias: &mmu::TextAliasMap,
        primary: 0,
        timeout: console::micros_to_ticks(CPU_TIMEOUT_US),
    };
    let boot_applied = applied(passes.boot_pass(&mut image, &checked, &|i| boot_enabled.has(i), boot_ctr));

    // 4. The secondaries, each with every capability the boot pass patched in.
    let online = smp::bring_up(&machine);
    println!("SMP: Total of {online} processors activated.");
    refuse_lacking_secondaries(online, boot_enabled);
    println!("CPU: All CPU(s) started at EL1");

    // 5. The system pass: every online CPU held.
    let (system_caps, system_ctr) = CPUS.system(online);
    let system_enabled = system_caps.in_scope(Scope::System);
    report_detected(system_enabled);
    let enabled = CapMask(boot_enabled.0 | system_enabled.0);
    CPUS.publish(enabled, system_ctr);
    println!("alternatives: applying system-wide alternatives");
    let (cpus, system_on) = (CpuSet::first(online), |i| system_enabled.has(i));
    let system_applied = applied(passes.system_pass(&mut image, &checked, &system_on, system_ctr, cpus));
    report_applied(checked.entries(), online, enabled, [boot_applied, system_applied]);

    // 6. The self-test, on every CPU (the secondaries started theirs when released).
    selftests(&image, checked.entries(), online, enabled)
}

/// The heap, the banner, the exception level, the device tree, the page tables and the
/// command line: the machine the rest of the boot runs on.
fn early_init(x0: u64) -> fdt::Machine<'static> {
    // SAFETY: the heap memory is used by the allocator alone, from here on.
    unsafe { HEAP.lock().init((&raw mut HEAP_MEMORY).cast::<u8>(), 1 << 20) };
    println!("mini-kernel: booting (aarch64-rt, altpatch-core, altpatch-rendezvous, altpatch-aarch64)");
    if CurrentEL.read(CurrentEL::EL) != 1 {
        println!("mini-kernel: entered at EL{}; only EL1 is supported", CurrentEL.read(CurrentEL::EL));
        exit(ExitStatus::Panic);
    }
    let machine = read_device_tree(x0);
    let ram = machine.ram.as_slice().first().cloned().unwrap_or(0x4000_0000..0x4800_0000);
    mmu::init(ram.clone());
    println!(
        "mini-kernel: {} CPUs in the device tree, PSCI via {:?}, RAM {:#x}..{:#x}",
        machine.cpu_count, machine.psci, ram.start, ram.end
    );
    take_command_line(machine.bootargs);
    #[cfg(feature = "foreign-object")]
    {
        foreign::site();
        foreign::second_site();
    }
    machine
}

/// The mini kernel's fault-injection arguments: `mini.rendezvous_absent=N` (CPU N stays out
/// of the system pass, which must then time out: exit 4, nothing patched; a bad value is
/// reported) and `mini.second_image` (an `Image` made and kept here, so that the boot's own
/// `Image::new` must panic: exit 2, nothing patched).
fn take_command_line(bootargs: &[u8]) {
    // Anything that is not UTF-8 is not the argument.
    let bootargs = core::str::from_utf8(bootargs).unwrap_or_default();
    if !bootargs.is_empty() {
        println!("Kernel command line: {}", bootargs.escape_debug());
    }
    if bootargs.split_whitespace().any(|arg| arg == "mini.second_image") {
        let (text, rodata) = (mmu::ImageLayout::get().text, mmu::ImageLayout::get().rodata);
        // SAFETY: as the boot's own `Image::new` (main); this one is never used to lend or
        // patch: it is forgotten, so it lives for good.
        core::mem::forget(unsafe { Image::new(text.0..text.1, rodata.0..rodata.1) });
    }
    if let Some(cpu) = bootargs.split_whitespace().find_map(|arg| arg.strip_prefix("mini.rendezvous_absent="))
    {
        match cpu.parse::<u64>() {
            Ok(cpu) => CPUS.keep_out(cpu),
            Err(_) => println!("mini-kernel: bad boot argument 'mini.rendezvous_absent={cpu}'"),
        }
    }
}

/// Exits 4 when a secondary lacks a capability the boot pass patched in: it would run
/// code patched for it.
fn refuse_lacking_secondaries(online: usize, boot_enabled: CapMask) {
    for cpu in 1..online {
        let lacking = boot_enabled.minus(CPUS.caps(cpu));
        if lacking != CapMask(0) {
            let names: Vec<&str> = lacking.idents().collect();
            println!(
                "SMP: CPU{cpu} lacks boot-CPU capabilities {}: it would run code patched for them",
                names.join(", ")
            );
            exit(ExitStatus::Rendezvous);
        }
    }
}

/// `alternatives: N entries checked against list ...`.
fn report_checked(checked: &Checked) {
    println!(
        "alternatives: {} entries checked against list '{}' (fingerprint {:#010x}, {} capabilities)",
        checked.entries(),
        MiniCaps::LIST.label,
        MiniCaps::LIST.fingerprint,
        MiniCaps::LIST.ncaps()
    );
}

/// The summary lines of both passes and the `altpatch: caps` line.
fn report_applied(entries: usize, online: usize, enabled: CapMask, passes: [Applied; 2]) {
    let patched = passes[0].patched + passes[1].patched;
    println!(
        "alternatives: {patched} patched, {} skipped of {entries} entries on {online} CPUs",
        entries - patched
    );
    let ops = passes[0].ops + passes[1].ops;
    println!(
        "alternatives: {} bytes of text written; maintenance: {} dc cvau, {} ic ivau",
        passes[0].bytes_written + passes[1].bytes_written,
        ops.dc_cvau,
        ops.ic_ivau
    );
    let idents: Vec<&str> = enabled.idents().collect();
    println!("altpatch: caps {}", idents.join(" "));
}

/// The boot CPU's self-test, then every CPU's verdict, the shared counter, W^X and the
/// source records: exit 0 when all pass, 1 otherwise.
fn selftests(image: &Image, entries: usize, online: usize, enabled: CapMask) -> ! {
    smp::selftest_this_cpu(0);
    let mut failed = match CPUS.wait_selftests(online, CPU_TIMEOUT_US) {
        Ok(all_passed) => !all_passed,
        Err(missing) => {
            println!("altpatch: self-test: CPUs {missing:#x} did not finish");
            exit(ExitStatus::SelfTestFailed);
        }
    };
    let count = selftest::COUNTER.load(core::sync::atomic::Ordering::Acquire);
    let expected = online as u64 * selftest::INCREMENTS_PER_CPU;
    if count != expected {
        println!(
            "altpatch: self-test failed: fetch_add counted {count}, expected {expected} ({online} CPUs)"
        );
        failed = true;
    }
    if !selftest::text_is_never_writable() {
        failed = true;
    }
    if let Err(why) = selftest::source_records(image, entries) {
        println!("altpatch: self-test failed: source records: {why}");
        failed = true;
    }
    if failed {
        exit(ExitStatus::SelfTestFailed);
    }
    let lse = enabled.has(altpatch_aarch64::cap_index!(MiniCaps, HAS_LSE));
    println!(
        "altpatch: {count} increments from {online} CPUs with {}",
        if lse { "LSE atomics" } else { "LL/SC atomics" }
    );
    println!("altpatch: self-test passed");
    exit(ExitStatus::Success)
}

/// The device tree QEMU hands a bare ELF (x0 = 0: at the start of RAM).
fn read_device_tree(x0: u64) -> fdt::Machine<'static> {
    let at = if x0 != 0 { x0 } else { qemu_virt::BARE_METAL_DTB } as usize;
    // SAFETY: the initial map covers the first GiB of RAM, where QEMU put the tree; its
    // header is 40 bytes, and nothing writes the tree.
    let header = unsafe { core::slice::from_raw_parts(at as *const u8, 40) };
    let machine = fdt::total_size(header).and_then(|size| {
        // SAFETY: as above, for the size the header gives (QEMU's trees are a few KiB).
        let blob = unsafe { core::slice::from_raw_parts(at as *const u8, size) };
        fdt::machine(blob)
    });
    match machine {
        Ok(machine) => machine,
        Err(err) => {
            println!("mini-kernel: device tree at {at:#x} unreadable: {err:?}");
            exit(ExitStatus::Panic)
        }
    }
}

/// Prints `CPU features: detected: ...` for the reported capabilities of `caps`.
fn report_detected(caps: CapMask) {
    for cap in caps::CAPS.iter().filter(|cap| caps.has(cap.index)) {
        if let Some(description) = cap.description {
            println!("CPU features: detected: {description}");
        }
    }
}

/// What a pass wrote; a failed pass ends the boot ([`fail`]).
fn applied(pass: Result<Completed<Applied>, PassError>) -> Applied {
    pass.map(|done| done.output).unwrap_or_else(|err| fail(err))
}

/// Reports `err` and exits: 3 when the table is refused (nothing was patched), 4 when the
/// rendezvous fails, 1 when the audit finds text that did not take the write.
fn fail(err: PassError) -> ! {
    err.report(&mut |line| console::print_line(line));
    exit(match err {
        PassError::Refused(_) => ExitStatus::InvalidTable,
        PassError::Rendezvous(_) => ExitStatus::Rendezvous,
        PassError::Audit(_) => ExitStatus::SelfTestFailed,
    })
}

/// This CPU's number (MPIDR Aff0 on QEMU `virt`).
fn this_cpu() -> u64 {
    MPIDR_EL1.get() & 0xff
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::print_line_unlocked(format_args!("kernel panic on CPU{}: {info}", this_cpu()));
    exit(ExitStatus::Panic)
}

/// The exception vector's handlers (aarch64-rt's `exceptions` feature).
struct Exceptions;

impl ExceptionHandlers for Exceptions {
    extern "C" fn sync_current(_state: RegisterStateRef) {
        console::print_line_unlocked(format_args!(
            "Unexpected synchronous exception on CPU{}: ESR {:#x}, ELR {:#x}, FAR {:#x}",
            this_cpu(),
            ESR_EL1.get(),
            ELR_EL1.get(),
            FAR_EL1.get()
        ));
        exit(ExitStatus::Panic)
    }
}

exception_handlers!(Exceptions);
