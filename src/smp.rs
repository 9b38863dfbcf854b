//! Bringing up the secondary CPUs with PSCI CPU_ON, and their life after that.

use crate::{
    boot, cpu,
    dtb::BootInfo,
    psci,
    semihosting::ExitStatus,
    time::{Instant, micros_to_ticks},
};
use altpatch_core::{
    caps::{IdRegs, SystemCaps, overrides::Overrides},
    plan::CacheGeometry,
    rendezvous::{Outcome, Participant},
};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use spin::Once;

/// How long the boot CPU waits for the secondaries to come online, in microseconds of
/// generic-timer time.
const ONLINE_TIMEOUT_US: u64 = 5_000_000;

/// Set by each CPU once it runs Rust code with its MMU on and its ID registers snapshotted.
static ONLINE: [AtomicBool; cpu::MAX_CPUS] = [const { AtomicBool::new(false) }; cpu::MAX_CPUS];
/// Each CPU's ID registers, as it read them coming up.
static ID_REGS: [Once<IdRegs>; cpu::MAX_CPUS] = [const { Once::new() }; cpu::MAX_CPUS];
/// Fault injection (`fault.cpu_stall=N`): CPU N never reports online.
static STALL_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Fault injection (`fault.rendezvous_absent=N`): CPU N never enters the rendezvous.
static ABSENT_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The ID-register overrides from the command line, applied to each CPU's snapshot.
static OVERRIDES: Once<Overrides> = Once::new();
/// CPUs in the system: online and, for late CPUs, accepted. Bit n is CPU n.
static ONLINE_MASK: AtomicU64 = AtomicU64::new(1);
/// Late CPUs refused by the capability check: they park instead of joining.
static REFUSED: [AtomicBool; cpu::MAX_CPUS] = [const { AtomicBool::new(false) }; cpu::MAX_CPUS];
/// Late CPUs accepted by the capability check.
static ACCEPTED: [AtomicBool; cpu::MAX_CPUS] = [const { AtomicBool::new(false) }; cpu::MAX_CPUS];

/// Faults a tester can inject through boot arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// `fault.cpu_stall=N`: CPU N starts but never reports online.
    pub stall_cpu: Option<usize>,
    /// `fault.psci_cpu_on=N`: CPU_ON for CPU N names an MPIDR no CPU has, so PSCI refuses it.
    pub bad_cpu_on: Option<usize>,
    /// `fault.bug`: the boot CPU raises `bug!()` before bringing up the others.
    pub bug: bool,
    /// `fault.rendezvous_absent=N`: CPU N comes online but never enters the rendezvous.
    pub rendezvous_absent: Option<usize>,
    /// `fault.late_region_bad`: also apply the defective late region, which must be refused.
    pub late_region_bad: bool,
    /// `fault.corrupt=KIND`: validate a copy of the kernel table with one entry corrupted.
    pub corrupt: Option<&'static str>,
}

/// Sets the ID-register overrides each CPU applies to its snapshot.
pub fn set_overrides(overrides: Overrides) {
    OVERRIDES.call_once(|| overrides);
}

/// Records the running CPU's ID registers and marks it online.
pub fn register_this_cpu(index: usize) {
    ID_REGS[index].call_once(|| {
        let mut regs = cpu::read_id_regs();
        if let Some(overrides) = OVERRIDES.get() {
            overrides.apply(index, &mut regs);
        }
        regs
    });
    ONLINE[index].store(true, Ordering::Release);
}

/// CPU `index`'s ID registers, once it is online.
pub fn id_regs(index: usize) -> Option<&'static IdRegs> {
    ID_REGS[index].get()
}

/// The CPUs in the system, one bit each.
pub fn online_mask() -> u64 {
    ONLINE_MASK.load(Ordering::Acquire)
}

/// Why bring-up failed.
pub enum BringUpError {
    /// PSCI refused CPU_ON.
    Psci { cpu: usize, mpidr: u64, error: psci::PsciError },
    /// The CPU did not report online in time.
    Missing { cpu: usize, mpidr: u64 },
}

/// Starts every CPU the device tree lists and waits for each; `Err` lists what failed.
/// CPUs from `max_cpus` on (Linux's `maxcpus=`) are left for [`bring_up_late`].
pub fn bring_up(
    info: &BootInfo,
    faults: &Faults,
    max_cpus: Option<usize>,
) -> Result<usize, alloc::vec::Vec<BringUpError>> {
    if let Some(cpu) = faults.stall_cpu {
        STALL_CPU.store(cpu, Ordering::Relaxed);
    }
    if let Some(cpu) = faults.rendezvous_absent {
        ABSENT_CPU.store(cpu, Ordering::Relaxed);
    }
    let count = max_cpus.unwrap_or(info.machine.cpu_count).min(info.machine.cpu_count);
    LATE_FROM.store(count, Ordering::Release);
    let mut errors = alloc::vec::Vec::new();
    let entry = boot::secondary_entry_address();
    for cpu in 1..count {
        let mpidr = info.machine.mpidrs[cpu];
        let target = if faults.bad_cpu_on == Some(cpu) { mpidr | 0xff << 32 } else { mpidr };
        if let Err(error) = psci::cpu_on(info.machine.psci, target, entry, cpu as u64) {
            errors.push(BringUpError::Psci { cpu, mpidr, error });
        }
    }
    let deadline = Instant::now().0 + micros_to_ticks(ONLINE_TIMEOUT_US);
    for cpu in 1..count {
        if errors.iter().any(|e| matches!(e, BringUpError::Psci { cpu: c, .. } if *c == cpu)) {
            continue;
        }
        if !wait_online(cpu, deadline) {
            errors.push(BringUpError::Missing { cpu, mpidr: info.machine.mpidrs[cpu] });
        }
    }
    if errors.is_empty() {
        ONLINE_MASK.store(if count == 64 { u64::MAX } else { (1 << count) - 1 }, Ordering::Release);
        Ok(count)
    } else {
        Err(errors)
    }
}

/// Waits until CPU `cpu` reports online or the counter passes `deadline`; whether it did.
fn wait_online(cpu: usize, deadline: u64) -> bool {
    while !ONLINE[cpu].load(Ordering::Acquire) {
        if Instant::now().0 >= deadline {
            return false;
        }
        cpu::relax();
    }
    true
}

/// Reports bring-up failures, one line each, and ends the run with status 4.
pub fn fail(errors: &[BringUpError]) -> ! {
    for error in errors {
        match error {
            BringUpError::Psci { cpu, mpidr, error } => {
                crate::println!("SMP: CPU{cpu} (MPIDR {mpidr:#x}): PSCI CPU_ON failed: {error}")
            }
            BringUpError::Missing { cpu, mpidr } => crate::println!(
                "SMP: CPU{cpu} (MPIDR {mpidr:#x}) failed to come online within {} ms",
                ONLINE_TIMEOUT_US / 1000
            ),
        }
    }
    crate::semihosting::exit(ExitStatus::CpuBringUp)
}

/// Starts the CPUs that `maxcpus=` held back, now that the capabilities are final: each is
/// checked against them and either joins or is refused, named, and parked. The rest go on.
pub fn bring_up_late(info: &BootInfo, system: &SystemCaps, max_cpus: Option<usize>) {
    let first = max_cpus.unwrap_or(info.machine.cpu_count).min(info.machine.cpu_count);
    let entry = boot::secondary_entry_address();
    for cpu in first..info.machine.cpu_count {
        let mpidr = info.machine.mpidrs[cpu];
        if let Err(error) = psci::cpu_on(info.machine.psci, mpidr, entry, cpu as u64) {
            crate::println!("SMP: late CPU{cpu} (MPIDR {mpidr:#x}): PSCI CPU_ON failed: {error}");
            continue;
        }
        let deadline = Instant::now().0 + micros_to_ticks(ONLINE_TIMEOUT_US);
        let Some(regs) = wait_online(cpu, deadline).then(|| id_regs(cpu)).flatten() else {
            crate::println!("SMP: late CPU{cpu} (MPIDR {mpidr:#x}) failed to come online");
            continue;
        };
        // The D-line size is baked into an immediate at boot, and maintenance strides by the
        // system's line sizes: a CPU with smaller lines would be cleaned incompletely.
        let (cpu_ctr, sys_ctr) = (regs.ctr_el0, system.ctr_el0());
        let (cpu_lines, sys_lines) =
            (CacheGeometry::from_ctr_el0(cpu_ctr), CacheGeometry::from_ctr_el0(sys_ctr));
        if cpu_lines.dline < sys_lines.dline || cpu_lines.iline < sys_lines.iline {
            REFUSED[cpu].store(true, Ordering::Release);
            crate::println!(
                "SMP: late CPU{cpu} (MPIDR {mpidr:#x}) refused and parked: its cache lines (CTR_EL0 {cpu_ctr:#x}) are smaller than the system's ({sys_ctr:#x})"
            );
            cpu::send_event();
            continue;
        }
        match system.check_late_cpu(regs) {
            Ok(()) => {
                ONLINE_MASK.fetch_or(1 << cpu, Ordering::AcqRel);
                ACCEPTED[cpu].store(true, Ordering::Release);
                crate::println!("SMP: late CPU{cpu} (MPIDR {mpidr:#x}) has every system capability: online");
            }
            Err(refusal) => {
                REFUSED[cpu].store(true, Ordering::Release);
                crate::println!("SMP: late CPU{cpu} (MPIDR {mpidr:#x}) refused and parked: {refusal}");
            }
        }
        cpu::send_event();
    }
}

/// The calls of [`on_each_cpu`]: a generation number, the function, and the answers.
static CALL_GENERATION: AtomicU64 = AtomicU64::new(0);
static CALL_FUNCTION: AtomicUsize = AtomicUsize::new(0);
static CALL_DONE: AtomicU64 = AtomicU64::new(0);
static CALL_FAILED: AtomicU64 = AtomicU64::new(0);

/// How long [`on_each_cpu`] waits for every CPU's answer.
const CALL_TIMEOUT_US: u64 = 45_000_000;

/// Runs `test` on every CPU in the system at once (the boot CPU included) and returns the
/// mask of CPUs where it returned false. A CPU that does not answer within the timeout is
/// named and the run ends (status 1): a later call would race with the test it still runs.
pub fn on_each_cpu(name: &str, test: fn(cpu: usize) -> bool) -> u64 {
    let mask = online_mask();
    CALL_DONE.store(0, Ordering::Relaxed);
    CALL_FAILED.store(0, Ordering::Relaxed);
    CALL_FUNCTION.store(test as *const () as usize, Ordering::Relaxed);
    // Release pairs with the secondaries' Acquire: they see the function and the cleared
    // answers before they run.
    CALL_GENERATION.fetch_add(1, Ordering::Release);
    cpu::send_event();
    record_answer(0, test(0));
    let deadline = Instant::now().0 + micros_to_ticks(CALL_TIMEOUT_US);
    while CALL_DONE.load(Ordering::Acquire) & mask != mask {
        if Instant::now().0 >= deadline {
            let silent = mask & !CALL_DONE.load(Ordering::Acquire);
            crate::println!(
                "altpatch: self-test {name}: CPUs {silent:#x} did not finish within {} s",
                CALL_TIMEOUT_US / 1_000_000
            );
            crate::semihosting::exit(ExitStatus::SelfTestFailed);
        }
        cpu::wait_for_event();
    }
    CALL_FAILED.load(Ordering::Acquire)
}

fn record_answer(cpu: usize, passed: bool) {
    if !passed {
        CALL_FAILED.fetch_or(1 << cpu, Ordering::Relaxed);
    }
    // Release: the failure bit (and the test's own writes) before the done bit.
    CALL_DONE.fetch_or(1 << cpu, Ordering::Release);
    cpu::send_event();
}

/// A secondary CPU's service loop: every rendezvous generation and every call, forever.
/// It runs no code that an alternatives entry patches while it waits.
pub fn serve(index: usize) -> ! {
    if ABSENT_CPU.load(Ordering::Relaxed) == index {
        cpu::park();
    }
    let mut participant = Participant::new(index);
    // Calls are counted from 0: a CPU that joins between the boot CPU's call and its first
    // look here still answers that call, which counted it in.
    let mut calls_seen = 0;
    loop {
        if crate::rendezvous::RENDEZVOUS.is_pending(&participant) {
            let daif = cpu::mask_exceptions();
            let outcome = crate::rendezvous::RENDEZVOUS.participate(&mut participant);
            cpu::restore_exceptions(daif);
            if let Outcome::Aborted { .. } = outcome {
                // The primary gave up waiting for another CPU and ends the run.
                cpu::park();
            }
            continue;
        }
        let calls = CALL_GENERATION.load(Ordering::Acquire);
        if calls != calls_seen {
            calls_seen = calls;
            let function = CALL_FUNCTION.load(Ordering::Relaxed);
            // SAFETY: `on_each_cpu` stored a `fn(usize) -> bool` before the generation that
            // the Acquire load above observed.
            let test: fn(usize) -> bool =
                unsafe { core::mem::transmute::<usize, fn(usize) -> bool>(function) };
            record_answer(index, test(index));
            continue;
        }
        cpu::wait_for_event();
    }
}

/// The Rust entry of a secondary CPU, from `boot/entry.s` with its MMU on and its stack set.
pub extern "C" fn secondary_init(index: usize, _entry_el: u64) -> ! {
    cpu::set_cpu_index(index);
    if STALL_CPU.load(Ordering::Relaxed) == index {
        cpu::park();
    }
    register_this_cpu(index);
    // A late CPU waits here, running no patched code, until the capability check decides.
    while cpu_is_late(index) && !ACCEPTED[index].load(Ordering::Acquire) {
        if REFUSED[index].load(Ordering::Acquire) {
            cpu::park();
        }
        cpu::wait_for_event();
    }
    cpu::context_sync();
    crate::secondary_main(index)
}

/// Whether CPU `index` is started after the capabilities are final.
fn cpu_is_late(index: usize) -> bool {
    LATE_FROM.load(Ordering::Acquire) <= index
}

/// The first CPU index that [`bring_up_late`] starts; set before any CPU_ON.
static LATE_FROM: AtomicUsize = AtomicUsize::new(usize::MAX);
