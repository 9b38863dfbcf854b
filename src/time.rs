//! Time from the Arm generic timer's physical counter (Arm ARM D12).

use crate::cpu;

/// A point in time: counter ticks since reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub u64);

impl Instant {
    /// Now.
    pub fn now() -> Self {
        Self(cpu::counter())
    }

    /// Microseconds since reset.
    pub fn as_micros(self) -> u64 {
        ticks_to_micros(self.0)
    }
}

/// `ticks` of the counter in microseconds.
pub fn ticks_to_micros(ticks: u64) -> u64 {
    let frequency = cpu::counter_frequency().max(1);
    // One 64-bit division while the product fits (the first 5.8 hours at 1 GHz): the 128-bit
    // one is a library call of a hundred instructions, paid on every console line.
    match ticks.checked_mul(1_000_000) {
        Some(product) => product / frequency,
        None => (u128::from(ticks) * 1_000_000 / u128::from(frequency)) as u64,
    }
}

/// `micros` in counter ticks.
pub fn micros_to_ticks(micros: u64) -> u64 {
    (u128::from(micros) * u128::from(cpu::counter_frequency()) / 1_000_000) as u64
}
