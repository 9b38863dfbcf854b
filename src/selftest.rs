//! Self-tests of the patched code: each checks behaviour on every CPU at once, not that a
//! function returned. A failure names the test and the CPUs; the run then ends with status 1.

use crate::{
    alternative, cache, cpufeature::cpus_have_final_cap, crc32, memory, println, semihosting::ExitStatus,
    smp, sync,
};
use arm64_caps::caps::{Cap, SystemCaps};
use core::sync::atomic::{AtomicU64, Ordering};

/// Additions per CPU in the atomics tests: enough that every CPU's additions overlap the
/// others' many times, few enough for 64 CPUs emulated on two host cores.
const ADDS_PER_CPU: u64 = 5_000;
/// The lock test's budget: critical sections times CPUs. Each hand-off may wait for every
/// other CPU to be scheduled once (an emulator running many vCPUs on one thread takes turns),
/// so the cost grows with sections x CPUs.
const LOCKED_BUDGET: u64 = 16_000;
/// Critical sections per CPU in the lock test: the budget shared out, 5 to 200 each.
static LOCKED_PER_CPU: AtomicU64 = AtomicU64::new(0);

static COUNTER: AtomicU64 = AtomicU64::new(0);
static LOCK: sync::TicketLock = sync::TicketLock::new();
static LOCKED_TOTAL: AtomicU64 = AtomicU64::new(0);
static MESSAGE: AtomicU64 = AtomicU64::new(0);
static MESSAGE_FLAG: AtomicU64 = AtomicU64::new(0);
static SYSTEM_DCACHE_LINE: AtomicU64 = AtomicU64::new(0);
static TEXT_CRC: AtomicU64 = AtomicU64::new(0);

/// Every CPU adds to one counter through the patched `fetch_add` (LDADDAL or the LL/SC loop)
/// at the same time: no addition may be lost.
fn atomics_add_on_every_cpu(_cpu: usize) -> bool {
    for _ in 0..ADDS_PER_CPU {
        sync::fetch_add(&COUNTER, 1);
    }
    true
}

/// The ticket lock (patched `fetch_add` and `load_acquire`) serialises a non-atomic
/// read-modify-write on every CPU at once.
fn ticket_lock_serialises(_cpu: usize) -> bool {
    for _ in 0..LOCKED_PER_CPU.load(Ordering::Relaxed) {
        LOCK.with(|| {
            let v = LOCKED_TOTAL.load(Ordering::Relaxed);
            LOCKED_TOTAL.store(v + 1, Ordering::Relaxed);
        });
    }
    true
}

/// Message passing through the patched acquire load: CPU 0 publishes a value with a release
/// store; every other CPU that sees the flag through `load_acquire` must see the value.
fn acquire_load_orders(cpu: usize) -> bool {
    const VALUE: u64 = 0x5eed_cafe;
    if cpu == 0 {
        MESSAGE.store(VALUE, Ordering::Relaxed);
        MESSAGE_FLAG.store(1, Ordering::Release);
        return true;
    }
    let start = crate::time::Instant::now().0;
    while sync::load_acquire(&MESSAGE_FLAG) == 0 {
        if crate::time::ticks_to_micros(crate::time::Instant::now().0 - start) > 10_000_000 {
            return false;
        }
        core::hint::spin_loop();
    }
    MESSAGE.load(Ordering::Relaxed) == VALUE
}

/// The patched D-cache line size (an immediate written by a callback) equals the system's
/// smallest line, from the sanitised CTR_EL0, on every CPU.
fn dcache_line_size_is_the_system_minimum(_cpu: usize) -> bool {
    cache::dcache_line_size() == SYSTEM_DCACHE_LINE.load(Ordering::Relaxed)
}

/// The CRC of kernel text by the patched path (CRC32 instructions where the CPUs have them)
/// equals the software CRC on every CPU, and text has not changed since patching ended.
fn crc32_matches_software(_cpu: usize) -> bool {
    // SAFETY: no text is written once the CRC tests run (the I-cache test's write is earlier).
    let text = unsafe { memory::image_bytes(&memory::kernel_layout().text) };
    let crc = crc32::crc32(text);
    crc == crc32::crc32_software(text) && u64::from(crc) == TEXT_CRC.load(Ordering::Relaxed)
}

/// The speculation barrier (SB or DSB+ISB) executes without an exception on every CPU.
fn speculation_barrier_executes(_cpu: usize) -> bool {
    sync::speculation_barrier();
    true
}

/// The late region's atomic add (LDADDAL once its region is patched, on LSE systems) loses
/// no addition with every CPU adding at once.
fn late_region_adds_on_every_cpu(_cpu: usize) -> bool {
    for _ in 0..ADDS_PER_CPU {
        crate::late_region::fetch_add(&LATE_COUNTER, 1);
    }
    true
}

static LATE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What the VHE test leaves in TPIDR_EL1 while it runs: the index through the patched
/// sequences must not come from there at EL2.
const TPIDR_EL1_POISON: u64 = 0xdead_beef_0000_0000;

/// The per-CPU index, written and read through the sequences the boot pass patched on
/// HAS_VIRT_HOST_EXTN, is this CPU's on every CPU; and they use the running level's
/// register. At EL2 with VHE: with TPIDR_EL1 poisoned, the patched write lands in TPIDR_EL2
/// (read back directly) and leaves TPIDR_EL1 alone, and the patched read still gives the
/// index. At EL1: the kernel runs at EL1 and the index is in TPIDR_EL1.
fn percpu_index_uses_the_running_level(cpu: usize) -> bool {
    if !cpus_have_final_cap(Cap::HAS_VIRT_HOST_EXTN) {
        let (el1, el2) = crate::cpu::thread_id_registers();
        return crate::cpu::current_el() == 1
            && el2.is_none()
            && el1 == cpu as u64
            && crate::cpu::cpu_index() == cpu;
    }
    // Nothing else on this CPU reads the index meanwhile: exceptions masked.
    let daif = crate::cpu::mask_exceptions();
    let (saved_el1, _) = crate::cpu::thread_id_registers();
    crate::cpu::set_tpidr_el1(TPIDR_EL1_POISON);
    crate::cpu::set_cpu_index(cpu);
    let read = crate::cpu::cpu_index();
    let (el1, el2) = crate::cpu::thread_id_registers();
    crate::cpu::set_tpidr_el1(saved_el1);
    crate::cpu::restore_exceptions(daif);
    crate::cpu::current_el() == 2 && read == cpu && el2 == Some(cpu as u64) && el1 == TPIDR_EL1_POISON
}

// A two-instruction function in text that the I-cache test rewrites: `mov x0, #1; ret`.
core::arch::global_asm!(
    ".section .text.icache_probe, \"ax\"",
    ".balign 4",
    ".global icache_probe",
    ".type icache_probe, %function",
    "icache_probe:",
    "mov x0, #1",
    "ret",
    ".size icache_probe, . - icache_probe",
);

unsafe extern "C" {
    safe fn icache_probe() -> u64;
}

/// MOVZ X0, #2 (Arm ARM C6.2.191).
const MOV_X0_2: u32 = 0xd280_0040;

/// Every CPU, after an ISB, runs the instruction the boot CPU wrote through the alias and
/// made visible with `sync_icache_range` (IDC/DIC-patched, its replacements branching past
/// the maintenance loops).
fn icache_sync_makes_new_code_visible(_cpu: usize) -> bool {
    crate::cpu::context_sync();
    icache_probe() == 2
}

/// Runs every self-test; the exit status says whether all passed.
pub fn run_all(system: &SystemCaps) -> ExitStatus {
    let mut status = ExitStatus::Success;
    let mut check = |name: &str, ok: bool, detail: core::fmt::Arguments<'_>| {
        if !ok {
            println!("altpatch: self-test {name} FAILED: {detail}");
            status = ExitStatus::SelfTestFailed;
        }
    };
    let cpus = smp::online().len() as u64;
    let lse = if cpus_have_final_cap(Cap::HAS_LSE_ATOMICS) { "LSE" } else { "LL/SC" };

    // New code written through the alias becomes visible to every CPU.
    let probe = icache_probe as *const () as u64;
    let before = icache_probe();
    // SAFETY: the other CPUs wait in their service loop and never run `icache_probe` while
    // it changes; only this CPU edits the page tables.
    unsafe {
        memory::mmu::with_text_alias(probe..probe + 4, |alias| {
            // SAFETY: the alias maps the probe's page read-write inside this closure.
            core::ptr::write_volatile(alias.ptr(probe, 4).cast::<u32>(), MOV_X0_2)
        })
    };
    cache::sync_icache_range(probe..probe + 4);
    let failed = smp::on_each_cpu("icache-sync", icache_sync_makes_new_code_visible);
    check(
        "icache-sync",
        before == 1 && failed.is_empty(),
        format_args!("before {before}, CPUs {failed:?} ran stale code"),
    );

    let failed = smp::on_each_cpu("late-region", late_region_adds_on_every_cpu);
    let total = LATE_COUNTER.load(Ordering::Relaxed);
    check(
        "late-region",
        failed.is_empty() && total == ADDS_PER_CPU * cpus,
        format_args!("{total} of {} additions", ADDS_PER_CPU * cpus),
    );

    let wrong = crate::console::stamp_disagreement();
    check(
        "console-stamp",
        wrong.is_none(),
        format_args!("the timestamp of {} us differs from core::fmt's", wrong.unwrap_or_default()),
    );

    // Known CRC-32 check value (the "123456789" check of the CRC catalogue: 0xCBF43926).
    check(
        "crc32-check-value",
        crc32::crc32(b"123456789") == 0xcbf4_3926,
        format_args!("{:#x}", crc32::crc32(b"123456789")),
    );
    // SAFETY: as in `crc32_matches_software`: no text is written from here on.
    let text = unsafe { memory::image_bytes(&memory::kernel_layout().text) };
    TEXT_CRC.store(u64::from(crc32::crc32_software(text)), Ordering::Relaxed);
    SYSTEM_DCACHE_LINE.store(system.dcache_line_size() as u64, Ordering::Relaxed);

    let failed = smp::on_each_cpu("atomics", atomics_add_on_every_cpu);
    let total = COUNTER.load(Ordering::Relaxed);
    check(
        "atomics",
        failed.is_empty() && total == ADDS_PER_CPU * cpus,
        format_args!("{lse} fetch_add: {total} of {} additions on {cpus} CPUs", ADDS_PER_CPU * cpus),
    );
    LOCKED_PER_CPU.store((LOCKED_BUDGET / (cpus * cpus)).clamp(5, 200), Ordering::Relaxed);
    let failed = smp::on_each_cpu("ticket-lock", ticket_lock_serialises);
    let per_cpu = LOCKED_PER_CPU.load(Ordering::Relaxed);
    let total = LOCKED_TOTAL.load(Ordering::Relaxed);
    check(
        "ticket-lock",
        failed.is_empty() && total == per_cpu * cpus,
        format_args!("{total} of {}", per_cpu * cpus),
    );
    let failed = smp::on_each_cpu("load-acquire", acquire_load_orders);
    check("load-acquire", failed.is_empty(), format_args!("CPUs {failed:?} saw the flag without the value"));
    let failed = smp::on_each_cpu("dcache-line-callback", dcache_line_size_is_the_system_minimum);
    check(
        "dcache-line-callback",
        failed.is_empty(),
        format_args!("CPUs {failed:?}: {} != {}", cache::dcache_line_size(), system.dcache_line_size()),
    );
    let failed = smp::on_each_cpu("crc32-text", crc32_matches_software);
    check("crc32-text", failed.is_empty(), format_args!("CPUs {failed:?} disagree with the software CRC"));
    let failed = smp::on_each_cpu("speculation-barrier", speculation_barrier_executes);
    check("speculation-barrier", failed.is_empty(), format_args!("CPUs {failed:?}"));

    let failed = smp::on_each_cpu("percpu-index", percpu_index_uses_the_running_level);
    let level =
        if cpus_have_final_cap(Cap::HAS_VIRT_HOST_EXTN) { "TPIDR_EL2 at EL2" } else { "TPIDR_EL1 at EL1" };
    check(
        "percpu-index",
        failed.is_empty(),
        format_args!("CPUs {failed:?}: the patched index sequences do not use {level}"),
    );

    // Text is mapped read-only: a write faults, and the fault is recovered.
    let target = alternative::check_boot_patched as *const () as u64;
    // SAFETY: a store into text would not break any Rust invariant the test relies on (and
    // must fault); the probe recovers the fault.
    let probe = unsafe { crate::exception::probe_store_u32(target, 0xd503_201f) };
    check(
        "text-read-only",
        matches!(probe, Err(esr) if esr.is_permission_fault()),
        format_args!("a store to text at {target:#x} gave {probe:x?}"),
    );
    if status == ExitStatus::Success {
        println!(
            "altpatch: self-tests: {lse} atomics on {cpus} CPUs, ticket lock, acquire loads, D-line {} bytes, CRC32 {}, text read-only, CPU index in {level}",
            cache::dcache_line_size(),
            if cpus_have_final_cap(Cap::HAS_CRC32) { "hardware = software" } else { "software" }
        );
    }
    status
}
