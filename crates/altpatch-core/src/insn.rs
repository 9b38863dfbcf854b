//! Decoding, relocating and encoding the PC-relative instructions a replacement carries.
//!
//! A replacement sequence is assembled at one address (in `.altinstr_replacement`) and
//! copied to another (the site). Every instruction whose meaning depends on its own address
//! is rewritten so that it means the same thing at the site:
//!
//! - a target **outside** the replacement keeps its absolute address;
//! - a target **inside** the replacement (including its end, i.e. "the instruction after
//!   the sequence") moves with the sequence to the same offset from the site.
//!
//! The classes handled are those of Arm ARM (DDI 0487) C4.1: B and BL (C6.2.26, C6.2.35),
//! B.cond and BC.cond (C6.2.27, C6.2.28), CBZ/CBNZ (C6.2.52, C6.2.51), TBZ/TBNZ (C6.2.375,
//! C6.2.374), ADR and ADRP (C6.2.11, C6.2.12) and the load-register-literal group
//! (LDR/LDRSW/PRFM literal, and LDR literal to SIMD&FP registers; C4.1.94 "Load register
//! (literal)"). A relocated offset that does not fit its field is an error, never a silently
//! wrong copy. The FEAT_PAuth_LR instructions that take a PC-relative immediate
//! (AUTIASPPC, AUTIBSPPC, RETAASPPC, RETABSPPC) cannot be moved meaningfully (their offset
//! names the signing instruction) and are refused.
//!
//! ADRP is the exception to "inside moves": its target is a 4 KiB page, not an address, and
//! the low 12 bits come from a separate instruction (`add`/`ldr :lo12:`). It always keeps its
//! absolute page, as in Linux; data it reaches inside `.altinstr_replacement` stays mapped and
//! unchanged, so the pair still reads the same bytes.

use alloc::vec::Vec;
use core::fmt;

/// The PC-relative instruction classes that can be relocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcRelKind {
    /// B (imm26, ±128 MiB).
    B,
    /// BL (imm26, ±128 MiB).
    Bl,
    /// B.cond and BC.cond (imm19, ±1 MiB).
    BCond,
    /// CBZ and CBNZ (imm19, ±1 MiB).
    CompareBranch,
    /// TBZ and TBNZ (imm14, ±32 KiB).
    TestBranch,
    /// ADR (imm21 bytes, ±1 MiB).
    Adr,
    /// ADRP (imm21 pages of 4 KiB, ±4 GiB).
    Adrp,
    /// LDR/LDRSW/PRFM (literal), LDR (literal, SIMD&FP) (imm19 words, ±1 MiB).
    Literal,
}

impl PcRelKind {
    /// Whether the class transfers control (B, BL, B.cond, CBZ/CBNZ, TBZ/TBNZ), as opposed to
    /// computing an address or loading from one.
    pub const fn is_branch(self) -> bool {
        matches!(
            self,
            PcRelKind::B
                | PcRelKind::Bl
                | PcRelKind::BCond
                | PcRelKind::CompareBranch
                | PcRelKind::TestBranch
        )
    }

    /// The assembler name of the class, for reports.
    pub const fn name(self) -> &'static str {
        match self {
            PcRelKind::B => "B",
            PcRelKind::Bl => "BL",
            PcRelKind::BCond => "B.cond",
            PcRelKind::CompareBranch => "CBZ/CBNZ",
            PcRelKind::TestBranch => "TBZ/TBNZ",
            PcRelKind::Adr => "ADR",
            PcRelKind::Adrp => "ADRP",
            PcRelKind::Literal => "LDR (literal)",
        }
    }

    /// The immediate field of the class: (lowest bit, width in bits, log2 of its scale).
    const fn field(self) -> (u32, u32, u32) {
        match self {
            PcRelKind::B | PcRelKind::Bl => (0, 26, 2),
            PcRelKind::BCond | PcRelKind::CompareBranch | PcRelKind::Literal => (5, 19, 2),
            PcRelKind::TestBranch => (5, 14, 2),
            // ADR/ADRP split their immediate (immhi:immlo); handled separately.
            PcRelKind::Adr => (5, 21, 0),
            PcRelKind::Adrp => (5, 21, 12),
        }
    }

    /// The smallest and largest byte offset the class can encode.
    pub const fn range(self) -> (i64, i64) {
        let (_, width, scale) = self.field();
        let min = -(1i64 << (width - 1 + scale));
        let max = ((1i64 << (width - 1)) - 1) << scale;
        (min, max)
    }
}

/// What one instruction word is, as far as moving it is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Its meaning does not depend on its address: copied unchanged.
    PositionIndependent,
    /// A relocatable PC-relative instruction: `offset` is the target minus the PC (for ADRP,
    /// the target page minus the PC's page).
    PcRel {
        /// The class.
        kind: PcRelKind,
        /// The byte offset the instruction encodes.
        offset: i64,
    },
    /// PC-relative, but not movable (FEAT_PAuth_LR `*SPPC` forms).
    Unmovable,
}

/// Sign-extends the low `width` bits of `value`.
const fn sign_extend(value: u32, width: u32) -> i64 {
    let shift = 64 - width;
    ((value as i64) << shift) >> shift
}

/// Decodes one instruction word (Arm ARM C4.1 top-level encoding tables).
#[inline]
pub const fn decode(word: u32) -> Decoded {
    let kind = if word & 0x7c00_0000 == 0x1400_0000 {
        // C4.1.65 Unconditional branch (immediate): op (bit 31) selects BL.
        if word & 0x8000_0000 != 0 { PcRelKind::Bl } else { PcRelKind::B }
    } else if word & 0xff00_0000 == 0x5400_0000 {
        // Conditional branch (immediate): o1 (bit 24) = 0; o0 (bit 4) selects BC.cond.
        PcRelKind::BCond
    } else if word & 0x7e00_0000 == 0x3400_0000 {
        PcRelKind::CompareBranch
    } else if word & 0x7e00_0000 == 0x3600_0000 {
        PcRelKind::TestBranch
    } else if word & 0x9f00_0000 == 0x1000_0000 {
        PcRelKind::Adr
    } else if word & 0x9f00_0000 == 0x9000_0000 {
        PcRelKind::Adrp
    } else if word & 0x3b00_0000 == 0x1800_0000 {
        // Load register (literal): V = 1 with opc = 0b11 is unallocated (UNDEFINED when
        // executed, wherever it is), so it is copied as it is.
        if word & 0x0400_0000 != 0 && word >> 30 == 0b11 {
            return Decoded::PositionIndependent;
        }
        PcRelKind::Literal
    } else if word & 0xffc0_001f == 0x5500_001f || word & 0xffc0_0000 == 0xf380_0000 {
        // FEAT_PAuth_LR: miscellaneous branch (immediate) RETAASPPC/RETABSPPC (opc 00x,
        // op2 0b11111) and data-processing (1 source immediate) AUTIASPPC/AUTIBSPPC (refused
        // whatever Rd holds: Rd != 0b11111 is unallocated, and refusing it is safe).
        return Decoded::Unmovable;
    } else {
        return Decoded::PositionIndependent;
    };
    let offset = match kind {
        PcRelKind::Adr | PcRelKind::Adrp => {
            let imm = ((word >> 5) & 0x7ffff) << 2 | ((word >> 29) & 0b11);
            let bytes = sign_extend(imm, 21);
            if matches!(kind, PcRelKind::Adrp) { bytes << 12 } else { bytes }
        }
        _ => {
            let (lsb, width, scale) = kind.field();
            sign_extend((word >> lsb) & ((1 << width) - 1), width) << scale
        }
    };
    Decoded::PcRel { kind, offset }
}

/// Whether `word` may depend on its address: true for every word [`decode`] does not call
/// [`Decoded::PositionIndependent`] (and for a few it does). Every test of [`decode`] reads
/// only the top byte but for the FEAT_PAuth_LR ones, whose top bytes (0x55, 0xf3) count whole:
/// so the answer is one load from a 256-entry table, and a caller can screen several words at
/// once without a branch and decode only a sequence that may need it (nearly none do).
#[inline]
pub const fn may_be_pc_relative(word: u32) -> bool {
    MAY_BE_PC_RELATIVE[(word >> 24) as usize]
}

/// [`may_be_pc_relative`] by top byte: [`decode`]'s tests, on the top byte alone.
const MAY_BE_PC_RELATIVE: [bool; 256] = {
    let mut table = [false; 256];
    let mut top = 0;
    while top < 256 {
        let word = (top as u32) << 24;
        table[top] = (word & 0x7c00_0000 == 0x1400_0000)
            | (word & 0xff00_0000 == 0x5400_0000)
            | (word & 0x7c00_0000 == 0x3400_0000)
            | (word & 0x1f00_0000 == 0x1000_0000)
            | (word & 0x3b00_0000 == 0x1800_0000)
            | (top == 0x55)
            | (top == 0xf3);
        top += 1;
    }
    table
};

/// Whether any of the first `count` (at most 4) words of `words` (four little-endian words,
/// the first in the low bits) [`may_be_pc_relative`], decided without a branch.
#[inline]
pub const fn any_may_be_pc_relative(words: u128, count: usize) -> bool {
    let mut found = 0u32;
    let mut i = 0;
    while i < 4 {
        found |= (may_be_pc_relative((words >> (32 * i)) as u32) as u32) << i;
        i += 1;
    }
    found & ((1 << count) - 1) != 0
}

/// `word` (of class `kind`) with its immediate replaced by `offset`; `None` when `offset` is
/// out of the class's range or not a multiple of its scale.
pub const fn encode(word: u32, kind: PcRelKind, offset: i64) -> Option<u32> {
    let (lsb, width, scale) = kind.field();
    let (min, max) = kind.range();
    if offset < min || offset > max || offset & ((1 << scale) - 1) != 0 {
        return None;
    }
    let imm = ((offset >> scale) as u32) & ((1 << width) - 1);
    Some(match kind {
        PcRelKind::Adr | PcRelKind::Adrp => {
            (word & !(0x7ffff << 5 | 0b11 << 29)) | (imm >> 2) << 5 | (imm & 0b11) << 29
        }
        _ => (word & !(((1 << width) - 1) << lsb)) | imm << lsb,
    })
}

/// Why a replacement sequence cannot be moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelocError {
    /// Byte offset of the instruction in the sequence.
    pub offset: usize,
    /// The instruction word.
    pub word: u32,
    /// What is wrong with it.
    pub kind: RelocErrorKind,
}

/// The ways moving an instruction fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocErrorKind {
    /// The offset to the (kept or moved) target does not fit the instruction's field.
    OutOfRange {
        /// The instruction class.
        class: PcRelKind,
        /// The target the moved instruction must reach (for ADRP, the page).
        target: u64,
        /// The offset that would have to be encoded.
        needed: i64,
    },
    /// A PC-relative instruction that cannot be moved at all.
    Unmovable,
    /// The sequence is not a whole number of 4-byte instructions.
    Truncated,
}

impl fmt::Display for RelocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RelocErrorKind::OutOfRange { class, target, needed } => {
                let (min, max) = class.range();
                write!(
                    f,
                    "{} {:#010x} at +{:#x} cannot reach {:#x} from the site (offset {:#x}, range {:#x}..={:#x})",
                    class.name(),
                    self.word,
                    self.offset,
                    target,
                    needed,
                    min,
                    max
                )
            }
            RelocErrorKind::Unmovable => write!(
                f,
                "PC-relative instruction {:#010x} at +{:#x} cannot be moved",
                self.word, self.offset
            ),
            RelocErrorKind::Truncated => {
                write!(f, "sequence ends mid-instruction at +{:#x}", self.offset)
            }
        }
    }
}

/// Rewrites the single instruction `word`, assembled at `from + at` inside a sequence of
/// `len` bytes at `from`, for execution at `to + at`.
#[inline]
pub fn relocate_one(word: u32, from: u64, to: u64, len: usize, at: usize) -> Result<u32, RelocError> {
    relocate_decoded(word, decode(word), from, to, len, at)
}

/// [`relocate_one`] for a `word` the caller has already decoded (`decoded` must be
/// `decode(word)`): a caller that also inspects the decoded form decodes each word once.
#[inline]
pub fn relocate_decoded(
    word: u32,
    decoded: Decoded,
    from: u64,
    to: u64,
    len: usize,
    at: usize,
) -> Result<u32, RelocError> {
    let (kind, offset) = match decoded {
        Decoded::PositionIndependent => return Ok(word),
        Decoded::Unmovable => {
            return Err(RelocError { offset: at, word, kind: RelocErrorKind::Unmovable });
        }
        Decoded::PcRel { kind, offset } => (kind, offset),
    };
    // Address arithmetic wraps modulo 2^64, as the PC's does.
    let old_pc = from.wrapping_add(at as u64);
    let new_pc = to.wrapping_add(at as u64);
    let (target, needed) = if kind == PcRelKind::Adrp {
        let page = (old_pc & !0xfff).wrapping_add(offset as u64);
        (page, page.wrapping_sub(new_pc & !0xfff) as i64)
    } else {
        let target = old_pc.wrapping_add(offset as u64);
        if target.wrapping_sub(from) <= len as u64 {
            // Inside the sequence or at its end: moves with it, same offset from the new PC.
            (to.wrapping_add(target.wrapping_sub(from)), offset)
        } else {
            (target, target.wrapping_sub(new_pc) as i64)
        }
    };
    let out_of_range =
        RelocError { offset: at, word, kind: RelocErrorKind::OutOfRange { class: kind, target, needed } };
    encode(word, kind, needed).ok_or(out_of_range)
}

/// Calls `emit(at, moved)` for each instruction of `seq` (assembled at `from`) rewritten to
/// run at `to`, in order; stops at the first instruction that cannot be moved. The one loop
/// behind [`relocate`], [`relocate_into`] and [`check_movable`].
fn relocate_each(seq: &[u8], from: u64, to: u64, mut emit: impl FnMut(usize, u32)) -> Result<(), RelocError> {
    let words = seq.chunks_exact(4);
    if !words.remainder().is_empty() {
        return Err(RelocError {
            offset: seq.len() - words.remainder().len(),
            word: 0,
            kind: RelocErrorKind::Truncated,
        });
    }
    for (i, w) in words.enumerate() {
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        emit(i * 4, relocate_one(word, from, to, seq.len(), i * 4)?);
    }
    Ok(())
}

/// The bytes of `seq` (assembled at `from`) rewritten to run at `to`.
pub fn relocate(seq: &[u8], from: u64, to: u64) -> Result<Vec<u8>, RelocError> {
    let mut out = Vec::with_capacity(seq.len());
    relocate_each(seq, from, to, |_, moved| out.extend_from_slice(&moved.to_le_bytes()))?;
    Ok(out)
}

/// [`relocate`] into `out`, which must be exactly as long as `seq`; allocates nothing. On an
/// error `out` holds the instructions before the one that failed.
///
/// # Panics
///
/// If `out.len() != seq.len()`.
pub fn relocate_into(seq: &[u8], from: u64, to: u64, out: &mut [u8]) -> Result<(), RelocError> {
    assert_eq!(out.len(), seq.len(), "relocate_into: output and sequence lengths differ");
    relocate_each(seq, from, to, |at, moved| out[at..at + 4].copy_from_slice(&moved.to_le_bytes()))
}

/// Whether `seq` (assembled at `from`) can be moved to `to`: exactly [`relocate`]'s verdict,
/// without building the moved bytes (validation checks every replacement this way).
pub fn check_movable(seq: &[u8], from: u64, to: u64) -> Result<(), RelocError> {
    relocate_each(seq, from, to, |_, _| {})
}

#[cfg(test)]
mod tests;
