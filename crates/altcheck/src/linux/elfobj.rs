//! Alternatives tables of ELF objects inside or beside the kernel: the vDSO (a linked
//! shared object embedded in the Image between `vdso_start` and `vdso_end`) and modules
//! (relocatable `.ko` files whose table is filled by `R_AARCH64_PREL32` relocations).

use object::elf::{R_AARCH64_PREL32, SHF_EXECINSTR};
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionFlags, SymbolKind,
};

use super::entry::{self, Alt, CallbackMarker, ENTRY_SIZE, Loc};
use super::space::{Region, Space};
use super::symbols::{Sym, Symbols};

/// `EM_AARCH64`.
const EM_AARCH64: u16 = 183;

/// Whether `s` is executable.
fn is_exec(s: &object::Section<'_, '_>) -> bool {
    matches!(s.flags(), SectionFlags::Elf { sh_flags } if sh_flags & u64::from(SHF_EXECINSTR) != 0)
}

/// The AArch64 vDSOs embedded in a raw Image (page-aligned ELF headers), each as a space.
pub fn vdsos(img: &[u8], marker: CallbackMarker, ncaps: u16) -> Vec<Space> {
    (0..img.len().saturating_sub(64))
        .step_by(4096)
        .filter(|&o| {
            img[o..].starts_with(b"\x7fELF\x02\x01") && img[o + 18..o + 20] == EM_AARCH64.to_le_bytes()
        })
        .filter_map(|o| linked_space("vdso", &img[o..], marker, ncaps).ok().flatten())
        .collect()
}

/// A linked ELF's (vDSO's) table, text and symbols; `None` without `.altinstructions`.
pub fn linked_space(
    name: &str,
    elf: &[u8],
    marker: CallbackMarker,
    ncaps: u16,
) -> Result<Option<Space>, String> {
    let file = object::File::parse(elf).map_err(|e| format!("{name}: {e}"))?;
    let Some(table) = file.section_by_name(".altinstructions") else { return Ok(None) };
    let data = table.data().map_err(|e| format!("{name}: {e}"))?;
    let text = code(&file, elf.len(), |s| s.address())?;
    let syms =
        file.symbols().chain(file.dynamic_symbols()).filter_map(|s| elf_sym(&s, s.address())).collect();
    Ok(Some(Space {
        name: name.to_owned(),
        text,
        symbols: Symbols::new(syms),
        entries: entry::decode_table(table.address(), data, marker, ncaps),
        linked: true,
    }))
}

/// The executable sections' bytes, each at `addr(section)`. Their total is bounded by the
/// file's size: section headers can all point at the same bytes (a crafted object with
/// thousands of them would otherwise be copied thousands of times).
fn code(
    file: &object::File<'_>,
    file_len: usize,
    addr: impl Fn(&object::Section<'_, '_>) -> u64,
) -> Result<Vec<Region>, String> {
    let mut total = 0usize;
    let mut out = Vec::new();
    for s in file.sections().filter(is_exec) {
        let Ok(data) = s.data() else { continue };
        total = total.saturating_add(data.len());
        if total > file_len {
            return Err(format!(
                "its executable sections add up to more than the file's {file_len} bytes (overlapping section headers): refused"
            ));
        }
        out.push(Region { addr: addr(&s), bytes: data.to_vec() });
    }
    Ok(out)
}

/// An ELF symbol as a [`Sym`] at `addr`.
fn elf_sym(s: &object::Symbol<'_, '_>, addr: u64) -> Option<Sym> {
    if s.is_undefined() || !matches!(s.kind(), SymbolKind::Text | SymbolKind::Data | SymbolKind::Label) {
        return None;
    }
    let name = s.name().ok().filter(|n| !n.is_empty() && !n.starts_with('$') && !n.starts_with(".L"))?;
    let kind = match (s.kind(), s.is_global()) {
        (SymbolKind::Text, true) => b'T',
        (SymbolKind::Text, false) => b't',
        _ => b'd',
    };
    Some(Sym { addr, kind, name: name.to_owned() })
}

/// Where a module's section `index` is put in the module's space: sections are placed by
/// the loader, so each gets its own 4 GiB window (no two can be confused).
fn window(index: usize) -> u64 {
    (index as u64) << 32
}

/// A module's table, resolved through its relocations; `None` without `.altinstructions`.
pub fn module_space(
    name: &str,
    elf: &[u8],
    marker: CallbackMarker,
    ncaps: u16,
) -> Result<Option<Space>, String> {
    let file = object::File::parse(elf).map_err(|e| format!("{name}: not an ELF object: {e}"))?;
    let Some(table) = file.section_by_name(".altinstructions") else { return Ok(None) };
    let data = table.data().map_err(|e| format!("{name}: {e}"))?;
    let mut locs: Vec<[Option<Loc>; 2]> = vec![[None, None]; data.len() / ENTRY_SIZE];
    for (off, rel) in table.relocations() {
        let (i, field) = ((off as usize) / ENTRY_SIZE, (off as usize) % ENTRY_SIZE);
        let is_prel32 = matches!(rel.flags(), RelocationFlags::Elf { r_type } if r_type == R_AARCH64_PREL32);
        if let (true, Some(slot), 0 | 4) = (is_prel32, locs.get_mut(i), field) {
            slot[field / 4] = resolve(&file, rel.target(), rel.addend());
        }
    }
    let entries = locs
        .into_iter()
        .zip(data.chunks_exact(ENTRY_SIZE))
        .enumerate()
        .map(|(i, ([site, target], b))| {
            let missing = || Loc::External("(no relocation)".into());
            let raw = u16::from_le_bytes([b[8], b[9]]);
            Alt::with_locs(
                i,
                site.unwrap_or_else(missing),
                target.unwrap_or_else(missing),
                raw,
                b[10],
                b[11],
                marker,
                ncaps,
            )
        })
        .collect();
    let text = code(&file, elf.len(), |s| window(s.index().0))?;
    let syms =
        file.symbols().filter_map(|s| elf_sym(&s, window(s.section_index()?.0) + s.address())).collect();
    Ok(Some(Space { name: name.to_owned(), text, symbols: Symbols::new(syms), entries, linked: false }))
}

/// A relocation's target in the module's space, or the undefined symbol it names.
fn resolve(file: &object::File<'_>, target: RelocationTarget, addend: i64) -> Option<Loc> {
    let RelocationTarget::Symbol(i) = target else { return None };
    let sym = file.symbol_by_index(i).ok()?;
    match sym.section_index() {
        Some(sec) => Some(Loc::Addr((window(sec.0) + sym.address()).wrapping_add_signed(addend))),
        None => Some(Loc::External(sym.name().ok()?.to_owned())),
    }
}

#[cfg(test)]
mod tests;
