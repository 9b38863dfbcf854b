//! Is a capability list the image's own? The image says:
//!
//! - **its `ARM64_NCAPS`**: `this_cpu_has_cap()` (arch/arm64/kernel/cpufeature.c, 5.10 to
//!   7.x) starts `if (!WARN_ON(preemptible()) && n < ARM64_NCAPS)`, compiled as
//!   `cmp w0, #ARM64_NCAPS - 1; b.hi` (or `#ARM64_NCAPS; b.hs`);
//! - **which number each capability has**, in its capability descriptors (`arm64_features[]`,
//!   `arm64_errata[]`: `struct arm64_cpu_capabilities` starts `const char *desc; u16
//!   capability; u16 type;`). `desc` is a relocated pointer (read through `.rela.dyn` or
//!   `.relr.dyn`, or the bytes of an ELF vmlinux): every pointer to a description Linux
//!   prints (`CPU features: detected: ...`; altpatch's capability list records them) or to
//!   an erratum's (`ARM erratum 1418040`, named `WORKAROUND_1418040` in the list) marks a
//!   descriptor, and the `u16` eight bytes after it is that capability's number.
//!
//! A list that disagrees with any of it is refused, the disagreement named.

use std::collections::HashMap;

use super::cpucaps::LinuxCaps;
use super::relocs::Relocs;
use super::symbols::Symbols;

/// How far into `this_cpu_has_cap()` the bound is looked for.
const MAX_INSNS: u64 = 32;

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
    /// Descriptions the image numbers at or past the list's `ARM64_NCAPS`: `(desc, number)`.
    pub beyond: Vec<(String, u16)>,
    /// The image's `ARM64_NCAPS`, when its `this_cpu_has_cap()` says.
    pub ncaps: Option<u16>,
    /// `(the list's, the image's)` `ARM64_NCAPS` when they differ.
    pub ncaps_disagreement: Option<(u16, u16)>,
}

impl CrossCheck {
    /// Whether the image confirmed the list: something agreed and nothing disagreed.
    pub fn confirms(&self) -> bool {
        !self.agree.is_empty() && self.refusal().is_none()
    }

    /// Why the list is not the image's, naming the disagreements (at most three, and how
    /// many more); `None` when nothing disagrees.
    pub fn refusal(&self) -> Option<String> {
        let mut list: Vec<String> = Vec::new();
        if let Some((theirs, ours)) = self.ncaps_disagreement {
            list.push(format!(
                "ARM64_NCAPS is {theirs} there, {ours} in the image (this_cpu_has_cap()'s bound)"
            ));
        }
        list.extend(
            self.disagree.iter().map(|(n, l, i)| format!("ARM64_{n} is {l} there, {i} in the image")),
        );
        list.extend(
            self.beyond.iter().map(|(d, i)| format!("the image numbers \"{d}\" {i}, past its ARM64_NCAPS")),
        );
        if list.is_empty() {
            return None;
        }
        let more = if list.len() > 3 { format!("; and {} more", list.len() - 3) } else { String::new() };
        Some(format!("{}{more}", list[..list.len().min(3)].join("; ")))
    }
}

/// A descriptor found: the capability it names (by description) and its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Its description, as Linux prints it.
    pub desc: String,
    /// The capability's number in the image.
    pub number: u16,
}

/// The description of every capability altpatch knows, by text.
fn known_descriptions() -> HashMap<&'static [u8], &'static str> {
    arm64_caps::caps::DESCRIPTIONS
        .iter()
        .zip(arm64_caps::caps::IDENTS.iter())
        .filter(|(d, _)| !d.is_empty())
        .map(|(d, i)| (d.as_bytes(), *i))
        .collect()
}

/// Whether `s` is an erratum's description: `<vendor...> erratum <number>`.
fn erratum_number(s: &str) -> Option<&str> {
    let mut words = s.rsplit(' ');
    let n = words.next()?;
    (words.next()? == "erratum" && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(n)
}

/// Every capability descriptor in `img` (link address `base`).
pub fn descriptors(img: &[u8], base: u64, relocs: &Relocs) -> Vec<Descriptor> {
    let known = known_descriptions();
    let at =
        |addr: u64| addr.checked_sub(base).and_then(|o| usize::try_from(o).ok()).filter(|&o| o < img.len());
    relocs
        .entries
        .iter()
        .filter_map(|&(slot, value)| {
            let s = at(value)?;
            let text = &img[s..img.len().min(s + 128)];
            let text = &text[..text.iter().position(|&b| b == 0)?];
            if !known.contains_key(text) && erratum_number(std::str::from_utf8(text).ok()?).is_none() {
                return None;
            }
            let field = at(slot)? + 8;
            let number = u16::from_le_bytes(img.get(field..field + 2)?.try_into().ok()?);
            let kind = u16::from_le_bytes(img.get(field + 2..field + 4)?.try_into().ok()?);
            // `type` is a small set of ARM64_CPUCAP_* flags: anything else is not a descriptor.
            (kind != 0 && kind < 0x100 && number < 0x8000)
                .then(|| Descriptor { desc: String::from_utf8_lossy(text).into_owned(), number })
        })
        .collect()
}

/// The list's name for a descriptor: by altpatch's description, or an erratum's number
/// when exactly one name ends with it (`WORKAROUND_1418040`, `WORKAROUND_CAVIUM_27456`).
fn name_in(
    list: &LinuxCaps,
    desc: &str,
    known: &HashMap<&[u8], &'static str>,
) -> Option<(String, Option<u16>)> {
    if let Some(ident) = known.get(desc.as_bytes()) {
        return Some(((*ident).to_owned(), list.index_of(ident)));
    }
    let n = erratum_number(desc)?;
    let mut hits = list
        .names
        .iter()
        .enumerate()
        .filter(|(_, name)| name.strip_suffix(n).is_some_and(|p| p.ends_with('_') || p.ends_with("_E")));
    let (i, name) = hits.next()?;
    hits.next().is_none().then(|| (name.clone(), Some(i as u16)))
}

/// Compares `list` with the image's descriptors and its `ARM64_NCAPS`.
pub fn compare(list: &LinuxCaps, found: &[Descriptor], image_ncaps: Option<u16>) -> CrossCheck {
    let known = known_descriptions();
    let mut by_name: HashMap<String, (Option<u16>, Vec<u16>)> = HashMap::new();
    let mut out = CrossCheck { ncaps: image_ncaps, ..CrossCheck::default() };
    for d in found {
        if d.number >= list.ncaps {
            out.beyond.push((d.desc.clone(), d.number));
        }
        if let Some((name, number)) = name_in(list, &d.desc, &known) {
            by_name.entry(name).or_insert((number, Vec::new())).1.push(d.number);
        }
    }
    let mut names: Vec<_> = by_name.into_iter().collect();
    names.sort();
    for (name, (number, seen)) in names {
        match number {
            None => out.unnamed.push(name),
            Some(l) if seen.contains(&l) => out.agree.push(name),
            Some(l) => out.disagree.push((name, l, seen[0])),
        }
    }
    out.beyond.sort();
    out.beyond.dedup();
    out.ncaps_disagreement = image_ncaps.filter(|&n| n != list.ncaps).map(|n| (list.ncaps, n));
    out
}

/// The image's `ARM64_NCAPS` from `this_cpu_has_cap()`'s bound: the first `cmp w0, #imm`
/// followed by `b.hi`/`b.ls` (imm + 1) or `b.hs`/`b.lo` (imm).
pub fn image_ncaps(img: &[u8], base: u64, symbols: &Symbols) -> Option<u16> {
    let at = symbols.addr("this_cpu_has_cap")?;
    let word = |pc: u64| {
        let o = usize::try_from(pc.checked_sub(base)?).ok()?;
        Some(u32::from_le_bytes(img.get(o..o + 4)?.try_into().ok()?))
    };
    (0..MAX_INSNS).find_map(|i| {
        let cmp = word(at + 4 * i)?;
        // SUBS WZR, W0, #imm12 (unshifted): `cmp w0, #imm`.
        if cmp & 0xffc0_03ff != 0x7100_001f {
            return None;
        }
        let imm = ((cmp >> 10) & 0xfff) as u16;
        let b = word(at + 4 * (i + 1))?;
        // B.cond: 0101 0100 imm19 0 cond.
        if b & 0xff00_0010 != 0x5400_0000 {
            return None;
        }
        match b & 0xf {
            8 | 9 => imm.checked_add(1),
            2 | 3 => Some(imm),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests;
