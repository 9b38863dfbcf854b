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
#[cfg(feature = "foreign-object")]
mod foreign;
mod mmu;
mod platform;
mod selftest;

use aarch64_cpu::registers::{CurrentEL, ELR_EL1, ESR_EL1, FAR_EL1, MPIDR_EL1, Readable};
use aarch64_rt::{ExceptionHandlers, RegisterStateRef, Stack, entry, exception_handlers};
use alloc::vec::Vec;
use altpatch_aarch64::{Applied, ArmPlatform, CapabilityList, Image, PassError, Passes};
use altpatch_rendezvous::{Completed, CpuSet, Outcome, Participant};
use core::sync::atomic::{AtomicU64, Ordering};
use linked_list_allocator::LockedHeap;
use qemu_virt::fdt::{self, PsciMethod};

use caps::{CapMask, IdRegs, MiniCaps, Scope};
use platform::{ExitStatus, MAX_CPUS, RENDEZVOUS, exit};

entry!(main, 16);

/// The heap: the engine's checked table and plans, and the page tables.
#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();
/// The heap's memory (in .bss, zeroed by aarch64-rt's entry).
static mut HEAP_MEMORY: [u8; 1 << 20] = [0; 1 << 20];

/// Pages of each secondary CPU's stack.
const SECONDARY_STACK_PAGES: usize = 16;
/// The secondaries' stacks (not loaded, not zeroed: aarch64-rt's `.stack` output section).
#[unsafe(link_section = ".stack.secondary")]
static mut SECONDARY_STACKS: [Stack<SECONDARY_STACK_PAGES>; MAX_CPUS - 1] =
    [const { Stack::new() }; MAX_CPUS - 1];

/// Each CPU's capabilities ([`CapMask`]), written by that CPU before it goes online.
static CPU_CAPS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Each CPU's CTR_EL0, written by that CPU before it goes online.
static CPU_CTR: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// The CPUs that are online (one bit each).
static ONLINE: AtomicU64 = AtomicU64::new(0);
/// The enabled capabilities ([`CapMask`]), published before the system pass for the
/// secondaries' self-tests.
static ENABLED: AtomicU64 = AtomicU64::new(0);
/// The system (sanitised) CTR_EL0, published with [`ENABLED`].
static SYSTEM_CTR: AtomicU64 = AtomicU64::new(0);
/// The CPUs whose self-test finished.
static SELFTEST_DONE: AtomicU64 = AtomicU64::new(0);
/// The CPUs whose self-test failed.
static SELFTEST_FAILED: AtomicU64 = AtomicU64::new(0);
/// Fault injection (`mini.rendezvous_absent=N` on the command line): CPU N never takes part
/// in the system pass, so the rendezvous must time out (exit 4, nothing patched).
static ABSENT_CPU: AtomicU64 = AtomicU64::new(u64::MAX);

/// How long a CPU may take to come online, and the rendezvous to gather every CPU.
const CPU_TIMEOUT_US: u64 = 5_000_000;

fn main(x0: u64, _x1: u64, _x2: u64, _x3: u64) -> ! {
    ArmPlatform::enable_event_stream();
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
    // The mini kernel takes one argument; anything that is not UTF-8 is not it.
    let bootargs = core::str::from_utf8(machine.bootargs).unwrap_or_default();
    if !bootargs.is_empty() {
        println!("Kernel command line: {}", bootargs.escape_debug());
    }
    if let Some(cpu) = bootargs.split_whitespace().find_map(|arg| arg.strip_prefix("mini.rendezvous_absent="))
    {
        match cpu.parse::<u64>() {
            Ok(cpu) => ABSENT_CPU.store(cpu, Ordering::Relaxed),
            Err(_) => println!("mini-kernel: bad boot argument 'mini.rendezvous_absent={cpu}'"),
        }
    }
    #[cfg(feature = "foreign-object")]
    {
        foreign::site();
        foreign::second_site();
    }

    // 1. The boot CPU's capabilities.
    let boot_regs = IdRegs::read();
    let boot_caps = boot_regs.caps();
    CPU_CAPS[0].store(boot_caps.0, Ordering::Relaxed);
    CPU_CTR[0].store(caps::read_ctr_el0(), Ordering::Relaxed);
    ONLINE.store(1, Ordering::Release);
    let boot_enabled = boot_caps.in_scope(Scope::Boot);
    report_detected(boot_enabled);

    // 2. The whole table, checked once against the kernel's own list, every defect named.
    let layout = mmu::ImageLayout::get();
    // SAFETY: mini-kernel.ld inserts alternatives.ld into the read-only data; the text is
    // mapped read-only (written only through `TextAliasMap` by the passes) and the read-only
    // data never writable, both for good (`mmu::init`); this is the kernel's one `Image`.
    let mut image = unsafe { Image::new(layout.text.0..layout.text.1, layout.rodata.0..layout.rodata.1) };
    let checked = image.check::<MiniCaps>().unwrap_or_else(|err| fail(err));
    println!(
        "alternatives: {} entries checked against list '{}' (fingerprint {:#010x}, {} capabilities)",
        checked.entries(),
        MiniCaps::LIST.label,
        MiniCaps::LIST.fingerprint,
        MiniCaps::LIST.ncaps()
    );

    // 3. The boot pass: the boot CPU alone in the stop window.
    println!("alternatives: applying boot alternatives");
    let boot_ctr = CPU_CTR[0].load(Ordering::Relaxed);
    let passes = Passes {
        rendezvous: &RENDEZVOUS,
        alias: &mmu::TextAliasMap,
        primary: 0,
        timeout: console::micros_to_ticks(CPU_TIMEOUT_US),
    };
    let boot_applied = applied(passes.boot_pass(&mut image, &checked, &|i| boot_enabled.has(i), boot_ctr));

    // 4. The secondaries.
    let online = bring_up(&machine);
    println!("SMP: Total of {online} processors activated.");
    for (cpu, caps) in CPU_CAPS.iter().enumerate().take(online).skip(1) {
        let lacking = boot_enabled.minus(CapMask(caps.load(Ordering::Acquire)));
        if lacking != CapMask(0) {
            let names: Vec<&str> = lacking.idents().collect();
            println!(
                "SMP: CPU{cpu} lacks boot-CPU capabilities {}: it would run code patched for them",
                names.join(", ")
            );
            exit(ExitStatus::Rendezvous);
        }
    }
    println!("CPU: All CPU(s) started at EL1");

    // 5. The system pass: every online CPU held.
    let system_caps = (0..online)
        .fold(CapMask(u64::MAX), |all, cpu| all.and(CapMask(CPU_CAPS[cpu].load(Ordering::Acquire))));
    let system_ctr = caps::sanitise_ctr((0..online).map(|cpu| CPU_CTR[cpu].load(Ordering::Acquire)));
    let system_enabled = system_caps.in_scope(Scope::System);
    report_detected(system_enabled);
    let enabled = CapMask(boot_enabled.0 | system_enabled.0);
    ENABLED.store(enabled.0, Ordering::Relaxed);
    SYSTEM_CTR.store(system_ctr, Ordering::Relaxed);
    println!("alternatives: applying system-wide alternatives");
    let (cpus, system_on) = (CpuSet::first(online), |i| system_enabled.has(i));
    let system_applied = applied(passes.system_pass(&mut image, &checked, &system_on, system_ctr, cpus));
    let patched = boot_applied.patched + system_applied.patched;
    let entries = checked.entries();
    println!(
        "alternatives: {patched} patched, {} skipped of {entries} entries on {online} CPUs",
        entries - patched
    );
    let ops = boot_applied.ops + system_applied.ops;
    println!(
        "alternatives: {} bytes of text written; maintenance: {} dc cvau, {} ic ivau",
        boot_applied.bytes_written + system_applied.bytes_written,
        ops.dc_cvau,
        ops.ic_ivau
    );
    let idents: Vec<&str> = enabled.idents().collect();
    println!("altpatch: caps {}", idents.join(" "));

    // 6. The self-test, on every CPU (the secondaries started theirs when released).
    selftest_this_cpu(0);
    let start = console::micros();
    let all = (1u64 << online) - 1;
    while SELFTEST_DONE.load(Ordering::Acquire) != all {
        if console::micros() - start > CPU_TIMEOUT_US {
            println!(
                "altpatch: self-test: CPUs {:#x} did not finish",
                all & !SELFTEST_DONE.load(Ordering::Acquire)
            );
            exit(ExitStatus::SelfTestFailed);
        }
        aarch64_cpu::asm::wfe();
    }
    let count = selftest::COUNTER.load(Ordering::Acquire);
    let expected = online as u64 * selftest::INCREMENTS_PER_CPU;
    let mut failed = SELFTEST_FAILED.load(Ordering::Acquire) != 0;
    if count != expected {
        println!(
            "altpatch: self-test failed: fetch_add counted {count}, expected {expected} ({online} CPUs)"
        );
        failed = true;
    }
    if !text_is_never_writable() {
        failed = true;
    }
    if let Err(why) = selftest::source_records(&image, entries) {
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

/// Starts every CPU of the device tree (up to [`MAX_CPUS`]) and waits for each to come
/// online; returns the number online. Exits 4 when a CPU fails to start.
fn bring_up(machine: &fdt::Machine<'_>) -> usize {
    let count = machine.cpu_count.min(MAX_CPUS);
    if machine.cpu_count > MAX_CPUS {
        println!("SMP: {} CPUs in the device tree; bringing up the first {MAX_CPUS}", machine.cpu_count);
    }
    let boot_mpidr = MPIDR_EL1.get() & 0xff_00ff_ffff;
    if machine.mpidrs[0] != boot_mpidr {
        println!("SMP: booted on MPIDR {boot_mpidr:#x}, not the device tree's first CPU");
        exit(ExitStatus::Rendezvous);
    }
    for cpu in 1..count {
        let mpidr = machine.mpidrs[cpu];
        let stack = (&raw mut SECONDARY_STACKS).cast::<Stack<SECONDARY_STACK_PAGES>>().wrapping_add(cpu - 1);
        let entry = move || secondary_main(cpu);
        // SAFETY: each secondary gets its own stack, used by nothing else; it lies in the
        // image's `.stack` section, which both the initial and the kernel page tables map
        // as normal memory.
        let started = unsafe {
            match machine.psci {
                PsciMethod::Hvc => {
                    aarch64_rt::start_core::<smccc::Hvc, _, SECONDARY_STACK_PAGES>(mpidr, stack, entry)
                }
                PsciMethod::Smc => {
                    aarch64_rt::start_core::<smccc::Smc, _, SECONDARY_STACK_PAGES>(mpidr, stack, entry)
                }
            }
        };
        if let Err(err) = started {
            println!("SMP: CPU{cpu} (MPIDR {mpidr:#x}): PSCI CPU_ON failed: {err:?}");
            exit(ExitStatus::Rendezvous);
        }
        let start = console::micros();
        while ONLINE.load(Ordering::Acquire) & (1 << cpu) == 0 {
            if console::micros() - start > CPU_TIMEOUT_US {
                println!("SMP: CPU{cpu} (MPIDR {mpidr:#x}) failed to come online");
                exit(ExitStatus::Rendezvous);
            }
            aarch64_cpu::asm::wfe();
        }
    }
    count
}

/// A secondary CPU: onto the kernel page table, detect, go online, serve the system pass,
/// run the self-test, park.
fn secondary_main(cpu: usize) -> ! {
    mmu::enter_secondary();
    ArmPlatform::enable_event_stream();
    CPU_CAPS[cpu].store(IdRegs::read().caps().0, Ordering::Relaxed);
    CPU_CTR[cpu].store(caps::read_ctr_el0(), Ordering::Relaxed);
    ONLINE.fetch_or(1 << cpu, Ordering::Release);
    aarch64_cpu::asm::sev();

    if ABSENT_CPU.load(Ordering::Relaxed) == cpu as u64 {
        println!("mini-kernel: fault injection: CPU{cpu} stays out of the rendezvous");
        park();
    }
    let mut me = Participant::new(cpu);
    loop {
        // Twice the primary's check-in timeout: a missing CPU is the primary's to name.
        match RENDEZVOUS.participate(&mut me, console::micros_to_ticks(2 * CPU_TIMEOUT_US)) {
            // The boot pass closed before this CPU came: wait for the system pass.
            Outcome::Missed { .. } => continue,
            Outcome::Released { .. } => break,
            Outcome::Aborted { .. } => park(),
            Outcome::WorkerStalled { generation } => {
                println!("alternatives: CPU{cpu}: the stop window of generation {generation} did not close");
                exit(ExitStatus::Rendezvous)
            }
        }
    }
    selftest_this_cpu(cpu);
    park()
}

/// Runs the self-test on this CPU and records the result.
fn selftest_this_cpu(cpu: usize) {
    let enabled = CapMask(ENABLED.load(Ordering::Relaxed));
    if let Err(why) = selftest::run_on_this_cpu(enabled, SYSTEM_CTR.load(Ordering::Relaxed)) {
        println!("altpatch: self-test failed on CPU{cpu}: {why}");
        SELFTEST_FAILED.fetch_or(1 << cpu, Ordering::Release);
    }
    SELFTEST_DONE.fetch_or(1 << cpu, Ordering::Release);
    aarch64_cpu::asm::sev();
}

/// W^X: no text page is writable in the kernel page table, and the alias is gone.
fn text_is_never_writable() -> bool {
    let image = mmu::ImageLayout::get();
    let mut ok = true;
    for page in (image.text.0..image.text.1).step_by(4096) {
        if mmu::is_writable(page) || mmu::is_writable(page + mmu::ALIAS_OFFSET) {
            println!("altpatch: self-test failed: text page {page:#x} (or its alias) is writable");
            ok = false;
        }
    }
    ok
}

/// Waits forever with interrupts masked.
fn park() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
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
