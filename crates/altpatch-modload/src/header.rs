//! The module header: how the kernel finds a module's name and init function, in section
//! [`HEADER_SECTION`]: [`HEADER_MAGIC`], the name (NUL padded to [`NAME_LEN`]), then the
//! init function's address (a relocated 64-bit word). Read here for the kernel's loader and
//! `altcheck` alike, from the relocated image, its size checked before any field is read.

use crate::{Area, LoadError, ModuleElf, ModuleLayout};
use alloc::{format, string::String};
use object::{Object, ObjectSection};

/// Bytes of a module name, NUL padded.
pub const NAME_LEN: usize = 24;
/// The header's first bytes.
pub const HEADER_MAGIC: [u8; 8] = *b"ALTPMOD1";
/// The section that holds the header (exactly one per module).
pub const HEADER_SECTION: &str = ".altpatch.module";
/// Where the name starts in the header, and where the init word starts.
const NAME_AT: usize = HEADER_MAGIC.len();
const INIT_AT: usize = NAME_AT + NAME_LEN;
/// Bytes of the header: magic, name, init.
pub const HEADER_SIZE: usize = INIT_AT + 8;

/// A module's header, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The module's name.
    pub name: String,
    /// Its init function's address, inside the module's text area.
    pub init: u64,
}

/// The module's name from its header in the object (the name needs no relocation), for
/// naming a module before it is loaded; `None` when there is no readable name.
pub fn name(elf: &ModuleElf<'_>) -> Option<String> {
    let data = elf.section_by_name(HEADER_SECTION)?.data().ok()?;
    name_of(data.get(..HEADER_SIZE)?)
}

/// The NUL-padded UTF-8 name of header bytes `header` (at least [`HEADER_SIZE`] long).
fn name_of(header: &[u8]) -> Option<String> {
    let name = header.get(NAME_AT..INIT_AT)?;
    let len = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    core::str::from_utf8(&name[..len]).ok().filter(|n| !n.is_empty()).map(String::from)
}

/// The header of the relocated `image` (laid out by `layout`, to run at `base`): its section
/// present and whole, its magic, a name, and an init function inside the module's text.
pub fn read(layout: &ModuleLayout, base: u64, image: &[u8]) -> Result<Header, LoadError> {
    let place = layout.by_name(HEADER_SECTION).ok_or(LoadError::MissingSection(HEADER_SECTION))?;
    if place.size < HEADER_SIZE as u64 {
        return Err(LoadError::BadHeader(format!("is {} bytes, not {HEADER_SIZE}", place.size)));
    }
    let bytes = usize::try_from(place.offset)
        .ok()
        .and_then(|at| image.get(at..at.checked_add(HEADER_SIZE)?))
        .ok_or_else(|| LoadError::BadHeader(String::from("lies outside the image")))?;
    if bytes[..HEADER_MAGIC.len()] != HEADER_MAGIC {
        return Err(LoadError::BadHeader(String::from("has not the magic ALTPMOD1")));
    }
    let name = name_of(bytes).ok_or_else(|| LoadError::BadHeader(String::from("has no UTF-8 name")))?;
    let init = u64::from_le_bytes(bytes[INIT_AT..HEADER_SIZE].try_into().unwrap_or_default());
    let text = layout.area(Area::Text);
    let in_text = init.checked_sub(base).is_some_and(|offset| text.contains(&offset) && offset % 4 == 0);
    if !in_text {
        return Err(LoadError::BadHeader(format!(
            "points init at {init:#x}, not an instruction of its text"
        )));
    }
    Ok(Header { name, init })
}
