//! Why a module is refused, each reason naming what is wrong.

use alloc::string::String;
use core::fmt;

/// One reason a module cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Not a well-formed ELF object: what `object` said.
    Malformed(&'static str),
    /// What the ELF reader said of a malformed object.
    Object(String),
    /// An ELF file, but not a relocatable object.
    NotRelocatable {
        /// Its `e_type`.
        e_type: u16,
    },
    /// A relocation type this loader does not apply.
    UnknownRelocation {
        /// The type's name (or number).
        name: String,
        /// Where: section name and offset.
        section: String,
        /// Offset in the section.
        offset: u64,
    },
    /// An undefined symbol that the kernel's export table does not hold.
    UndefinedSymbol {
        /// The symbol's name.
        name: String,
    },
    /// A relocated value does not fit its field.
    OutOfRange {
        /// The relocation type's name.
        name: &'static str,
        /// Where: section name and offset.
        section: String,
        /// Offset in the section.
        offset: u64,
        /// The symbol it refers to.
        symbol: String,
        /// The value that does not fit (a byte offset for a branch).
        value: i64,
        /// What fits.
        limit: &'static str,
    },
    /// A relocation's target is not aligned as its instruction needs.
    Misaligned {
        /// The relocation type's name.
        name: &'static str,
        /// Where: section name and offset.
        section: String,
        /// Offset in the section.
        offset: u64,
        /// The value.
        value: u64,
    },
    /// A relocation whose place lies outside its section.
    BadPlace {
        /// Section name.
        section: String,
        /// Offset in the section.
        offset: u64,
    },
    /// A section the module must have is missing.
    MissingSection(&'static str),
    /// A section the loader reads by name is present more than once.
    DuplicateSection(String),
    /// The sections do not fit: a size that wraps, or an image larger than the module area.
    TooLarge {
        /// The section (or area) that does not fit.
        section: String,
        /// The bytes the module area holds.
        capacity: u64,
    },
    /// A relocation section that cannot be read as one: it is refused, never skipped.
    BadRelocationSection {
        /// Its name.
        section: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The object's headers claim bytes past its end.
    Truncated {
        /// Bytes its section headers and sections span.
        claimed: usize,
        /// Bytes it has.
        len: usize,
    },
    /// The module header (`.altpatch.module`) is wrong.
    BadHeader(String),
}

impl LoadError {
    /// The ELF reader's error.
    pub fn object(error: object::Error) -> Self {
        LoadError::Object(alloc::format!("{error}"))
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Malformed(what) => write!(f, "malformed ELF object: {what}"),
            LoadError::Object(what) => write!(f, "malformed ELF object: {what}"),
            LoadError::NotRelocatable { e_type } => {
                write!(f, "not a relocatable object (e_type {e_type}; modules are ET_REL, 1)")
            }
            LoadError::UnknownRelocation { name, section, offset } => {
                write!(f, "unknown relocation {name} at {section}+{offset:#x}")
            }
            LoadError::UndefinedSymbol { name } => {
                write!(f, "undefined symbol {name} (not in the kernel's export table)")
            }
            LoadError::OutOfRange { name, section, offset, symbol, value, limit } => {
                let sign = if *value < 0 { "-" } else { "+" };
                write!(
                    f,
                    "{name} at {section}+{offset:#x} to {symbol}: {sign}{:#x} out of range ({limit})",
                    value.unsigned_abs()
                )
            }
            LoadError::Misaligned { name, section, offset, value } => {
                write!(f, "{name} at {section}+{offset:#x}: target {value:#x} misaligned for the instruction")
            }
            LoadError::BadPlace { section, offset } => {
                write!(f, "relocation at {section}+{offset:#x} is outside its section")
            }
            LoadError::MissingSection(name) => write!(f, "no {name} section"),
            LoadError::DuplicateSection(name) => {
                write!(f, "two {name} sections (one is read, the other would be ignored)")
            }
            LoadError::TooLarge { section, capacity } => {
                write!(
                    f,
                    "{section} does not fit: the module's image would exceed the module area ({capacity:#x} bytes) or wrap"
                )
            }
            LoadError::BadRelocationSection { section, why } => {
                write!(f, "relocation section {section}: {why}")
            }
            LoadError::Truncated { claimed, len } => {
                write!(f, "its headers claim {claimed} bytes, the object has {len}")
            }
            LoadError::BadHeader(why) => write!(f, "its .altpatch.module header {why}"),
        }
    }
}
