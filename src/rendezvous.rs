//! The stop-machine rendezvous on this machine: the portable protocol of
//! [`altpatch_rendezvous`] over `core` atomics, WFE/SEV, ISB and the generic counter.
//!
//! Everything here and in what it calls runs while text is being patched, so none of it may
//! carry an alternatives entry: it uses `core` atomics, never [`crate::sync`].

use crate::{cpu, fault};
use altpatch_rendezvous::{Platform, Rendezvous};

/// The machine operations the protocol needs.
pub struct KernelPlatform;

impl Platform for KernelPlatform {
    type Atomic = core::sync::atomic::AtomicU64;

    fn wait_for_event(&self) {
        cpu::wait_for_event();
    }

    fn send_event(&self) {
        cpu::send_event();
    }

    fn context_sync(&self) {
        cpu::context_sync();
    }

    fn now(&self) -> u64 {
        cpu::counter()
    }
}

/// The one rendezvous every CPU takes part in (on [`KernelPlatform`], which a
/// `fault-injection` kernel wraps: `fault::Platform`).
pub static RENDEZVOUS: Rendezvous<fault::Platform<KernelPlatform>> =
    Rendezvous::new(fault::platform(KernelPlatform));
