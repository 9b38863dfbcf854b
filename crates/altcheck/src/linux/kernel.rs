//! A Linux arm64 kernel image as the checks see it: the flat image (offset 0 is `_text`),
//! its link address, symbols, relocations, code ranges, release and alternatives table.

use object::elf::SHF_ALLOC;
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SymbolKind};

use super::bounds::{self, Table};
use super::format::{self, Container};
use super::kallsyms::{self, Placement};
use super::layout;
use super::relocs::{self, Relocs};
use super::space::Region;
use super::symbols::{Sym, Symbols};
use super::text::{self, CodeRange};

/// The Image header's `image_size` (Documentation/arch/arm64/booting.rst): the kernel's
/// size in memory, BSS included.
const IMAGE_SIZE_AT: usize = 16;

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
    pub symbol_source: String,
    /// The relocations of a relocatable image (empty otherwise).
    pub relocs: Relocs,
    /// Every range of code Linux patches, link addresses (see `text.rs`).
    pub text: Vec<CodeRange>,
    /// The alternatives table's bounds and how they were found.
    pub table: Table,
}

/// The image, its link address, symbols (and their source) and relocations.
struct Placed {
    image: Vec<u8>,
    base: u64,
    symbols: Symbols,
    source: String,
    relocs: Relocs,
}

/// Loads `file`; `system_map` (its text) names the symbols when given, for a raw Image
/// (placed by its `_text`) and an ELF alike.
pub fn load(file: Vec<u8>, system_map: Option<&str>) -> Result<Kernel, String> {
    let unpacked = format::unpack(file)?;
    let container = unpacked.container;
    let p = if unpacked.is_elf {
        let len = unpacked.bytes.len() as u64;
        place_elf(&unpacked.bytes[..], len, system_map)?
    } else {
        place_raw(unpacked.bytes, system_map)?
    };
    finish(container, p)
}

/// Loads the ELF vmlinux at `path` reading only what is used (its headers, loaded sections
/// and symbols): a `-dbg` package's vmlinux is mostly DWARF, which is never read.
pub fn load_elf_file(path: &std::path::Path, system_map: Option<&str>) -> Result<Kernel, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let len = f.metadata().map_err(|e| format!("cannot read {}: {e}", path.display()))?.len();
    let cache = object::ReadCache::new(f);
    let p = place_elf(&cache, len, system_map)?;
    finish(Container::Elf, p)
}

/// The release, the table's bounds and the code of a placed image.
fn finish(container: Container, p: Placed) -> Result<Kernel, String> {
    let release = banner(&p.image).ok_or("no 'Linux version' banner in the image")?;
    let initdata = match p.symbols.addr("__initdata_begin") {
        Some(a) => Some((a, "symbol __initdata_begin")),
        None => layout::initdata_begin(&p.image).map(|o| (p.base + o as u64, "PE .data section")),
    };
    let sources =
        bounds::Sources { img: &p.image, base: p.base, symbols: &p.symbols, relocs: &p.relocs, initdata };
    let table = bounds::find(&sources)?;
    let text = text::ranges(&sources, &table)?;
    let mut symbols = p.symbols;
    symbols.add(text::labels(&text));
    Ok(Kernel {
        release,
        container,
        image: p.image,
        base: p.base,
        symbols,
        symbol_source: p.source,
        relocs: p.relocs,
        text,
        table,
    })
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

/// The kernel's size in memory from the Image header (at least the file's).
fn mem_size(img: &[u8]) -> u64 {
    let header =
        img.get(IMAGE_SIZE_AT..IMAGE_SIZE_AT + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    header.unwrap_or(0).max(img.len() as u64)
}

/// A raw Image: relocations first (they give the link address), then the symbols: a
/// System.map when given (placed by its `_text`), else kallsyms.
fn place_raw(image: Vec<u8>, system_map: Option<&str>) -> Result<Placed, String> {
    let found = relocs::find(&image);
    let kinds = found.kinds();
    if let Some(map) = system_map {
        let symbols = Symbols::from_system_map(map)?;
        let base = symbols.addr("_text").ok_or("the System.map has no _text")?;
        let relocs = found.resolve(&image, base);
        return Ok(Placed { image, base, symbols, source: "System.map".into(), relocs });
    }
    let k = kallsyms::find(&image)
        .map_err(|e| format!("{e} (pass --system-map, or the -dbg package's vmlinux)"))?;
    let mem = mem_size(&image);
    let base = match (found.is_empty(), k.placement) {
        (true, _) => None,
        (false, Placement::RelativeBase { slot }) => found.base_with_slot(&image, mem, slot),
        (false, Placement::SelfRelative) => found.base(&image, mem),
    };
    if base.is_none() && !found.is_empty() {
        return Err(format!(
            "no link address explains the image's {kinds}: cannot place its symbols (pass --system-map)"
        ));
    }
    let (base, relocs, syms) = match (k.placement, base) {
        (Placement::SelfRelative, Some(base)) => {
            let syms = k.syms.into_iter().map(|(kind, name, o)| Sym { addr: base + o, kind, name }).collect();
            (base, found.resolve(&image, base), syms)
        }
        (Placement::SelfRelative, None) => {
            return Err("kallsyms without kallsyms_relative_base (7.x) and no .rela.dyn/.relr.dyn: the link address is unknown (pass --system-map)".into());
        }
        (Placement::RelativeBase { slot }, base) => relative_base(&image, slot, base, found, k.syms)?,
    };
    let symbols = Symbols::new(syms);
    check_text_symbol(&symbols, base)?;
    let source = format!("kallsyms, relocations from {kinds}");
    Ok(Placed { image, base, symbols, source, relocs })
}

/// Symbols placed by `kallsyms_relative_base` (its slot at file offset `slot`): its
/// relocation's value, or (not relocatable) its bytes. Without relocations the link
/// address comes from `_text`, the Image's first byte.
fn relative_base(
    image: &[u8],
    slot: usize,
    base: Option<u64>,
    found: relocs::Found,
    syms: Vec<(u8, String, u64)>,
) -> Result<(u64, Relocs, Vec<Sym>), String> {
    let (relocs, rb) = match base {
        Some(b) => {
            let r = found.resolve(image, b);
            let rb = r.pointer_at(image, b, b + slot as u64);
            (r, rb)
        }
        None => (
            Relocs::default(),
            image.get(slot..slot + 8).map(|x| u64::from_le_bytes(x.try_into().unwrap_or([0; 8]))),
        ),
    };
    let rb = rb.filter(|&v| v != 0).ok_or("kallsyms_relative_base is zero and no relocation fills it: cannot place the symbols (pass --system-map)")?;
    let syms: Vec<Sym> =
        syms.into_iter().map(|(kind, name, off)| Sym { addr: rb.wrapping_add(off), kind, name }).collect();
    let base = match base {
        Some(b) => b,
        None => syms
            .iter()
            .find(|s| s.name == "_text")
            .map(|s| s.addr)
            .ok_or("kallsyms has no _text: cannot place the image")?,
    };
    Ok((base, relocs, syms))
}

/// `_text` is the Image's first byte: symbols that put it elsewhere are not this image's.
fn check_text_symbol(symbols: &Symbols, base: u64) -> Result<(), String> {
    match symbols.addr("_text") {
        Some(t) if t != base => Err(format!(
            "kallsyms puts _text at {t:#x} but the relocations put the image's first byte at {base:#x}: cannot place the symbols"
        )),
        _ => Ok(()),
    }
}

/// An ELF vmlinux (`file_len` bytes) copied into a flat image from its lowest allocated
/// address (`_text`).
fn place_elf<'d, R: object::ReadRef<'d>>(
    elf: R,
    file_len: u64,
    system_map: Option<&str>,
) -> Result<Placed, String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF file: {e}"))?;
    let loaded: Vec<_> = file
        .sections()
        .filter(|s| {
            let alloc =
                matches!(s.flags(), SectionFlags::Elf { sh_flags } if sh_flags & u64::from(SHF_ALLOC) != 0);
            let nobits = matches!(
                s.kind(),
                object::SectionKind::UninitializedData | object::SectionKind::UninitializedTls
            );
            alloc && !nobits && s.address() != 0 && s.size() != 0
        })
        .collect();
    let lo = loaded.iter().map(|s| s.address()).min().ok_or("the ELF has no loaded sections")?;
    let hi = loaded.iter().map(|s| s.address().saturating_add(s.size())).max().unwrap_or(lo);
    // Bound the copy by the file: a vmlinux's loaded bytes are all in it.
    if hi - lo > 2 * file_len {
        return Err(format!("loaded sections span {:#x} bytes, more than twice the file", hi - lo));
    }
    let mut image = vec![0u8; (hi - lo) as usize];
    for s in &loaded {
        let data = s.data().map_err(|e| e.to_string())?;
        let at = (s.address() - lo) as usize;
        let dest = image.get_mut(at..at + data.len()).ok_or("a section's data is larger than its size")?;
        dest.copy_from_slice(data);
    }
    let relocs = relocs::find(&image).resolve(&image, lo);
    let (symbols, source) = match system_map {
        Some(map) => (Symbols::from_system_map(map)?, "System.map".to_owned()),
        None => (elf_symbols(&file), "ELF symbol table".to_owned()),
    };
    Ok(Placed { image, base: lo, symbols, source, relocs })
}

/// The ELF's symbols with `nm`-like type letters.
fn elf_symbols<'d, R: object::ReadRef<'d>>(file: &object::File<'d, R>) -> Symbols {
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
    Symbols::new(syms)
}

impl Kernel {
    /// The bytes at link address `addr`, `len` of them.
    pub fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let off = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.image.get(off..off.checked_add(len)?)
    }

    /// The code as regions of the kernel's space.
    pub fn text_regions(&self) -> Vec<Region> {
        self.text
            .iter()
            .filter_map(|r| {
                Some(Region {
                    addr: r.start,
                    bytes: self.bytes(r.start, (r.end - r.start) as usize)?.to_vec(),
                })
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
}
