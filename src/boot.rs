//! The entry points: `boot/entry.s`, assembled with the constants it needs; the AArch64
//! body is `_arch/aarch64/boot.rs`.

pub use crate::_arch::boot::{decide_boot_cpu_level, publish_secondary_levels, secondary_entry_address};
