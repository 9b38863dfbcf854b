//! Where each allocated section of a module goes: three areas by permission, each
//! page aligned, one after the other (text, read-only, read-write).

use crate::{LoadError, ModuleElf};
use alloc::{string::String, vec::Vec};
use object::{Object, ObjectSection, SectionFlags, SectionKind};

/// Bytes in a page: every area starts on one and is a whole number of them.
pub const PAGE_SIZE: u64 = 4096;

/// The permission of an area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Executable and read-only (once loaded).
    Text = 0,
    /// Read-only, never executable.
    ReadOnly = 1,
    /// Read-write, never executable (data and BSS).
    ReadWrite = 2,
}

/// One allocated section's place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The section's index in the object.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its area.
    pub area: Area,
    /// Its offset from the start of the whole image.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it has no bytes in the file (BSS: zero filled).
    pub nobits: bool,
}

/// The image of a module: its sections placed, and the size of each area.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleLayout {
    /// Every allocated section, in object order.
    pub placements: Vec<Placement>,
    /// The page-rounded size of each area, indexed by [`Area`].
    pub area_sizes: [u64; 3],
}

impl ModuleLayout {
    /// Places every allocated (`SHF_ALLOC`) section of `elf` by its flags: executable ones
    /// in the text area, writable ones in the read-write area, the rest read-only.
    pub fn plan(elf: &ModuleElf<'_>) -> Result<Self, LoadError> {
        let mut layout = ModuleLayout::default();
        let mut cursor = [0u64; 3];
        let mut sections: [Vec<Placement>; 3] = Default::default();
        for section in elf.sections() {
            let SectionFlags::Elf { sh_flags } = section.flags() else { continue };
            if sh_flags & u64::from(object::elf::SHF_ALLOC) == 0 || section.size() == 0 {
                continue;
            }
            let area = if sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0 {
                Area::Text
            } else if sh_flags & u64::from(object::elf::SHF_WRITE) != 0 {
                Area::ReadWrite
            } else {
                Area::ReadOnly
            };
            let name = String::from(section.name().map_err(LoadError::object)?);
            let align = section.align().max(1);
            if !align.is_power_of_two() || align > PAGE_SIZE {
                return Err(LoadError::Malformed("a section alignment beyond a page"));
            }
            let at = cursor[area as usize].next_multiple_of(align);
            cursor[area as usize] = at + section.size();
            let nobits = section.kind() == SectionKind::UninitializedData
                || section.kind() == SectionKind::UninitializedTls;
            let index = section.index().0;
            sections[area as usize].push(Placement {
                index,
                name,
                area,
                offset: at,
                size: section.size(),
                nobits,
            });
        }
        let mut base = 0;
        for area in [Area::Text, Area::ReadOnly, Area::ReadWrite] {
            let size = cursor[area as usize].next_multiple_of(PAGE_SIZE);
            layout.area_sizes[area as usize] = size;
            for placement in core::mem::take(&mut sections[area as usize]) {
                layout.placements.push(Placement { offset: base + placement.offset, ..placement });
            }
            base += size;
        }
        layout.placements.sort_by_key(|p| p.index);
        Ok(layout)
    }

    /// Bytes of the whole image (all three areas).
    pub fn size(&self) -> u64 {
        self.area_sizes.iter().sum()
    }

    /// The offset range of `area` in the image.
    pub fn area(&self, area: Area) -> core::ops::Range<u64> {
        let start: u64 = self.area_sizes[..area as usize].iter().sum();
        start..start + self.area_sizes[area as usize]
    }

    /// The placement of section `index`, if it is allocated.
    pub fn placement(&self, index: usize) -> Option<&Placement> {
        self.placements.binary_search_by_key(&index, |p| p.index).ok().map(|i| &self.placements[i])
    }

    /// The placement of the section named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Placement> {
        self.placements.iter().find(|p| p.name == name)
    }

    /// Copies every section's bytes into `image` (zeroed by the caller; BSS stays zero).
    pub fn copy_sections(&self, elf: &ModuleElf<'_>, image: &mut [u8]) -> Result<(), LoadError> {
        for p in self.placements.iter().filter(|p| !p.nobits) {
            let section = elf.section_by_index(object::SectionIndex(p.index)).map_err(LoadError::object)?;
            let data = section.data().map_err(LoadError::object)?;
            let at = p.offset as usize;
            image
                .get_mut(at..at + data.len())
                .ok_or(LoadError::Malformed("a section beyond the image"))?
                .copy_from_slice(data);
        }
        Ok(())
    }
}
