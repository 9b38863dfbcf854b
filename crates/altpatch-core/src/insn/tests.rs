//! Relocation tests. Expected values are hand-computed from the Arm ARM encodings (each
//! explained in its comment) or come from yaxpeax-arm, an independent disassembler: the
//! reference model below computes every target from yaxpeax's decoding, never ours.

use super::*;
use proptest::prelude::*;
use std::vec;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{InstDecoder, Instruction, Opcode, Operand};

/// yaxpeax's decoding of `word`, if it decodes.
fn yax(word: u32) -> Option<Instruction> {
    let bytes = word.to_le_bytes();
    InstDecoder::default().decode(&mut U8Reader::new(&bytes)).ok()
}

/// The reference target of `word` at `pc`: yaxpeax's PC offset; ADRP's is from the PC's page.
fn yax_target(word: u32, pc: u64) -> Option<(Opcode, u64)> {
    let insn = yax(word)?;
    let off = insn.operands.iter().find_map(|o| match o {
        Operand::PCOffset(off) => Some(*off),
        _ => None,
    })?;
    let base = if insn.opcode == Opcode::ADRP { pc & !0xfff } else { pc };
    Some((insn.opcode, base.wrapping_add(off as u64)))
}

/// Byte range of each class's offset, from the Arm ARM field widths (imm26, imm19, imm14
/// words; imm21 bytes for ADR, pages for ADRP), keyed by yaxpeax's opcode.
fn reference_range(op: Opcode) -> Option<(i128, i128)> {
    let bits = match op {
        Opcode::B | Opcode::BL => 28,
        Opcode::TBZ | Opcode::TBNZ => 16,
        Opcode::ADRP => 33,
        Opcode::Bcc(_)
        | Opcode::BCcc(_)
        | Opcode::CBZ
        | Opcode::CBNZ
        | Opcode::ADR
        | Opcode::LDR
        | Opcode::LDRSW
        | Opcode::PRFM => 21,
        _ => return None, // PC-relative but not relocatable (FEAT_PAuth_LR *SPPC)
    };
    Some((-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1))
}

fn word_at(bytes: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap())
}

fn seq(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn branch_outside_keeps_its_absolute_target() {
    // `b .+0x100` is 0x14000000 | 0x100/4 = 0x14000040. Assembled at 0x10000 it reaches
    // 0x10100; copied to 0x20000 it needs -0xff00 = imm26 -0x3fc0 = 0x3ffc040 -> 0x17ffc040.
    let out = relocate(&seq(&[0x1400_0040]), 0x10000, 0x20000).unwrap();
    assert_eq!(word_at(&out, 0), 0x17ff_c040);
    assert_eq!(yax_target(0x17ff_c040, 0x20000).unwrap().1, 0x10100);
}

#[test]
fn branch_inside_or_to_the_end_moves_with_the_sequence() {
    // b .+8 over a nop, in an 8-byte sequence: its target is the sequence's end, i.e. the
    // instruction after the site. Unchanged offset.
    let s = seq(&[0x1400_0002, 0xd503_201f]);
    assert_eq!(relocate(&s, 0x10000, 0x900000).unwrap(), s);
}

#[test]
fn adrp_keeps_its_absolute_page() {
    // adrp x0, .+0x1000 (immlo = 1: 0x90000000 | 1 << 29 = 0xb0000000). At 0x10ffc its page
    // is 0x10000 + 0x1000 = 0x11000; from 0x20004 (page 0x20000) that is -0xf000 = -15 pages:
    // imm21 = 0x1ffff1, immlo = 0b01, immhi = 0x7fffc -> 0xb0ffff80.
    let out = relocate(&seq(&[0xb000_0000]), 0x10ffc, 0x20004).unwrap();
    assert_eq!(word_at(&out, 0), 0xb0ff_ff80);
    assert_eq!(yax_target(0xb0ff_ff80, 0x20004).unwrap().1, 0x11000);
}

/// One representative of each literal-load variant: LDR w, LDR x, LDRSW, PRFM, LDR s/d/q
/// (Arm ARM C4.1.94: opc bits [31:30], V bit 26), each `#8` (imm19 = 2).
const LITERALS: [u32; 7] =
    [0x1800_0040, 0x5800_0040, 0x9800_0040, 0xd800_0040, 0x1c00_0040, 0x5c00_0040, 0x9c00_0040];

#[test]
fn every_literal_load_variant_is_relocated() {
    for w in LITERALS {
        assert!(matches!(decode(w), Decoded::PcRel { kind: PcRelKind::Literal, offset: 8 }), "{w:#x}");
        // From 0x100000 to 0x100400 an outside target 0x100008 needs -0x3f8.
        let out = relocate(&seq(&[w]), 0x10_0000, 0x10_0400).unwrap();
        let (op, target) = yax_target(word_at(&out, 0), 0x10_0400).unwrap();
        assert_eq!(target, 0x10_0008, "{op:?}");
    }
}

#[test]
fn unallocated_simd_literal_is_copied_unchanged() {
    // V = 1, opc = 0b11 is unallocated; it is UNDEFINED wherever it runs.
    assert_eq!(decode(0xdc00_0040), Decoded::PositionIndependent);
}

#[test]
fn pauth_lr_pc_relative_forms_are_refused() {
    // RETAASPPC (0x5500001f | imm16 << 5) and AUTIASPPC (0xf380001f | imm16 << 5).
    for w in [0x5500_003f, 0xf380_003f] {
        let err = relocate(&seq(&[w]), 0, 0x1000).unwrap_err();
        assert_eq!(err.kind, RelocErrorKind::Unmovable);
    }
}

/// For each class: (an instruction with offset 0, its maximum offset). Moving an
/// outside-target instruction by `-d` needs `offset + d`.
const CLASSES: [(u32, PcRelKind); 8] = [
    (0x1400_0000, PcRelKind::B),
    (0x9400_0000, PcRelKind::Bl),
    (0x5400_0000, PcRelKind::BCond),
    (0xb400_0000, PcRelKind::CompareBranch),
    (0x3600_0000, PcRelKind::TestBranch),
    (0x1000_0000, PcRelKind::Adr),
    (0x9000_0000, PcRelKind::Adrp),
    (0x5800_0000, PcRelKind::Literal),
];

#[test]
fn relocation_range_limits_hold_at_both_edges() {
    // A one-word sequence at `from` whose target lies just before it (offset -4; ADRP: the
    // page before), so the target is outside and kept: at `to` it needs target - to.
    for (base, kind) in CLASSES {
        let step: i64 = if kind == PcRelKind::Adrp { 0x1000 } else { 4 };
        let w = encode(base, kind, -step).unwrap();
        let from: u64 = 0x1_0000_0000;
        let target = from as i64 - step; // page or address
        // Arm ARM ranges, independently: imm26 words, imm19 words, imm14 words, imm21.
        let (min, max): (i64, i64) = match kind {
            PcRelKind::B | PcRelKind::Bl => (-(1 << 27), (1 << 27) - 4),
            PcRelKind::TestBranch => (-(1 << 15), (1 << 15) - 4),
            PcRelKind::Adr => (-(1 << 20), (1 << 20) - 1),
            PcRelKind::Adrp => (-(1 << 32), (1 << 32) - 0x1000),
            _ => (-(1 << 20), (1 << 20) - 4),
        };
        assert_eq!(kind.range(), (min, max), "{kind:?}");
        let align = if kind == PcRelKind::Adr { 4 } else { step };
        // new offset = target - to  =>  to = target - offset. Largest aligned reachable.
        let max_aligned = max - max.rem_euclid(align);
        for (offset, ok) in
            [(max_aligned, true), (max_aligned + align, false), (min, true), (min - align, false)]
        {
            let to = (target - offset) as u64;
            let r = relocate(&seq(&[w]), from, to);
            assert_eq!(r.is_ok(), ok, "{kind:?} offset {offset:#x}: {r:?}");
            if let Ok(out) = r {
                let (_, t) = yax_target(word_at(&out, 0), to).unwrap();
                assert_eq!(t, target as u64, "{kind:?} offset {offset:#x}");
            }
        }
    }
}

#[test]
fn a_sequence_ending_mid_instruction_is_refused() {
    assert_eq!(relocate(&[0; 6], 0, 0).unwrap_err().kind, RelocErrorKind::Truncated);
}

/// Words biased toward the PC-relative families (top byte from the families, rest random).
fn word() -> impl Strategy<Value = u32> {
    let families = prop::sample::select(vec![
        0x14u32, 0x17, 0x94, 0x97, 0x54, 0x34, 0x35, 0xb4, 0xb5, 0x36, 0x37, 0xb6, 0xb7, 0x10, 0x30, 0x70,
        0x90, 0xb0, 0xf0, 0x18, 0x58, 0x98, 0xd8, 0x1c, 0x5c, 0x9c, 0xdc, 0x55, 0xf3, 0xd5, 0x8b, 0xaa,
    ]);
    prop_oneof![
        3 => (families, any::<u32>()).prop_map(|(top, rest)| top << 24 | (rest & 0x00ff_ffff)),
        1 => any::<u32>(),
    ]
}

/// A move distance on one of several scales, so every class hits both sides of its range.
fn distance() -> impl Strategy<Value = i64> {
    prop_oneof![
        (-(1i64 << 16)..(1i64 << 16)),
        (-(1i64 << 21)..(1i64 << 21)),
        (-(1i64 << 28)..(1i64 << 28)),
        (-(1i64 << 33)..(1i64 << 33)),
    ]
    .prop_map(|d| d & !3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn decoder_finds_exactly_the_pc_relative_instructions_yaxpeax_finds(w in word(), pc in 0u64..(1 << 40)) {
        let pc = pc & !3;
        match (decode(w), yax(w), yax_target(w, pc)) {
            (Decoded::PcRel { kind, offset }, _, Some((op, target))) => {
                prop_assert!(reference_range(op).is_some(), "{w:#x} {op:?}");
                let base = if kind == PcRelKind::Adrp { pc & !0xfff } else { pc };
                prop_assert_eq!(base.wrapping_add(offset as u64), target, "{:#x}", w);
            }
            (Decoded::Unmovable, _, Some((op, _))) => prop_assert!(reference_range(op).is_none(), "{w:#x} {op:?}"),
            (Decoded::PositionIndependent, Some(_), None) => {}
            // yaxpeax refuses the word: no opinion (reserved encodings).
            (_, None, _) => {}
            (ours, _, theirs) => prop_assert!(false, "{w:#x}: ours {ours:?}, yaxpeax {theirs:?}"),
        }
    }

    #[test]
    fn encoder_round_trips_through_yaxpeax(w in word(), off in any::<i32>(), pc in 0u64..(1 << 40)) {
        let pc = pc & !3;
        if let Decoded::PcRel { kind, .. } = decode(w) {
            let off = i64::from(off) << if kind == PcRelKind::Adrp { 12 } else { 0 };
            if let Some(n) = encode(w, kind, off) {
                let base = if kind == PcRelKind::Adrp { pc & !0xfff } else { pc };
                let (op, target) = yax_target(n, pc).expect("re-encoded word decodes");
                prop_assert_eq!(Some(op), yax(w).map(|i| i.opcode));
                prop_assert_eq!(target, base.wrapping_add(off as u64));
                // Nothing but the immediate changed: same word with the field cleared.
                prop_assert_eq!(encode(n, kind, 0), encode(w, kind, 0));
            } else {
                let (min, max) = kind.range();
                let scale = if kind == PcRelKind::Adr { 1 } else if kind == PcRelKind::Adrp { 0x1000 } else { 4 };
                prop_assert!(off < min || off > max || off % scale != 0);
            }
        }
    }

    #[test]
    fn relocated_sequences_reach_what_the_reference_model_says_or_are_refused(
        words in prop::collection::vec(word(), 1..8),
        from in (1u64 << 30)..(1u64 << 36),
        d in distance(),
    ) {
        let from = from & !3;
        let to = (from as i64 + d) as u64;
        let len = (words.len() * 4) as u64;
        let bytes = seq(&words);
        // Reference: per instruction, the target it must reach at `to`, and whether that fits.
        let mut expect_ok = true;
        let mut expected = Vec::new();
        for (i, &w) in words.iter().enumerate() {
            let (old_pc, new_pc) = (from + 4 * i as u64, to + 4 * i as u64);
            let want = yax_target(w, old_pc).map(|(op, t)| {
                let t = if op != Opcode::ADRP && t >= from && t <= from + len { to + (t - from) } else { t };
                // The PC wraps modulo 2^64: the distance is the signed difference.
                let base = if op == Opcode::ADRP { new_pc & !0xfff } else { new_pc };
                let needed = i128::from(t.wrapping_sub(base) as i64);
                if !reference_range(op).is_some_and(|(lo, hi)| needed >= lo && needed <= hi) {
                    expect_ok = false;
                }
                (op, t)
            });
            expected.push(want);
        }
        match relocate(&bytes, from, to) {
            Ok(out) => {
                prop_assert!(expect_ok, "accepted what the reference refuses");
                for (i, want) in expected.iter().enumerate() {
                    let got = word_at(&out, i);
                    match want {
                        Some((op, t)) => prop_assert_eq!(yax_target(got, to + 4 * i as u64), Some((*op, *t))),
                        None => prop_assert_eq!(got, words[i]),
                    }
                }
            }
            Err(e) => {
                prop_assert!(!expect_ok, "refused what the reference accepts: {}", e);
                prop_assert!(expected[e.offset / 4].is_some(), "refused a position-independent word");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn check_movable_and_relocate_into_give_relocates_verdict_and_bytes(
        words in prop::collection::vec(word(), 1..8),
        from in (1u64 << 30)..(1u64 << 36),
        d in distance(),
    ) {
        let from = from & !3;
        let to = (from as i64 + d) as u64;
        let bytes = seq(&words);
        let mut out = vec![0; bytes.len()];
        let moved = relocate(&bytes, from, to);
        prop_assert_eq!(check_movable(&bytes, from, to), moved.as_ref().map(|_| ()).map_err(|e| *e));
        prop_assert_eq!(relocate_into(&bytes, from, to, &mut out), moved.as_ref().map(|_| ()).map_err(|e| *e));
        if let Ok(moved) = moved {
            prop_assert_eq!(out, moved);
        }
    }
}

/// Every relocatable class base and the FEAT_PAuth_LR forms, for the screen below.
const SCREEN_BASES: [u32; 16] = [
    0x1400_0000,
    0x9400_0000,
    0x5400_0000,
    0x5400_0011,
    0xb400_0000,
    0x3500_0001,
    0x3600_0002,
    0xb7f8_0003,
    0x1000_0004,
    0x9000_0010,
    0x5800_0005,
    0x9800_0006,
    0x1c00_0007,
    0xd800_0000,
    0x5500_001f,
    0xf380_0000,
];

proptest! {
    /// The screen that lets a caller skip decoding may say "maybe" too often, never too
    /// rarely: a word it clears must decode as position independent.
    #[test]
    fn a_word_the_screen_clears_decodes_as_position_independent(
        base in prop::sample::select(SCREEN_BASES.to_vec()),
        noise in any::<u32>(),
        raw in any::<u32>(),
        // Immediates and registers of a class base vary; its opcode bits stay.
        imm_bits in prop::sample::select(vec![0x00ff_ffe0u32, 0x03ff_ffff, 0x6000_0000, 0x0000_001f]),
    ) {
        for word in [raw, base | (noise & imm_bits)] {
            if !may_be_pc_relative(word) {
                prop_assert_eq!(decode(word), Decoded::PositionIndependent, "{:#010x}", word);
            }
        }
    }

    /// Four words screened at once say what screening each of the first `count` would.
    #[test]
    fn four_words_screen_as_each_of_the_counted_ones(words in any::<[u32; 4]>(), count in 0usize..=4) {
        let packed = words.iter().enumerate().fold(0u128, |acc, (i, &w)| acc | u128::from(w) << (32 * i));
        let each = words[..count].iter().any(|&w| may_be_pc_relative(w));
        prop_assert_eq!(any_may_be_pc_relative(packed, count), each);
    }
}

#[test]
fn every_class_base_and_pauth_lr_form_is_screened_as_maybe_pc_relative() {
    for word in SCREEN_BASES {
        assert_ne!(decode(word), Decoded::PositionIndependent, "{word:#010x}");
        assert!(may_be_pc_relative(word), "{word:#010x}");
    }
}
