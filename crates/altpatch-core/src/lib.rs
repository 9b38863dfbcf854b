//! The portable heart of altpatch.
//!
//! Everything here runs unchanged on the host (under `cargo test`, `altcheck` and the
//! benchmarks) and in the kernel: it knows nothing of the machine. It takes raw register
//! values and byte slices; the kernel supplies the machine through small traits.
//!
//! - [`fingerprint`]: the 32-bit stamp of an ordered capability list.
//! - [`caps`]: the one ordered capability list, ID-register fields, detection, errata.
//! - [`table`]: the `.altinstructions` entry format.
//! - [`insn`]: decoding, relocating and encoding the instructions a replacement carries.
//! - [`validate`]: the whole-table check that runs before a single byte changes.
//! - [`plan`]: what to write where, and the cache maintenance that makes it visible.
//! - [`rendezvous`]: the stop-machine protocol, generic so that `loom` can check it.
//! - [`fdt`]: the device tree, read in one pass.
//! - [`bootargs`]: the kernel command line.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod bootargs;
pub mod caps;
pub mod fdt;
pub mod fingerprint;
pub mod insn;
pub mod plan;
pub mod rendezvous;
pub mod table;
pub mod validate;
