//! AArch64 cache maintenance routines, each with its alternatives.

use super::Caps;
use altpatch_aarch64::{AltCallback, CallbackContext};

// The file's entries are named by their lines in it (`cache.s:N`) in every report.
altpatch_aarch64::global_asm_file!(
    "src/_arch/aarch64/cache.s",
    CAP_IDC = const altpatch_aarch64::cap_index!(Caps, HAS_CACHE_IDC),
    CAP_DIC = const altpatch_aarch64::cap_index!(Caps, HAS_CACHE_DIC),
    FINGERPRINT = const altpatch_aarch64::fingerprint!(Caps),
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
        altpatch_aarch64::alternative_cb!(
            list: Caps,
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
/// instruction, an MRS whose Rt is bits 4:0) followed by NOPs. Exported to modules as
/// `altpatch_cb_dcache_line_size`.
pub fn encode_dcache_line_size(site: &CallbackContext<'_>, dest: &mut [u32]) {
    let rd = site.original[0] & 0x1f;
    let line = site.geometry.dline as u32;
    dest[0] = MOVZ_X | (line << 5) | rd;
    dest[1..].fill(NOP);
}

const _: AltCallback = encode_dcache_line_size;
