//! The library behind `altcheck`: reading an altpatch kernel ELF and running the core crate's
//! validator and planner on it, exactly as the kernel will at boot.

pub mod linux;
pub mod module;

use std::fmt::Write as _;

use altpatch_core::fingerprint::CapList;
use altpatch_core::plan::{self, PatchPlan};
use altpatch_core::table::{AltEntry, Table};
use altpatch_core::validate::{self, Defect, Layout, Region, Symbol, ValidTable};
use object::{
    Architecture, BinaryFormat, Object, ObjectSection, ObjectSymbol, SectionFlags, SectionKind, SymbolKind,
    elf,
};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

/// One named symbol of the image.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ImageSymbol {
    addr: u64,
    /// `st_size`; 0 for a label (an assembly routine's name is usually one).
    size: u64,
    /// The section holding it, as an index into [`Image::sections`].
    section: Option<usize>,
    global: bool,
    /// Demangled (`altpatch::_arch::sync::fetch_add`, without the hash).
    name: String,
}

impl ImageSymbol {
    /// How good a name this is among symbols at the same address (smaller is better): a
    /// global before a local, a routine's own name before a linker-script marker (`__…`).
    fn rank(&self) -> (bool, bool) {
        (!self.global, self.name.starts_with("__"))
    }
}

/// The parts of a kernel image the alternatives concern, copied out of the ELF.
pub struct Image {
    table: (u64, Vec<u8>),
    text: (u64, Vec<u8>),
    replacements: (u64, Vec<u8>),
    /// `.altinstr_callbacks`: the declared callbacks (empty when the image has none).
    callbacks: (u64, Vec<u8>),
    /// Loaded sections' address ranges `[start, end)`.
    sections: Vec<(u64, u64)>,
    /// Named symbols, ascending by address.
    symbols: Vec<ImageSymbol>,
    /// For a module ([`module::load`]): the kernel's exported callbacks, the only ones its
    /// callback entries may name. `None` for a kernel image.
    exported_callbacks: Option<Vec<u64>>,
    /// For a module: why the kernel's loader would refuse it before its table (a relocation,
    /// an undefined symbol), one line each; `verify` reports them.
    refusals: Vec<String>,
}

/// A named section's address and bytes: it must hold data in the file (not NOBITS), and
/// that data must lie inside the file.
fn section(file: &object::File<'_>, name: &str) -> Result<(u64, Vec<u8>), String> {
    let s = file.section_by_name(name).ok_or_else(|| format!("no {name} section"))?;
    Ok((s.address(), section_data(&s, name)?))
}

/// The bytes of section `s` (called `name` in messages), bounded by the file.
fn section_data(s: &object::Section<'_, '_>, name: &str) -> Result<Vec<u8>, String> {
    if s.kind() == SectionKind::UninitializedData || s.file_range().is_none() && s.size() != 0 {
        return Err(format!("{name} is NOBITS: it holds no bytes in the file"));
    }
    let compressed =
        matches!(s.flags(), SectionFlags::Elf { sh_flags } if sh_flags & u64::from(elf::SHF_COMPRESSED) != 0);
    let data = if compressed {
        s.uncompressed_data().map_err(|e| format!("{name}: its compressed data cannot be read: {e}"))?
    } else {
        s.data()
            .map(std::borrow::Cow::Borrowed)
            .map_err(|e| format!("{name}: its {} bytes lie outside the file ({e})", s.size()))?
    };
    Ok(data.into_owned())
}

/// Whether `s` is loaded: allocated (SHF_ALLOC) with bytes in the file. Debug sections and
/// NOBITS ones never back a range of the image.
fn is_loaded(s: &object::Section<'_, '_>) -> bool {
    let alloc =
        matches!(s.flags(), SectionFlags::Elf { sh_flags } if sh_flags & u64::from(elf::SHF_ALLOC) != 0);
    alloc && s.kind() != SectionKind::UninitializedData && s.size() != 0
}

/// Refuses what is not an altpatch kernel image: another class, byte order or machine.
fn check_elf_kind(file: &object::File<'_>) -> Result<(), String> {
    if file.format() != BinaryFormat::Elf {
        return Err(format!("not an ELF file ({:?})", file.format()));
    }
    if !file.is_64() {
        return Err("a 32-bit ELF: altpatch kernels are ELF64".into());
    }
    if !file.is_little_endian() {
        return Err("a big-endian ELF: altpatch kernels are little endian".into());
    }
    if file.architecture() != Architecture::Aarch64 {
        return Err(format!("an ELF for {:?}, not AArch64 (e_machine EM_AARCH64)", file.architecture()));
    }
    Ok(())
}

/// `name` demangled in rustc's alternate form (no `::h…` hash); other names unchanged.
pub fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

impl Image {
    /// Reads `elf`: `.altinstructions`, `.altinstr_replacement` and the kernel text, which
    /// is `__text_start..__text_end` when both symbols exist and `.text` otherwise.
    pub fn parse(elf: &[u8]) -> Result<Self, String> {
        let file = object::File::parse(elf).map_err(|e| match elf.starts_with(b"\x7fELF") {
            true => format!("a truncated or malformed ELF ({} bytes): {e}", elf.len()),
            false => "not an ELF file (no ELF magic)".to_owned(),
        })?;
        check_elf_kind(&file)?;
        let loaded: Vec<(object::SectionIndex, u64, u64)> = file
            .sections()
            .filter(|s| s.address() != 0 && is_loaded(s) && !matches!(s.kind(), SectionKind::Metadata))
            .map(|s| (s.index(), s.address(), s.address().saturating_add(s.size())))
            .collect();
        let sections: Vec<(u64, u64)> = loaded.iter().map(|&(_, lo, hi)| (lo, hi)).collect();
        let mut symbols: Vec<ImageSymbol> = file
            .symbols()
            .filter(|s| {
                // Not `is_definition()`: `object` counts a size-0 STT_NOTYPE symbol as none, and
                // both assembly routines and the linker script's markers are such symbols.
                !s.is_undefined()
                    && matches!(
                        s.kind(),
                        SymbolKind::Text | SymbolKind::Data | SymbolKind::Label | SymbolKind::Unknown
                    )
            })
            .filter_map(|s| {
                let raw = s.name().ok()?;
                // `$x`/`$d` are AArch64 mapping symbols (AAELF64 5.7.2), `.L…` assembler
                // temporaries: neither names code.
                if raw.is_empty() || raw.starts_with('$') || raw.starts_with(".L") {
                    return None;
                }
                let section = match s.section_index() {
                    Some(i) => loaded.iter().position(|l| l.0 == i),
                    None => sections.iter().position(|&(lo, hi)| (lo..hi).contains(&s.address())),
                };
                Some(ImageSymbol {
                    addr: s.address(),
                    size: s.size(),
                    section,
                    global: s.is_global(),
                    name: demangle(raw),
                })
            })
            .collect();
        symbols.sort();
        let sym = |name: &str| symbols.iter().find(|s| s.name == name).map(|s| s.addr);
        let file_len = elf.len() as u64;
        let text = match (sym("__text_start"), sym("__text_end")) {
            (Some(start), Some(end)) if start <= end => (start, read(&file, file_len, start, end - start)?),
            (Some(_), Some(_)) => return Err("__text_end precedes __text_start".into()),
            _ => section(&file, ".text")?,
        };
        let table = match (sym("__alt_instructions"), sym("__alt_instructions_end")) {
            (Some(start), Some(end)) if start < end => (start, read(&file, file_len, start, end - start)?),
            (Some(_), Some(_)) => {
                return Err("__alt_instructions_end precedes or equals __alt_instructions: the table is reversed or empty".into());
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err("only one of __alt_instructions and __alt_instructions_end is defined".into());
            }
            (None, None) => match file.section_by_name(".altinstructions") {
                Some(_) => section(&file, ".altinstructions")?,
                None => {
                    return Err("no alternatives table: no .altinstructions section and no __alt_instructions symbols"
                        .into());
                }
            },
        };
        if table.1.is_empty() {
            return Err("the alternatives table is empty: nothing would be checked".into());
        }
        // An image without the section declares no callback: its callback entries are refused.
        let callbacks = match file.section_by_name(".altinstr_callbacks") {
            Some(_) => section(&file, ".altinstr_callbacks")?,
            None => (0, Vec::new()),
        };
        Ok(Image {
            table,
            text,
            replacements: section(&file, ".altinstr_replacement")?,
            callbacks,
            sections,
            symbols,
            exported_callbacks: None,
            refusals: Vec::new(),
        })
    }

    /// The layout the validator checks.
    pub fn layout(&self) -> Layout<'_> {
        Layout {
            table: Region { addr: self.table.0, bytes: &self.table.1 },
            text: Region { addr: self.text.0, bytes: &self.text.1 },
            replacements: Region { addr: self.replacements.0, bytes: &self.replacements.1 },
            callbacks: Region { addr: self.callbacks.0, bytes: &self.callbacks.1 },
        }
    }

    /// The table's entries, decoded.
    pub fn entries(&self) -> Vec<AltEntry> {
        Table { addr: self.table.0, bytes: &self.table.1 }.entries().collect()
    }

    /// Names `addr`: the innermost sized symbol (a function or object) covering it; failing
    /// that, the nearest label at or before it in the same section (the routines of
    /// `global_asm!`, `sync_icache_range`, are labels without a size), unless a sized symbol
    /// lies between and has ended. `None` when nothing names it.
    pub fn symbolize(&self, addr: u64) -> Option<Symbol> {
        let upto = &self.symbols[..self.symbols.partition_point(|s| s.addr <= addr)];
        let covering = upto
            .iter()
            .filter(|s| s.size != 0 && addr - s.addr < s.size)
            .min_by_key(|s| (std::cmp::Reverse(s.addr), s.rank()));
        let chosen = covering.or_else(|| {
            let section = self.sections.iter().position(|&(lo, hi)| (lo..hi).contains(&addr))?;
            let nearest = upto.iter().rev().find(|s| s.section == Some(section))?.addr;
            upto.iter()
                .rev()
                .take_while(|s| s.addr == nearest)
                .filter(|s| s.section == Some(section) && s.size == 0)
                .min_by_key(|s| s.rank())
        })?;
        Some(Symbol { name: chosen.name.clone(), offset: addr - chosen.addr })
    }

    /// `addr` as `0x…` followed by `<symbol+off>` where known.
    pub fn describe(&self, addr: u64) -> String {
        match self.symbolize(addr) {
            Some(s) => format!("{addr:#x} <{s}>"),
            None => format!("{addr:#x}"),
        }
    }

    /// Validates the table as the kernel does.
    pub fn validate(&self, current: &CapList, history: &[CapList]) -> Result<ValidTable<'_>, Vec<Defect>> {
        match &self.exported_callbacks {
            None => validate::validate(&self.layout(), current, history, &|a| self.symbolize(a)),
            Some(callbacks) => {
                validate::validate_module(&self.layout(), current, history, &|a| self.symbolize(a), callbacks)
            }
        }
    }
}

/// Bytes `[addr, addr + len)` of the loaded image, gathered from its sections (NOBITS
/// sections read as zero); an error if any byte is not in a section.
fn read(file: &object::File<'_>, file_len: u64, addr: u64, len: u64) -> Result<Vec<u8>, String> {
    // The range comes from the file's own symbols: bound it by the file itself before
    // allocating (whatever the headers claim, no range of loaded bytes is larger than the
    // file that holds them), and refuse one that wraps.
    let end = addr.checked_add(len).ok_or_else(|| format!("range {addr:#x}+{len:#x} wraps"))?;
    if len > file_len {
        return Err(format!("range {addr:#x}..{end:#x} is larger than the file ({file_len} bytes)"));
    }
    let mut out = vec![0u8; len as usize];
    let mut covered = vec![false; len as usize];
    for s in file.sections().filter(is_loaded) {
        let (start, size) = (s.address(), s.size());
        let lo = start.max(addr);
        let hi = start.saturating_add(size).min(end);
        if lo >= hi || s.kind() == SectionKind::Metadata {
            continue;
        }
        let data = section_data(&s, s.name().unwrap_or("a section"))?;
        for a in lo..hi {
            let i = (a - addr) as usize;
            out[i] = data.get((a - start) as usize).copied().unwrap_or(0);
            covered[i] = true;
        }
    }
    match covered.iter().position(|c| !c) {
        Some(i) => Err(format!("address {:#x} is in no section", addr + i as u64)),
        None => Ok(out),
    }
}

/// `verify`: the report lines (empty when the table is valid).
pub fn verify(image: &Image, current: &CapList, history: &[CapList]) -> Vec<String> {
    let mut lines = image.refusals.clone();
    if let Err(defects) = image.validate(current, history) {
        lines.extend(defects.iter().map(ToString::to_string));
    }
    lines
}

/// The identifier of capability `index`, or `#index (out of range)`.
fn cap_name(current: &CapList, index: u16) -> String {
    current.ident(index).map_or_else(|| format!("#{index} (out of range)"), str::to_owned)
}

/// `dump`: a header and one row per entry: index, capability, both lengths, kind, then the
/// site (and a callback's target) last, so that long symbol names leave the columns aligned.
pub fn dump(image: &Image, current: &CapList) -> String {
    let rows: Vec<(AltEntry, String)> =
        image.entries().into_iter().map(|e| (e, cap_name(current, e.cap_index()))).collect();
    let width = rows.iter().map(|r| r.1.len()).chain(["capability".len()]).max().unwrap_or(0);
    let mut out = format!(
        "{:>5}  {:<width$}  {:>4}  {:>4}  {:<11}  site\n",
        "index", "capability", "orig", "alt", "kind"
    );
    for (e, cap) in rows {
        let (kind, callback) = if e.is_callback() {
            ("callback", format!("  callback {}", image.describe(e.alt)))
        } else {
            ("replacement", String::new())
        };
        let _ = writeln!(
            out,
            "{:>5}  {cap:<width$}  {:>4}  {:>4}  {kind:<11}  {}{callback}",
            e.index,
            e.orig_len,
            e.alt_len,
            image.describe(e.site),
        );
    }
    out
}

/// The disassembly of one instruction word.
pub fn disassemble(word: u32) -> String {
    let bytes = word.to_le_bytes();
    match InstDecoder::default().decode(&mut U8Reader::new(&bytes)) {
        Ok(i) => i.to_string(),
        Err(_) => format!(".inst {word:#010x}"),
    }
}

/// Appends the disassembly of `bytes` at `addr`, one instruction a line; the first line
/// starts with `label`, the others are indented to match.
fn listing(out: &mut String, label: &str, addr: u64, bytes: &[u8]) {
    for (i, w) in bytes.chunks_exact(4).enumerate() {
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let head = if i == 0 { label } else { "" };
        let _ = writeln!(out, "    {head:<8}{:#x}  {}", addr + 4 * i as u64, disassemble(word));
    }
}

/// `simulate`: one block per entry, in table order, headed `entry N: CAP at SITE <symbol+off>:`
/// and the verdict (`patched`, `not patched`, or `callback …`); a patched site shows its
/// instructions `before:` and `after:`, a callback site its instructions before (what the
/// callback writes is decided at boot). The last line counts the outcomes. Capability `i`
/// is enabled exactly when `enabled(i)`. `Err` carries the report lines of an invalid table.
pub fn simulate(
    image: &Image,
    current: &CapList,
    history: &[CapList],
    enabled: &dyn Fn(u16) -> bool,
) -> Result<String, Vec<String>> {
    let valid = image
        .validate(current, history)
        .map_err(|d| d.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let p: PatchPlan = plan::plan(&valid, enabled);
    let text = valid.layout().text;
    let mut out = String::new();
    for e in valid.entries() {
        let _ = write!(
            out,
            "entry {}: {} at {}: ",
            e.index,
            cap_name(current, e.cap_index()),
            image.describe(e.site)
        );
        let before = text.read(e.site, usize::from(e.orig_len)).unwrap_or(&[]);
        if let Some(w) = p.writes.iter().find(|w| w.entry == e.index) {
            out.push_str("patched\n");
            listing(&mut out, "before:", e.site, before);
            listing(&mut out, "after:", w.addr, w.bytes);
        } else if let Some(c) = p.callbacks.iter().find(|c| c.entry == e.index) {
            let _ = writeln!(out, "callback {} rewrites {} bytes", image.describe(c.callback), c.len);
            listing(&mut out, "before:", e.site, before);
        } else {
            out.push_str("not patched\n");
        }
    }
    let _ = writeln!(out, "{} patched, {} skipped of {} entries", p.patched, p.skipped, valid.len());
    Ok(out)
}
