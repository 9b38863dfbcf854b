//! The AArch64 relocations a module may carry (ELF for the Arm 64-bit Architecture,
//! "Relocation types", the static ones), each applied with the range check its field
//! needs. Any other type is refused by name.

use crate::{LoadError, ModuleElf, ModuleLayout};
use alloc::{format, string::String, vec::Vec};
use object::elf::*;
use object::read::elf::SectionHeader;
use object::{LittleEndian, Object, ObjectSection, ObjectSymbol, SectionFlags, SymbolSection};

/// Applies every relocation of every allocated section of `elf` to `image`, which holds
/// `layout`'s sections and will run at address `base`. Undefined symbols are looked up with
/// `resolve` (the kernel's export table) only. Returns every error, or nothing.
///
/// The relocation sections are read here, not through `object`'s iterator, which skips a
/// section it cannot read: a relocation section that is not well formed is a refusal.
pub fn relocate(
    elf: &ModuleElf<'_>,
    layout: &ModuleLayout,
    base: u64,
    image: &mut [u8],
    resolve: &dyn Fn(&str) -> Option<u64>,
) -> Result<(), Vec<LoadError>> {
    let mut errors = Vec::new();
    for section in elf.sections() {
        let header = section.elf_section_header();
        match header.sh_type(LittleEndian) {
            SHT_REL => {
                errors.push(LoadError::Malformed("SHT_REL relocations (AArch64 objects use SHT_RELA)"))
            }
            SHT_RELA => match relocation_section(elf, &section, layout) {
                Ok(Some((place, entries))) => {
                    for entry in entries.chunks_exact(RELA_SIZE) {
                        if let Err(error) = relocate_one(elf, layout, place, base, entry, image, resolve)
                            && !errors.contains(&error)
                        {
                            errors.push(error);
                        }
                    }
                }
                Ok(None) => {}
                Err(error) => errors.push(error),
            },
            _ => {}
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Bytes of one `Elf64_Rela`: r_offset, r_info, r_addend.
const RELA_SIZE: usize = 24;

/// A RELA section's target placement and entries; `None` for one that applies to a section
/// that is not loaded (debug information, as Linux's `apply_relocations()` skips it).
fn relocation_section<'data, 'layout>(
    elf: &ModuleElf<'data>,
    section: &object::read::elf::ElfSection64<'data, '_, LittleEndian>,
    layout: &'layout ModuleLayout,
) -> Result<Option<(&'layout crate::Placement, &'data [u8])>, LoadError> {
    let header = section.elf_section_header();
    let name = section.name().unwrap_or("?");
    let bad = |why| LoadError::BadRelocationSection { section: String::from(name), why };
    if header.sh_link(LittleEndian) as usize != elf.elf_symbol_table().section().0 {
        return Err(bad("sh_link is not the symbol table"));
    }
    if header.sh_entsize(LittleEndian) != RELA_SIZE as u64
        || !header.sh_size(LittleEndian).is_multiple_of(RELA_SIZE as u64)
    {
        return Err(bad("its entries are not 24-byte Elf64_Rela"));
    }
    let target_index = header.sh_info(LittleEndian) as usize;
    let target = elf
        .section_by_index(object::SectionIndex(target_index))
        .ok()
        .filter(|_| target_index != 0)
        .ok_or_else(|| bad("sh_info names no section"))?;
    // The toolchain names a relocation section after the section it applies to: a section
    // pointed elsewhere would leave its real target unrelocated.
    if name.strip_prefix(".rela") != target.name().ok() {
        return Err(bad("its sh_info names another section than its name does"));
    }
    let entries = header.data(LittleEndian, elf.data()).map_err(|_| bad("its bytes lie outside the file"))?;
    let SectionFlags::Elf { sh_flags } = target.flags() else { return Err(bad("not an ELF section")) };
    if sh_flags & u64::from(SHF_ALLOC) == 0 {
        return Ok(None);
    }
    match layout.placement(target_index) {
        Some(place) => Ok(Some((place, entries))),
        None if entries.is_empty() => Ok(None),
        None => Err(bad("it relocates an empty section")),
    }
}

/// Applies the one `Elf64_Rela` `entry` to its place in `place`.
fn relocate_one(
    elf: &ModuleElf<'_>,
    layout: &ModuleLayout,
    place: &crate::Placement,
    base: u64,
    entry: &[u8],
    image: &mut [u8],
    resolve: &dyn Fn(&str) -> Option<u64>,
) -> Result<(), LoadError> {
    let mut words = entry.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()));
    let mut word = || words.next().unwrap_or_default();
    let (offset, info, addend) = (word(), word(), word() as i64);
    let (symbol_index, r_type) = ((info >> 32) as usize, info as u32);
    let bad_place = || LoadError::BadPlace { section: place.name.clone(), offset };
    // The field lies wholly inside its section (checked: an offset near 2^64 must not wrap).
    let end =
        offset.checked_add(field_size(r_type)).filter(|&end| end <= place.size).ok_or_else(bad_place)?;
    let at = |offset: u64| place.offset.checked_add(offset).and_then(|at| usize::try_from(at).ok());
    let field =
        at(offset).zip(at(end)).and_then(|(start, end)| image.get_mut(start..end)).ok_or_else(bad_place)?;
    let symbol = symbol_value(elf, layout, base, symbol_index, resolve)?;
    // S + A and P are addresses: modulo 2^64, as the ELF ABI computes them; ranges are
    // checked on the result.
    let value = symbol.1.wrapping_add_signed(addend);
    let at =
        Site { section: &place.name, offset, addr: base.wrapping_add(place.offset).wrapping_add(offset) };
    apply(r_type, &at, &symbol.0, value, field)
}

/// Where a relocation applies: for its report, and its address (P).
struct Site<'a> {
    section: &'a str,
    offset: u64,
    addr: u64,
}

/// The name and address (S) of a relocation's symbol (index 0: none, the value 0).
fn symbol_value(
    elf: &ModuleElf<'_>,
    layout: &ModuleLayout,
    base: u64,
    index: usize,
    resolve: &dyn Fn(&str) -> Option<u64>,
) -> Result<(String, u64), LoadError> {
    if index == 0 {
        return Ok((String::from("*ABS*"), 0));
    }
    let symbol = elf.symbol_by_index(object::SymbolIndex(index)).map_err(LoadError::object)?;
    let name = String::from(symbol.name().unwrap_or("?"));
    match symbol.section() {
        SymbolSection::Section(section) => {
            let p =
                layout.placement(section.0).ok_or(LoadError::Malformed("symbol in an unloaded section"))?;
            let name = if name.is_empty() { p.name.clone() } else { name };
            Ok((name, base.wrapping_add(p.offset).wrapping_add(symbol.address())))
        }
        SymbolSection::Undefined => match resolve(&name) {
            Some(addr) => Ok((name, addr)),
            None => Err(LoadError::UndefinedSymbol { name }),
        },
        SymbolSection::Absolute => Ok((name, symbol.address())),
        _ => Err(LoadError::Malformed("a common or unsupported symbol")),
    }
}

/// Bytes a relocation of type `r_type` writes.
fn field_size(r_type: u32) -> u64 {
    match r_type {
        R_AARCH64_ABS64 | R_AARCH64_PREL64 => 8,
        R_AARCH64_ABS16 | R_AARCH64_PREL16 => 2,
        _ => 4,
    }
}

/// The name of AArch64 relocation type `r_type` (`type N` for one this table lacks).
pub fn relocation_name(r_type: u32) -> String {
    let name = match r_type {
        R_AARCH64_NONE => "R_AARCH64_NONE",
        R_AARCH64_ABS64 => "R_AARCH64_ABS64",
        R_AARCH64_ABS32 => "R_AARCH64_ABS32",
        R_AARCH64_ABS16 => "R_AARCH64_ABS16",
        R_AARCH64_PREL64 => "R_AARCH64_PREL64",
        R_AARCH64_PREL32 => "R_AARCH64_PREL32",
        R_AARCH64_PREL16 => "R_AARCH64_PREL16",
        R_AARCH64_MOVW_UABS_G0 => "R_AARCH64_MOVW_UABS_G0",
        R_AARCH64_MOVW_UABS_G0_NC => "R_AARCH64_MOVW_UABS_G0_NC",
        R_AARCH64_MOVW_UABS_G1 => "R_AARCH64_MOVW_UABS_G1",
        R_AARCH64_MOVW_UABS_G1_NC => "R_AARCH64_MOVW_UABS_G1_NC",
        R_AARCH64_MOVW_UABS_G2 => "R_AARCH64_MOVW_UABS_G2",
        R_AARCH64_MOVW_UABS_G2_NC => "R_AARCH64_MOVW_UABS_G2_NC",
        R_AARCH64_MOVW_UABS_G3 => "R_AARCH64_MOVW_UABS_G3",
        R_AARCH64_MOVW_SABS_G0 => "R_AARCH64_MOVW_SABS_G0",
        R_AARCH64_MOVW_SABS_G1 => "R_AARCH64_MOVW_SABS_G1",
        R_AARCH64_MOVW_SABS_G2 => "R_AARCH64_MOVW_SABS_G2",
        R_AARCH64_LD_PREL_LO19 => "R_AARCH64_LD_PREL_LO19",
        R_AARCH64_ADR_PREL_LO21 => "R_AARCH64_ADR_PREL_LO21",
        R_AARCH64_ADR_PREL_PG_HI21 => "R_AARCH64_ADR_PREL_PG_HI21",
        R_AARCH64_ADR_PREL_PG_HI21_NC => "R_AARCH64_ADR_PREL_PG_HI21_NC",
        R_AARCH64_ADD_ABS_LO12_NC => "R_AARCH64_ADD_ABS_LO12_NC",
        R_AARCH64_LDST8_ABS_LO12_NC => "R_AARCH64_LDST8_ABS_LO12_NC",
        R_AARCH64_LDST16_ABS_LO12_NC => "R_AARCH64_LDST16_ABS_LO12_NC",
        R_AARCH64_LDST32_ABS_LO12_NC => "R_AARCH64_LDST32_ABS_LO12_NC",
        R_AARCH64_LDST64_ABS_LO12_NC => "R_AARCH64_LDST64_ABS_LO12_NC",
        R_AARCH64_LDST128_ABS_LO12_NC => "R_AARCH64_LDST128_ABS_LO12_NC",
        R_AARCH64_TSTBR14 => "R_AARCH64_TSTBR14",
        R_AARCH64_CONDBR19 => "R_AARCH64_CONDBR19",
        R_AARCH64_JUMP26 => "R_AARCH64_JUMP26",
        R_AARCH64_CALL26 => "R_AARCH64_CALL26",
        R_AARCH64_MOVW_PREL_G0 => "R_AARCH64_MOVW_PREL_G0",
        R_AARCH64_MOVW_PREL_G0_NC => "R_AARCH64_MOVW_PREL_G0_NC",
        R_AARCH64_MOVW_PREL_G1 => "R_AARCH64_MOVW_PREL_G1",
        R_AARCH64_ADR_GOT_PAGE => "R_AARCH64_ADR_GOT_PAGE",
        R_AARCH64_LD64_GOT_LO12_NC => "R_AARCH64_LD64_GOT_LO12_NC",
        R_AARCH64_TLSLE_ADD_TPREL_HI12 => "R_AARCH64_TLSLE_ADD_TPREL_HI12",
        R_AARCH64_TLSLE_ADD_TPREL_LO12_NC => "R_AARCH64_TLSLE_ADD_TPREL_LO12_NC",
        R_AARCH64_COPY => "R_AARCH64_COPY",
        R_AARCH64_GLOB_DAT => "R_AARCH64_GLOB_DAT",
        R_AARCH64_JUMP_SLOT => "R_AARCH64_JUMP_SLOT",
        R_AARCH64_RELATIVE => "R_AARCH64_RELATIVE",
        _ => return format!("type {r_type}"),
    };
    format!("{name} ({r_type})")
}

/// A static name for a supported type, for range reports.
fn short_name(r_type: u32) -> &'static str {
    match r_type {
        R_AARCH64_ABS32 => "R_AARCH64_ABS32",
        R_AARCH64_ABS16 => "R_AARCH64_ABS16",
        R_AARCH64_PREL32 => "R_AARCH64_PREL32",
        R_AARCH64_PREL16 => "R_AARCH64_PREL16",
        R_AARCH64_CALL26 => "R_AARCH64_CALL26",
        R_AARCH64_JUMP26 => "R_AARCH64_JUMP26",
        R_AARCH64_CONDBR19 => "R_AARCH64_CONDBR19",
        R_AARCH64_TSTBR14 => "R_AARCH64_TSTBR14",
        R_AARCH64_LD_PREL_LO19 => "R_AARCH64_LD_PREL_LO19",
        R_AARCH64_ADR_PREL_LO21 => "R_AARCH64_ADR_PREL_LO21",
        R_AARCH64_ADR_PREL_PG_HI21 => "R_AARCH64_ADR_PREL_PG_HI21",
        R_AARCH64_LDST16_ABS_LO12_NC => "R_AARCH64_LDST16_ABS_LO12_NC",
        R_AARCH64_LDST32_ABS_LO12_NC => "R_AARCH64_LDST32_ABS_LO12_NC",
        R_AARCH64_LDST64_ABS_LO12_NC => "R_AARCH64_LDST64_ABS_LO12_NC",
        R_AARCH64_LDST128_ABS_LO12_NC => "R_AARCH64_LDST128_ABS_LO12_NC",
        _ => "relocation",
    }
}

/// Writes one relocation of type `r_type` with value `value` (S + A) into `field`.
fn apply(r_type: u32, at: &Site<'_>, symbol: &str, value: u64, field: &mut [u8]) -> Result<(), LoadError> {
    let relative = value.wrapping_sub(at.addr) as i64;
    let out_of_range = |value: i64, limit: &'static str| LoadError::OutOfRange {
        name: short_name(r_type),
        section: String::from(at.section),
        offset: at.offset,
        symbol: String::from(symbol),
        value,
        limit,
    };
    // `bits` is one of this function's constants (16 to 32): no shift or negation overflows.
    #[allow(clippy::arithmetic_side_effects)]
    let signed = |value: i64, bits: u32, limit: &'static str| {
        let half = 1i64 << (bits - 1);
        if (-half..half).contains(&value) { Ok(value) } else { Err(out_of_range(value, limit)) }
    };
    let misaligned = || LoadError::Misaligned {
        name: short_name(r_type),
        section: String::from(at.section),
        offset: at.offset,
        value,
    };
    match r_type {
        R_AARCH64_NONE => {}
        R_AARCH64_ABS64 => field[..8].copy_from_slice(&value.to_le_bytes()),
        R_AARCH64_PREL64 => field[..8].copy_from_slice(&relative.to_le_bytes()),
        R_AARCH64_ABS32 => {
            let v = value as i64;
            if !(-(1i64 << 31)..1i64 << 32).contains(&v) {
                return Err(out_of_range(v, "32 bits"));
            }
            field[..4].copy_from_slice(&(value as u32).to_le_bytes());
        }
        R_AARCH64_PREL32 => {
            let v = signed(relative, 32, "±2 GiB")?;
            field[..4].copy_from_slice(&(v as i32).to_le_bytes());
        }
        R_AARCH64_CALL26
        | R_AARCH64_JUMP26
        | R_AARCH64_CONDBR19
        | R_AARCH64_TSTBR14
        | R_AARCH64_LD_PREL_LO19
            if relative & 3 != 0 =>
        {
            return Err(misaligned());
        }
        R_AARCH64_CALL26 | R_AARCH64_JUMP26 => {
            let v = signed(relative, 28, "±128 MiB")?;
            patch(field, 0x03ff_ffff, 0, (v >> 2) as u32);
        }
        R_AARCH64_CONDBR19 | R_AARCH64_LD_PREL_LO19 => {
            let v = signed(relative, 21, "±1 MiB")?;
            patch(field, 0x7ffff, 5, (v >> 2) as u32);
        }
        R_AARCH64_TSTBR14 => {
            let v = signed(relative, 16, "±32 KiB")?;
            patch(field, 0x3fff, 5, (v >> 2) as u32);
        }
        R_AARCH64_ADR_PREL_LO21 => {
            let v = signed(relative, 21, "±1 MiB")?;
            adr_immediate(field, v as u32);
        }
        R_AARCH64_ADR_PREL_PG_HI21 | R_AARCH64_ADR_PREL_PG_HI21_NC => {
            let pages = ((value & !0xfff) as i64).wrapping_sub((at.addr & !0xfff) as i64) >> 12;
            let pages =
                if r_type == R_AARCH64_ADR_PREL_PG_HI21 { signed(pages, 21, "±4 GiB")? } else { pages };
            adr_immediate(field, pages as u32);
        }
        R_AARCH64_ADD_ABS_LO12_NC | R_AARCH64_LDST8_ABS_LO12_NC => {
            patch(field, 0xfff, 10, (value & 0xfff) as u32)
        }
        R_AARCH64_LDST16_ABS_LO12_NC
        | R_AARCH64_LDST32_ABS_LO12_NC
        | R_AARCH64_LDST64_ABS_LO12_NC
        | R_AARCH64_LDST128_ABS_LO12_NC => {
            let shift = match r_type {
                R_AARCH64_LDST16_ABS_LO12_NC => 1,
                R_AARCH64_LDST32_ABS_LO12_NC => 2,
                R_AARCH64_LDST64_ABS_LO12_NC => 3,
                _ => 4,
            };
            if value.trailing_zeros() < shift {
                return Err(misaligned());
            }
            patch(field, 0xfff, 10, ((value & 0xfff) >> shift) as u32);
        }
        _ => {
            return Err(LoadError::UnknownRelocation {
                name: relocation_name(r_type),
                section: String::from(at.section),
                offset: at.offset,
            });
        }
    }
    Ok(())
}

/// Replaces bits `shift..shift + width(mask)` of the instruction word in `field`.
fn patch(field: &mut [u8], mask: u32, shift: u32, value: u32) {
    let word = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
    let word = (word & !(mask << shift)) | ((value & mask) << shift);
    field[..4].copy_from_slice(&word.to_le_bytes());
}

/// ADR/ADRP's 21-bit immediate: immlo in bits 30:29, immhi in bits 23:5.
fn adr_immediate(field: &mut [u8], imm: u32) {
    patch(field, 0b11, 29, imm & 0b11);
    patch(field, 0x7ffff, 5, imm >> 2);
}

#[cfg(test)]
mod tests;
