//! Linux arm64's capabilities, as a list altpatch's engine can be built against.
//!
//! [`caps`] holds the one ordered list (`cap_list!`: identifier, description, scope and
//! detection rule per row), the ID-register fields with their sanitisation policies, the
//! errata by MIDR range, QEMU 7.2's CPU models as fixtures, older lists kept for
//! diagnosing stale objects, and the command-line overrides (`id_aa64isar0.atomic=0`,
//! `arm64.nolse`). [`cmdline`] splits a command line into the arguments the overrides and
//! the kernel take.
//!
//! Everything here is portable and host-tested: it takes raw register values, and the
//! kernel that reads them supplies them.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod caps;
pub mod cmdline;
