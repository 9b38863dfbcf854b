//! Module loading for altpatch, portable and host-tested: a module is a relocatable
//! AArch64 ELF object (`ET_REL`). [`ModuleLayout::plan`] places its allocated sections in
//! three page-aligned areas by permission (text, read-only, read-write), and [`relocate`]
//! applies its relocations into that image, each with its range check, resolving undefined
//! symbols only through the caller's export table. The kernel maps the areas and runs the
//! result; `altcheck` runs the same code at a made-up address to check a module on the host.

#![no_std]
#![forbid(unsafe_code)]
#![deny(clippy::arithmetic_side_effects)]

extern crate alloc;

mod error;
pub mod header;
mod layout;
mod reloc;

pub use error::LoadError;
pub use header::Header;
pub use layout::{Area, ModuleLayout, PAGE_SIZE, Placement, SINGLE_SECTIONS};
pub use reloc::{relocate, relocation_name};

/// Everything done to a module's bytes before it runs, the same for the kernel's loader and
/// `altcheck`: `image` (zeroed, `layout.size()` bytes, to run at `base`) receives the
/// sections, then every relocation (undefined symbols resolved by `resolve`, the kernel's
/// export table, only), then the header is read from the result. Every reason to refuse,
/// or the header. The image holds every relocation that could be applied either way.
pub fn load_into(
    elf: &ModuleElf<'_>,
    layout: &ModuleLayout,
    base: u64,
    image: &mut [u8],
    resolve: &dyn Fn(&str) -> Option<u64>,
) -> Result<Header, alloc::vec::Vec<LoadError>> {
    layout.copy_sections(elf, image).map_err(|error| alloc::vec![error])?;
    let relocated = relocate(elf, layout, base, image, resolve);
    let header = header::read(layout, base, image);
    match (relocated, header) {
        (Ok(()), Ok(header)) => Ok(header),
        (Ok(()), Err(error)) => Err(alloc::vec![error]),
        (Err(errors), Ok(_)) => Err(errors),
        (Err(mut errors), Err(error)) => {
            errors.push(error);
            Err(errors)
        }
    }
}

/// The names a module's undefined symbols may resolve to: the kernel's export table (each
/// a `no_mangle` symbol of that name in the kernel ELF), for the kernel's loader and
/// `altcheck` alike. Anything else, `$d` or `_start` included, is an undefined symbol.
pub const KERNEL_EXPORTS: [&str; 10] = [
    "altpatch_log",
    "altpatch_on_each_cpu",
    "altpatch_online_cpus",
    "altpatch_cpus_have_cap",
    "altpatch_dcache_line_size",
    "memset",
    "memcpy",
    "memmove",
    "memcmp",
    "altpatch_cb_dcache_line_size",
];

/// The object file type a module is: a 64-bit little-endian ELF.
pub type ModuleElf<'data> = object::read::elf::ElfFile64<'data, object::LittleEndian>;

/// Parses `bytes` as a module: a relocatable AArch64 ELF object whose headers and sections
/// all lie within `bytes` (the file, or the staged object as long as its staging header says).
pub fn parse(bytes: &[u8]) -> Result<ModuleElf<'_>, LoadError> {
    use object::read::elf::FileHeader;
    let claimed = elf_size(bytes)?;
    if claimed > bytes.len() {
        return Err(LoadError::Truncated { claimed, len: bytes.len() });
    }
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
/// header table), for finding an object in memory with no length beside it. Refused: not a
/// 64-bit little-endian ELF header, or a size that cannot be computed without wrapping.
pub fn elf_size(bytes: &[u8]) -> Result<usize, LoadError> {
    let u16_at = |at: usize| bytes.get(at..)?.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at =
        |at: usize| bytes.get(at..)?.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    if bytes.get(..4) != Some(b"\x7fELF") || bytes.get(4..6) != Some(&[2, 1]) {
        return Err(LoadError::Malformed("not a 64-bit little-endian ELF header"));
    }
    let unreadable = LoadError::Malformed("its size cannot be read from its section headers");
    let shoff = u64_at(0x28).and_then(|v| usize::try_from(v).ok()).ok_or(unreadable.clone())?;
    let (shentsize, shnum) =
        (u16_at(0x3a).ok_or(unreadable.clone())?, u16_at(0x3c).ok_or(unreadable.clone())?);
    let mut end =
        shentsize.checked_mul(shnum).and_then(|n| shoff.checked_add(n)).ok_or(unreadable.clone())?;
    for i in 0..shnum {
        let header =
            i.checked_mul(shentsize).and_then(|at| shoff.checked_add(at)).ok_or(unreadable.clone())?;
        let field = |at: usize| header.checked_add(at).and_then(u64_at).ok_or(unreadable.clone());
        let sh_type = field(4)? & 0xffff_ffff;
        let (offset, size) = (field(0x18)?, field(0x20)?);
        if sh_type != u64::from(object::elf::SHT_NOBITS) {
            let section_end = offset.checked_add(size).and_then(|e| usize::try_from(e).ok());
            end = end.max(section_end.ok_or(unreadable.clone())?);
        }
    }
    Ok(end)
}
