//! The detector on a table laid out as scripts/kallsyms.c lays out Linux 6.1's.

use super::*;

/// Token `i`: the character `i` where printable, else a two-character token.
fn token(i: usize) -> Vec<u8> {
    if (0x21..0x7f).contains(&i) { vec![i as u8] } else { format!("~{}", i % 10).into_bytes() }
}

fn align8(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
}

/// An image with `junk` bytes, then offsets, relative_base, num_syms, names, markers, token
/// table and token index (Linux 6.1's order) for `syms`.
fn image(junk: usize, syms: &[(&str, u32)]) -> (Vec<u8>, usize) {
    let mut v = vec![0x55u8; junk];
    align8(&mut v);
    for &(_, off) in syms {
        v.extend_from_slice(&off.to_le_bytes());
    }
    align8(&mut v);
    let base_at = v.len();
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&(syms.len() as u32).to_le_bytes());
    align8(&mut v);
    let names_at = v.len();
    let mut markers = Vec::new();
    for (i, &(name, _)) in syms.iter().enumerate() {
        if i % 256 == 0 {
            markers.push((v.len() - names_at) as u32);
        }
        v.push(name.len() as u8);
        v.extend(name.bytes());
    }
    align8(&mut v);
    for m in markers {
        v.extend_from_slice(&m.to_le_bytes());
    }
    align8(&mut v);
    let mut index = Vec::new();
    let table_at = v.len();
    for i in 0..256 {
        index.push((v.len() - table_at) as u16);
        v.extend(token(i));
        v.push(0);
    }
    align8(&mut v);
    for i in index {
        v.extend_from_slice(&i.to_le_bytes());
    }
    v.extend_from_slice(&[0x77; 64]);
    (v, base_at)
}

fn names(n: usize) -> Vec<(String, u32)> {
    (0..n).map(|i| (format!("{}func_{i}", if i % 3 == 0 { 't' } else { 'T' }), 16 * i as u32)).collect()
}

#[test]
fn a_6_1_layout_decodes_every_symbol_and_the_base_slot() {
    let owned = names(700);
    let syms: Vec<(&str, u32)> = owned.iter().map(|(n, o)| (n.as_str(), *o)).collect();
    let (img, base_at) = image(100, &syms);
    let k = find(&img).expect("kallsyms found");
    assert_eq!(k.relative_base_at, base_at);
    assert_eq!(k.syms.len(), 700);
    assert_eq!(k.syms[0], (b't', "func_0".to_string(), 0));
    assert_eq!(k.syms[699], (b't', "func_699".to_string(), 16 * 699));
}

#[test]
fn a_broken_token_table_or_truncated_image_finds_nothing() {
    let owned = names(300);
    let syms: Vec<(&str, u32)> = owned.iter().map(|(n, o)| (n.as_str(), *o)).collect();
    let (img, _) = image(8, &syms);
    let index_at = img.len() - 64 - 512;
    for cut in [index_at + 100, index_at - 40, 100] {
        assert!(find(&img[..cut]).is_none(), "cut at {cut}");
    }
    let mut bad = img.clone();
    // A NUL inside a token: the index no longer matches the table.
    let t = index_at - 8 - 300;
    bad[t] = 0;
    bad[t + 1] = 0;
    assert!(find(&bad).is_none());
}
