//! Module loading for altpatch, portable and host-tested: a module is a relocatable
//! AArch64 ELF object (`ET_REL`). [`ModuleLayout::plan`] places its allocated sections in
//! three page-aligned areas by permission (text, read-only, read-write), and [`relocate`]
//! applies its relocations into that image, each with its range check, resolving undefined
//! symbols only through the caller's export table. The kernel maps the areas and runs the
//! result; `altcheck` runs the same code at a made-up address to check a module on the host.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod error;
mod layout;
mod reloc;

pub use error::LoadError;
pub use layout::{Area, ModuleLayout, PAGE_SIZE, Placement};
pub use reloc::{relocate, relocation_name};

/// The object file type a module is: a 64-bit little-endian ELF.
pub type ModuleElf<'data> = object::read::elf::ElfFile64<'data, object::LittleEndian>;

/// Parses `bytes` as a module: a relocatable AArch64 ELF object.
pub fn parse(bytes: &[u8]) -> Result<ModuleElf<'_>, LoadError> {
    use object::read::elf::FileHeader;
    let elf = ModuleElf::parse(bytes).map_err(LoadError::object)?;
    let header = elf.elf_header();
    let e_type = header.e_type(object::LittleEndian);
    if e_type != object::elf::ET_REL {
        return Err(LoadError::NotRelocatable { e_type });
    }
    if header.e_machine(object::LittleEndian) != object::elf::EM_AARCH64 {
        return Err(LoadError::Malformed("not an AArch64 object (e_machine)"));
    }
    Ok(elf)
}

/// The size of the ELF file at the start of `bytes` (header, section contents, section
/// header table), for finding an object in memory with no length beside it.
pub fn elf_size(bytes: &[u8]) -> Option<usize> {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |at: usize| bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 {
        return None;
    }
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let (shentsize, shnum) = (u16_at(0x3a)?, u16_at(0x3c)?);
    let mut end = shoff.checked_add(shentsize.checked_mul(shnum)?)?;
    for i in 0..shnum {
        let header = shoff + i * shentsize;
        let sh_type = u64_at(header + 4)? & 0xffff_ffff;
        let (offset, size) = (u64_at(header + 0x18)?, u64_at(header + 0x20)?);
        if sh_type != u64::from(object::elf::SHT_NOBITS) {
            end = end.max(usize::try_from(offset.checked_add(size)?).ok()?);
        }
    }
    Some(end)
}
