//! What QEMU's arm `virt` board hands a bare-metal kernel, read without `unsafe`.
//!
//! [`fdt`] reads the flattened device tree in one pass into a [`fdt::Machine`]: RAM, the
//! CPUs' MPIDRs, the PSCI conduit, the console UART, the GIC and the command line.
//! [`BARE_METAL_DTB`] is where the board puts the tree for a kernel it starts as a bare ELF.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod fdt;

/// Where QEMU `virt` puts the device tree for a bare ELF, which it starts with x0 = 0: the
/// start of RAM (QEMU docs/system/arm/virt.rst, "Hardware configuration information for
/// bare-metal programming").
pub const BARE_METAL_DTB: u64 = 0x4000_0000;
