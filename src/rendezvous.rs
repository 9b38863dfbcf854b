//! The stop-machine rendezvous on this machine: the portable protocol of
//! [`altpatch_rendezvous`] over `core` atomics, WFE/SEV, ISB and the generic counter.
//!
//! Everything here and in what it calls runs while text is being patched, so none of it may
//! carry an alternatives entry: it uses `core` atomics, never [`crate::sync`].

use crate::fault;
use altpatch_aarch64::ArmPlatform;
use altpatch_rendezvous::Rendezvous;

/// The one rendezvous every CPU takes part in, on altpatch-aarch64's [`ArmPlatform`] (WFE
/// bounded by the event stream `ArmPlatform::enable_event_stream` turns on, DSB + SEV, ISB, the
/// generic counter), which a `fault-injection` kernel wraps: `fault::Platform`.
pub static RENDEZVOUS: Rendezvous<fault::Platform<ArmPlatform>> =
    Rendezvous::new(fault::platform(ArmPlatform));
