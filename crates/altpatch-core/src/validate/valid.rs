//! The verdict on a table that passed: [`ValidTable`], and its owned form [`CheckedTable`].
//!
//! Neither holds a decoded entry. A valid table's entries are its bytes, which the verdict
//! borrows (or, owned, copies) and decodes again wherever they are read: decoding an entry
//! costs less than storing it, so validating a valid table allocates nothing per entry.

use alloc::vec::Vec;
use core::ops::Range;

use super::{Layout, Region};
use crate::table::{AltEntry, Table};

/// A table in which every entry passed every check; the only input of [`crate::plan`].
/// Made only by [`super::validate`], [`super::validate_module`] and [`CheckedTable::attach`].
#[derive(Clone, Debug)]
pub struct ValidTable<'a> {
    layout: Layout<'a>,
    ncaps: u16,
}

impl<'a> ValidTable<'a> {
    /// The verdict on `layout`'s table, checked against a list of `ncaps` capabilities.
    pub(super) fn new(layout: Layout<'a>, ncaps: u16) -> Self {
        ValidTable { layout, ncaps }
    }

    /// The layout the table was checked in.
    pub fn layout(&self) -> &Layout<'a> {
        &self.layout
    }

    /// The number of capabilities of the list the table was checked against: every entry's
    /// capability index is below it.
    pub fn ncaps(&self) -> u16 {
        self.ncaps
    }

    fn table(&self) -> Table<'a> {
        self.layout.entries()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, decoded, in table order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = AltEntry> + use<'a> {
        self.table().entries()
    }

    /// The `index`th entry, decoded.
    pub fn entry(&self, index: usize) -> Option<AltEntry> {
        self.table().entry(index)
    }

    /// The verdict without the borrow: a copy of the table's bytes and where the regions lay,
    /// so that one check serves every later pass over the same table.
    pub fn detach(&self) -> CheckedTable {
        CheckedTable {
            table: self.layout.table.bytes.to_vec(),
            table_addr: self.layout.table.addr,
            text: span(&self.layout.text),
            replacements: span(&self.layout.replacements),
            ncaps: self.ncaps,
        }
    }
}

fn span(region: &Region<'_>) -> Range<u64> {
    region.addr..region.end()
}

/// A [`ValidTable`] without its borrow ([`ValidTable::detach`]): the checked table's bytes
/// (copied: 16 per entry) and the spans of the text and replacements it was checked in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedTable {
    table: Vec<u8>,
    table_addr: u64,
    text: Range<u64>,
    replacements: Range<u64>,
    ncaps: u16,
}

impl CheckedTable {
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`th entry, decoded.
    pub fn entry(&self, index: usize) -> Option<AltEntry> {
        self.table().entry(index)
    }

    fn table(&self) -> Table<'_> {
        Table { addr: self.table_addr, bytes: &self.table }
    }

    /// The valid table again, in `layout`: `None` unless `layout` holds the very table that
    /// was checked (the same bytes at the same address; one memory compare) and the same
    /// text and replacement spans. The replacements' bytes are trusted to be those checked,
    /// as the text's extent is: both are the kernel's own, read-only sections.
    pub fn attach<'a>(&self, layout: &Layout<'a>) -> Option<ValidTable<'a>> {
        let same = layout.table.addr == self.table_addr
            && layout.table.bytes == self.table.as_slice()
            && span(&layout.text) == self.text
            && span(&layout.replacements) == self.replacements;
        same.then(|| ValidTable::new(*layout, self.ncaps))
    }
}
