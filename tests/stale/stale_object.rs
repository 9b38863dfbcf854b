//! The seed, reproduced: an object whose alternatives were assembled against an older
//! capability list (`v0` in `arm64_caps::caps::history`: another order and another
//! count), linked beside code built against the current one, as v5.13-rc1 objects sat
//! beside v5.13-rc2 objects in the build that died at `alternative.c:157`.
//!
//! Built only with `--features stale-object`. Its entries carry v0's capability numbers and
//! v0's fingerprint, exactly what a stale object file would hold; the kernel must refuse the
//! whole table with one report line per entry, and patch nothing.

use altpatch_core::CapList;
use arm64_caps::caps::history;
use core::sync::atomic::AtomicU64;

/// The list this object was "built" against.
const V0: CapList = history::LISTS[0];

/// `ident`'s index in v0, as v0's generated header would have given it.
const fn v0_index(ident: &str) -> u16 {
    let mut i = 0;
    while i < V0.idents.len() {
        let (a, b) = (V0.idents[i].as_bytes(), ident.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i as u16;
            }
        }
        i += 1;
    }
    panic!("not in v0")
}

/// An atomic add as the stale object had it: LSE under v0's number for HAS_LSE_ATOMICS.
#[inline(never)]
fn stale_fetch_add(target: &AtomicU64, value: u64) -> u64 {
    // SAFETY: both sequences read-modify-write the `AtomicU64` only (never reached: the
    // table that holds this entry is refused before anything runs or is patched).
    unsafe {
        altpatch_aarch64::fetch_add_lse!(
            table: ".altinstructions",
            replacement: ".altinstr_replacement",
            cap: v0_index("HAS_LSE_ATOMICS"),
            fingerprint: V0.fingerprint,
            target,
            value
        )
    }
}

/// A speculation barrier as the stale object had it: SB under v0's number for HAS_SB.
#[inline(never)]
fn stale_speculation_barrier() {
    // SAFETY: barriers only.
    unsafe {
        crate::alternative_entry!(
            old: ["dsb nsh", "isb"],
            new: [".inst 0xd50330ff", "nop"],
            cap: v0_index("HAS_SB"),
            fingerprint: V0.fingerprint,
            options(nostack, preserves_flags)
        );
    }
}

/// Keeps the stale functions (and so their entries) in the image.
#[used]
static STALE_CODE: [fn(); 2] = [
    || {
        stale_fetch_add(&AtomicU64::new(0), 1);
    },
    stale_speculation_barrier,
];
