//! The relocatable kernel's dynamic relocations, `.rela.dyn` and `.relr.dyn` (either or
//! both): where its absolute pointers are, their values, and so the link address of the
//! Image's first byte.
//!
//! arm64 links with `--no-apply-dynamic-relocs`: a pointer relocated through `.rela.dyn`
//! reads as zero and its value is the `R_AARCH64_RELATIVE` record's addend. With
//! `CONFIG_RELR` (trixie's 6.12, sid) most pointers are relocated through `.relr.dyn`
//! instead, whose addend is implicit: the slot holds the link-time value itself
//! (arch/arm64/kernel/pi/relocate.c, `relocate_relr()`). Neither table is named in a raw
//! Image: `.rela.dyn` is the longest run of 24-byte `R_AARCH64_RELATIVE` records and
//! `.relr.dyn` the longest run of RELR words (an even address, then odd bitmaps or larger
//! addresses).

/// `R_AARCH64_RELATIVE` (AAELF64, "Dynamic relocations").
const R_AARCH64_RELATIVE: u64 = 1027;
/// A shorter run is not taken for `.rela.dyn` on its own.
const MIN_RELA: usize = 16;
/// Beside a `.relr.dyn`, `.rela.dyn` only keeps the few slots RELR cannot encode
/// (not 8-aligned): a run this long is taken then.
const MIN_RELA_BESIDE_RELR: usize = 4;
/// A shorter run of words is not taken for `.relr.dyn`.
const MIN_RELR: usize = 64;
/// Kernel link addresses are in the upper half (TTBR1).
const KERNEL_VA: u64 = 0xffff_0000_0000_0000;
/// The Image's link address is page-aligned at least.
const BASE_ALIGN: u64 = 0x1000;
/// Relocated slots sampled when testing a candidate link address.
const SAMPLE: usize = 64;
/// Candidates that pass the sample but then fail on all the slots: more than this many is a
/// crafted image (each full test reads every slot), and the search stops.
const MAX_FULL_TESTS: usize = 16;

fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o.checked_add(8)?)?.try_into().ok()?))
}

/// The relocation tables found, before the link address is known.
#[derive(Default)]
pub struct Found {
    /// `(r_offset, r_addend)` of each `R_AARCH64_RELATIVE` record, link addresses.
    pub rela: Vec<(u64, u64)>,
    /// Every slot `.relr.dyn` relocates, link addresses, ascending.
    pub relr: Vec<u64>,
}

/// The relocations, resolved: every relocated slot and the pointer it holds at link time.
#[derive(Default)]
pub struct Relocs {
    /// `(slot, value)`, link addresses, sorted by slot.
    pub entries: Vec<(u64, u64)>,
    /// Which tables they came from: `.rela.dyn`, `.relr.dyn` or both.
    pub kinds: &'static str,
}

impl Found {
    /// Whether no table was found.
    pub fn is_empty(&self) -> bool {
        self.rela.is_empty() && self.relr.is_empty()
    }

    /// Which tables there are.
    pub fn kinds(&self) -> &'static str {
        match (self.rela.is_empty(), self.relr.is_empty()) {
            (false, false) => ".rela.dyn and .relr.dyn",
            (false, true) => ".rela.dyn",
            (true, false) => ".relr.dyn",
            (true, true) => "none",
        }
    }

    /// The link address of `img[0]`: the page-aligned base under which every sampled
    /// slot lies in the image and holds what its table says it holds (zero, or the addend,
    /// for RELA; a pointer into the image or zero, for RELR). `mem` is the kernel's size in memory
    /// (the Image header's `image_size`: pointers may point into its BSS).
    pub fn base(&self, img: &[u8], mem: u64) -> Option<u64> {
        let slots = || self.rela.iter().map(|r| r.0).chain(self.relr.iter().copied());
        let lo_slot = slots().min()?;
        let hi_slot = slots().max()?;
        let len = img.len() as u64;
        let lowest = hi_slot.checked_add(8)?.saturating_sub(len);
        let top = lo_slot - lo_slot % BASE_ALIGN;
        let candidates =
            (0..).map_while(|k: u64| top.checked_sub(k * BASE_ALIGN)).take_while(|&b| b >= lowest);
        self.first_fit(img, mem, candidates)
    }

    /// The first of `candidates` under which the sampled slots and then all of them fit;
    /// at most [`MAX_FULL_TESTS`] full tests.
    fn first_fit(&self, img: &[u8], mem: u64, candidates: impl Iterator<Item = u64>) -> Option<u64> {
        let mut full = 0;
        for b in candidates {
            if !self.fits(img, b, mem, SAMPLE) {
                continue;
            }
            if self.fits(img, b, mem, usize::MAX) {
                return Some(b);
            }
            full += 1;
            if full == MAX_FULL_TESTS {
                return None;
            }
        }
        None
    }

    /// [`Found::base`] for an image whose 8-byte slot at file offset `slot` is known to be
    /// relocated (kallsyms_relative_base): only the bases that make it one are tried.
    pub fn base_with_slot(&self, img: &[u8], mem: u64, slot: usize) -> Option<u64> {
        let slots = self.rela.iter().map(|r| r.0).chain(self.relr.iter().copied());
        let mut bases: Vec<u64> =
            slots.filter_map(|s| s.checked_sub(slot as u64)).filter(|b| b % BASE_ALIGN == 0).collect();
        bases.sort_unstable();
        bases.dedup();
        self.first_fit(img, mem, bases.into_iter())
    }

    /// Whether base `b` explains up to `n` slots of each table (spread evenly).
    fn fits(&self, img: &[u8], b: u64, mem: u64, n: usize) -> bool {
        let read = |slot: u64| {
            slot.checked_sub(b).and_then(|o| usize::try_from(o).ok()).and_then(|o| u64_at(img, o))
        };
        let step = |len: usize| (len / n.min(len).max(1)).max(1);
        let rela_ok = self
            .rela
            .iter()
            .step_by(step(self.rela.len()))
            .all(|&(s, v)| matches!(read(s), Some(x) if x == 0 || x == v));
        let top = b.saturating_add(mem.max(img.len() as u64)).saturating_add(BASE_ALIGN);
        // A RELR slot may read zero (a weak reference nothing defines).
        rela_ok
            && self
                .relr
                .iter()
                .step_by(step(self.relr.len()))
                .all(|&s| matches!(read(s), Some(x) if x == 0 || (x >= b && x <= top)))
    }

    /// The relocations under base `b`: RELR slots' values read from the image.
    pub fn resolve(self, img: &[u8], b: u64) -> Relocs {
        let kinds = self.kinds();
        let read = |slot: u64| {
            slot.checked_sub(b).and_then(|o| usize::try_from(o).ok()).and_then(|o| u64_at(img, o))
        };
        let mut entries = self.rela;
        entries.extend(self.relr.iter().filter_map(|&s| Some((s, read(s)?))));
        entries.sort_unstable();
        entries.dedup_by_key(|e| e.0);
        Relocs { entries, kinds }
    }
}

/// Finds `.rela.dyn` and `.relr.dyn` in `img` (a flat image).
pub fn find(img: &[u8]) -> Found {
    let relr = find_relr(img);
    let min = if relr.is_empty() { MIN_RELA } else { MIN_RELA_BESIDE_RELR };
    let rela = find_rela(img, min);
    Found { rela, relr }
}

/// The longest run of `R_AARCH64_RELATIVE` records, if at least `min` long.
fn find_rela(img: &[u8], min: usize) -> Vec<(u64, u64)> {
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
    if n < min {
        return Vec::new();
    }
    (0..n).filter_map(|k| Some((u64_at(img, at + 24 * k)?, u64_at(img, at + 24 * k + 16)?))).collect()
}

/// The longest run of 8-aligned words that decode as RELR (ELF gABI, "SHT_RELR"): an
/// even word is an address (in the kernel's half, beyond everything the run covered so
/// far), an odd word a bitmap of the 63 words after the last one covered. Its slots.
fn find_relr(img: &[u8]) -> Vec<u64> {
    let words = img.len() / 8;
    let word = |k: usize| u64_at(img, 8 * k).unwrap_or(0);
    // The run with the most bitmaps: a sorted table of pointers (`__mcount_loc`) is a
    // run of addresses alone.
    let mut best = (0usize, 0usize, 0usize);
    let mut k = 0;
    while k < words {
        let (n, bitmaps) = relr_run(&word, k, words);
        if n >= MIN_RELR && bitmaps > best.2 {
            best = (k, n, bitmaps);
        }
        k += n.max(1);
    }
    let (at, n, bitmaps) = best;
    if bitmaps == 0 {
        return Vec::new();
    }
    decode_relr((at..at + n).map(word))
}

/// How many words from `k` form a RELR run, and how many of them are bitmaps.
fn relr_run(word: &impl Fn(usize) -> u64, k: usize, words: usize) -> (usize, usize) {
    let mut next = 0u64; // the first address not yet covered
    let (mut n, mut bitmaps) = (0, 0);
    while k + n < words {
        let w = word(k + n);
        if w & 1 == 0 {
            if w < KERNEL_VA || w < next || !w.is_multiple_of(8) {
                break;
            }
            next = w + 8;
        } else {
            if n == 0 {
                break;
            }
            next = next.saturating_add(63 * 8);
            bitmaps += 1;
        }
        n += 1;
    }
    (n, bitmaps)
}

/// The slots a RELR word sequence relocates.
pub fn decode_relr(words: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut out = Vec::new();
    let mut next = 0u64;
    for w in words {
        if w & 1 == 0 {
            out.push(w);
            next = w.wrapping_add(8);
        } else {
            let mut bits = w >> 1;
            let mut at = next;
            while bits != 0 {
                if bits & 1 != 0 {
                    out.push(at);
                }
                bits >>= 1;
                at = at.wrapping_add(8);
            }
            next = next.wrapping_add(63 * 8);
        }
    }
    out
}

impl Relocs {
    /// The pointer at link address `slot`: its relocation's value where one relocates it,
    /// else the bytes there (an ELF vmlinux, or a slot holding a constant).
    pub fn pointer_at(&self, img: &[u8], base: u64, slot: u64) -> Option<u64> {
        match self.entries.binary_search_by_key(&slot, |e| e.0) {
            Ok(i) => Some(self.entries[i].1),
            Err(_) => u64_at(img, usize::try_from(slot.checked_sub(base)?).ok()?),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests;
