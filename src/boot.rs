//! The entry points: `boot/entry.s`, assembled with the constants it needs.

#[path = "_arch/aarch64/boot.rs"]
mod arch_boot;

pub use arch_boot::{decide_boot_cpu_level, publish_secondary_levels, secondary_entry_address};
