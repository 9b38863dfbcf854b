//! Cache maintenance that patched code needs.

#[path = "_arch/aarch64/cache.rs"]
mod arch_cache;

pub use arch_cache::{
    clean_dcache_line_pou, clean_invalidate_dcache_line_poc, complete_maintenance, dcache_line_size,
    invalidate_icache_all, invalidate_icache_line_pou, sync_icache_range,
};
