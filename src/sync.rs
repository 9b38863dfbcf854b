//! Synchronisation primitives whose instructions are chosen at boot by alternatives: the
//! code is built for the oldest CPU (Armv8.0) and patched to the newer instruction where
//! every CPU has it.

pub use crate::_arch::sync::{fetch_add, load_acquire, speculation_barrier};

/// A spin lock built on [`fetch_add`]: a ticket lock, fair between CPUs, so the patched LSE
/// path carries real contention in the self-test.
pub struct TicketLock {
    next: core::sync::atomic::AtomicU64,
    serving: core::sync::atomic::AtomicU64,
}

impl TicketLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        Self { next: core::sync::atomic::AtomicU64::new(0), serving: core::sync::atomic::AtomicU64::new(0) }
    }

    /// Runs `f` holding the lock.
    pub fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        let ticket = fetch_add(&self.next, 1);
        while load_acquire(&self.serving) != ticket {
            core::hint::spin_loop();
        }
        let result = f();
        self.serving.store(ticket + 1, core::sync::atomic::Ordering::Release);
        result
    }
}
