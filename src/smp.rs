//! Bringing up the secondary CPUs with PSCI CPU_ON, and their life after that.

use crate::{
    boot, cpu,
    dtb::BootInfo,
    psci,
    semihosting::ExitStatus,
    time::{Instant, micros_to_ticks},
};
use altpatch_core::caps::IdRegs;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use spin::Once;

/// How long the boot CPU waits for the secondaries to come online, in microseconds of
/// generic-timer time.
const ONLINE_TIMEOUT_US: u64 = 5_000_000;

/// Set by each CPU once it runs Rust code with its MMU on and its ID registers snapshotted.
static ONLINE: [AtomicBool; cpu::MAX_CPUS] = [const { AtomicBool::new(false) }; cpu::MAX_CPUS];
/// Each CPU's ID registers, as it read them coming up.
static ID_REGS: [Once<IdRegs>; cpu::MAX_CPUS] = [const { Once::new() }; cpu::MAX_CPUS];
/// The number of CPUs started.
static CPU_COUNT: AtomicUsize = AtomicUsize::new(1);
/// Fault injection (`fault.cpu_stall=N`): CPU N never reports online.
static STALL_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Faults a tester can inject through boot arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// `fault.cpu_stall=N`: CPU N starts but never reports online.
    pub stall_cpu: Option<usize>,
    /// `fault.psci_cpu_on=N`: CPU_ON for CPU N names an MPIDR no CPU has, so PSCI refuses it.
    pub bad_cpu_on: Option<usize>,
    /// `fault.bug`: the boot CPU raises `bug!()` before bringing up the others.
    pub bug: bool,
}

/// Records the running CPU's ID registers and marks it online.
pub fn register_this_cpu(index: usize) {
    ID_REGS[index].call_once(cpu::read_id_regs);
    ONLINE[index].store(true, Ordering::Release);
}

/// CPU `index`'s ID registers, once it is online.
pub fn id_regs(index: usize) -> Option<&'static IdRegs> {
    ID_REGS[index].get()
}

/// The number of CPUs online.
pub fn cpu_count() -> usize {
    CPU_COUNT.load(Ordering::Acquire)
}

/// Why bring-up failed.
pub enum BringUpError {
    /// PSCI refused CPU_ON.
    Psci { cpu: usize, mpidr: u64, error: psci::PsciError },
    /// The CPU did not report online in time.
    Missing { cpu: usize, mpidr: u64 },
}

/// Starts every CPU the device tree lists and waits for each; `Err` lists what failed.
pub fn bring_up(info: &BootInfo, faults: &Faults) -> Result<usize, alloc::vec::Vec<BringUpError>> {
    if let Some(cpu) = faults.stall_cpu {
        STALL_CPU.store(cpu, Ordering::Relaxed);
    }
    let mut errors = alloc::vec::Vec::new();
    let entry = boot::secondary_entry_address();
    for cpu in 1..info.cpu_count {
        let mpidr = info.mpidrs[cpu];
        let target = if faults.bad_cpu_on == Some(cpu) { mpidr | 0xff << 32 } else { mpidr };
        if let Err(error) = psci::cpu_on(info.psci, target, entry, cpu as u64) {
            errors.push(BringUpError::Psci { cpu, mpidr, error });
        }
    }
    let deadline = Instant::now().0 + micros_to_ticks(ONLINE_TIMEOUT_US);
    for cpu in 1..info.cpu_count {
        if errors.iter().any(|e| matches!(e, BringUpError::Psci { cpu: c, .. } if *c == cpu)) {
            continue;
        }
        while !ONLINE[cpu].load(Ordering::Acquire) && Instant::now().0 < deadline {
            cpu::relax();
        }
        if !ONLINE[cpu].load(Ordering::Acquire) {
            errors.push(BringUpError::Missing { cpu, mpidr: info.mpidrs[cpu] });
        }
    }
    if errors.is_empty() {
        CPU_COUNT.store(info.cpu_count, Ordering::Release);
        Ok(info.cpu_count)
    } else {
        Err(errors)
    }
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

/// The Rust entry of a secondary CPU, from `boot/entry.s` with its MMU on and its stack set.
pub extern "C" fn secondary_init(index: usize, _entry_el: u64) -> ! {
    cpu::set_cpu_index(index);
    if STALL_CPU.load(Ordering::Relaxed) == index {
        cpu::park();
    }
    register_this_cpu(index);
    crate::secondary_main(index)
}
