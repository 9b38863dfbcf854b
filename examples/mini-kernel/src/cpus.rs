//! What the CPUs tell each other, in one place: each CPU's capabilities and CTR_EL0 (written
//! by that CPU before it goes online), the online set, what the boot CPU publishes for the
//! self-tests, and each CPU's self-test verdict. Every wait here has a deadline.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::caps::{self, CapMask};
use crate::console;
use crate::platform::MAX_CPUS;

/// The CPUs' shared state (one bit per CPU in the sets).
pub struct Cpus {
    /// Each CPU's capabilities ([`CapMask`]).
    caps: [AtomicU64; MAX_CPUS],
    /// Each CPU's CTR_EL0.
    ctr: [AtomicU64; MAX_CPUS],
    /// The CPUs that are online.
    online: AtomicU64,
    /// The enabled capabilities, published before the system pass.
    enabled: AtomicU64,
    /// The system (sanitised) CTR_EL0, published with `enabled`.
    system_ctr: AtomicU64,
    /// The CPUs whose self-test finished.
    selftest_done: AtomicU64,
    /// The CPUs whose self-test failed.
    selftest_failed: AtomicU64,
    /// `mini.rendezvous_absent=N`: the CPU told to stay out of the system pass.
    absent: AtomicU64,
}

/// The one instance.
pub static CPUS: Cpus = Cpus {
    caps: [const { AtomicU64::new(0) }; MAX_CPUS],
    ctr: [const { AtomicU64::new(0) }; MAX_CPUS],
    online: AtomicU64::new(0),
    enabled: AtomicU64::new(0),
    system_ctr: AtomicU64::new(0),
    selftest_done: AtomicU64::new(0),
    selftest_failed: AtomicU64::new(0),
    absent: AtomicU64::new(u64::MAX),
};

impl Cpus {
    /// CPU `cpu` goes online with its capabilities and CTR_EL0 (Release: whoever sees it
    /// online sees them).
    pub fn arrive(&self, cpu: usize, caps: CapMask, ctr_el0: u64) {
        self.caps[cpu].store(caps.0, Ordering::Relaxed);
        self.ctr[cpu].store(ctr_el0, Ordering::Relaxed);
        self.online.fetch_or(1 << cpu, Ordering::Release);
        aarch64_cpu::asm::sev();
    }

    /// CPU `cpu`'s capabilities (it is online).
    pub fn caps(&self, cpu: usize) -> CapMask {
        CapMask(self.caps[cpu].load(Ordering::Acquire))
    }

    /// Waits until CPU `cpu` is online; `false` after `timeout_us`.
    pub fn wait_online(&self, cpu: usize, timeout_us: u64) -> bool {
        wait_until(timeout_us, || self.online.load(Ordering::Acquire) & (1 << cpu) != 0)
    }

    /// The capabilities every one of the first `online` CPUs has, and their sanitised CTR_EL0.
    pub fn system(&self, online: usize) -> (CapMask, u64) {
        let caps = (0..online).fold(CapMask(u64::MAX), |all, cpu| all.and(self.caps(cpu)));
        (caps, caps::sanitise_ctr((0..online).map(|cpu| self.ctr[cpu].load(Ordering::Acquire))))
    }

    /// Publishes what the self-tests check against (before the system pass releases the CPUs).
    pub fn publish(&self, enabled: CapMask, system_ctr: u64) {
        self.enabled.store(enabled.0, Ordering::Relaxed);
        self.system_ctr.store(system_ctr, Ordering::Relaxed);
    }

    /// What [`Cpus::publish`] published.
    pub fn published(&self) -> (CapMask, u64) {
        (CapMask(self.enabled.load(Ordering::Relaxed)), self.system_ctr.load(Ordering::Relaxed))
    }

    /// Records CPU `cpu`'s self-test verdict.
    pub fn selftest_done(&self, cpu: usize, passed: bool) {
        if !passed {
            self.selftest_failed.fetch_or(1 << cpu, Ordering::Release);
        }
        self.selftest_done.fetch_or(1 << cpu, Ordering::Release);
        aarch64_cpu::asm::sev();
    }

    /// Waits for the first `online` CPUs' self-tests: `Ok(every one passed)`, or
    /// `Err(the CPUs that did not finish)` after `timeout_us`.
    pub fn wait_selftests(&self, online: usize, timeout_us: u64) -> Result<bool, u64> {
        let all = (1u64 << online) - 1;
        if !wait_until(timeout_us, || self.selftest_done.load(Ordering::Acquire) == all) {
            return Err(all & !self.selftest_done.load(Ordering::Acquire));
        }
        Ok(self.selftest_failed.load(Ordering::Acquire) == 0)
    }

    /// Tells CPU `cpu` to stay out of the system pass (fault injection).
    pub fn keep_out(&self, cpu: u64) {
        self.absent.store(cpu, Ordering::Relaxed);
    }

    /// Whether CPU `cpu` is to stay out of the system pass.
    pub fn kept_out(&self, cpu: usize) -> bool {
        self.absent.load(Ordering::Relaxed) == cpu as u64
    }
}

/// Waits (WFE, bounded by the timer's event stream) until `done`; `false` after `timeout_us`.
fn wait_until(timeout_us: u64, done: impl Fn() -> bool) -> bool {
    let start = console::micros();
    while !done() {
        if console::micros() - start > timeout_us {
            return false;
        }
        aarch64_cpu::asm::wfe();
    }
    true
}
