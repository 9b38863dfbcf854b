//! The detector on tables laid out as scripts/kallsyms.c lays out each release's: written
//! here from its rules, independently of the detector.

use super::*;

/// Which release's arrays and order.
#[derive(Clone, Copy, PartialEq)]
enum Era {
    /// 5.10 and 6.1: offsets, relative_base, num_syms, names, markers, tokens, index;
    /// 8-aligned labels. `seqs`: Debian 6.1's backported `kallsyms_seqs_of_names` between
    /// the markers and the token table.
    Before62 { seqs: bool },
    /// 6.2 to 6.x: num_syms, names, markers, tokens, index, offsets, relative_base.
    After62,
    /// 7.x: 4-aligned labels; the offsets after the index are relative to their own
    /// positions and there is no relative_base.
    SelfRelative,
}

/// Token `i`: the character `i` where printable, else a two-character token.
fn token(i: usize) -> Vec<u8> {
    if (0x21..0x7f).contains(&i) { vec![i as u8] } else { format!("~{}", i % 10).into_bytes() }
}

fn align(v: &mut Vec<u8>, a: usize) {
    while !v.len().is_multiple_of(a) {
        v.push(0);
    }
}

/// An image: `junk` bytes, then the arrays for `syms` (name with its type letter, image
/// offset of the symbol) as `era` lays them out. Returns the image and where the
/// relative_base slot is (if any).
fn image(junk: usize, syms: &[(String, u32)], era: Era) -> (Vec<u8>, Option<usize>) {
    let a = if era == Era::SelfRelative { 4 } else { 8 };
    let mut v = vec![0x55u8; junk];
    align(&mut v, a);
    let mut slot = None;
    if let Era::Before62 { .. } = era {
        syms.iter().for_each(|(_, off)| v.extend_from_slice(&off.to_le_bytes()));
        align(&mut v, 8);
        slot = Some(v.len());
        v.extend_from_slice(&[0; 8]);
    }
    v.extend_from_slice(&(syms.len() as u32).to_le_bytes());
    align(&mut v, a);
    let names_at = v.len();
    let mut markers = Vec::new();
    for (i, (name, _)) in syms.iter().enumerate() {
        if i % 256 == 0 {
            markers.push((v.len() - names_at) as u32);
        }
        v.push(name.len() as u8);
        v.extend(name.bytes());
    }
    align(&mut v, a);
    markers.iter().for_each(|m| v.extend_from_slice(&m.to_le_bytes()));
    align(&mut v, a);
    if era == (Era::Before62 { seqs: true }) {
        // 3 bytes per symbol: their order by name (any permutation serves).
        for i in 0..syms.len() as u32 {
            v.extend_from_slice(&i.to_be_bytes()[1..]);
        }
        align(&mut v, a);
    }
    let table_at = v.len();
    let mut index = Vec::new();
    for i in 0..256 {
        index.push((v.len() - table_at) as u16);
        v.extend(token(i));
        v.push(0);
    }
    align(&mut v, a);
    index.iter().for_each(|i| v.extend_from_slice(&i.to_le_bytes()));
    match era {
        Era::Before62 { .. } => {}
        Era::After62 => {
            align(&mut v, 8);
            syms.iter().for_each(|(_, off)| v.extend_from_slice(&off.to_le_bytes()));
            align(&mut v, 8);
            slot = Some(v.len());
            v.extend_from_slice(&[0; 8]);
        }
        Era::SelfRelative => {
            for (_, off) in syms {
                let rel = i64::from(*off) - v.len() as i64;
                v.extend_from_slice(&(rel as i32).to_le_bytes());
            }
        }
    }
    v.extend_from_slice(&[0x77; 64]);
    (v, slot)
}

/// `n` symbols: `_text` at 0, then functions every 16 bytes.
fn names(n: usize) -> Vec<(String, u32)> {
    let mut out = vec![("T_text".to_string(), 0)];
    out.extend((1..n).map(|i| (format!("{}func_{i}", if i % 3 == 0 { 't' } else { 'T' }), 16 * i as u32)));
    out
}

#[test]
fn every_eras_layout_decodes_every_symbol_and_its_placement() {
    for era in [Era::Before62 { seqs: false }, Era::Before62 { seqs: true }, Era::After62, Era::SelfRelative]
    {
        for junk in [100, 0x2003] {
            let (img, slot) = image(junk, &names(700), era);
            let k = find(&img).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(k.syms.len(), 700);
            assert_eq!(k.syms[0], (b'T', "_text".to_string(), 0));
            assert_eq!(k.syms[699], (b't', "func_699".to_string(), 16 * 699));
            let want = slot.map_or(Placement::SelfRelative, |slot| Placement::RelativeBase { slot });
            assert_eq!(k.placement, want);
        }
    }
}

#[test]
fn a_broken_token_table_or_truncated_image_is_named() {
    let (img, _) = image(8, &names(300), Era::Before62 { seqs: false });
    let index_at = img.len() - 64 - 512;
    for cut in [index_at + 100, index_at - 40, 100] {
        let e = find(&img[..cut]).err().expect("no kallsyms");
        assert!(e.starts_with("no kallsyms in the image: "), "{e}");
    }
    let mut bad = img.clone();
    // A NUL inside a token: the index no longer matches the table.
    let t = index_at - 8 - 300;
    bad[t] = 0;
    bad[t + 1] = 0;
    assert_eq!(
        find(&bad).err().unwrap(),
        "no kallsyms in the image: no kallsyms_token_table before any candidate kallsyms_token_index"
    );
}

/// A token table and its index, nothing else: a block that passes steps 1 and 2.
fn tokens_block() -> Vec<u8> {
    let mut v = Vec::new();
    let mut index = Vec::new();
    for i in 0..256 {
        index.push(v.len() as u16);
        v.extend(token(i));
        v.push(0);
    }
    align(&mut v, 8);
    index.iter().for_each(|i| v.extend_from_slice(&i.to_le_bytes()));
    v
}

#[test]
fn a_crafted_image_exhausts_the_budget_instead_of_running_on() {
    // Thousands of token tables and indexes and no markers: each candidate's markers
    // search walks back over all the others (quadratic without a bound).
    let img = tokens_block().repeat(2000);
    let e = find_with(&img, 1_000_000).err().expect("refused");
    assert!(e.starts_with("the kallsyms search gave up after 1000000 steps ("), "{e}");
    // A real table after such junk is still found with the full budget.
    let (real, _) = image(0, &names(300), Era::After62);
    let mut img = tokens_block().repeat(20);
    img.extend_from_slice(&real);
    assert_eq!(find(&img).unwrap().syms.len(), 300);
}
