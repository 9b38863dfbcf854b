//! Fuzzes the relocator: any sequence moved between any two addresses is either refused or
//! reaches, from its new place, exactly the targets it reached from its old one (moved with
//! the sequence when inside it or at its end; ADRP keeps its page), and moving it back
//! restores the original bytes.
//!
//! Input: `from` (8 bytes LE), the move distance (8 bytes LE, signed), then the sequence.

#![no_main]

use altpatch_core::insn::{self, Decoded, PcRelKind};
use libfuzzer_sys::fuzz_target;

/// The address `word` at `pc` reaches (for ADRP, the page), if it is PC-relative.
fn target(word: u32, pc: u64) -> Option<(PcRelKind, u64)> {
    match insn::decode(word) {
        Decoded::PcRel { kind: PcRelKind::Adrp, offset } => {
            Some((PcRelKind::Adrp, (pc & !0xfff).wrapping_add(offset as u64)))
        }
        Decoded::PcRel { kind, offset } => Some((kind, pc.wrapping_add(offset as u64))),
        _ => None,
    }
}

fn word(bytes: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]])
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let from = u64::from_le_bytes(data[0..8].try_into().unwrap()) & !3;
    let distance = i64::from_le_bytes(data[8..16].try_into().unwrap()) & !3;
    let to = from.wrapping_add(distance as u64);
    let seq = &data[16..];
    let len = seq.len() as u64;

    let moved = insn::relocate(seq, from, to);
    // The non-allocating forms give the same verdict and bytes.
    assert_eq!(insn::check_movable(seq, from, to), moved.as_ref().map(|_| ()).map_err(|e| *e));
    let mut into = vec![0; seq.len()];
    assert_eq!(insn::relocate_into(seq, from, to, &mut into), moved.as_ref().map(|_| ()).map_err(|e| *e));
    let Ok(out) = moved else { return };
    assert_eq!(out, into);
    assert_eq!(out.len(), seq.len());

    let mut outside_lands_in_new_place = false;
    for i in 0..seq.len() / 4 {
        let (old, new) = (word(seq, i), word(&out, i));
        let (old_pc, new_pc) = (from.wrapping_add(4 * i as u64), to.wrapping_add(4 * i as u64));
        match target(old, old_pc) {
            None => assert_eq!(new, old, "a position-independent word changed"),
            Some((kind, t)) => {
                let inside = kind != PcRelKind::Adrp && t.wrapping_sub(from) <= len;
                let want = if inside { to.wrapping_add(t.wrapping_sub(from)) } else { t };
                assert_eq!(target(new, new_pc), Some((kind, want)), "{old:#010x} at +{:#x}", 4 * i);
                // Re-encoding the decoded offset gives back the word itself.
                if let Decoded::PcRel { offset, .. } = insn::decode(old) {
                    assert_eq!(insn::encode(old, kind, offset), Some(old));
                }
                outside_lands_in_new_place |= !inside && kind != PcRelKind::Adrp && t.wrapping_sub(to) <= len;
            }
        }
    }
    // Moving back restores the sequence, unless a kept target lies where the sequence now is
    // (from there it counts as inside and moves back with it).
    if !outside_lands_in_new_place {
        assert_eq!(insn::relocate(&out, to, from).as_deref(), Ok(seq), "the move does not round-trip");
    }
});
