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

mod alternative;
mod boot;
mod cache;
mod console;
mod cpu;
mod cpufeature;
mod crc32;
mod driver;
mod dtb;
mod exception;
mod heap;
mod late_region;
mod memory;
mod psci;
mod rendezvous;
mod selftest;
mod semihosting;
mod smp;
#[cfg(feature = "stale-object")]
#[path = "../tests/stale/stale_object.rs"]
mod stale_object;
mod sync;
mod time;

use altpatch_core::{
    bootargs,
    caps::{self, Cap, CapSet, CpuFeatures},
};
use semihosting::ExitStatus;

/// Where QEMU `virt` puts the device tree for a bare ELF, which it starts with x0 = 0: the
/// start of RAM (QEMU docs/system/arm/virt.rst, "Hardware configuration information for
/// bare-metal programming"). Used only when x0 holds no tree.
const QEMU_VIRT_BARE_METAL_DTB: u64 = 0x4000_0000;

/// How long the boot CPU waits for every CPU to check in to the rendezvous, in
/// microseconds of generic-timer time.
const RENDEZVOUS_TIMEOUT_US: u64 = 2_000_000;

/// The boot CPU's Rust entry, from `boot/entry.s`: MMU off, BSS zeroed, on CPU 0's stack.
extern "C" fn kernel_init(dtb: u64, entry_el: u64) -> ! {
    cpu::set_cpu_index(0);
    // SAFETY: x0 is 0 for a bare ELF, or the tree's address in RAM under the Linux protocol.
    let dtb = if unsafe { dtb::looks_like_fdt(dtb) } { dtb } else { QEMU_VIRT_BARE_METAL_DTB };
    // SAFETY: the tree QEMU hands over stays in RAM untouched: the heap excludes it below.
    let info = match unsafe { dtb::parse(dtb, cpu::mpidr_affinity()) } {
        Ok(info) => info,
        Err(error) => {
            // No console without the tree: report through the debugger's.
            let mut message = semihosting::Message::new();
            let _ = core::fmt::Write::write_fmt(
                &mut message,
                format_args!("altpatch: no usable device tree: {error}\n"),
            );
            message.write0();
            semihosting::exit(ExitStatus::Oops);
        }
    };

    let layout = memory::kernel_layout();
    let mut devices = info.machine.gic.clone();
    devices.push(info.machine.uart.clone());
    let map = memory::mmu::MemoryMap {
        ram: info.machine.ram.as_slice(),
        devices: devices.as_slice(),
        kernel: &layout,
    };
    // SAFETY: one CPU, MMU off; the map covers the image, its stacks and RAM.
    unsafe { memory::mmu::enable(&map) };
    // SAFETY: the UART's registers are identity mapped as Device memory from here on, and
    // the console is the only user.
    console::init(unsafe { driver::pl011::Pl011::new(info.machine.uart.start as usize) });
    cpu::enable_event_stream();

    let Some(free) =
        heap::largest_free(info.machine.ram.as_slice(), &[layout.image.clone(), info.dtb.clone()])
    else {
        println!("altpatch: no free RAM for the heap");
        bug!();
    };
    // SAFETY: `free` is mapped read-write and overlaps neither the image nor the tree.
    unsafe { heap::init(free) };
    println!("Booting altpatch on CPU 0 (MPIDR {:#x}) at EL{entry_el}", info.machine.mpidrs[0]);
    println!(
        "Machine: {} CPUs in the device tree, PSCI via {:?}, heap {} KiB",
        info.machine.cpu_count,
        info.machine.psci,
        heap::size() / 1024
    );
    if !info.machine.bootargs.is_empty() {
        println!("Kernel command line: {}", info.machine.bootargs);
    }
    let options = BootOptions::parse(info.machine.bootargs);
    smp::set_overrides(options.overrides);
    if options.faults.bug {
        bug!();
    }

    // 1. The boot CPU's features, and the boot-CPU alternatives, patched alone.
    let t_detect = time::Instant::now();
    smp::register_this_cpu(0);
    let boot_regs = smp::id_regs(0).copied().unwrap_or_default();
    let platform = caps::Platform { gicv3: info.machine.gicv3, ..caps::Platform::default() };
    let mut features = CpuFeatures::new(&boot_regs, &platform);
    let boot_caps = features.boot_cpu_caps();
    let t_detect_end = time::Instant::now();
    cpufeature::set_boot(boot_caps);
    for cap in boot_caps.iter().filter(|cap| cap.reported()) {
        println!("CPU features: detected: {}", cap.description());
    }
    let t_boot_alt = time::Instant::now();
    let mut kernel_region = alternative::AltRegion::kernel();
    if let Some(kind) = options.faults.corrupt {
        kernel_region.table_bytes = alternative::corrupted_table(&kernel_region, kind);
        println!("altpatch: fault injection: one kernel table entry corrupted ({kind})");
    }
    // The first pass validates the whole table before it writes anything.
    println!("alternatives: applying boot alternatives");
    // Before the system set is final, `cpus_have_cap` answers from the boot-CPU set.
    let boot_enabled = |index: u16| Cap::from_index(index).is_some_and(cpufeature::cpus_have_cap);
    // SAFETY: no other CPU runs yet; the ISB below synchronises this one.
    let boot_pass =
        match unsafe { alternative::patch(&kernel_region, &boot_enabled, caps::effective_ctr(&boot_regs)) } {
            Ok(summary) => summary,
            Err(defects) => alternative::refuse_table(&defects),
        };
    cpu::context_sync();
    alternative::check_boot_patched();
    let t_boot_alt_end = time::Instant::now();

    // 2. The secondaries come up; their features are sanitised in.
    let online = match smp::bring_up(&info, &options.faults, options.max_cpus) {
        Ok(n) => n,
        Err(errors) => smp::fail(&errors),
    };
    println!("SMP: Total of {online} processors activated.");
    for cpu in 1..online {
        let Some(regs) = smp::id_regs(cpu) else { continue };
        // The secondaries run text the boot pass already patched: each must have every
        // boot-CPU capability (Linux's verify_local_cpu_caps).
        let lacking: alloc::vec::Vec<&str> = boot_caps
            .iter()
            .filter(|cap| !cap.row().rule.matches_cpu(regs, &platform))
            .map(Cap::ident)
            .collect();
        if !lacking.is_empty() {
            println!(
                "SMP: CPU{cpu} (MPIDR {:#x}) lacks boot-CPU capabilities {}: it would run code patched for them",
                info.machine.mpidrs[cpu],
                lacking.join(", ")
            );
            semihosting::exit(ExitStatus::CpuBringUp);
        }
        features.add_cpu(regs);
    }
    if entry_el == 2 {
        println!("CPU: All CPU(s) entered at EL2 and dropped to EL1");
    }
    println!("CPU: All CPU(s) started at EL1");

    // 3. The system capabilities, patched under the rendezvous of every online CPU.
    let system = cpufeature::set_final(features.finalise());
    for cap in system.caps().difference(&boot_caps).iter().filter(|cap| cap.reported()) {
        println!("CPU features: detected: {}", cap.description());
    }
    alternative::set_system_ctr_el0(system.ctr_el0());
    println!("alternatives: applying system-wide alternatives");
    let system_enabled =
        |index: u16| Cap::from_index(index).is_some_and(|cap| system.has(cap) && !boot_caps.contains(cap));
    let online_mask = smp::online_mask();
    let t_system = time::Instant::now();
    let daif = cpu::mask_exceptions();
    let result = rendezvous::RENDEZVOUS.stop_machine(
        0,
        online_mask,
        time::micros_to_ticks(options.rendezvous_timeout_us),
        // SAFETY: every other online CPU waits in the rendezvous, in code no entry patches,
        // and synchronises its context before it leaves.
        || unsafe { alternative::patch(&kernel_region, &system_enabled, system.ctr_el0()) },
    );
    cpu::restore_exceptions(daif);
    let t_system_end = time::Instant::now();
    let (system_pass, stats) = match result {
        Ok(done) => match done.output {
            Ok(summary) => (summary, done.stats),
            Err(defects) => alternative::refuse_table(&defects),
        },
        Err(missing) => {
            println!("alternatives: rendezvous failed: {missing}; nothing was patched");
            semihosting::exit(ExitStatus::CpuBringUp);
        }
    };
    alternative::check_system_patched();
    let patched = boot_pass.patched + system_pass.patched;
    println!(
        "alternatives: {} patched, {} skipped of {} entries on {} CPUs",
        patched,
        system_pass.entries - patched,
        system_pass.entries,
        online_mask.count_ones()
    );
    let ops = boot_pass.ops + system_pass.ops;
    println!(
        "alternatives: maintenance: {} dc cvau, {} ic ivau, {} dc civac, {} ic iallu",
        ops.dc_cvau, ops.ic_ivau, ops.dc_civac, ops.ic_iallu
    );
    let us = |from: time::Instant, to: time::Instant| time::ticks_to_micros(to.0 - from.0);
    println!(
        "altpatch: timing: detect {} us, boot alternatives {} us, rendezvous+system patch {} us, stop window {} us, patch {} us",
        us(t_detect, t_detect_end),
        us(t_boot_alt, t_boot_alt_end),
        us(t_system, t_system_end),
        time::ticks_to_micros(stats.stop_window()),
        time::ticks_to_micros(stats.patch_time()),
    );
    print_caps(system.caps());

    // 4. Late regions, like Linux's module alternatives: the same validation, a later
    // generation of the same rendezvous; a bad region is refused and the kernel goes on.
    let late_enabled = |index: u16| Cap::from_index(index).is_some_and(|cap| system.has(cap));
    apply_late_region(&late_region::region(), &late_enabled, system, &options);
    if options.faults.late_region_bad {
        apply_late_region(&late_region::bad_region(), &late_enabled, system, &options);
    }

    // 5. CPUs that come late are checked against the final capabilities.
    smp::bring_up_late(&info, system, options.max_cpus);

    // 6. The patched code, exercised on every CPU.
    let status = selftest::run_all(system);
    if status == ExitStatus::Success {
        println!("altpatch: self-test passed");
    }
    semihosting::exit(status)
}

/// Applies a late region under the rendezvous; a defective region is reported and refused
/// (nothing of it patched) and the kernel goes on.
fn apply_late_region(
    region: &alternative::AltRegion,
    enabled: &dyn Fn(u16) -> bool,
    system: &caps::SystemCaps,
    options: &BootOptions,
) {
    let daif = cpu::mask_exceptions();
    let result = rendezvous::RENDEZVOUS.stop_machine(
        0,
        smp::online_mask(),
        time::micros_to_ticks(options.rendezvous_timeout_us),
        // SAFETY: every other online CPU waits in the rendezvous, in code no entry patches,
        // and synchronises its context before it leaves.
        || unsafe { alternative::patch(region, enabled, system.ctr_el0()) },
    );
    cpu::restore_exceptions(daif);
    match result {
        Ok(done) => match done.output {
            Ok(pass) => println!(
                "alternatives: late region '{}': {} patched, {} skipped of {} entries (rendezvous generation {})",
                region.name,
                pass.patched,
                pass.entries - pass.patched,
                pass.entries,
                done.stats.generation
            ),
            Err(defects) => {
                for defect in &defects {
                    println!("{defect}");
                }
                println!(
                    "alternatives: late region '{}' refused: {} bad entries, nothing patched; the kernel goes on",
                    region.name,
                    defects.len()
                );
            }
        },
        Err(missing) => {
            println!("alternatives: rendezvous failed: {missing}; nothing was patched");
            semihosting::exit(ExitStatus::CpuBringUp);
        }
    }
}

/// `altpatch: caps IDENT ...`: every system capability, in list order (the always-true
/// pseudo-capabilities are not reported).
fn print_caps(caps: &CapSet) {
    let mut line = alloc::string::String::from("altpatch: caps");
    for cap in caps.iter().filter(|cap| cap.reported()) {
        line.push(' ');
        line.push_str(cap.ident());
    }
    println!("{line}");
}

/// What the command line asks for.
struct BootOptions {
    overrides: caps::overrides::Overrides,
    faults: smp::Faults,
    max_cpus: Option<usize>,
    rendezvous_timeout_us: u64,
}

impl BootOptions {
    /// Hands each argument to its owner; reports every one that none accepts.
    fn parse(cmdline: &str) -> Self {
        let mut options = BootOptions {
            overrides: Default::default(),
            faults: Default::default(),
            max_cpus: None,
            rendezvous_timeout_us: RENDEZVOUS_TIMEOUT_US,
        };
        for arg in bootargs::parse(cmdline) {
            let taken = match options.overrides.accept(&arg) {
                Ok(true) => Ok(()),
                Ok(false) => options.accept(&arg),
                Err(error) => Err(error),
            };
            if let Err(error) = taken {
                println!("altpatch: bad boot argument '{arg}': {error}");
            }
        }
        options
    }

    fn accept(&mut self, arg: &bootargs::BootArg<'_>) -> Result<(), bootargs::ArgError> {
        use bootargs::ArgError::{Malformed, Unknown};
        let number = arg.value.map(|v| bootargs::parse_u64(v).ok_or(Malformed("a number")));
        let cpu = || match number {
            Some(Ok(n)) if (n as usize) < cpu::MAX_CPUS => Ok(n as usize),
            Some(Ok(_)) => Err(Malformed("a CPU index below 64")),
            Some(Err(e)) => Err(e),
            None => Err(bootargs::ArgError::MissingValue),
        };
        match arg.key {
            "maxcpus" => self.max_cpus = Some(cpu()?.max(1)),
            "fault.cpu_stall" => self.faults.stall_cpu = Some(cpu()?),
            "fault.psci_cpu_on" => self.faults.bad_cpu_on = Some(cpu()?),
            "fault.rendezvous_absent" => self.faults.rendezvous_absent = Some(cpu()?),
            "fault.bug" if arg.value.is_none() => self.faults.bug = true,
            "fault.late_region_bad" if arg.value.is_none() => self.faults.late_region_bad = true,
            "fault.late_region_bad" => return Err(Malformed("no value")),
            "fault.corrupt" => {
                let kind = arg.value.ok_or(bootargs::ArgError::MissingValue)?;
                let known = alternative::CORRUPTIONS.iter().find(|&&k| k == kind);
                self.faults.corrupt = Some(known.ok_or(Malformed(
                    "one of cap, length, words, site, align, replacement, callback, overlap, fingerprint",
                ))?);
            }
            "fault.bug" => return Err(Malformed("no value")),
            _ => return Err(Unknown),
        }
        Ok(())
    }
}

/// A secondary CPU's life after it comes online: serve every rendezvous and every call.
fn secondary_main(index: usize) -> ! {
    cpu::enable_event_stream();
    smp::serve(index)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::print_line_urgent(format_args!("Kernel panic - not syncing: {info}"));
    semihosting::exit(ExitStatus::Oops)
}
