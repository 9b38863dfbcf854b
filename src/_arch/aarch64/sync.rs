//! The patched sequences behind the kernel's `sync` module.

use super::Caps;
use core::sync::atomic::AtomicU64;

/// Atomically adds `value` to `target` and returns the previous value, with acquire and
/// release semantics (like `AtomicU64::fetch_add(_, AcqRel)`). Built as an LL/SC loop
/// (LDAXR/STLXR, Armv8.0); patched to one LDADDAL on CPUs with FEAT_LSE
/// (ID_AA64ISAR0_EL1.Atomic >= 0b0010).
#[inline(never)]
pub fn fetch_add(target: &AtomicU64, value: u64) -> u64 {
    // SAFETY: both sequences read-modify-write the 8 aligned bytes of `target`, which an
    // `AtomicU64` owns, and touch no other memory; the LL/SC loop only branches within itself.
    unsafe {
        altpatch_aarch64::fetch_add_lse!(
            table: ".altinstructions",
            replacement: ".altinstr_replacement",
            cap: altpatch_aarch64::cap_index!(Caps, HAS_LSE_ATOMICS),
            fingerprint: altpatch_aarch64::fingerprint!(Caps),
            target,
            value
        )
    }
}

/// Loads `source` with acquire semantics: LDAR (Armv8.0), patched to the weaker but
/// sufficient RCpc LDAPR on CPUs with FEAT_LRCPC (ID_AA64ISAR1_EL1.LRCPC >= 0b0001).
#[inline(never)]
pub fn load_acquire(source: &AtomicU64) -> u64 {
    let value: u64;
    // SAFETY: both instructions load the 8 aligned bytes that `source` owns.
    unsafe {
        altpatch_aarch64::alternative!(
            list: Caps,
            old: ["ldar {value}, [{ptr}]"],
            new: [".arch_extension rcpc", "ldapr {value}, [{ptr}]"],
            cap: HAS_LDAPR,
            ptr = in(reg) source.as_ptr(),
            value = out(reg) value,
            // No `readonly`: the block must also order the compiler's accesses after it, as
            // an acquire does (the default memory clobber, Linux's "memory").
            options(nostack)
        );
    }
    value
}

/// Stops speculative execution past this point: DSB NSH + ISB (Armv8.0), patched to SB on
/// CPUs with FEAT_SB (ID_AA64ISAR1_EL1.SB == 0b0001).
#[inline(never)]
pub fn speculation_barrier() {
    // SAFETY: barriers only; neither sequence touches memory or registers.
    unsafe {
        altpatch_aarch64::alternative!(
            list: Caps,
            old: ["dsb nsh", "isb"],
            new: [".inst 0xd50330ff", "nop"],
            cap: HAS_SB,
            options(nostack, preserves_flags)
        );
    }
}
