//! AArch64 cache maintenance routines, each with its alternatives.

use crate::alternative::{AltCallback, CallbackSite, Cap, FINGERPRINT};
use altpatch_core::plan::CacheGeometry;

core::arch::global_asm!(
    include_str!("../../../boot/alternative.s"),
    include_str!("cache.s"),
    CAP_IDC = const Cap::HAS_CACHE_IDC.index(),
    CAP_DIC = const Cap::HAS_CACHE_DIC.index(),
    FINGERPRINT = const FINGERPRINT,
);

unsafe extern "C" {
    #[link_name = "sync_icache_range"]
    fn sync_icache_range_asm(start: u64, end: u64);
}

/// Makes the instructions in `range`, just written through the data side, visible to
/// instruction fetch on every CPU (the caller still owes each other CPU an ISB).
pub fn sync_icache_range(range: core::ops::Range<u64>) {
    // SAFETY: cache maintenance by address on a mapped range changes no data; the routine
    // uses only x0-x6, all caller-saved.
    unsafe { sync_icache_range_asm(range.start, range.end) }
}

/// The smallest D-cache line in bytes across all CPUs, encoded into an immediate at boot by
/// [`encode_dcache_line_size`] (Linux patches `read_ctr` the same way). Before patching it
/// computes the value from this CPU's CTR_EL0.
#[inline(never)]
pub fn dcache_line_size() -> u64 {
    let size: u64;
    // SAFETY: both sequences only read CTR_EL0 or load an immediate into `size`'s register.
    unsafe {
        crate::alternative_cb!(
            old: [
                "mrs {size}, ctr_el0",
                "ubfx {size}, {size}, #16, #4",
                "lsl {size}, {four}, {size}",
                "nop",
            ],
            callback: encode_dcache_line_size,
            cap: ALWAYS_SYSTEM,
            size = out(reg) size,
            four = in(reg) 4u64,
            options(nomem, nostack, preserves_flags)
        );
    }
    size
}

/// MOVZ Xd, #imm16 (Arm ARM C6.2.191): `sf=1 opc=10 100101 hw imm16 Rd`.
const MOVZ_X: u32 = 0xd280_0000;
/// NOP (Arm ARM C6.2.203).
const NOP: u32 = 0xd503_201f;

/// Rewrites [`dcache_line_size`]'s site as `MOVZ Xd, #line` (Xd taken from the site's first
/// instruction, an MRS whose Rt is bits 4:0) followed by NOPs.
fn encode_dcache_line_size(site: &CallbackSite<'_>, dest: &mut [u32]) {
    let rd = site.original[0] & 0x1f;
    let line = CacheGeometry::from_ctr_el0(crate::alternative::system_ctr_el0()).dline as u32;
    dest[0] = MOVZ_X | (line << 5) | rd;
    dest[1..].fill(NOP);
}

const _: AltCallback = encode_dcache_line_size;

/// Cleans the D-cache line holding `addr` to the point of unification (DC CVAU).
#[inline(always)]
pub fn clean_dcache_line_pou(addr: u64) {
    // SAFETY: cache maintenance by VA on mapped kernel text; it writes back, never changes data.
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
/// (DC CIVAC): Linux's per-entry step, for the benchmark baseline only.
#[inline(always)]
pub fn clean_invalidate_dcache_line_poc(addr: u64) {
    // SAFETY: as for DC CVAU: the line's data is written back before it is dropped.
    unsafe { core::arch::asm!("dc civac, {}", in(reg) addr, options(nostack, preserves_flags)) };
}

/// Invalidates every I-cache in the inner shareable domain to the point of unification
/// (IC IALLUIS): Linux's `icache_inval_all_pou()`, for the benchmark baseline only.
#[inline(always)]
pub fn invalidate_icache_all() {
    // SAFETY: invalidating instruction caches only forces refetches.
    unsafe { core::arch::asm!("ic ialluis", options(nostack, preserves_flags)) };
}

/// Waits for the cache maintenance issued so far to complete for the inner shareable domain
/// (DSB ISH; Arm ARM D7.5.9).
#[inline(always)]
pub fn complete_maintenance() {
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISH);
}
