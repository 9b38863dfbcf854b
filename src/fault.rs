//! Fault injection: boot arguments (`fault.*`) that break the kernel on purpose, so the
//! negative boots of the test suite can prove each failure is named and ends with its
//! status. Only a kernel built with the `fault-injection` feature takes them; one without
//! it refuses `fault.*` as unknown arguments.
//!
//! This module is the one place the two kernels differ. The rest of the kernel names only
//! what both builds define here, the same way: the [`Faults`] a command line asks for
//! ([`Faults::accept`], [`arm`]); wrappers around the traits the kernel runs on
//! ([`Firmware`] around the PSCI conduit, [`Platform`] around the rendezvous's platform,
//! [`text_alias`] around the text alias); and the few points where a fault acts that no
//! trait reaches ([`kernel_table`], [`late_region_bad`], [`before_serving`],
//! [`returning_cpu`], [`after_boot`]). With the feature they are `args`, `wrappers`,
//! `table`, `points` and `booted` below; without it `off`, where each wrapper is the
//! wrapped thing itself and each point does nothing.

#[cfg(feature = "fault-injection")]
mod args;
#[cfg(feature = "fault-injection")]
mod points;
#[cfg(feature = "fault-injection")]
mod table;
#[cfg(feature = "fault-injection")]
mod wrappers;

#[cfg(feature = "fault-injection")]
pub use {
    args::{Faults, arm},
    booted::after_boot,
    points::{before_serving, late_region_bad, returning_cpu},
    table::kernel_table,
    wrappers::{Firmware, Platform, firmware, platform, text_alias},
};

#[cfg(not(feature = "fault-injection"))]
mod off;
#[cfg(not(feature = "fault-injection"))]
pub use off::*;

/// How the kernel runs a test on every CPU at once (`smp::on_each_cpu`), for
/// [`after_boot`]: the CPUs where it failed.
pub type OnEachCpu = fn(name: &str, test: fn(cpu: usize) -> bool) -> altpatch_rendezvous::CpuSet;

/// The faults that act once the kernel has booted, before the self-tests. Here rather than
/// in a file of their own: `fault.oops_everywhere`'s BUG names `src/fault.rs`, as the boot
/// matrix expects.
#[cfg(feature = "fault-injection")]
mod booted {
    use super::{OnEachCpu, args::faults};

    /// `fault.oops_everywhere` and `fault.stack_overflow=N`, through `on_each_cpu` (the
    /// kernel's `smp::on_each_cpu`, which runs a test on every CPU at once).
    pub fn after_boot(on_each_cpu: OnEachCpu) {
        let faults = faults();
        if faults.oops_everywhere {
            oops_everywhere(on_each_cpu);
        }
        if let Some(cpu) = faults.stack_overflow {
            overflow_a_stack(on_each_cpu, cpu);
        }
    }

    /// `fault.oops_everywhere`: every CPU raises BUG at the same moment; the reports must
    /// come out whole, one CPU's after another's, never interleaved or torn.
    fn oops_everywhere(on_each_cpu: OnEachCpu) {
        on_each_cpu("oops-everywhere", |_| -> bool { crate::bug!() });
    }

    /// `fault.stack_overflow=N`: CPU N recurses until its stack runs into its guard page;
    /// the report must name CPU N, from the exception stack.
    fn overflow_a_stack(on_each_cpu: OnEachCpu, victim: usize) {
        use core::sync::atomic::{AtomicUsize, Ordering};
        static VICTIM: AtomicUsize = AtomicUsize::new(usize::MAX);
        VICTIM.store(victim, Ordering::Relaxed);
        on_each_cpu("stack-overflow", |cpu| {
            if cpu == VICTIM.load(Ordering::Relaxed) {
                recurse(0);
            }
            true
        });
    }

    /// Uses 512 bytes of stack per level, far past any stack (it would stop at 2^40 levels).
    #[inline(never)]
    fn recurse(depth: u64) -> u64 {
        let frame = core::hint::black_box([depth; 64]);
        if depth >> 40 != 0 {
            return frame[0];
        }
        recurse(depth + 1) + frame[(depth % 64) as usize]
    }
}
