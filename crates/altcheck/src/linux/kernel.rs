//! A Linux arm64 kernel image as the checks see it: the flat image (offset 0 is `_text`),
//! its link address, symbols, text, release and alternatives table.

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

use super::entry::ENTRY_SIZE;
use super::format::{self, Container};
use super::kallsyms;
use super::rela::{self, Rela};
use super::space::Region;
use super::symbols::{Sym, Symbols};

/// The loaded kernel.
pub struct Kernel {
    /// The release from the `Linux version ...` banner.
    pub release: String,
    /// What the file was.
    pub container: Container,
    /// The flat image; offset 0 is `_text`.
    pub image: Vec<u8>,
    /// The link address of `image[0]`.
    pub base: u64,
    /// Symbols (link addresses).
    pub symbols: Symbols,
    /// Where the symbols came from.
    pub symbol_source: &'static str,
    /// The relocations of a relocatable image.
    pub rela: Option<Rela>,
    /// Text ranges `[start, end)`, link addresses: `_stext.._etext`, `_sinittext.._einittext`
    /// and the other code Linux patches (see `text_ranges`).
    pub text: Vec<(u64, u64)>,
    /// The alternatives table `[start, end)`, link addresses, and how it was found.
    pub table: (u64, u64, &'static str),
}

/// Loads `file`; `system_map` (its text) names the symbols when given, for a raw Image
/// (placed by its `_text`) and an ELF alike.
pub fn load(file: Vec<u8>, system_map: Option<&str>) -> Result<Kernel, String> {
    let unpacked = format::unpack(file)?;
    let container = unpacked.container;
    let (image, base, symbols, symbol_source) = if unpacked.is_elf {
        let (image, base, symbols, source) = flatten_elf(&unpacked.bytes)?;
        match system_map {
            Some(map) => (image, base, Symbols::from_system_map(map)?, "System.map"),
            None => (image, base, symbols, source),
        }
    } else {
        let image = unpacked.bytes;
        let (base, symbols, source) = raw_symbols(&image, system_map)?;
        (image, base, symbols, source)
    };
    let release = banner(&image).ok_or("no 'Linux version' banner in the image")?;
    let rela = rela::find(&image);
    let text = text_ranges(&symbols)?;
    let table = find_table(&image, base, &symbols, &text)?;
    Ok(Kernel { release, container, image, base, symbols, symbol_source, rela, text, table })
}

/// The release string of the `Linux version <release> (...` banner.
pub fn banner(img: &[u8]) -> Option<String> {
    const TAG: &[u8] = b"Linux version ";
    let at = img.windows(TAG.len()).position(|w| w == TAG)? + TAG.len();
    let rest = &img[at..img.len().min(at + 128)];
    let end = rest.iter().position(|&b| b == b' ' || b == 0)?;
    let s = std::str::from_utf8(&rest[..end]).ok()?;
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_owned())
}

/// Symbols of a raw Image: a System.map when given (placed by its `_text`), else kallsyms
/// (placed by the relocation of `kallsyms_relative_base`).
fn raw_symbols(img: &[u8], system_map: Option<&str>) -> Result<(u64, Symbols, &'static str), String> {
    if let Some(map) = system_map {
        let s = Symbols::from_system_map(map)?;
        let base = s.addr("_text").ok_or("the System.map has no _text")?;
        return Ok((base, s, "System.map"));
    }
    let k = kallsyms::find(img)
        .ok_or("no kallsyms in the image (and no --system-map): cannot name or bound its text")?;
    let slot = k.relative_base_at;
    let (base, relative_base) = match rela::find(img) {
        Some(r) => {
            let base = r
                .base_from_slot(img, slot)
                .ok_or("kallsyms_relative_base has no relocation: cannot place the symbols")?;
            (base, r.value_at(base + slot as u64).ok_or("kallsyms_relative_base has no relocation")?)
        }
        None => return Err("a raw Image without .rela.dyn (not relocatable): pass --system-map".into()),
    };
    let syms =
        k.syms.into_iter().map(|(kind, name, off)| Sym { addr: relative_base + off, kind, name }).collect();
    Ok((base, Symbols::new(syms), "kallsyms"))
}

/// An ELF vmlinux copied into a flat image from its lowest loaded address (`_text`).
fn flatten_elf(elf: &[u8]) -> Result<(Vec<u8>, u64, Symbols, &'static str), String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF file: {e}"))?;
    let loaded: Vec<_> = file
        .sections()
        .filter(|s| {
            s.address() != 0
                && s.size() != 0
                && !matches!(s.kind(), SectionKind::Metadata | SectionKind::UninitializedData)
        })
        .collect();
    let lo = loaded.iter().map(|s| s.address()).min().ok_or("the ELF has no loaded sections")?;
    let hi = loaded.iter().map(|s| s.address().saturating_add(s.size())).max().unwrap_or(lo);
    // Bound the copy by the file: a vmlinux's loaded bytes are all in it.
    if hi - lo > 2 * elf.len() as u64 {
        return Err(format!("loaded sections span {:#x} bytes, more than twice the file", hi - lo));
    }
    let mut image = vec![0u8; (hi - lo) as usize];
    for s in &loaded {
        let data = s.data().map_err(|e| e.to_string())?;
        let at = (s.address() - lo) as usize;
        image[at..at + data.len()].copy_from_slice(data);
    }
    let syms = file
        .symbols()
        .filter(|s| !s.is_undefined() && s.address() != 0)
        .filter_map(|s| {
            let kind = match (s.kind(), s.is_global()) {
                (SymbolKind::Text, true) => b'T',
                (SymbolKind::Text, false) => b't',
                (_, true) => b'D',
                _ => b'd',
            };
            Some(Sym { addr: s.address(), kind, name: s.name().ok()?.to_owned() })
        })
        .collect();
    Ok((image, lo, Symbols::new(syms), "ELF symbol table"))
}

/// The text ranges from the symbols.
fn text_ranges(s: &Symbols) -> Result<Vec<(u64, u64)>, String> {
    let pair = |a: &str, b: &str| Some((s.addr(a)?, s.addr(b)?)).filter(|(x, y)| x < y);
    let main = pair("_stext", "_etext").ok_or("no _stext/_etext symbols: cannot bound the text")?;
    // Code outside _stext.._etext that Linux also patches: init text, and (6.x, in
    // `.rodata.text`: "never executed via the kernel mapping") the idmap, the entry
    // trampoline, hibernate's and kexec's text. Where the symbols exist.
    let others = [
        ("_sinittext", "_einittext"),
        ("__idmap_text_start", "__idmap_text_end"),
        ("__entry_tramp_text_start", "__entry_tramp_text_end"),
        ("__hibernate_exit_text_start", "__hibernate_exit_text_end"),
        ("__relocate_new_kernel_start", "__relocate_new_kernel_end"),
    ];
    Ok(std::iter::once(main).chain(others.iter().filter_map(|(a, b)| pair(a, b))).collect())
}

/// The table: `__alt_instructions.._end` when the symbols have them, else found by scanning.
fn find_table(
    img: &[u8],
    base: u64,
    s: &Symbols,
    text: &[(u64, u64)],
) -> Result<(u64, u64, &'static str), String> {
    if let (Some(a), Some(b)) = (s.addr("__alt_instructions"), s.addr("__alt_instructions_end")) {
        let inside = a >= base && b >= a && b - base <= img.len() as u64;
        return if inside {
            Ok((a, b, "symbols"))
        } else {
            Err("__alt_instructions lies outside the image".into())
        };
    }
    let (at, n) = scan_table(img, base, text).ok_or("no alternatives table found in the image")?;
    Ok((base + at as u64, base + (at + n * ENTRY_SIZE) as u64, "scan"))
}

/// The longest run of 12-byte records whose site and replacement/callback both land,
/// 4-aligned, in the text: the table (only the offsets are trusted, so that entries with a
/// bad capability or length are still found). `(offset, entries)`.
pub fn scan_table(img: &[u8], base: u64, text: &[(u64, u64)]) -> Option<(usize, usize)> {
    let in_text = |a: u64| a.is_multiple_of(4) && text.iter().any(|&(lo, hi)| (lo..hi).contains(&a));
    let plausible = |o: usize| {
        let rd = |k: usize| i32::from_le_bytes(img[k..k + 4].try_into().unwrap_or([0; 4]));
        let at = base + o as u64;
        in_text(at.wrapping_add_signed(i64::from(rd(o))))
            && in_text((at + 4).wrapping_add_signed(i64::from(rd(o + 4))))
    };
    let words = img.len().saturating_sub(ENTRY_SIZE) / 4;
    // One running count per phase (entries are 3 words): the run ending at word w.
    let mut run = [0usize; 3];
    let mut best = (0usize, 0usize);
    for w in 0..=words {
        let r = &mut run[w % 3];
        *r = if plausible(4 * w) { *r + 1 } else { 0 };
        if *r > best.1 {
            best = (w, *r);
        }
    }
    let (last, n) = best;
    // The run ends with the entry at word `last`; it started 3 words per entry earlier.
    (n >= 2).then(|| (4 * (last - 3 * (n - 1)), n))
}

impl Kernel {
    /// The bytes at link address `addr`, `len` of them.
    pub fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let off = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.image.get(off..off.checked_add(len)?)
    }

    /// The text as regions of the kernel's space.
    pub fn text_regions(&self) -> Vec<Region> {
        self.text
            .iter()
            .filter_map(|&(lo, hi)| {
                Some(Region { addr: lo, bytes: self.bytes(lo, (hi - lo) as usize)?.to_vec() })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_comes_from_the_banner() {
        let img = b"\0\0Linux version 6.1.0-57-arm64 (debian-kernel@lists.debian.org) (gcc-12".to_vec();
        assert_eq!(banner(&img).as_deref(), Some("6.1.0-57-arm64"));
        assert_eq!(banner(b"no banner here"), None);
    }

    #[test]
    fn the_table_is_the_longest_run_of_entries_pointing_into_the_text() {
        // Text 0x0..0x100; noise; three entries at 0x200 (site 0x10, replacement 0x80).
        let mut img = vec![0xffu8; 0x300];
        for i in 0..3usize {
            let at = 0x200 + 12 * i;
            img[at..at + 4].copy_from_slice(&(0x10 - at as i32).to_le_bytes());
            img[at + 4..at + 8].copy_from_slice(&(0x80 - (at as i32 + 4)).to_le_bytes());
            img[at + 8..at + 12].copy_from_slice(&[0xff, 0x7f, 4, 8]);
        }
        assert_eq!(scan_table(&img, 0, &[(0, 0x100)]), Some((0x200, 3)));
    }
}
