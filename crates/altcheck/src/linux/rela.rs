//! The relocatable Image's `.rela.dyn`: where its absolute pointers come from, and so the
//! link address of the Image's first byte.
//!
//! arm64 links with `--no-apply-dynamic-relocs`: every absolute pointer in the Image's data
//! reads as zero and its value is the addend of an `R_AARCH64_RELATIVE` relocation. The
//! table is found as the longest run of 24-byte `Elf64_Rela` records of that type.

/// `R_AARCH64_RELATIVE` (AAELF64, "Dynamic relocations").
const R_AARCH64_RELATIVE: u64 = 1027;
/// A shorter run is not taken for the kernel's table.
const MIN_RUN: usize = 16;

/// The `R_AARCH64_RELATIVE` relocations: `(r_offset, r_addend)`, link addresses.
pub struct Rela {
    /// `(where, value)` per relocation.
    pub entries: Vec<(u64, u64)>,
}

fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o.checked_add(8)?)?.try_into().ok()?))
}

/// Finds the longest run of relative relocations in `img`.
pub fn find(img: &[u8]) -> Option<Rela> {
    let mut best = (0usize, 0usize);
    let mut i = 0;
    while i + 24 <= img.len() {
        let mut n = 0;
        while u64_at(img, i + 24 * n + 8) == Some(R_AARCH64_RELATIVE) {
            n += 1;
        }
        if n > best.1 {
            best = (i, n);
        }
        i += if n > 0 { 24 * n } else { 8 };
    }
    let (at, n) = best;
    (n >= MIN_RUN).then(|| Rela {
        entries: (0..n)
            .filter_map(|k| Some((u64_at(img, at + 24 * k)?, u64_at(img, at + 24 * k + 16)?)))
            .collect(),
    })
}

impl Rela {
    /// The link address of `img[0]`, given that the 8-byte slot at file offset `slot` is
    /// relocated: among the relocations that could be that slot's, the base under which
    /// every relocated slot lies in the Image and reads as zero (sampled).
    pub fn base_from_slot(&self, img: &[u8], slot: usize) -> Option<u64> {
        let step = (self.entries.len() / 4096).max(1);
        self.entries.iter().filter_map(|&(r, _)| r.checked_sub(slot as u64)).filter(|b| b % 0x1000 == 0).find(
            |&b| {
                self.entries.iter().step_by(step).all(|&(r, _)| {
                    r.checked_sub(b).and_then(|o| usize::try_from(o).ok()).and_then(|o| u64_at(img, o))
                        == Some(0)
                })
            },
        )
    }

    /// The value the relocation at link address `addr` writes, if there is one.
    pub fn value_at(&self, addr: u64) -> Option<u64> {
        self.entries.iter().find(|e| e.0 == addr).map(|e| e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image with zeroed slots at 0x100 + 8k and a relocation for each, base `base`.
    fn image(base: u64, n: usize) -> Vec<u8> {
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
    fn the_run_and_the_base_are_found() {
        let base = 0xffff_8000_0800_0000;
        let img = image(base, 40);
        let r = find(&img).unwrap();
        assert_eq!(r.entries.len(), 40);
        assert_eq!(r.base_from_slot(&img, 0x108), Some(base));
        assert_eq!(r.value_at(base + 0x108), Some(base + 0x1001));
    }

    #[test]
    fn a_short_run_is_not_a_table() {
        assert!(find(&image(0x4000_0000, 3)).is_none());
    }
}
