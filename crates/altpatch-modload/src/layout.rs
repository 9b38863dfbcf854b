//! Where each allocated section of a module goes: three areas by permission, each
//! page aligned, one after the other (text, read-only, read-write).

use crate::{LoadError, ModuleElf};
use alloc::{string::String, vec::Vec};
use object::{Object, ObjectSection, SectionFlags, SectionKind};

/// Bytes in a page: every area starts on one and is a whole number of them.
pub const PAGE_SIZE: u64 = 4096;

/// The sections the loader finds by name: a second one would be ignored by whoever reads
/// the first, so an object with two is refused.
pub const SINGLE_SECTIONS: [&str; 5] =
    [".altinstructions", ".altinstr_replacement", ".altinstr_where", ".altpatch.module", ".symtab"];

/// The area a section with flags `sh_flags` goes to.
fn area_of(sh_flags: u64) -> Area {
    if sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0 {
        Area::Text
    } else if sh_flags & u64::from(object::elf::SHF_WRITE) != 0 {
        Area::ReadWrite
    } else {
        Area::ReadOnly
    }
}

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

impl Area {
    /// The area's name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Area::Text => "the text area",
            Area::ReadOnly => "the read-only area",
            Area::ReadWrite => "the read-write area",
        }
    }
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
    /// in the text area, writable ones in the read-write area, the rest read-only. Refused:
    /// a size or alignment that does not fit (every sum checked: a wrapped size would place
    /// a section over other memory), an image over `capacity` bytes (the module area), and
    /// a section the loader reads by name ([`SINGLE_SECTIONS`]) present twice.
    pub fn plan(elf: &ModuleElf<'_>, capacity: u64) -> Result<Self, LoadError> {
        let mut cursor = [0u64; 3];
        let mut sections: [Vec<Placement>; 3] = Default::default();
        let mut seen = [false; SINGLE_SECTIONS.len()];
        for section in elf.sections() {
            let SectionFlags::Elf { sh_flags } = section.flags() else { continue };
            let name = section.name().map_err(LoadError::object)?;
            let single = SINGLE_SECTIONS.iter().position(|&s| s == name);
            if single.is_some_and(|single| core::mem::replace(&mut seen[single], true)) {
                return Err(LoadError::DuplicateSection(String::from(name)));
            }
            if sh_flags & u64::from(object::elf::SHF_ALLOC) == 0 || section.size() == 0 {
                continue;
            }
            let area = area_of(sh_flags);
            let align = section.align().max(1);
            if !align.is_power_of_two() || align > PAGE_SIZE {
                return Err(LoadError::Malformed("a section alignment beyond a page"));
            }
            let too_large = || LoadError::TooLarge { section: String::from(name), capacity };
            let at = cursor[area as usize].checked_next_multiple_of(align).ok_or_else(too_large)?;
            let end = at.checked_add(section.size()).filter(|&end| end <= capacity).ok_or_else(too_large)?;
            cursor[area as usize] = end;
            let nobits = section.kind() == SectionKind::UninitializedData
                || section.kind() == SectionKind::UninitializedTls;
            let (index, size) = (section.index().0, section.size());
            sections[area as usize].push(Placement {
                index,
                name: String::from(name),
                area,
                offset: at,
                size,
                nobits,
            });
        }
        Self::stack(cursor, sections, capacity)
    }

    /// The three areas one after the other, each page rounded; refused past `capacity`.
    fn stack(cursor: [u64; 3], mut sections: [Vec<Placement>; 3], capacity: u64) -> Result<Self, LoadError> {
        let mut layout = ModuleLayout::default();
        let mut base = 0u64;
        for area in [Area::Text, Area::ReadOnly, Area::ReadWrite] {
            let too_large = || LoadError::TooLarge { section: String::from(area.name()), capacity };
            let size = cursor[area as usize].checked_next_multiple_of(PAGE_SIZE).ok_or_else(too_large)?;
            layout.area_sizes[area as usize] = size;
            let end = base.checked_add(size).filter(|&end| end <= capacity).ok_or_else(too_large)?;
            for placement in core::mem::take(&mut sections[area as usize]) {
                let offset = base.checked_add(placement.offset).ok_or_else(too_large)?;
                layout.placements.push(Placement { offset, ..placement });
            }
            base = end;
        }
        layout.placements.sort_by_key(|p| p.index);
        Ok(layout)
    }

    /// Bytes of the whole image (all three areas).
    pub fn size(&self) -> u64 {
        // (A planned layout's sum fits its capacity; the fields are public, so saturate.)
        self.area_sizes.iter().fold(0, |sum, &size| sum.saturating_add(size))
    }

    /// The offset range of `area` in the image.
    pub fn area(&self, area: Area) -> core::ops::Range<u64> {
        let start = self.area_sizes[..area as usize].iter().fold(0u64, |sum, &size| sum.saturating_add(size));
        start..start.saturating_add(self.area_sizes[area as usize])
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
            let beyond = || LoadError::Malformed("a section beyond the image");
            let at = usize::try_from(p.offset).map_err(|_| beyond())?;
            let end = at.checked_add(data.len()).ok_or_else(beyond)?;
            image.get_mut(at..end).ok_or_else(beyond)?.copy_from_slice(data);
        }
        Ok(())
    }
}
