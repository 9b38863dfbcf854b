//! The library behind `altcheck`: reading an altpatch kernel ELF and running the core crate's
//! validator and planner on it, exactly as the kernel will at boot.

use std::fmt::Write as _;

use altpatch_core::fingerprint::CapList;
use altpatch_core::plan::{self, PatchPlan};
use altpatch_core::table::Table;
use altpatch_core::validate::{self, Defect, Layout, Region, Symbol, ValidTable};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

/// The parts of a kernel image the alternatives concern, copied out of the ELF.
pub struct Image {
    table: (u64, Vec<u8>),
    text: (u64, Vec<u8>),
    replacements: (u64, Vec<u8>),
    /// Defined symbols, ascending by address: (address, size, name).
    symbols: Vec<(u64, u64, String)>,
}

/// A named section's address and bytes.
fn section(file: &object::File<'_>, name: &str) -> Result<(u64, Vec<u8>), String> {
    let s = file.section_by_name(name).ok_or_else(|| format!("no {name} section"))?;
    let data = s.uncompressed_data().map_err(|e| format!("{name}: {e}"))?;
    Ok((s.address(), data.into_owned()))
}

impl Image {
    /// Reads `elf`: `.altinstructions`, `.altinstr_replacement` and the kernel text, which
    /// is `__text_start..__text_end` when both symbols exist and `.text` otherwise.
    pub fn parse(elf: &[u8]) -> Result<Self, String> {
        let file = object::File::parse(elf).map_err(|e| format!("not an ELF file: {e}"))?;
        let mut symbols: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| {
                s.is_definition()
                    && matches!(s.kind(), SymbolKind::Text | SymbolKind::Data | SymbolKind::Unknown)
            })
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_owned())))
            .filter(|(_, _, n)| !n.is_empty() && !n.starts_with('$'))
            .collect();
        symbols.sort();
        let sym = |name: &str| symbols.iter().find(|s| s.2 == name).map(|s| s.0);
        let text = match (sym("__text_start"), sym("__text_end")) {
            (Some(start), Some(end)) if start <= end => (start, read(&file, start, end - start)?),
            (Some(_), Some(_)) => return Err("__text_end precedes __text_start".into()),
            _ => section(&file, ".text")?,
        };
        let table = match (sym("__alt_instructions"), sym("__alt_instructions_end")) {
            (Some(start), Some(end)) if start <= end => (start, read(&file, start, end - start)?),
            _ => section(&file, ".altinstructions")?,
        };
        Ok(Image { table, text, replacements: section(&file, ".altinstr_replacement")?, symbols })
    }

    /// The layout the validator checks.
    pub fn layout(&self) -> Layout<'_> {
        Layout {
            table: Region { addr: self.table.0, bytes: &self.table.1 },
            text: Region { addr: self.text.0, bytes: &self.text.1 },
            replacements: Region { addr: self.replacements.0, bytes: &self.replacements.1 },
        }
    }

    /// The symbol containing (or, for sized symbols, covering) `addr`.
    pub fn symbolize(&self, addr: u64) -> Option<Symbol> {
        let i = self.symbols.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        // Prefer a sized symbol covering addr among those at the same address.
        let (start, size, name) = &self.symbols[i];
        if *size != 0 && addr >= start + size {
            return None;
        }
        Some(Symbol { name: name.clone(), offset: addr - start })
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
        validate::validate(&self.layout(), current, history, &|a| self.symbolize(a))
    }
}

/// Bytes `[addr, addr + len)` of the loaded image, gathered from its sections (NOBITS
/// sections read as zero); an error if any byte is not in a section.
fn read(file: &object::File<'_>, addr: u64, len: u64) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; len as usize];
    let mut covered = vec![false; len as usize];
    for s in file.sections() {
        let (start, size) = (s.address(), s.size());
        let lo = start.max(addr);
        let hi = (start + size).min(addr + len);
        if size == 0 || lo >= hi || s.kind() == SectionKind::Metadata {
            continue;
        }
        let data = s.uncompressed_data().map_err(|e| e.to_string())?;
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
    match image.validate(current, history) {
        Ok(_) => Vec::new(),
        Err(defects) => defects.iter().map(ToString::to_string).collect(),
    }
}

/// `dump`: one row per entry.
pub fn dump(image: &Image, current: &CapList) -> String {
    let layout = image.layout();
    let table = Table { addr: layout.table.addr, bytes: layout.table.bytes };
    let mut out =
        format!("{:>5}  {:<40} {:<28} {:>4} {:>4}  kind\n", "index", "site", "capability", "orig", "alt");
    for e in table.entries() {
        let cap = current
            .ident(e.cap_index())
            .map_or_else(|| format!("#{} (out of range)", e.cap_index()), str::to_owned);
        let kind = if e.is_callback() {
            format!("callback {}", image.describe(e.alt))
        } else {
            "replacement".to_owned()
        };
        let _ = writeln!(
            out,
            "{:>5}  {:<40} {:<28} {:>4} {:>4}  {kind}",
            e.index,
            image.describe(e.site),
            cap,
            e.orig_len,
            e.alt_len
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

/// `simulate`: which sites would be patched when capability `i` is enabled exactly when
/// `enabled(i)`, with the disassembly before and after. `Err` carries the report lines of an
/// invalid table.
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
    let text = valid.layout.text;
    let mut out = String::new();
    let cap_name = |i: u16| current.ident(i).unwrap_or("?");
    for w in &p.writes {
        let e = &valid.entries[w.entry];
        let _ = writeln!(
            out,
            "entry {} at {} ({}): patched",
            e.index,
            image.describe(w.addr),
            cap_name(e.cap_index())
        );
        let before = text.read(w.addr, w.bytes.len()).unwrap_or(&[]);
        for (i, after) in w.bytes.chunks_exact(4).enumerate() {
            let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let old = before.get(i * 4..i * 4 + 4).map_or(String::from("?"), |b| disassemble(word(b)));
            let _ = writeln!(
                out,
                "    {:#x}: {:<36} -> {}",
                w.addr + 4 * i as u64,
                old,
                disassemble(word(after))
            );
        }
    }
    for c in &p.callbacks {
        let e = &valid.entries[c.entry];
        let _ = writeln!(
            out,
            "entry {} at {} ({}): callback {} would patch {} bytes",
            e.index,
            image.describe(c.site),
            cap_name(e.cap_index()),
            image.describe(c.callback),
            c.len
        );
    }
    let _ = writeln!(out, "{} patched, {} skipped of {} entries", p.patched, p.skipped, valid.entries.len());
    Ok(out)
}
