//! Cache maintenance that patched code needs; the AArch64 body is `_arch/aarch64/cache.rs`.

pub use crate::_arch::cache::{dcache_line_size, encode_dcache_line_size, sync_icache_range};
