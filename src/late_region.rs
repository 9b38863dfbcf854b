//! Late regions: alternatives applied after boot, the way Linux applies a module's
//! alternatives when it loads. Each region has its own table and text; it goes through the
//! same validation and the same rendezvous (a later generation) as the kernel's own table,
//! but a bad region is refused on its own, with the same report, and the kernel goes on.
//!
//! The region's code is linked into `.text.late_region` and its entries into
//! `.altinstructions.late`, so the boot passes never touch it. A second table,
//! `.altinstructions.late_bad`, holds defective entries over the same code (a stale
//! fingerprint, a capability past NCAPS): applied only under `fault.late_region_bad`.

use crate::alternative::{AltRegion, FINGERPRINT};
use core::sync::atomic::AtomicU64;

unsafe extern "C" {
    static __late_text_start: u8;
    static __late_text_end: u8;
    static __alt_late: u8;
    static __alt_late_end: u8;
    static __alt_late_bad: u8;
    static __alt_late_bad_end: u8;
    static __altinstr_replacement_late: u8;
    static __altinstr_replacement_late_end: u8;
}

/// The good late region.
pub fn region() -> AltRegion {
    let table = (&raw const __alt_late as u64)..(&raw const __alt_late_end as u64);
    // SAFETY: the linker's bounds of `.text.late_region`, kernel text, and of the late
    // table and replacements, read-only data of the image.
    unsafe { AltRegion::linked("late", table, text(), replacements()) }
}

/// The defective late region (`fault.late_region_bad`).
pub fn bad_region() -> AltRegion {
    let table = (&raw const __alt_late_bad as u64)..(&raw const __alt_late_bad_end as u64);
    // SAFETY: as for `region`: the same text and replacements, the defective table's bounds.
    unsafe { AltRegion::linked("late-bad", table, text(), replacements()) }
}

/// The late region's own replacements.
fn replacements() -> core::ops::Range<u64> {
    (&raw const __altinstr_replacement_late as u64)..(&raw const __altinstr_replacement_late_end as u64)
}

/// The late region's code.
fn text() -> core::ops::Range<u64> {
    (&raw const __late_text_start as u64)..(&raw const __late_text_end as u64)
}

/// An atomic add in the late region: LL/SC until the late region is patched, then LDADDAL
/// on systems with LSE. Returns the previous value.
#[unsafe(link_section = ".text.late_region")]
#[inline(never)]
pub fn fetch_add(target: &AtomicU64, value: u64) -> u64 {
    // SAFETY: both sequences read-modify-write the `AtomicU64` only; the LL/SC loop branches
    // within itself.
    unsafe {
        altpatch_aarch64::fetch_add_lse!(
            table: ".altinstructions.late",
            replacement: ".altinstr_replacement.late",
            cap: crate::cap_index!(HAS_LSE_ATOMICS),
            fingerprint: FINGERPRINT,
            target,
            value
        )
    }
}

/// Code whose entries are defective: a stale fingerprint, and a capability past NCAPS. It
/// is never called; its table must be refused whole.
#[unsafe(link_section = ".text.late_region")]
#[inline(never)]
fn defective() {
    // SAFETY: barriers only (and never executed patched: the table is refused).
    unsafe {
        crate::alternative_entry!(
            table: ".altinstructions.late_bad",
            replacement: ".altinstr_replacement.late",
            old: ["dsb nsh", "isb"],
            new: [".inst 0xd50330ff", "nop"],
            cap: crate::cap_index!(HAS_SB),
            fingerprint: !FINGERPRINT,
            options(nostack, preserves_flags)
        );
        crate::alternative_entry!(
            table: ".altinstructions.late_bad",
            replacement: ".altinstr_replacement.late",
            old: ["nop"],
            new: ["nop"],
            cap: arm64_caps::caps::NCAPS + 7,
            fingerprint: FINGERPRINT,
            options(nostack, preserves_flags)
        );
    }
}

/// Keeps the defective code (and so its entries) in the image.
#[used]
static DEFECTIVE: fn() = defective;
