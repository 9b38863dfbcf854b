//! Cache maintenance that patched code needs.

#[path = "_arch/aarch64/cache.rs"]
mod arch_cache;

pub use arch_cache::{dcache_line_size, encode_dcache_line_size, sync_icache_range};
