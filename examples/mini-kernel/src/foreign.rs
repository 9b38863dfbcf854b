//! The `foreign-object` feature: an object built against the *other* kernel's capability
//! list (the workspace kernel's, Linux arm64's), linked into this one, as a module or an
//! object file built for another kernel would be. Its entry carries that list's number for
//! HAS_LSE_ATOMICS and that list's fingerprint: the boot must refuse the whole table before
//! writing a byte (exit 3, "built against another capability list").

use altpatch_aarch64::{alternative, has_cap};
use arm64_caps::caps::Arm64;

/// A static branch on LSE, as the workspace kernel spells it.
#[inline(never)]
pub fn site() -> bool {
    has_cap!(list: Arm64, HAS_LSE_ATOMICS)
}

/// A site keyed on HAS_SB, as the workspace kernel's list numbers it.
#[inline(never)]
pub fn second_site() {
    // SAFETY: both sequences are NOPs; the entry exists only to be refused.
    unsafe {
        alternative!(list: Arm64, old: ["nop"], new: ["nop"], cap: HAS_SB, options(nomem, nostack, preserves_flags))
    }
}

// An assembly entry built against that list too: the refusal names it by the `global_asm!`
// block (this file and line) and its number in the block.
core::arch::global_asm!(
    altpatch_aarch64::asm_macros!(),
    ".pushsection .text.mini_foreign_asm, \"ax\"",
    "mini_foreign_asm:",
    "alternative_if_not {CAP_LSE}, {FINGERPRINT}",
    "    nop",
    "alternative_else",
    "    nop",
    "alternative_endif",
    "    ret",
    ".popsection",
    CAP_LSE = const altpatch_aarch64::cap_index!(Arm64, HAS_LSE_ATOMICS),
    FINGERPRINT = const altpatch_aarch64::fingerprint!(Arm64),
);

// And an assembly file built against that list: the refusal names the entry by the file's line.
altpatch_aarch64::global_asm_file!(
    "src/foreign.s",
    CAP_SB = const altpatch_aarch64::cap_index!(Arm64, HAS_SB),
    FINGERPRINT = const altpatch_aarch64::fingerprint!(Arm64),
);
