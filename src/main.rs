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

/// The AArch64 bodies below the portable modules; they name none of them.
#[path = "_arch/aarch64/mod.rs"]
mod _arch;
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
mod fault;
mod heap;
mod late_region;
mod memory;
mod modules;
mod options;
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
use arm64_caps::cmdline;
use options::BootOptions;
use semihosting::ExitStatus;

/// What the command line asks for, read once.
static OPTIONS: spin::Once<BootOptions> = spin::Once::new();

/// The boot CPU's Rust entry, from `boot/entry.s`: MMU off, BSS zeroed, on CPU 0's stack.
/// Linux's boot, phase by phase. Arch code enters it by the name it declares.
#[unsafe(export_name = "altpatch_kernel_main")]
extern "C" fn kernel_init(dtb: u64, entry_el: u64) -> ! {
    let t_entry = time::Instant::now();
    let (info, options, early) = early_init(dtb, entry_el);
    let options = OPTIONS.call_once(|| options);
    let t_detect = time::Instant::now();
    let (mut features, boot_caps) = boot_cpu_features(info);
    let t_boot_alternatives = time::Instant::now();
    let mut kernel = boot_alternatives(options);
    let boot = BootInstants {
        entry: t_entry,
        early,
        detect: t_detect,
        boot_pass: t_boot_alternatives,
        boot_pass_end: time::Instant::now(),
    };
    smp_bring_up(info, options, &mut features, entry_el);
    let system = system_features(features, boot_caps);
    system_alternatives(&mut kernel, system, boot_caps, &boot, options.rendezvous_timeout_us);
    let late_failures = late_work(info, system, options);
    self_tests(system, late_failures)
}

/// The instants `early_init` reached: the tree parsed, the MMU turned on, the first line
/// about to be printed.
#[derive(Clone, Copy)]
struct EarlyInstants {
    tree: time::Instant,
    mmu: time::Instant,
    first_line: time::Instant,
}

/// The boot CPU's instants up to the system pass, for the timing line.
struct BootInstants {
    /// `kernel_init` entered.
    entry: time::Instant,
    early: EarlyInstants,
    /// The boot CPU's detection started.
    detect: time::Instant,
    /// The boot pass started.
    boot_pass: time::Instant,
    /// The boot pass ended.
    boot_pass_end: time::Instant,
}

/// The kernel's own table: its region, checked once at boot for both passes.
struct KernelTable {
    region: AltRegion,
    checked: Checked,
}

/// The device tree, the MMU, the console, the heap and the command line. Also returns the
/// instants the tree was parsed, the MMU turned on and the first line about to be printed,
/// for the timing line (kept in locals: a static written with the MMU off could be read
/// stale through the caches once they are on).
fn early_init(dtb: u64, entry_el: u64) -> (&'static dtb::BootInfo, BootOptions, EarlyInstants) {
    // SAFETY: x0 is 0 for a bare ELF, or the tree's address in RAM under the Linux protocol.
    let dtb = if unsafe { dtb::looks_like_fdt(dtb) } { dtb } else { qemu_virt::BARE_METAL_DTB };
    // SAFETY: the tree QEMU hands over stays in RAM untouched: the heap excludes it below.
    let parsed = unsafe { dtb::parse(dtb, cpu::mpidr_affinity()) };
    let t_tree = time::Instant::now();
    let info: &'static dtb::BootInfo = match parsed {
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
    // Entered at EL2 with VHE, entry left this CPU there; the command line's overrides may
    // say to drop to EL1 instead. Decided before the MMU is on and anything EL-specific is set.
    // SAFETY: the boot CPU, MMU off, nothing stored in EL2 state but what entry.s set.
    unsafe { boot::decide_boot_cpu_level(info.machine.bootargs) };
    cpu::set_cpu_index(0);
    let layout = memory::kernel_layout();
    let mut devices = info.machine.gic.clone();
    devices.push(info.machine.uart.clone());
    let map = memory::mmu::MemoryMap {
        ram: info.machine.ram.as_slice(),
        devices: devices.as_slice(),
        kernel: &layout,
        cpus: info.machine.cpu_count,
    };
    // SAFETY: one CPU, MMU off; the map covers the image, its stacks and RAM.
    unsafe { memory::mmu::enable(&map) };
    let t_mmu = time::Instant::now();
    // SAFETY: the boot CPU, before any secondary starts.
    unsafe { smp::init_slots(info.machine.cpu_count) };
    // SAFETY: the UART's registers are identity mapped as Device memory from here on, and
    // the console is the only user.
    console::init(unsafe { driver::pl011::Pl011::new(info.machine.uart.start as usize) });
    cpu::enable_event_stream();
    // The module area and the staging window are no heap: modules load there after boot.
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
    let t_first_line = time::Instant::now();
    println!("Booting altpatch on CPU 0 (MPIDR {:#x}) at EL{entry_el}", info.machine.mpidrs[0]);
    println!(
        "Machine: {} CPUs in the device tree, PSCI via {:?}, heap {} KiB",
        info.machine.cpu_count,
        info.machine.psci,
        heap::size() / 1024
    );
    if !info.machine.bootargs.is_empty() {
        println!("Kernel command line: {}", cmdline::Escaped(info.machine.bootargs));
    }
    let options = BootOptions::parse(info.machine.bootargs);
    options.report_misdirected(info.machine.cpu_count);
    smp::configure(options.overrides);
    boot::publish_secondary_levels(&options.overrides, info.machine.cpu_count);
    fault::arm(options.faults);
    (info, options, EarlyInstants { tree: t_tree, mmu: t_mmu, first_line: t_first_line })
}

/// The boot CPU's ID registers, and the capabilities decided from it alone.
fn boot_cpu_features(info: &dtb::BootInfo) -> (CpuFeatures, CapSet) {
    smp::register_this_cpu(0);
    let boot_regs = smp::id_regs(0).copied().unwrap_or_default();
    let platform = caps::Platform { gicv3: info.machine.gicv3, ..caps::Platform::default() };
    let features = CpuFeatures::new(&boot_regs, &platform);
    let boot_caps = features.boot_cpu_caps();
    cpufeature::set_boot(boot_caps);
    if boot_caps.contains(Cap::HAS_VIRT_HOST_EXTN) {
        // The capability's enable, before the boot pass patches the TPIDR_EL2 reads.
        cpu::copy_el2_regs();
    }
    for cap in boot_caps.iter().filter(|cap| cap.reported()) {
        console::print_prefixed(b"CPU features: detected: ", cap.description());
    }
    (features, boot_caps)
}

/// The kernel's table, checked once (every defect named, nothing written), then the
/// boot-CPU capabilities' entries applied with the boot CPU alone in the stop window.
fn boot_alternatives(options: &BootOptions) -> KernelTable {
    let kernel = AltRegion::kernel();
    let defective_copy = fault::kernel_table(&kernel.table(), &kernel.text());
    let mut region = kernel.with_table_bytes(defective_copy);
    println!("alternatives: applying boot alternatives");
    let checked = region.check().unwrap_or_else(|defects| alternative::refuse_table(&defects));
    // Before the system set is final, `cpus_have_cap` answers from the boot-CPU set.
    let enabled = |index: u16| Cap::from_index(index).is_some_and(cpufeature::cpus_have_cap);
    let ctr = caps::effective_ctr(&smp::id_regs(0).copied().unwrap_or_default());
    let pass =
        region.prepare(&checked, &enabled, ctr).unwrap_or_else(|defects| alternative::refuse_table(&defects));
    let done = alternative::apply(&mut region, &pass, CpuSet::first(1), options.rendezvous_timeout_us)
        .unwrap_or_else(|error| alternative::fail_pass(error));
    BOOT_PASS.call_once(|| done.output);
    alternative::check_boot_patched();
    KernelTable { region, checked }
}

/// What the boot pass applied, for the summary line.
static BOOT_PASS: spin::Once<altpatch_aarch64::Applied> = spin::Once::new();

/// The secondaries come up; each must have every boot-CPU capability (Linux's
/// `verify_local_cpu_caps`), and its features are sanitised in.
fn smp_bring_up(info: &dtb::BootInfo, options: &BootOptions, features: &mut CpuFeatures, entry_el: u64) {
    let online = smp::bring_up(info, options.max_cpus).unwrap_or_else(|errors| smp::fail(&errors));
    println!("SMP: Total of {online} processors activated.");
    for cpu in 1..online {
        let Some(regs) = smp::id_regs(cpu) else { continue };
        verify_local_cpu_caps(cpu, info.machine.mpidrs[cpu], features.boot_caps_lacking(regs));
        features.add_cpu(regs);
    }
    // Every CPU now runs at the boot CPU's level (one that does not was refused above).
    if cpu::current_el() == 2 {
        println!("CPU: All CPU(s) started at EL2");
    } else {
        if entry_el == 2 {
            println!("CPU: All CPU(s) entered at EL2 and dropped to EL1");
        }
        println!("CPU: All CPU(s) started at EL1");
    }
}

/// A secondary runs text the boot pass already patched: it must have every boot-CPU
/// capability, or the run ends (status 4) naming what it lacks (`lacking`, from
/// [`CpuFeatures::boot_caps_lacking`]). As Linux 6.1's
/// `verify_local_cpu_caps(SCOPE_BOOT_CPU)` does for its strict boot-CPU features (GIC CPU
/// interface, VHE): the first conflict in Linux's words, then `cpu_panic_kernel`'s verdict
/// as `__cpu_up` prints it. A CPU that runs at EL1 while the boot CPU runs at EL2 with VHE
/// lacks HAS_VIRT_HOST_EXTN this way (it ran none of the patched code: `smp::secondary_init`).
fn verify_local_cpu_caps(cpu: usize, mpidr: u64, lacking: CapSet) {
    if let Some(first) = lacking.iter().next() {
        println!(
            "CPU{cpu}: Detected conflict for capability {} ({}), System: 1, CPU: 0",
            first.index(),
            first.description()
        );
        let names: alloc::vec::Vec<&str> = lacking.iter().map(|cap| cap.ident()).collect();
        println!(
            "SMP: CPU{cpu} (MPIDR {mpidr:#x}) lacks boot-CPU capabilities {}: it would run code patched for them",
            names.join(", ")
        );
        println!("Kernel panic - not syncing: CPU{cpu} detected unsupported configuration");
        semihosting::exit(ExitStatus::CpuBringUp);
    }
}

/// The system capabilities, final from here on.
fn system_features(features: CpuFeatures, boot_caps: CapSet) -> &'static SystemCaps {
    let system = cpufeature::set_final(features.finalise());
    for cap in system.caps().difference(&boot_caps).iter().filter(|cap| cap.reported()) {
        console::print_prefixed(b"CPU features: detected: ", cap.description());
    }
    system
}

/// The system capabilities' entries, prepared before and applied under the rendezvous of
/// every online CPU.
/// `boot` holds the boot CPU's instants so far, for the timing line.
fn system_alternatives(
    kernel: &mut KernelTable,
    system: &SystemCaps,
    boot_caps: CapSet,
    boot: &BootInstants,
    timeout_us: u64,
) {
    let KernelTable { region, checked } = kernel;
    println!("alternatives: applying system-wide alternatives");
    let t_start = time::Instant::now();
    let enabled =
        |index: u16| Cap::from_index(index).is_some_and(|cap| system.has(cap) && !boot_caps.contains(cap));
    let pass = region
        .prepare(checked, &enabled, system.ctr_el0())
        .unwrap_or_else(|defects| alternative::refuse_table(&defects));
    let online = smp::online();
    let t_prepared = time::Instant::now();
    let done = alternative::apply(region, &pass, online, timeout_us)
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
        "altpatch: timing: detect {} us, boot alternatives {} us, rendezvous+system patch {} us, stop window {} us, patch {} us, prepare {} us; \
         reset to kernel_init {} us, device tree {} us, identity map {} us, console+heap {} us, \
         first line to system alternatives {} us",
        us(boot.detect, boot.boot_pass),
        us(boot.boot_pass, boot.boot_pass_end),
        us(t_prepared, t_end),
        time::ticks_to_micros(done.stats.stop_window()),
        time::ticks_to_micros(done.stats.patch_time()),
        us(t_start, t_prepared),
        boot.entry.as_micros(),
        us(boot.entry, boot.early.tree),
        us(boot.early.tree, boot.early.mmu),
        us(boot.early.mmu, boot.early.first_line),
        us(boot.early.first_line, t_start),
    );
    print_caps(system.caps());
}

/// After boot: late regions (Linux's module alternatives: the same checks, a later
/// generation of the rendezvous; a bad region is refused and the kernel goes on), then the
/// CPUs `maxcpus=` held back, checked against the final capabilities, and a rendezvous of
/// every CPU that proves the accepted ones serve it; then the staged modules, and CPU hotplug
/// when asked. Returns how many late CPUs failed.
fn late_work(info: &dtb::BootInfo, system: &SystemCaps, options: &BootOptions) -> usize {
    let enabled = |index: u16| Cap::from_index(index).is_some_and(|cap| system.has(cap));
    apply_late_region(&mut late_region::region(), &enabled, system, options);
    if fault::late_region_bad() {
        apply_late_region(&mut late_region::bad_region(), &enabled, system, options);
    }
    let failed = smp::bring_up_late(info, system);
    let ticks = time::micros_to_ticks(options.rendezvous_timeout_us);
    if let Err(failure) = rendezvous::RENDEZVOUS.stop_machine(0, smp::online(), ticks, |_| ()) {
        println!("SMP: rendezvous with the late CPUs failed: {failure}");
        semihosting::exit(ExitStatus::CpuBringUp);
    }
    // Modules (README, "Modules and hotplug"), then CPU hotplug: each module's
    // alternatives under a later generation of the rendezvous, every online CPU in it.
    modules::load_all(system, options.rendezvous_timeout_us);
    if let Some(loads) = options.module_stress {
        modules::stress(loads, system, options.rendezvous_timeout_us);
    }
    if options.hotplug_cycles > 0 {
        if !smp::hotplug_cycles(info, system, options.hotplug_cycles) {
            semihosting::exit(ExitStatus::CpuBringUp);
        }
        if !modules::retest_loaded() {
            println!("modules: a module's self-test failed after CPU hotplug");
            semihosting::exit(ExitStatus::SelfTestFailed);
        }
    }
    failed
}

/// The patched code, exercised on every CPU; the run ends with its verdict, or with status
/// 4 when late CPUs failed to come online.
fn self_tests(system: &SystemCaps, late_failures: usize) -> ! {
    fault::after_boot(smp::on_each_cpu);
    let status = selftest::run_all(system);
    if status != ExitStatus::Success {
        semihosting::exit(status);
    }
    println!("altpatch: self-test passed");
    if late_failures != 0 {
        println!("SMP: {late_failures} late CPUs failed to come online");
        semihosting::exit(ExitStatus::CpuBringUp);
    }
    semihosting::exit(status)
}

/// Applies a late region under the rendezvous; a defective region is reported and refused
/// (nothing of it patched) and the kernel goes on.
fn apply_late_region(
    region: &mut AltRegion,
    enabled: &dyn Fn(u16) -> bool,
    system: &SystemCaps,
    options: &BootOptions,
) {
    let prepared = region.check().and_then(|checked| region.prepare(&checked, enabled, system.ctr_el0()));
    let pass = match prepared {
        Ok(pass) => pass,
        Err(defects) => {
            for defect in &defects {
                println!("{defect}");
            }
            println!(
                "alternatives: late region '{}' refused: {} bad entries, nothing patched; the kernel goes on",
                region.name(),
                defects.len()
            );
            return;
        }
    };
    let done = alternative::apply(region, &pass, smp::online(), options.rendezvous_timeout_us)
        .unwrap_or_else(|error| alternative::fail_pass(error));
    println!(
        "alternatives: late region '{}': {} patched, {} skipped of {} entries (rendezvous generation {})",
        region.name(),
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

/// A secondary CPU's life after it comes online: serve every rendezvous and every call.
fn secondary_main(index: usize) -> ! {
    cpu::enable_event_stream();
    smp::serve(index)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::urgent(|| {
        println!("Kernel panic - not syncing: {info}");
        semihosting::exit(ExitStatus::Oops)
    });
    unreachable!("the run ended inside the report")
}
