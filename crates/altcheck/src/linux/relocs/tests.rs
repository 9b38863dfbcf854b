//! Both relocation formats on small images written here from the ELF gABI's rules.

use super::*;

const BASE: u64 = 0xffff_8000_0800_0000;

/// An image with zeroed slots at 0x100 + 8k and a RELA record for each.
fn rela_image(base: u64, n: usize) -> Vec<u8> {
    let mut img = vec![0xaau8; 0x4000];
    for k in 0..n {
        img[0x100 + 8 * k..0x108 + 8 * k].fill(0);
    }
    let at = 0x2000;
    for k in 0..n {
        let rec = at + 24 * k;
        img[rec..rec + 8].copy_from_slice(&(base + 0x100 + 8 * k as u64).to_le_bytes());
        img[rec + 8..rec + 16].copy_from_slice(&R_AARCH64_RELATIVE.to_le_bytes());
        img[rec + 16..rec + 24].copy_from_slice(&(base + 0x1000 + k as u64).to_le_bytes());
    }
    img
}

#[test]
fn a_rela_run_and_its_base_are_found() {
    let img = rela_image(BASE, 40);
    let found = find(&img);
    assert_eq!((found.rela.len(), found.relr.len(), found.kinds()), (40, 0, ".rela.dyn"));
    assert_eq!(found.base(&img, img.len() as u64), Some(BASE));
    let r = found.resolve(&img, BASE);
    assert_eq!(r.pointer_at(&img, BASE, BASE + 0x108), Some(BASE + 0x1001));
    // A slot no relocation names reads as its bytes.
    assert_eq!(r.pointer_at(&img, BASE, BASE + 0x3000), Some(0xaaaa_aaaa_aaaa_aaaa));
}

#[test]
fn a_short_rela_run_is_not_a_table() {
    assert!(find(&rela_image(BASE, 3)).is_empty());
}

#[test]
fn relr_words_decode_as_the_gabi_says() {
    // An address, then a bitmap with bits 1 and 3 set (the 1st and 3rd words after it),
    // then a bitmap with bit 63 (the 63rd word of the next 63).
    let slots = decode_relr([0x1000u64, 0b1011, 1 << 63 | 1].into_iter());
    assert_eq!(slots, vec![0x1000, 0x1008, 0x1018, 0x1000 + 8 + 63 * 8 + 62 * 8]);
}

/// An image whose slots at 0x800 + 16k hold pointers into the image (RELR keeps the value
/// in place) and whose `.relr.dyn` at 0x10000 lists them: one address and bitmaps.
fn relr_image(base: u64, n: usize) -> Vec<u8> {
    let mut img = vec![0x55u8; 0x20000];
    let slots: Vec<u64> = (0..n as u64).map(|k| base + 0x800 + 16 * k).collect();
    for (k, s) in slots.iter().enumerate() {
        let o = (s - base) as usize;
        img[o..o + 8].copy_from_slice(&(base + 0x100 + 4 * k as u64).to_le_bytes());
    }
    let mut words = vec![slots[0]];
    let mut next = slots[0] + 8;
    let mut rest = &slots[1..];
    while !rest.is_empty() {
        let mut bits = 1u64;
        let covered: Vec<u64> = rest.iter().copied().take_while(|&s| s < next + 63 * 8).collect();
        for s in &covered {
            bits |= 1 << (1 + (s - next) / 8);
        }
        rest = &rest[covered.len()..];
        words.push(bits);
        next += 63 * 8;
    }
    for (i, w) in words.iter().enumerate() {
        img[0x10000 + 8 * i..0x10008 + 8 * i].copy_from_slice(&w.to_le_bytes());
    }
    // The linker script aligns after `.relr.dyn`: zeros follow it.
    let end = 0x10000 + 8 * words.len();
    img[end..end + 0x100].fill(0);
    img
}

#[test]
fn a_relr_table_its_slots_and_base_are_found() {
    let img = relr_image(BASE, 3000);
    let found = find(&img);
    assert_eq!((found.relr.len(), found.rela.len(), found.kinds()), (3000, 0, ".relr.dyn"));
    assert_eq!(found.relr[1], BASE + 0x810);
    let base = found.base(&img, img.len() as u64).expect("a base");
    assert_eq!(base, BASE);
    let r = found.resolve(&img, base);
    assert_eq!(r.pointer_at(&img, base, BASE + 0x810), Some(BASE + 0x104));
}
