//! Reading `.altinstr_where`, which [`alternative_entry!`](crate::alternative_entry) writes
//! beside every entry: one record of two self-relative `i32` words per site, the site
//! (the record's address plus the first word) and its `"file:line"` string (the second
//! word's address plus the second word), NUL-terminated in read-only data. Reports name a
//! site by it, for the kernel's own table and a module's alike.

use crate::{Region, Symbol};

/// A region's source records and the read-only data their strings lie in.
#[derive(Clone, Copy, Debug)]
pub struct SourceRecords<'a> {
    /// `__altinstr_where..__altinstr_where_end` (or a module's `.altinstr_where`).
    pub records: Region<'a>,
    /// Where the strings lie (the image's read-only data, a module's
    /// `.rodata.altinstr_where`): a string outside it names nothing.
    pub strings: Region<'a>,
}

impl<'a> SourceRecords<'a> {
    /// The `"file:line"` the macros recorded for `site`, if any.
    pub fn location(&self, site: u64) -> Option<&'a str> {
        let word = |at: usize| -> Option<i64> {
            let b = self.records.bytes.get(at..at.checked_add(4)?)?;
            Some(i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        };
        (0..self.records.bytes.len() / 8).map(|i| i * 8).find_map(|at| {
            let here = self.records.addr.wrapping_add(at as u64);
            if here.wrapping_add_signed(word(at)?) != site {
                return None;
            }
            self.string(here.wrapping_add(4).wrapping_add_signed(word(at + 4)?))
        })
    }

    /// A site named by its recorded location, for the validator's reports.
    pub fn symbolize(&self, site: u64) -> Option<Symbol> {
        self.location(site).map(|name| Symbol { name: name.into(), offset: 0 })
    }

    /// The NUL-terminated UTF-8 string at `addr`, inside `strings`.
    fn string(&self, addr: u64) -> Option<&'a str> {
        let start = usize::try_from(addr.checked_sub(self.strings.addr)?).ok()?;
        let bytes = self.strings.bytes.get(start..)?;
        let len = bytes.iter().position(|&b| b == 0)?;
        core::str::from_utf8(&bytes[..len]).ok()
    }
}

/// For [`global_asm_file!`](crate::global_asm_file): with `n` = 0, how many lines of `text`
/// start with `alternative_if_not` (after blanks); otherwise the 1-based line number of the
/// `n`-th such line, or 0 if there is none.
#[doc(hidden)]
pub const fn asm_entry_lines(text: &str, n: usize) -> usize {
    const WORD: &[u8] = b"alternative_if_not";
    let bytes = text.as_bytes();
    let (mut at, mut line, mut found) = (0, 1, 0);
    while at < bytes.len() {
        // At the start of line `line`: past the blanks, then the word and a blank.
        let mut i = at;
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        let mut j = 0;
        while j < WORD.len() && i + j < bytes.len() && bytes[i + j] == WORD[j] {
            j += 1;
        }
        if j == WORD.len() && i + j < bytes.len() && (bytes[i + j] == b' ' || bytes[i + j] == b'\t') {
            found += 1;
            if found == n {
                return line;
            }
        }
        while at < bytes.len() && bytes[at] != b'\n' {
            at += 1;
        }
        at += 1;
        line += 1;
    }
    if n == 0 { found } else { 0 }
}
