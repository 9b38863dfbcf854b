//! The cross-check on small images laid out as `struct arm64_cpu_capabilities` and
//! `this_cpu_has_cap()` are (cpufeature.c, cpu_errata.c).

use super::*;
use crate::linux::symbols::Sym;

const BASE: u64 = 0x10000;

/// An image with descriptors `(description, number)` at 0x100 + 0x40k (their texts at
/// 0x800 + 0x40k), the `desc` relocations, and `this_cpu_has_cap` at 0x2000 bounding by
/// `ncaps` (`cmp w0, #ncaps-1; b.hi`).
fn image(descs: &[(&str, u16)], ncaps: u16) -> (Vec<u8>, Relocs, Symbols) {
    let mut img = vec![0u8; 0x3000];
    let mut entries = Vec::new();
    for (k, &(d, n)) in descs.iter().enumerate() {
        let (slot, text) = (0x100 + 0x40 * k, 0x800 + 0x40 * k);
        img[slot + 8..slot + 10].copy_from_slice(&n.to_le_bytes());
        img[slot + 10..slot + 12].copy_from_slice(&8u16.to_le_bytes());
        img[text..text + d.len()].copy_from_slice(d.as_bytes());
        entries.push((BASE + slot as u64, BASE + text as u64));
    }
    let cmp = 0x7100_001fu32 | u32::from(ncaps - 1) << 10;
    let b_hi = 0x5400_0248u32;
    img[0x2004..0x2008].copy_from_slice(&cmp.to_le_bytes());
    img[0x2008..0x200c].copy_from_slice(&b_hi.to_le_bytes());
    let syms = Symbols::new(vec![Sym { addr: BASE + 0x2000, kind: b'T', name: "this_cpu_has_cap".into() }]);
    (img, Relocs { entries, kinds: ".rela.dyn" }, syms)
}

fn list(defs: &[(&str, u16)], ncaps: u16) -> LinuxCaps {
    let mut text: String = defs.iter().map(|(n, v)| format!("#define ARM64_{n} {v}\n")).collect();
    text += &format!("#define ARM64_NCAPS {ncaps}\n");
    LinuxCaps::parse_unchecked(&text, "t").unwrap()
}

const IMAGE: &[(&str, u16)] =
    &[("LSE atomic instructions", 26), ("ARM erratum 1418040", 35), ("CRC32 instructions", 14)];

fn check(l: &LinuxCaps) -> CrossCheck {
    let (img, relocs, syms) = image(IMAGE, 85);
    compare(l, &descriptors(&img, BASE, &relocs), image_ncaps(&img, BASE, &syms))
}

#[test]
fn the_numbers_and_ncaps_are_read_from_the_image() {
    let (img, relocs, syms) = image(IMAGE, 85);
    let found = descriptors(&img, BASE, &relocs);
    let pairs: Vec<(&str, u16)> = found.iter().map(|d| (d.desc.as_str(), d.number)).collect();
    assert_eq!(pairs, IMAGE);
    assert_eq!(image_ncaps(&img, BASE, &syms), Some(85));
}

#[test]
fn the_images_own_list_is_confirmed() {
    let own = list(&[("HAS_LSE_ATOMICS", 26), ("WORKAROUND_1418040", 35), ("HAS_CRC32", 14)], 85);
    let c = check(&own);
    assert!(c.confirms(), "{c:?}");
    assert_eq!(c.agree.len(), 3);
}

#[test]
fn two_capabilities_swapped_are_refused_by_name() {
    let swapped = list(&[("HAS_LSE_ATOMICS", 14), ("WORKAROUND_1418040", 35), ("HAS_CRC32", 26)], 85);
    let why = check(&swapped).refusal().expect("refused");
    assert_eq!(
        why,
        "ARM64_HAS_CRC32 is 26 there, 14 in the image; ARM64_HAS_LSE_ATOMICS is 14 there, 26 in the image"
    );
    // An erratum, by its number.
    let errata = list(&[("HAS_LSE_ATOMICS", 26), ("WORKAROUND_1418040", 36), ("HAS_CRC32", 14)], 85);
    assert_eq!(check(&errata).refusal().unwrap(), "ARM64_WORKAROUND_1418040 is 36 there, 35 in the image");
}

#[test]
fn ncaps_raised_or_lowered_is_refused() {
    let own = [("HAS_LSE_ATOMICS", 26), ("WORKAROUND_1418040", 35), ("HAS_CRC32", 14)];
    assert_eq!(
        check(&list(&own, 200)).refusal().unwrap(),
        "ARM64_NCAPS is 200 there, 85 in the image (this_cpu_has_cap()'s bound)"
    );
    let why = check(&list(&own[..1], 30)).refusal().unwrap();
    assert!(why.starts_with("ARM64_NCAPS is 30 there, 85 in the image"), "{why}");
    assert!(why.contains("the image numbers \"ARM erratum 1418040\" 35, past its ARM64_NCAPS"), "{why}");
}

#[test]
fn a_renamed_capability_is_not_evidence_either_way() {
    let renamed = list(&[("HAS_LSE", 26), ("HAS_CRC32", 14), ("WORKAROUND_1418040", 35)], 85);
    let c = check(&renamed);
    assert_eq!((c.confirms(), c.disagree.len(), c.unnamed), (true, 0, vec!["HAS_LSE_ATOMICS".to_string()]));
}
