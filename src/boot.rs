//! The entry points: `boot/entry.s`, assembled with the constants it needs.

#[path = "_arch/aarch64/boot.rs"]
mod arch_boot;

pub use arch_boot::secondary_entry_address;
