//! The fault module of a kernel built without `fault-injection`: no `fault.*` argument is
//! taken, each wrapper is the wrapped thing itself, and each point does nothing.

use super::OnEachCpu;
use arm64_caps::{
    caps::IdRegs,
    cmdline::{ArgError, BootArg},
};
use core::ops::Range;

/// No faults: this kernel takes none.
#[derive(Clone, Copy, Debug)]
pub struct Faults;

impl Faults {
    /// No faults.
    pub const fn none() -> Self {
        Faults
    }

    /// Takes no argument: `fault.*` is unknown here, as every other argument nothing takes.
    pub fn accept(&mut self, _arg: &BootArg<'_>) -> Result<bool, ArgError> {
        Ok(false)
    }

    /// Nothing to report.
    pub fn report_misdirected(&self, _cpus: usize) {}
}

/// Nothing to arm.
pub fn arm(_faults: Faults) {}

/// The PSCI firmware itself.
pub type Firmware<F> = F;

/// `inner` itself.
pub const fn firmware<F>(inner: F) -> Firmware<F> {
    inner
}

/// The rendezvous's platform itself.
pub type Platform<P> = P;

/// `inner` itself.
pub const fn platform<P>(inner: P) -> Platform<P> {
    inner
}

/// The text alias `inner` itself.
pub const fn text_alias<A>(inner: A) -> A {
    inner
}

/// The kernel's own table is validated as linked: `None`.
pub fn kernel_table(_table: &Range<u64>, _text: &Range<u64>) -> Option<&'static [u8]> {
    None
}

/// No defective late region is applied.
pub fn late_region_bad() -> bool {
    false
}

/// Every CPU serves.
pub fn before_serving(_cpu: usize) {}

/// A CPU back from CPU_OFF keeps the registers it read.
pub fn returning_cpu(_cpu: usize, _regs: &mut IdRegs) {}

/// Nothing happens after boot.
pub fn after_boot(_on_each_cpu: OnEachCpu) {}
