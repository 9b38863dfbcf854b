//! Is a capability list the image's own? The image says which number each capability has
//! in its capability descriptors (`arm64_features[]`, `arm64_errata[]`: `struct
//! arm64_cpu_capabilities` starts `const char *desc; u16 capability; u16 type;`). In a
//! relocatable Image `desc` reads as zero and its value is a relocation's addend, so: every
//! relocation whose value is the address of a description Linux prints (`CPU features:
//! detected: ...`; altpatch's capability list records them) marks a descriptor, and the
//! `u16` eight bytes after the relocated slot is that capability's number in this image.

use std::collections::HashMap;

use super::cpucaps::LinuxCaps;
use super::relocs::Relocs;

/// What the image says against the list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CrossCheck {
    /// Capabilities whose number the image and the list agree on.
    pub agree: Vec<String>,
    /// `(name, number in the list, number in the image)` where they differ.
    pub disagree: Vec<(String, u16, u16)>,
    /// Capabilities the image describes that the list does not name (renamed since: 6.12's
    /// HAS_GIC_CPUIF_SYSREGS was HAS_SYSREG_GIC_CPUIF), not evidence either way.
    pub unnamed: Vec<String>,
}

impl CrossCheck {
    /// Whether the image confirmed the list: something agreed and nothing disagreed.
    pub fn confirms(&self) -> bool {
        !self.agree.is_empty() && self.disagree.is_empty()
    }
}

/// `(capability identifier, number)` per descriptor found in `img` (link address `base`).
pub fn descriptors(img: &[u8], base: u64, rela: &Relocs) -> Vec<(&'static str, u16)> {
    let known: HashMap<&[u8], &'static str> = arm64_caps::caps::DESCRIPTIONS
        .iter()
        .zip(arm64_caps::caps::IDENTS.iter())
        .filter(|(d, _)| !d.is_empty())
        .map(|(d, i)| (d.as_bytes(), *i))
        .collect();
    let at =
        |addr: u64| addr.checked_sub(base).and_then(|o| usize::try_from(o).ok()).filter(|&o| o < img.len());
    rela.entries
        .iter()
        .filter_map(|&(slot, value)| {
            let s = at(value)?;
            let text = &img[s..img.len().min(s + 128)];
            let ident = known.get(&text[..text.iter().position(|&b| b == 0)?])?;
            let field = at(slot)? + 8;
            let cap = u16::from_le_bytes(img.get(field..field + 2)?.try_into().ok()?);
            let kind = u16::from_le_bytes(img.get(field + 2..field + 4)?.try_into().ok()?);
            // `type` is a small set of ARM64_CPUCAP_* flags: anything else is not a descriptor.
            (kind != 0 && kind < 0x100).then_some((*ident, cap))
        })
        .collect()
}

/// Compares `list` with the image's `found` descriptors.
pub fn compare(list: &LinuxCaps, found: &[(&'static str, u16)]) -> CrossCheck {
    let mut by_ident: HashMap<&str, Vec<u16>> = HashMap::new();
    for &(i, n) in found {
        by_ident.entry(i).or_default().push(n);
    }
    let mut out = CrossCheck::default();
    let mut idents: Vec<_> = by_ident.into_iter().collect();
    idents.sort();
    for (ident, numbers) in idents {
        match list.index_of(ident) {
            None => out.unnamed.push(ident.to_owned()),
            Some(l) if numbers.contains(&l) => out.agree.push(ident.to_owned()),
            Some(l) => out.disagree.push((ident.to_owned(), l, numbers[0])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image (base 0x10000) with a descriptor for LSE atomics numbered `n` at 0x100, its
    /// description at 0x200, and the relocation for the descriptor's `desc`.
    fn image(n: u16) -> (Vec<u8>, Relocs) {
        let mut img = vec![0u8; 0x400];
        img[0x108..0x10a].copy_from_slice(&n.to_le_bytes());
        img[0x10a..0x10c].copy_from_slice(&8u16.to_le_bytes());
        let d = b"LSE atomic instructions\0";
        img[0x200..0x200 + d.len()].copy_from_slice(d);
        (img, Relocs { entries: vec![(0x10100, 0x10200), (0x10300, 0x10000)], kinds: ".rela.dyn" })
    }

    #[test]
    fn the_number_is_read_beside_a_relocated_description() {
        let (img, rela) = image(26);
        assert_eq!(descriptors(&img, 0x10000, &rela), vec![("HAS_LSE_ATOMICS", 26)]);
    }

    #[test]
    fn another_abis_list_disagrees() {
        let (img, rela) = image(26);
        let found = descriptors(&img, 0x10000, &rela);
        let own =
            LinuxCaps::parse("#define ARM64_HAS_LSE_ATOMICS 26\n#define ARM64_NCAPS 85\n", "own").unwrap();
        let other =
            LinuxCaps::parse("#define ARM64_HAS_LSE_ATOMICS 37\n#define ARM64_NCAPS 102\n", "other").unwrap();
        assert!(compare(&own, &found).confirms());
        let c = compare(&other, &found);
        assert_eq!(c.disagree, vec![("HAS_LSE_ATOMICS".to_string(), 37, 26)]);
        let renamed =
            LinuxCaps::parse("#define ARM64_HAS_LSE 26\n#define ARM64_NCAPS 85\n", "renamed").unwrap();
        let c = compare(&renamed, &found);
        assert_eq!((c.confirms(), c.disagree.len(), c.unnamed.len()), (false, 0, 1));
    }
}
