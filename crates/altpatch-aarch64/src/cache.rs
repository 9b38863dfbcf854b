//! The cache maintenance instructions the apply engine issues (Arm ARM D7.5.9, C5.3).

/// Cleans the D-cache line holding `addr` to the point of unification (DC CVAU).
#[inline(always)]
pub fn clean_dcache_line_pou(addr: u64) {
    // SAFETY: cache maintenance by VA on mapped text; it writes back, never changes data.
    unsafe { core::arch::asm!("dc cvau, {}", in(reg) addr, options(nostack, preserves_flags)) };
}

/// Invalidates the I-cache line holding `addr` to the point of unification, on every CPU in
/// the inner shareable domain (IC IVAU).
#[inline(always)]
pub fn invalidate_icache_line_pou(addr: u64) {
    // SAFETY: invalidating instruction cache lines only forces a refetch.
    unsafe { core::arch::asm!("ic ivau, {}", in(reg) addr, options(nostack, preserves_flags)) };
}

/// Cleans and invalidates the D-cache line holding `addr` to the point of coherency
/// (DC CIVAC): Linux's per-entry step, for the benchmark baseline.
#[inline(always)]
pub fn clean_invalidate_dcache_line_poc(addr: u64) {
    // SAFETY: as for DC CVAU: the line's data is written back before it is dropped.
    unsafe { core::arch::asm!("dc civac, {}", in(reg) addr, options(nostack, preserves_flags)) };
}

/// Invalidates every I-cache in the inner shareable domain to the point of unification
/// (IC IALLUIS): for writes that touch two I-lines or more, and Linux's
/// `icache_inval_all_pou()` in the benchmark baseline.
#[inline(always)]
pub fn invalidate_icache_all() {
    // SAFETY: invalidating instruction caches only forces refetches.
    unsafe { core::arch::asm!("ic ialluis", options(nostack, preserves_flags)) };
}

/// Waits for the cache maintenance issued so far to complete for the inner shareable domain
/// (DSB ISH).
#[inline(always)]
pub fn complete_maintenance() {
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISH);
}
