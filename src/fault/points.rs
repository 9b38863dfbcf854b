//! The points where a fault acts that no trait the kernel runs on reaches: each a call the
//! plain kernel makes too, to a function that does nothing there (`off.rs`).

use super::args::faults;
use arm64_caps::caps::IdRegs;

/// `fault.late_region_bad`: whether the defective late region is applied too (it must be
/// refused alone, the kernel going on).
pub fn late_region_bad() -> bool {
    faults().late_region_bad
}

/// `fault.rendezvous_absent=N`: CPU N, online, parks before it serves: it never enters the
/// rendezvous. Called by each secondary as it starts serving.
pub fn before_serving(cpu: usize) {
    if faults().rendezvous_absent == Some(cpu) {
        crate::cpu::park();
    }
}

/// `fault.hotplug:cpuN:REG.FIELD=VALUE`: CPU `cpu`, back from CPU_OFF, sees `regs` with
/// the overrides applied, so that it lacks a capability the system has.
pub fn returning_cpu(cpu: usize, regs: &mut IdRegs) {
    faults().hotplug_overrides.apply(cpu, regs);
}
