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
#[cfg(feature = "fault-injection")]
mod fault;
mod heap;
mod late_region;
mod memory;
mod modules;
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

use alternative::AltRegion;
use altpatch_aarch64::Checked;
use altpatch_rendezvous::CpuSet;
use arm64_caps::caps::{self, Cap, CapSet, CpuFeatures, SystemCaps};
use arm64_caps::cmdline::{self, ArgError, BootArg};
use semihosting::ExitStatus;

/// How long the boot CPU waits for every CPU to check in to the rendezvous, in
/// microseconds of generic-timer time.
const RENDEZVOUS_TIMEOUT_US: u64 = 2_000_000;

/// The boot CPU's Rust entry, from `boot/entry.s`: MMU off, BSS zeroed, on CPU 0's stack.
/// Linux's boot, phase by phase.
extern "C" fn kernel_init(dtb: u64, entry_el: u64) -> ! {
    let (info, options) = early_init(dtb, entry_el);
    let t_detect = time::Instant::now();
    let (mut features, boot_caps) = boot_cpu_features(&info);
    let t_boot_alternatives = time::Instant::now();
    let kernel = boot_alternatives(&options);
    let boot_us = [t_detect, t_boot_alternatives, time::Instant::now()];
    smp_bring_up(&info, &options, boot_caps, &mut features, entry_el);
    let system = system_features(features, boot_caps);
    system_alternatives(&kernel, system, boot_caps, boot_us);
    late_work(&info, system, &options);
    self_tests(system)
}

/// The device tree, the MMU, the console, the heap and the command line.
fn early_init(dtb: u64, entry_el: u64) -> (dtb::BootInfo, BootOptions) {
    cpu::set_cpu_index(0);
    // SAFETY: x0 is 0 for a bare ELF, or the tree's address in RAM under the Linux protocol.
    let dtb = if unsafe { dtb::looks_like_fdt(dtb) } { dtb } else { qemu_virt::BARE_METAL_DTB };
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
    let windows = [memory::mmu::MODULE_AREA, modules::STAGING];
    let in_ram = |w: &core::ops::Range<u64>| {
        info.machine.ram.as_slice().iter().any(|r| r.start <= w.start && w.end <= r.end)
    };
    modules::set_available(windows.iter().all(in_ram));
    let taken = [layout.image.clone(), info.dtb.clone(), windows[0].clone(), windows[1].clone()];
    let Some(free) = heap::largest_free(info.machine.ram.as_slice(), &taken) else {
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
    smp::configure(options.overrides, options.faults);
    if options.faults.bug {
        bug!();
    }
    (info, options)
}

/// The boot CPU's ID registers, and the capabilities decided from it alone.
fn boot_cpu_features(info: &dtb::BootInfo) -> (CpuFeatures, CapSet) {
    smp::register_this_cpu(0);
    let boot_regs = smp::id_regs(0).copied().unwrap_or_default();
    let platform = caps::Platform { gicv3: info.machine.gicv3, ..caps::Platform::default() };
    let features = CpuFeatures::new(&boot_regs, &platform);
    let boot_caps = features.boot_cpu_caps();
    cpufeature::set_boot(boot_caps);
    for cap in boot_caps.iter().filter(|cap| cap.reported()) {
        println!("CPU features: detected: {}", cap.description());
    }
    (features, boot_caps)
}

/// The kernel's table, checked once (every defect named, nothing written), then the
/// boot-CPU capabilities' entries applied with the boot CPU alone in the stop window.
fn boot_alternatives(options: &BootOptions) -> (AltRegion, Checked) {
    #[allow(unused_mut)]
    let mut region = AltRegion::kernel();
    #[cfg(feature = "fault-injection")]
    if let Some(kind) = options.faults.corrupt {
        region.table_bytes = fault::corrupted_table(&region, kind);
        println!("altpatch: fault injection: one kernel table entry corrupted ({kind})");
    }
    println!("alternatives: applying boot alternatives");
    let checked = region.check().unwrap_or_else(|defects| alternative::refuse_table(&defects));
    // Before the system set is final, `cpus_have_cap` answers from the boot-CPU set.
    let enabled = |index: u16| Cap::from_index(index).is_some_and(cpufeature::cpus_have_cap);
    let ctr = caps::effective_ctr(&smp::id_regs(0).copied().unwrap_or_default());
    let pass = region.prepare(&checked, &enabled, ctr);
    let done = alternative::apply(&pass, CpuSet::first(1), options.rendezvous_timeout_us)
        .unwrap_or_else(|error| alternative::fail_pass(error));
    BOOT_PASS.call_once(|| done.output);
    alternative::check_boot_patched();
    (region, checked)
}

/// What the boot pass applied, for the summary line.
static BOOT_PASS: spin::Once<altpatch_aarch64::Applied> = spin::Once::new();

/// The secondaries come up; each must have every boot-CPU capability (Linux's
/// `verify_local_cpu_caps`), and its features are sanitised in.
fn smp_bring_up(
    info: &dtb::BootInfo,
    options: &BootOptions,
    boot_caps: CapSet,
    features: &mut CpuFeatures,
    entry_el: u64,
) {
    let online = smp::bring_up(info, options.max_cpus).unwrap_or_else(|errors| smp::fail(&errors));
    println!("SMP: Total of {online} processors activated.");
    let platform = caps::Platform { gicv3: info.machine.gicv3, ..caps::Platform::default() };
    for cpu in 1..online {
        let Some(regs) = smp::id_regs(cpu) else { continue };
        verify_local_cpu_caps(cpu, info.machine.mpidrs[cpu], regs, boot_caps, &platform);
        features.add_cpu(regs);
    }
    if entry_el == 2 {
        println!("CPU: All CPU(s) entered at EL2 and dropped to EL1");
    }
    println!("CPU: All CPU(s) started at EL1");
}

/// A secondary runs text the boot pass already patched: it must have every boot-CPU
/// capability, or the run ends (status 4) naming what it lacks.
fn verify_local_cpu_caps(
    cpu: usize,
    mpidr: u64,
    regs: &caps::IdRegs,
    boot_caps: CapSet,
    platform: &caps::Platform,
) {
    let lacking: alloc::vec::Vec<&str> =
        boot_caps.iter().filter(|cap| !cap.row().rule.matches_cpu(regs, platform)).map(Cap::ident).collect();
    if !lacking.is_empty() {
        println!(
            "SMP: CPU{cpu} (MPIDR {mpidr:#x}) lacks boot-CPU capabilities {}: it would run code patched for them",
            lacking.join(", ")
        );
        semihosting::exit(ExitStatus::CpuBringUp);
    }
}

/// The system capabilities, final from here on.
fn system_features(features: CpuFeatures, boot_caps: CapSet) -> &'static SystemCaps {
    let system = cpufeature::set_final(features.finalise());
    for cap in system.caps().difference(&boot_caps).iter().filter(|cap| cap.reported()) {
        println!("CPU features: detected: {}", cap.description());
    }
    system
}

/// The system capabilities' entries, prepared before and applied under the rendezvous of
/// every online CPU.
/// `boot` holds the instants the boot CPU's detection started, its boot pass started and
/// ended, for the timing line.
fn system_alternatives(
    kernel: &(AltRegion, Checked),
    system: &SystemCaps,
    boot_caps: CapSet,
    boot: [time::Instant; 3],
) {
    let (region, checked) = kernel;
    println!("alternatives: applying system-wide alternatives");
    let t_start = time::Instant::now();
    let enabled =
        |index: u16| Cap::from_index(index).is_some_and(|cap| system.has(cap) && !boot_caps.contains(cap));
    let pass = region.prepare(checked, &enabled, system.ctr_el0());
    let online = smp::online();
    let t_prepared = time::Instant::now();
    let done = alternative::apply(&pass, online, RENDEZVOUS_TIMEOUT_US)
        .unwrap_or_else(|error| alternative::fail_pass(error));
    let t_end = time::Instant::now();
    alternative::check_system_patched();
    let boot_pass = BOOT_PASS.get().copied().unwrap_or_default();
    let patched = boot_pass.patched + done.output.patched;
    println!(
        "alternatives: {} patched, {} skipped of {} entries on {} CPUs",
        patched,
        done.output.entries - patched,
        done.output.entries,
        online.len()
    );
    let ops = boot_pass.ops + done.output.ops;
    println!(
        "alternatives: maintenance: {} dc cvau, {} ic ivau, {} dc civac, {} ic iallu",
        ops.dc_cvau, ops.ic_ivau, ops.dc_civac, ops.ic_iallu
    );
    let us = |from: time::Instant, to: time::Instant| time::ticks_to_micros(to.0 - from.0);
    println!(
        "altpatch: timing: detect {} us, boot alternatives {} us, rendezvous+system patch {} us, stop window {} us, patch {} us, prepare {} us",
        us(boot[0], boot[1]),
        us(boot[1], boot[2]),
        us(t_prepared, t_end),
        time::ticks_to_micros(done.stats.stop_window()),
        time::ticks_to_micros(done.stats.patch_time()),
        us(t_start, t_prepared),
    );
    print_caps(system.caps());
}

/// After boot: late regions (Linux's module alternatives: the same checks, a later
/// generation of the rendezvous; a bad region is refused and the kernel goes on), then the
/// CPUs `maxcpus=` held back, checked against the final capabilities.
fn late_work(info: &dtb::BootInfo, system: &SystemCaps, options: &BootOptions) {
    let enabled = |index: u16| Cap::from_index(index).is_some_and(|cap| system.has(cap));
    apply_late_region(&late_region::region(), &enabled, system, options);
    if options.faults.late_region_bad {
        apply_late_region(&late_region::bad_region(), &enabled, system, options);
    }
    smp::bring_up_late(info, system);
    modules::load_all(system, options.rendezvous_timeout_us);
    if let Some(loads) = options.module_stress {
        modules::stress(loads, system, options.rendezvous_timeout_us);
    }
    if options.hotplug_cycles > 0 {
        smp::hotplug_cycles(info, system, options.hotplug_cycles);
        if !modules::retest_loaded() {
            println!("modules: a module's self-test failed after CPU hotplug");
            semihosting::exit(ExitStatus::SelfTestFailed);
        }
    }
}

/// The patched code, exercised on every CPU; the run ends with its verdict.
fn self_tests(system: &SystemCaps) -> ! {
    let status = selftest::run_all(system);
    if status == ExitStatus::Success {
        println!("altpatch: self-test passed");
    }
    semihosting::exit(status)
}

/// Applies a late region under the rendezvous; a defective region is reported and refused
/// (nothing of it patched) and the kernel goes on.
fn apply_late_region(
    region: &AltRegion,
    enabled: &dyn Fn(u16) -> bool,
    system: &SystemCaps,
    options: &BootOptions,
) {
    let checked = match region.check() {
        Ok(checked) => checked,
        Err(defects) => {
            for defect in &defects {
                println!("{defect}");
            }
            println!(
                "alternatives: late region '{}' refused: {} bad entries, nothing patched; the kernel goes on",
                region.name,
                defects.len()
            );
            return;
        }
    };
    let pass = region.prepare(&checked, enabled, system.ctr_el0());
    let done = alternative::apply(&pass, smp::online(), options.rendezvous_timeout_us)
        .unwrap_or_else(|error| alternative::fail_pass(error));
    println!(
        "alternatives: late region '{}': {} patched, {} skipped of {} entries (rendezvous generation {})",
        region.name,
        done.output.patched,
        done.output.entries - done.output.patched,
        done.output.entries,
        done.stats.generation
    );
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
    /// `modules.stress=N`: N module loads in a row after boot.
    module_stress: Option<usize>,
    /// `hotplug.cycles=N`: every secondary taken offline and back N times after boot.
    hotplug_cycles: usize,
}

impl BootOptions {
    /// Hands each argument to its owner; reports every one that none accepts.
    fn parse(cmdline: &str) -> Self {
        let mut options = BootOptions {
            overrides: Default::default(),
            faults: Default::default(),
            max_cpus: None,
            rendezvous_timeout_us: RENDEZVOUS_TIMEOUT_US,
            module_stress: None,
            hotplug_cycles: 0,
        };
        for arg in cmdline::parse(cmdline) {
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

    fn accept(&mut self, arg: &BootArg<'_>) -> Result<(), ArgError> {
        let number = arg.value.map(|v| cmdline::parse_u64(v).ok_or(ArgError::Malformed("a number")));
        let cpu = || match number {
            Some(Ok(n)) if (n as usize) < cpu::MAX_CPUS => Ok(n as usize),
            Some(Ok(_)) => Err(ArgError::Malformed("a CPU index below the kernel's CPU limit")),
            Some(Err(e)) => Err(e),
            None => Err(ArgError::MissingValue),
        };
        #[cfg(feature = "fault-injection")]
        if fault::accept(&mut self.faults, arg, cpu)? {
            return Ok(());
        }
        let count = |number: Option<Result<u64, ArgError>>, most: u64| match number {
            Some(Ok(n)) if n <= most => Ok(n as usize),
            Some(Ok(_)) => Err(ArgError::Malformed("a smaller count")),
            Some(Err(e)) => Err(e),
            None => Err(ArgError::MissingValue),
        };
        match arg.key {
            "maxcpus" => self.max_cpus = Some(cpu()?.max(1)),
            "modules.stress" => self.module_stress = Some(count(number, 10_000)?),
            "hotplug.cycles" => self.hotplug_cycles = count(number, 100)?,
            _ => return Err(ArgError::Unknown),
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
