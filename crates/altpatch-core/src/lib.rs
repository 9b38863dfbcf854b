//! The portable engine of altpatch: the alternatives table, checked and planned.
//!
//! Everything here runs unchanged on the host (under `cargo test`, `altcheck` and the
//! benchmarks) and in a kernel: it knows nothing of the machine and nothing of any
//! particular capability list. A kernel brings its own ordered list ([`CapabilityList`]);
//! the engine checks every entry against it before a byte changes.
//!
//! - [`fingerprint`]: the 32-bit stamp of an ordered capability list, and the
//!   [`CapabilityList`] trait a consumer's list implements.
//! - [`table`]: the `.altinstructions` entry format.
//! - [`insn`]: decoding, relocating and encoding the instructions a replacement carries.
//! - [`validate`]: the whole-table check that runs before a single byte changes.
//! - [`plan`]: what to write where, the cache maintenance that makes it visible, and the
//!   audit that proves it was written.
//!
//! The AArch64 side (the macros that fill the table, the apply engine) is the
//! `altpatch-aarch64` crate; the stop-machine protocol is `altpatch-rendezvous`.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod fingerprint;
pub mod insn;
pub mod plan;
pub mod table;
pub mod validate;

pub use fingerprint::{CapList, CapabilityList};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
