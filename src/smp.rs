//! Bringing up the secondary CPUs with PSCI CPU_ON, and their life after that.
//!
//! Each CPU's state is one [`PerCpu`] slot: where it is in its life ([`Life`]), the ID
//! registers it read coming up, and its answer to the latest [`on_each_cpu`] call. The
//! system's CPUs (online, and for late CPUs accepted) are an [`AtomicCpuSet`]. After boot a
//! secondary may go offline and come back ([`hotplug`]).

use crate::{
    boot, cpu,
    dtb::BootInfo,
    fault,
    psci::{self, Firmware as _},
    semihosting::ExitStatus,
    time::{Instant, micros_to_ticks},
};
use altpatch_core::plan::CacheGeometry;
use altpatch_rendezvous::{CpuSet, MAX_CPUS as SET_CAPACITY, Outcome, Participant};
use arm64_caps::caps::{
    IdRegs, SystemCaps,
    overrides::{Ignored, Overrides},
};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use spin::{Mutex, Once};

mod hotplug;
mod slots;
use hotplug::go_offline;
pub use hotplug::hotplug_cycles;

/// How long the boot CPU waits for the secondaries to come online, in microseconds of
/// generic-timer time.
const ONLINE_TIMEOUT_US: u64 = 5_000_000;

/// How long a CPU held in the rendezvous waits for the stop window to close, from its
/// check-in: far above the longest patch seen (about 60 ms at 256 CPUs on one host thread).
const STOP_WINDOW_TIMEOUT_US: u64 = 5_000_000;

/// Where a CPU is in its life. Written by the CPU itself (`Online`) or by the boot CPU's
/// verdict on a late CPU (`Accepted`, `Refused`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Life {
    /// Not started, or started and not yet running Rust with its registers read.
    Offline = 0,
    /// Running, its ID registers snapshotted.
    Online = 1,
    /// A late CPU the capability check accepted: it may run patched code.
    Accepted = 2,
    /// A late CPU the capability check refused: it parks.
    Refused = 3,
}

/// One CPU's state.
struct PerCpu {
    life: AtomicU8,
    id_regs: Once<IdRegs>,
    /// The boot CPU asks this CPU to go offline (PSCI CPU_OFF) from its service loop.
    offline_request: AtomicBool,
    /// The CPU is coming back after CPU_OFF: it snapshots its registers afresh and waits
    /// for the verdict against the final capabilities.
    returning: AtomicBool,
    /// The registers it read when it last came back.
    returned_regs: Mutex<Option<IdRegs>>,
    /// The last [`on_each_cpu`] call this CPU answered, and whether its test failed.
    answered: AtomicU64,
    failed: AtomicBool,
}

impl PerCpu {
    const fn new() -> Self {
        Self {
            life: AtomicU8::new(Life::Offline as u8),
            id_regs: Once::new(),
            offline_request: AtomicBool::new(false),
            returning: AtomicBool::new(false),
            returned_regs: Mutex::new(None),
            answered: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        }
    }

    fn life(&self) -> Life {
        match self.life.load(Ordering::Acquire) {
            1 => Life::Online,
            2 => Life::Accepted,
            3 => Life::Refused,
            _ => Life::Offline,
        }
    }

    fn set_life(&self, life: Life) {
        self.life.store(life as u8, Ordering::Release);
    }
}

/// The CPUs' slots, written for the tree's CPUs by [`init_slots`] (not zeroed at boot).
#[unsafe(link_section = ".noinit")]
static CPU_STORAGE: slots::Storage<PerCpu, { cpu::MAX_CPUS }> = slots::Storage::new();
static CPUS: slots::Slots<PerCpu, { cpu::MAX_CPUS }> = slots::Slots::new(&CPU_STORAGE);

/// Writes the slots of the first `count` CPUs (the tree's), before any CPU uses its slot.
///
/// # Safety
///
/// On the boot CPU, before any secondary starts.
pub unsafe fn init_slots(count: usize) {
    // SAFETY: the caller promises the boot CPU alone.
    unsafe { CPUS.init(count, PerCpu::new) };
}

/// A [`CpuSet`] that CPUs update concurrently.
pub struct AtomicCpuSet([AtomicU64; SET_CAPACITY / 64]);

impl AtomicCpuSet {
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; SET_CAPACITY / 64])
    }

    /// Adds `cpu` (Release: what it did before is visible to whoever sees it in the set).
    fn insert(&self, cpu: usize) {
        self.0[cpu / 64].fetch_or(1 << (cpu % 64), Ordering::Release);
    }

    /// Removes `cpu`.
    fn remove(&self, cpu: usize) {
        self.0[cpu / 64].fetch_and(!(1 << (cpu % 64)), Ordering::Release);
    }

    /// The members now.
    pub fn load(&self) -> CpuSet {
        // One load per word, not one per CPU.
        CpuSet::from_words(core::array::from_fn(|w| self.0[w].load(Ordering::Acquire)))
    }
}

/// The CPUs in the system: online and, for late CPUs, accepted.
static SYSTEM_CPUS: AtomicCpuSet = AtomicCpuSet::new();
/// The ID-register overrides from the command line, applied to each CPU's snapshot.
static OVERRIDES: Once<Overrides> = Once::new();
/// The first CPU index that [`bring_up_late`] starts; set before any CPU_ON.
static LATE_FROM: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The PSCI firmware, through the tree's conduit (wrapped in a `fault-injection` kernel),
/// set before the first CPU_ON; also for CPU_OFF from the CPU going down.
static FIRMWARE: Once<fault::Firmware<psci::Conduit>> = Once::new();

/// The PSCI firmware, set from `info` on first use.
fn firmware(info: &BootInfo) -> &'static fault::Firmware<psci::Conduit> {
    FIRMWARE.call_once(|| fault::firmware(info.machine.psci))
}

/// The exception level the boot CPU runs the kernel at, for the secondaries to compare.
static BOOT_EL: AtomicU64 = AtomicU64::new(0);

/// Sets the ID-register overrides each CPU applies to its snapshot; notes the boot CPU's
/// exception level.
pub fn configure(overrides: Overrides) {
    BOOT_EL.store(cpu::current_el(), Ordering::Relaxed);
    OVERRIDES.call_once(|| overrides);
}

/// Records the running CPU's ID registers and marks it online. A CPU coming back from
/// CPU_OFF reads them afresh (`fault::returning_cpu` may change those).
pub fn register_this_cpu(index: usize) {
    let returning = CPUS[index].returning.load(Ordering::Acquire);
    let read = || {
        let mut regs = cpu::read_id_regs();
        if let Some(overrides) = OVERRIDES.get() {
            // A CPU-wide override is reported once, by the boot CPU; a `cpuN:` one by CPU N,
            // when it first comes up (not again on each return from CPU_OFF).
            let first = |i: &Ignored| !returning && (i.cpu == Some(index) || index == 0);
            for ignored in overrides.ignored(index, &regs).filter(first) {
                crate::println!("CPU features: {ignored}");
            }
            overrides.apply(index, &mut regs);
        }
        regs
    };
    if returning {
        let mut regs = read();
        fault::returning_cpu(index, &mut regs);
        *CPUS[index].returned_regs.lock() = Some(regs);
    } else {
        CPUS[index].id_regs.call_once(read);
    }
    CPUS[index].set_life(Life::Online);
}

/// CPU `index`'s ID registers, once it is online.
pub fn id_regs(index: usize) -> Option<&'static IdRegs> {
    CPUS[index].id_regs.get()
}

/// The CPUs in the system.
pub fn online() -> CpuSet {
    SYSTEM_CPUS.load()
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
pub fn bring_up(info: &BootInfo, max_cpus: Option<usize>) -> Result<usize, alloc::vec::Vec<BringUpError>> {
    // `maxcpus=0` still runs the boot CPU (reported when the argument was read).
    let count = max_cpus.unwrap_or(info.machine.cpu_count).clamp(1, info.machine.cpu_count.max(1));
    LATE_FROM.store(count, Ordering::Release);
    let firmware = firmware(info);
    SYSTEM_CPUS.insert(0);
    let mut errors = alloc::vec::Vec::new();
    let entry = boot::secondary_entry_address();
    for cpu in 1..count {
        let mpidr = info.machine.mpidrs[cpu];
        if let Err(error) = firmware.cpu_on(mpidr, entry, cpu as u64) {
            errors.push(BringUpError::Psci { cpu, mpidr, error });
        }
    }
    let deadline = Instant::now().0 + micros_to_ticks(ONLINE_TIMEOUT_US);
    for cpu in 1..count {
        if errors.iter().any(|e| matches!(e, BringUpError::Psci { cpu: c, .. } if *c == cpu)) {
            continue;
        }
        if wait_online(cpu, deadline) {
            SYSTEM_CPUS.insert(cpu);
        } else {
            errors.push(BringUpError::Missing { cpu, mpidr: info.machine.mpidrs[cpu] });
        }
    }
    if errors.is_empty() { Ok(count) } else { Err(errors) }
}

/// Waits until CPU `cpu` reports online or the counter passes `deadline`; whether it did.
fn wait_online(cpu: usize, deadline: u64) -> bool {
    while CPUS[cpu].life() == Life::Offline {
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
/// Returns how many failed to come online at all (a PSCI error, a timeout): the run's status
/// is then 4, as for a CPU that fails at boot.
pub fn bring_up_late(info: &BootInfo, system: &SystemCaps) -> usize {
    let entry = boot::secondary_entry_address();
    let mut failed = 0;
    let first = LATE_FROM.load(Ordering::Acquire);
    for (cpu, &mpidr) in info.machine.mpidrs.iter().enumerate().take(info.machine.cpu_count).skip(first) {
        if let Err(error) = firmware(info).cpu_on(mpidr, entry, cpu as u64) {
            crate::println!("SMP: late CPU{cpu} (MPIDR {mpidr:#x}): PSCI CPU_ON failed: {error}");
            failed += 1;
            continue;
        }
        let deadline = Instant::now().0 + micros_to_ticks(ONLINE_TIMEOUT_US);
        let Some(regs) = wait_online(cpu, deadline).then(|| id_regs(cpu)).flatten() else {
            crate::println!(
                "SMP: late CPU{cpu} (MPIDR {mpidr:#x}) failed to come online within {} ms",
                ONLINE_TIMEOUT_US / 1000
            );
            failed += 1;
            continue;
        };
        match admit_late_cpu(cpu, regs, system) {
            Ok(()) => {
                crate::println!("SMP: late CPU{cpu} (MPIDR {mpidr:#x}) has every system capability: online")
            }
            Err(refusal) => {
                crate::println!("SMP: late CPU{cpu} (MPIDR {mpidr:#x}) refused and parked: {refusal}")
            }
        }
        cpu::send_event();
    }
    failed
}

/// Linux's `verify_local_cpu_capabilities` for a CPU that comes after the capabilities are
/// final: it must have every system capability, and cache lines no smaller than the
/// system's (the D-line size is baked into an immediate at boot, and maintenance strides by
/// the system's line sizes: a CPU with smaller lines would be cleaned incompletely).
/// Decides a CPU that comes after the capabilities are final ([`check_late_cpu`]): it joins
/// the system's CPUs, or is refused and parks. The caller names the verdict, then wakes the
/// CPU to act on it.
fn admit_late_cpu(cpu: usize, regs: &IdRegs, system: &SystemCaps) -> Result<(), alloc::string::String> {
    let verdict = check_late_cpu(regs, system);
    if verdict.is_ok() {
        SYSTEM_CPUS.insert(cpu);
        CPUS[cpu].set_life(Life::Accepted);
    } else {
        CPUS[cpu].set_life(Life::Refused);
    }
    verdict
}

fn check_late_cpu(regs: &IdRegs, system: &SystemCaps) -> Result<(), alloc::string::String> {
    let (cpu_ctr, sys_ctr) = (regs.ctr_el0, system.ctr_el0());
    let (cpu_lines, sys_lines) = (CacheGeometry::from_ctr_el0(cpu_ctr), CacheGeometry::from_ctr_el0(sys_ctr));
    if cpu_lines.dline < sys_lines.dline || cpu_lines.iline < sys_lines.iline {
        return Err(alloc::format!(
            "its cache lines (CTR_EL0 {cpu_ctr:#x}) are smaller than the system's ({sys_ctr:#x})"
        ));
    }
    system.check_late_cpu(regs).map_err(|refusal| alloc::format!("{refusal}"))
}

/// The calls of [`on_each_cpu`]: a generation number and the function.
static CALL_GENERATION: AtomicU64 = AtomicU64::new(0);
static CALL_FUNCTION: Mutex<Option<CpuTest>> = Mutex::new(None);

/// A test that [`on_each_cpu`] runs on CPU `cpu`: whether it passed.
type CpuTest = fn(cpu: usize) -> bool;

/// How long [`on_each_cpu`] waits for every CPU's answer.
const CALL_TIMEOUT_US: u64 = 45_000_000;

/// Runs `test` on every CPU in the system at once (the boot CPU included) and returns the
/// CPUs where it returned false. A CPU that does not answer within the timeout is named and
/// the run ends (status 1): a later call would race with the test it still runs.
pub fn on_each_cpu(name: &str, test: fn(cpu: usize) -> bool) -> CpuSet {
    let cpus = online();
    *CALL_FUNCTION.lock() = Some(test);
    // Release pairs with the secondaries' Acquire: they see the function before they run.
    let generation = CALL_GENERATION.fetch_add(1, Ordering::Release) + 1;
    cpu::send_event();
    answer(0, generation, test(0));
    let deadline = Instant::now().0 + micros_to_ticks(CALL_TIMEOUT_US);
    let answered = |cpu: &usize| CPUS[*cpu].answered.load(Ordering::Acquire) == generation;
    while !cpus.iter().all(|cpu| answered(&cpu)) {
        if Instant::now().0 >= deadline {
            let silent: CpuSet = cpus.iter().filter(|cpu| !answered(cpu)).collect();
            crate::println!(
                "altpatch: self-test {name}: CPUs {silent:?} did not finish within {} s",
                CALL_TIMEOUT_US / 1_000_000
            );
            crate::semihosting::exit(ExitStatus::SelfTestFailed);
        }
        cpu::wait_for_event();
    }
    cpus.iter().filter(|&cpu| CPUS[cpu].failed.load(Ordering::Relaxed)).collect()
}

fn answer(cpu: usize, generation: u64, passed: bool) {
    CPUS[cpu].failed.store(!passed, Ordering::Relaxed);
    // Release: the verdict (and the test's own writes) before the answer.
    CPUS[cpu].answered.store(generation, Ordering::Release);
    cpu::send_event();
}

/// A secondary CPU's service loop: every rendezvous generation and every call, forever.
/// It runs no code that an alternatives entry patches while it waits.
pub fn serve(index: usize) -> ! {
    fault::before_serving(index);
    let mut participant = Participant::new(index);
    // Calls are counted from 0: a CPU that joins between the boot CPU's call and its first
    // look here still answers that call, which counted it in. A CPU back from CPU_OFF was
    // accepted between calls: it answers every call after its acceptance (`cpu_up` marks the
    // calls before as answered), however late it gets here.
    let mut calls_seen = if CPUS[index].returning.load(Ordering::Acquire) {
        CPUS[index].answered.load(Ordering::Acquire)
    } else {
        0
    };
    loop {
        if CPUS[index].offline_request.swap(false, Ordering::AcqRel) {
            go_offline(index);
        }
        if crate::rendezvous::RENDEZVOUS.is_pending(&participant) {
            let daif = cpu::mask_exceptions();
            let outcome = crate::rendezvous::RENDEZVOUS
                .participate(&mut participant, micros_to_ticks(STOP_WINDOW_TIMEOUT_US));
            cpu::restore_exceptions(daif);
            match outcome {
                Outcome::Released { .. } | Outcome::Missed { .. } => {}
                // The primary gave up waiting for another CPU and ends the run.
                Outcome::Aborted { .. } => cpu::park(),
                Outcome::WorkerStalled { generation } => {
                    crate::println!(
                        "alternatives: CPU{index}: the stop window of generation {generation} did not close within {} ms: its worker is wedged",
                        STOP_WINDOW_TIMEOUT_US / 1000
                    );
                    crate::semihosting::exit(ExitStatus::CpuBringUp);
                }
            }
            continue;
        }
        let calls = CALL_GENERATION.load(Ordering::Acquire);
        if calls != calls_seen {
            calls_seen = calls;
            let test = *CALL_FUNCTION.lock();
            answer(index, calls, test.is_some_and(|test| test(index)));
            continue;
        }
        cpu::wait_for_event();
    }
}

/// The Rust entry of a secondary CPU, from `boot/entry.s` with its MMU on and its stack set;
/// arch code enters it by the name it declares.
#[unsafe(export_name = "altpatch_secondary_main")]
pub extern "C" fn secondary_init(index: usize, _entry_el: u64) -> ! {
    if cpu::current_el() != BOOT_EL.load(Ordering::Relaxed) {
        // The boot CPU runs at EL2 with VHE and this CPU could not stay there (no VH, or an
        // override lowered it): the text is patched for EL2 (TPIDR_EL2), which is UNDEFINED
        // here. Run none of it: record the registers, which show EL1, for the boot CPU's
        // `verify_local_cpu_caps` to refuse this CPU by name, and park.
        register_this_cpu(index);
        cpu::park();
    }
    cpu::set_cpu_index(index);
    register_this_cpu(index);
    // A late CPU, or one back from CPU_OFF, waits here, running no patched code, until the
    // capability check decides.
    let checked = LATE_FROM.load(Ordering::Acquire) <= index || CPUS[index].returning.load(Ordering::Acquire);
    while checked && CPUS[index].life() != Life::Accepted {
        if CPUS[index].life() == Life::Refused {
            cpu::park();
        }
        cpu::wait_for_event();
    }
    cpu::context_sync();
    crate::secondary_main(index)
}
