//! The whole-table check that runs before a single byte changes.
//!
//! [`validate`] reads every entry and collects every defect of every entry (not just the
//! first), so one boot or one `altcheck verify` names all the bad entries at once. Only a
//! table without a single defect becomes a [`ValidTable`], the one input [`crate::plan`]
//! accepts: an invalid table patches zero bytes.
//!
//! A [`Defect`] displays as the one report line of docs/boot-log.md (`alternatives: bad entry
//! ...`, without the timestamp), so the kernel and `altcheck` print the same text.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::fingerprint::CapList;
use crate::insn::{self, RelocError};
use crate::table::{AltEntry, ENTRY_SIZE, Table};

mod pass;
mod valid;
pub use valid::{CheckedTable, ValidTable};

/// A range of the image: its address and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Region<'a> {
    /// Address of the first byte.
    pub addr: u64,
    /// The bytes.
    pub bytes: &'a [u8],
}

impl<'a> Region<'a> {
    /// One past the last address (saturating: a region cannot reach past the address space).
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.bytes.len() as u64)
    }

    /// Whether `[addr, addr + len)` lies wholly inside the region.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        // By offset into the region, so that nothing overflows whatever the addresses.
        let size = self.bytes.len() as u64;
        addr.checked_sub(self.addr).is_some_and(|offset| offset <= size && len <= size - offset)
    }

    /// The `len` bytes at `addr` (whole words, at most four), zero-extended to one
    /// little-endian integer, when they are inside the region and none of their words
    /// [`insn::may_be_pc_relative`]: a replacement that moves to any site unchanged, as
    /// nearly every one does, told by one 16-byte load and a branch-free screen.
    pub(crate) fn unmoved(&self, addr: u64, len: u8) -> Option<u128> {
        if len > 16 || !len.is_multiple_of(4) {
            return None;
        }
        let window: [u8; 16] = self.read(addr, 16)?.try_into().ok()?;
        let window = u128::from_le_bytes(window);
        let count = usize::from(len / 4);
        let keep = u128::MAX.checked_shr(128 - 32 * count as u32).unwrap_or(0);
        (!insn::any_may_be_pc_relative(window, count)).then_some(window & keep)
    }

    /// The bytes of `[addr, addr + len)`, if inside the region.
    pub fn read(&self, addr: u64, len: usize) -> Option<&'a [u8]> {
        if !self.contains(addr, len as u64) {
            return None;
        }
        let start = (addr - self.addr) as usize;
        self.bytes.get(start..start + len)
    }
}

/// Where the table, the kernel text and the replacement sequences are.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    /// `__alt_instructions..__alt_instructions_end`.
    pub table: Region<'a>,
    /// The kernel text: every site and every callback lies in it.
    pub text: Region<'a>,
    /// `.altinstr_replacement`: every replacement sequence lies in it.
    pub replacements: Region<'a>,
    /// `.altinstr_callbacks`: the callbacks the kernel declares, one self-relative `i32`
    /// word each (the address of the word plus its value), written by `alternative_cb!`
    /// beside each use. A callback entry may name only one of them.
    pub callbacks: Region<'a>,
}

impl<'a> Layout<'a> {
    /// The table region read as entries.
    fn entries(&self) -> Table<'a> {
        Table { addr: self.table.addr, bytes: self.table.bytes }
    }

    /// The declared callbacks' addresses, in declaration order (duplicates included: the
    /// macro declares a callback at each use).
    pub fn declared_callbacks(&self) -> impl Iterator<Item = u64> + '_ {
        self.callbacks.bytes.chunks_exact(4).enumerate().map(|(i, word)| {
            let offset = i32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            self.callbacks.addr.wrapping_add(4 * i as u64).wrapping_add_signed(offset.into())
        })
    }
}

/// A symbol and the offset of an address from it, for reports (`name+0x14`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// The symbol's name.
    pub name: String,
    /// The address minus the symbol's address.
    pub offset: u64,
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:#x}", self.name, self.offset)
    }
}

/// What a stale entry's capability number means in the older list it was built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleMeaning {
    /// The older list's label.
    pub list: &'static str,
    /// The identifier of the entry's cap in that list (`None`: out of range there too).
    pub there: Option<&'static str>,
    /// The number of capabilities in that list.
    pub ncaps_there: u16,
    /// The identifier of the same number in the kernel's list (`None`: out of range here).
    pub here: Option<&'static str>,
    /// Where the capability the code meant sits in the kernel's list, if it still exists.
    pub now_at: Option<u16>,
}

/// One thing wrong with an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefectKind {
    /// The table ends `trailing` bytes into this entry.
    Truncated {
        /// Bytes of the partial entry.
        trailing: usize,
    },
    /// The table does not start on a 4-byte boundary.
    TableMisaligned,
    /// The capability index is not below NCAPS.
    CapOutOfRange,
    /// A replacement entry whose `orig_len` differs from its `alt_len`.
    LengthMismatch,
    /// A callback entry whose `alt_len` is not 0.
    CallbackWithAltLen,
    /// `orig_len` is 0.
    ZeroLength,
    /// `orig_len` is not a multiple of 4 (whole instructions).
    LengthNotWords,
    /// The site range is not inside the kernel text.
    SiteOutsideText,
    /// The site is not 4-byte aligned.
    SiteMisaligned,
    /// The replacement range is not inside `.altinstr_replacement`.
    ReplacementOutsideSection,
    /// The replacement is not 4-byte aligned.
    ReplacementMisaligned,
    /// The callback is not inside the kernel text.
    CallbackOutsideText,
    /// The callback is not 4-byte aligned.
    CallbackMisaligned,
    /// The callback is not one the kernel declares (`.altinstr_callbacks`): a corrupted or
    /// forged target, which would run arbitrary kernel code inside the stop window.
    CallbackNotDeclared,
    /// A module's callback entry names a callback the kernel does not export for modules
    /// (for a module, the export list stands in for `.altinstr_callbacks`).
    CallbackNotExported,
    /// The site overlaps the site of another entry.
    Overlaps {
        /// The other entry's index.
        other: usize,
        /// The other entry's site.
        other_site: u64,
    },
    /// The fingerprint is not the kernel's: the entry's code was built against another
    /// capability list.
    StaleFingerprint {
        /// What the cap number means in the older list, if that list is known.
        known: Option<StaleMeaning>,
    },
    /// A replacement instruction cannot be moved to the site.
    Unmovable(RelocError),
    /// A replacement branches into `.altinstr_replacement` outside its own sequence: code
    /// there is never executable, so the patched site would fault.
    BranchIntoReplacements {
        /// Byte offset of the branch in the replacement.
        offset: u8,
        /// Where it branches.
        target: u64,
    },
    /// A callback wrote, at byte `offset` of its site, an instruction that branches out of
    /// the kernel text or that cannot execute where it stands (a PC-relative form the
    /// relocator refuses): nothing of the pass is written.
    BadCallbackOutput {
        /// Byte offset in the site.
        offset: u8,
        /// The word the callback wrote.
        word: u32,
    },
    /// A replacement branches, once moved to the site, outside the kernel text (into data,
    /// or unmapped memory): the patched site would fault, or run data.
    BranchOutsideText {
        /// Byte offset of the branch in the replacement.
        offset: u8,
        /// Where it branches.
        target: u64,
    },
}

/// Everything wrong with one entry, and the facts its report line names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defect {
    /// The entry's index in the table.
    pub index: usize,
    /// The entry's own address.
    pub addr: u64,
    /// The decoded entry (`None` for a truncated trailing entry).
    pub entry: Option<AltEntry>,
    /// The symbol of the site, where known.
    pub symbol: Option<Symbol>,
    /// The kernel's NCAPS.
    pub ncaps: u16,
    /// The kernel's fingerprint.
    pub kernel_fingerprint: u32,
    /// Every reason, in check order.
    pub kinds: Vec<DefectKind>,
}

impl Defect {
    fn reason(&self, kind: &DefectKind, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.entry.as_ref();
        let cap = e.map_or(0, AltEntry::cap_index);
        let site = e.map_or(0, |e| e.site);
        match *kind {
            DefectKind::Truncated { trailing } => {
                write!(f, "table ends {trailing} bytes into this entry (entries are {ENTRY_SIZE} bytes)")
            }
            DefectKind::TableMisaligned => write!(f, "table is not 4-byte aligned"),
            DefectKind::CapOutOfRange => {
                write!(f, "capability {cap} is out of range (NCAPS {})", self.ncaps)
            }
            DefectKind::LengthMismatch => write!(f, "orig_len differs from alt_len"),
            DefectKind::CallbackWithAltLen => write!(f, "callback entry with nonzero alt_len"),
            DefectKind::ZeroLength => write!(f, "orig_len is 0"),
            DefectKind::LengthNotWords => write!(f, "length is not a multiple of 4"),
            DefectKind::SiteOutsideText => write!(f, "site is outside the kernel text"),
            DefectKind::SiteMisaligned => write!(f, "site is not 4-byte aligned"),
            DefectKind::ReplacementOutsideSection => {
                write!(f, "replacement is outside .altinstr_replacement")
            }
            DefectKind::ReplacementMisaligned => write!(f, "replacement is not 4-byte aligned"),
            DefectKind::CallbackOutsideText => write!(f, "callback is outside the kernel text"),
            DefectKind::CallbackMisaligned => write!(f, "callback is not 4-byte aligned"),
            DefectKind::CallbackNotDeclared => {
                write!(
                    f,
                    "callback {:#x} is not a declared callback (.altinstr_callbacks)",
                    e.map_or(0, |e| e.alt)
                )
            }
            DefectKind::CallbackNotExported => {
                write!(f, "callback {:#x} is not one the kernel exports for modules", e.map_or(0, |e| e.alt))
            }
            DefectKind::Overlaps { other, other_site } => {
                write!(f, "site overlaps the site of entry {other} at {other_site:#x}")
            }
            DefectKind::StaleFingerprint { known } => {
                write!(f, "stale object: the entry's code was built against another capability list")?;
                if let Some(m) = known {
                    write!(f, " ({}): cap {cap} means ", m.list)?;
                    match m.there {
                        Some(id) => write!(f, "{id} in list {}", m.list)?,
                        None => write!(f, "nothing in list {} (NCAPS {})", m.list, m.ncaps_there)?,
                    }
                    match m.here {
                        Some(id) => write!(f, ", {id} here")?,
                        None => write!(f, ", out of range here (NCAPS {})", self.ncaps)?,
                    }
                    if let (Some(id), Some(at)) = (m.there, m.now_at)
                        && m.here != Some(id)
                    {
                        write!(f, " ({id} is cap {at} here)")?;
                    }
                } else {
                    write!(f, " (not a known list)")?;
                }
                write!(f, "; fix: a clean rebuild of the object holding ")?;
                match &self.symbol {
                    Some(s) => write!(f, "{s}"),
                    None => write!(f, "{site:#x}"),
                }
            }
            DefectKind::Unmovable(err) => write!(f, "cannot move replacement: {err}"),
            DefectKind::BranchIntoReplacements { offset, target } => write!(
                f,
                "replacement branches at +{offset:#x} to {target:#x}, inside .altinstr_replacement \
                 but outside its own sequence (never executable)"
            ),
            DefectKind::BadCallbackOutput { offset, word } => write!(
                f,
                "callback wrote {word:#010x} at +{offset:#x}: a branch out of the kernel text, or an \
                 instruction that cannot run there; nothing was written"
            ),
            DefectKind::BranchOutsideText { offset, target } => {
                write!(f, "replacement branches at +{offset:#x} to {target:#x}, outside the kernel text")
            }
        }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "alternatives: bad entry {}", self.index)?;
        match &self.entry {
            Some(e) => {
                write!(f, ": site {:#x}", e.site)?;
                if let Some(s) = &self.symbol {
                    write!(f, " <{s}>")?;
                }
                write!(
                    f,
                    ", cap {}{} (NCAPS {}), orig_len {}, alt_len {}, fingerprint {:#010x} (kernel {:#010x})",
                    e.cap_index(),
                    if e.is_callback() { " callback" } else { "" },
                    self.ncaps,
                    e.orig_len,
                    e.alt_len,
                    e.fingerprint,
                    self.kernel_fingerprint
                )?;
            }
            None => write!(f, ": at {:#x}", self.addr)?,
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            self.reason(kind, f)?;
        }
        Ok(())
    }
}

/// Checks every entry of `layout.table` against the kernel's capability list `current`;
/// `history` holds older lists, so that a stale entry's numbers can be explained;
/// `symbolize` names an address, where it can. Returns every defect of every entry, or the
/// valid table.
///
/// One pass decodes and checks each entry on its own and sweeps the sites for overlaps as it
/// goes, which needs them in address order: table order when the linker emitted the entries
/// in object order (the usual case), and a sort of the sites otherwise. A valid table costs
/// no allocation per entry (the verdict borrows the table); only a table with a defect is
/// read again, to name every defect of every entry.
pub fn validate<'a>(
    layout: &Layout<'a>,
    current: &CapList,
    history: &[CapList],
    symbolize: &dyn Fn(u64) -> Option<Symbol>,
) -> Result<ValidTable<'a>, Vec<Defect>> {
    let mut declared: Vec<u64> = layout.declared_callbacks().collect();
    declared.sort_unstable();
    declared.dedup();
    validate_region(layout, current, history, symbolize, Callbacks::Declared(&declared))
}

/// [`validate`] for a module's table: a callback entry's callback must be one of
/// `exported_callbacks` (the callbacks the kernel exports for modules, in kernel text), never
/// code of the module's own, as Linux checks since 2025. The export list replaces both the
/// `.altinstr_callbacks` declaration check and the "callback inside the region's text" check
/// (an exported callback lies in the kernel's text, not the module's): `layout.callbacks` is
/// not read.
pub fn validate_module<'a>(
    layout: &Layout<'a>,
    current: &CapList,
    history: &[CapList],
    symbolize: &dyn Fn(u64) -> Option<Symbol>,
    exported_callbacks: &[u64],
) -> Result<ValidTable<'a>, Vec<Defect>> {
    let mut exported = exported_callbacks.to_vec();
    exported.sort_unstable();
    exported.dedup();
    validate_region(layout, current, history, symbolize, Callbacks::Exported(&exported))
}

/// Which callbacks a callback entry may name; each list sorted and deduplicated, so each
/// callback entry's check is a binary search.
#[derive(Clone, Copy)]
enum Callbacks<'c> {
    /// The kernel's own table: a callback declared in `.altinstr_callbacks`, inside the text.
    Declared(&'c [u64]),
    /// A module's table: a callback the kernel exports for modules (in the kernel's text).
    Exported(&'c [u64]),
}

fn validate_region<'a>(
    layout: &Layout<'a>,
    current: &CapList,
    history: &[CapList],
    symbolize: &dyn Fn(u64) -> Option<Symbol>,
    callbacks: Callbacks<'_>,
) -> Result<ValidTable<'a>, Vec<Defect>> {
    if pass::passes(layout, current, callbacks) {
        return Ok(ValidTable::new(*layout, current.ncaps()));
    }
    report(layout, current, history, symbolize, callbacks)
}

/// Every defect of every entry of a table that does not pass: the entries' own, then the
/// overlaps, merged by entry; `Ok` only if there are none after all.
fn report<'a>(
    layout: &Layout<'a>,
    current: &CapList,
    history: &[CapList],
    symbolize: &dyn Fn(u64) -> Option<Symbol>,
    callbacks: Callbacks<'_>,
) -> Result<ValidTable<'a>, Vec<Defect>> {
    let table = layout.entries();
    let ncaps = current.ncaps();
    let mut entries: Vec<AltEntry> = Vec::with_capacity(table.len());
    // The entries with a defect of their own, ascending by index, and their kinds.
    let mut bad: Vec<(usize, Vec<DefectKind>)> = Vec::new();
    let mut kinds = Vec::new();
    let mut ascending = true;
    let mut last_site = 0;
    for e in table.entries() {
        check(&e, layout, current, history, callbacks, &mut kinds);
        if !kinds.is_empty() {
            bad.push((e.index, core::mem::take(&mut kinds)));
        }
        ascending &= e.site >= last_site;
        last_site = e.site;
        entries.push(e);
    }

    let mut overlaps = if ascending {
        overlapping_sites(entries.iter())
    } else {
        let mut order: Vec<&AltEntry> = entries.iter().collect();
        order.sort_unstable_by_key(|e| (e.site, e.index));
        overlapping_sites(order.into_iter())
    };
    // Each entry's overlaps follow its own defects, in sweep order (the sort is stable).
    overlaps.sort_by_key(|&(index, _)| index);
    let mut overlaps = overlaps.into_iter().peekable();
    let mut merged: Vec<(usize, Vec<DefectKind>)> = Vec::with_capacity(bad.len());
    let mut bad = bad.into_iter().peekable();
    loop {
        let next_bad = bad.peek().map(|&(i, _)| i);
        let next_overlap = overlaps.peek().map(|&(i, _)| i);
        let index = match (next_bad, next_overlap) {
            (None, None) => break,
            (Some(b), Some(o)) => b.min(o),
            (Some(i), None) | (None, Some(i)) => i,
        };
        let mut kinds =
            if next_bad == Some(index) { bad.next().map(|(_, k)| k).unwrap_or_default() } else { Vec::new() };
        while let Some((_, kind)) = overlaps.next_if(|&(i, _)| i == index) {
            kinds.push(kind);
        }
        merged.push((index, kinds));
    }

    let mut defects = Vec::new();
    if !layout.table.addr.is_multiple_of(4) {
        defects.push(Defect {
            index: 0,
            addr: layout.table.addr,
            entry: None,
            symbol: None,
            ncaps,
            kernel_fingerprint: current.fingerprint,
            kinds: alloc::vec![DefectKind::TableMisaligned],
        });
    }
    for (index, kinds) in merged {
        let e = entries[index];
        defects.push(Defect {
            index,
            addr: e.addr,
            entry: Some(e),
            symbol: symbolize(e.site),
            ncaps,
            kernel_fingerprint: current.fingerprint,
            kinds,
        });
    }
    if table.trailing_bytes() != 0 {
        let index = table.len();
        defects.push(Defect {
            index,
            addr: table.addr.wrapping_add((index * ENTRY_SIZE) as u64),
            entry: None,
            symbol: None,
            ncaps,
            kernel_fingerprint: current.fingerprint,
            kinds: alloc::vec![DefectKind::Truncated { trailing: table.trailing_bytes() }],
        });
    }
    if defects.is_empty() { Ok(ValidTable::new(*layout, ncaps)) } else { Err(defects) }
}

/// No two sites overlap: sweeps `by_site` (every entry, ascending by `(site, index)`),
/// remembering the site that reaches furthest, and returns an [`DefectKind::Overlaps`] for
/// each side of each overlap found, as `(index, kind)` in sweep order. Zero-length sites
/// (refused on their own) overlap nothing.
fn overlapping_sites<'e>(by_site: impl Iterator<Item = &'e AltEntry>) -> Vec<(usize, DefectKind)> {
    let mut out = Vec::new();
    let mut furthest: Option<(&AltEntry, u64)> = None;
    for e in by_site.filter(|e| e.orig_len != 0) {
        let end = e.site.saturating_add(u64::from(e.orig_len));
        if let Some((prev, prev_end)) = furthest {
            if e.site < prev_end {
                out.push((e.index, DefectKind::Overlaps { other: prev.index, other_site: prev.site }));
                out.push((prev.index, DefectKind::Overlaps { other: e.index, other_site: e.site }));
            }
            if end <= prev_end {
                continue;
            }
        }
        furthest = Some((e, end));
    }
    out
}

/// The checks of one entry on its own, appended to `out` in check order.
fn check(
    e: &AltEntry,
    layout: &Layout<'_>,
    current: &CapList,
    history: &[CapList],
    callbacks: Callbacks<'_>,
    out: &mut Vec<DefectKind>,
) {
    let cap = e.cap_index();
    // Callbacks run when their capability is enabled, so their index must be valid too.
    if cap >= current.ncaps() {
        out.push(DefectKind::CapOutOfRange);
    }
    let len = u64::from(e.orig_len);
    let lengths_ok = if e.is_callback() {
        if e.alt_len != 0 {
            out.push(DefectKind::CallbackWithAltLen);
        }
        true
    } else if e.orig_len != e.alt_len {
        out.push(DefectKind::LengthMismatch);
        false
    } else {
        true
    };
    let words_ok = if e.orig_len == 0 {
        out.push(DefectKind::ZeroLength);
        false
    } else if !e.orig_len.is_multiple_of(4) {
        out.push(DefectKind::LengthNotWords);
        false
    } else {
        true
    };
    if !layout.text.contains(e.site, len.max(1)) {
        out.push(DefectKind::SiteOutsideText);
    }
    if !e.site.is_multiple_of(4) {
        out.push(DefectKind::SiteMisaligned);
    }
    if e.is_callback() {
        if let Callbacks::Declared(_) = callbacks
            && !layout.text.contains(e.alt, 4)
        {
            out.push(DefectKind::CallbackOutsideText);
        }
        if !e.alt.is_multiple_of(4) {
            out.push(DefectKind::CallbackMisaligned);
        }
        match callbacks {
            Callbacks::Declared(declared) if declared.binary_search(&e.alt).is_err() => {
                out.push(DefectKind::CallbackNotDeclared);
            }
            Callbacks::Exported(exported) if exported.binary_search(&e.alt).is_err() => {
                out.push(DefectKind::CallbackNotExported);
            }
            _ => {}
        }
    } else {
        let inside = layout.replacements.contains(e.alt, u64::from(e.alt_len).max(1));
        if !inside {
            out.push(DefectKind::ReplacementOutsideSection);
        }
        let aligned = e.alt.is_multiple_of(4);
        if !aligned {
            out.push(DefectKind::ReplacementMisaligned);
        }
        if inside
            && aligned
            && lengths_ok
            && words_ok
            && let Some(seq) = layout.replacements.read(e.alt, usize::from(e.alt_len))
        {
            check_replacement(e, seq, layout, out);
        }
    }
    if e.fingerprint != current.fingerprint {
        let known = history.iter().find(|l| l.fingerprint == e.fingerprint).map(|l| {
            let there = l.ident(cap);
            StaleMeaning {
                list: l.label,
                there,
                ncaps_there: l.ncaps(),
                here: current.ident(cap),
                now_at: there.and_then(|id| current.index_of(id)),
            }
        });
        out.push(DefectKind::StaleFingerprint { known });
    }
}

/// What is wrong with the words a callback wrote for the site at `site` (in `text`): the
/// offset and word of each branch out of text (or back into the middle of the site is fine:
/// within text) and of each PC-relative instruction the relocator refuses. Empty: the output
/// may be written.
pub fn check_callback_output(site: u64, words: &[u32], text: &Region<'_>) -> Vec<DefectKind> {
    let mut out = Vec::new();
    for (i, &word) in words.iter().enumerate() {
        let pc = site + 4 * i as u64;
        let bad = match insn::decode(word) {
            insn::Decoded::PcRel { kind, offset } => {
                kind.is_branch() && !text.contains(pc.wrapping_add_signed(offset), 4)
            }
            insn::Decoded::Unmovable => true,
            insn::Decoded::PositionIndependent => false,
        };
        if bad {
            out.push(DefectKind::BadCallbackOutput { offset: (4 * i) as u8, word });
        }
    }
    out
}

/// The checks of `e`'s replacement `seq`, in one pass that decodes each word once:
///
/// - it must move to the site ([`insn::check_movable`]: the first word that cannot is
///   reported, as [`DefectKind::Unmovable`], before the branch defects);
/// - where each branch goes once moved: within the sequence (its end included: the
///   instruction after the site), or into kernel text. A branch that stays behind in the
///   replacement section would jump into code that is never executable; one that leaves text
///   would run data or fault. (Loads and ADR/ADRP may point anywhere readable: they are not
///   checked here.)
fn check_replacement(e: &AltEntry, seq: &[u8], layout: &Layout<'_>, out: &mut Vec<DefectKind>) {
    let first = out.len();
    let words = seq.chunks_exact(4);
    // As `check_movable`: a partial word fails the move before any word is relocated.
    let mut unmovable = (!words.remainder().is_empty()).then(|| insn::RelocError {
        offset: seq.len() - words.remainder().len(),
        word: 0,
        kind: insn::RelocErrorKind::Truncated,
    });
    for (i, word) in words.enumerate() {
        let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let decoded = insn::decode(word);
        if decoded == insn::Decoded::PositionIndependent {
            continue;
        }
        if unmovable.is_none()
            && let Err(err) = insn::relocate_decoded(word, decoded, e.alt, e.site, seq.len(), i * 4)
        {
            unmovable = Some(err);
        }
        out.extend(branch_defect(e, i, decoded, layout));
    }
    if let Some(err) = unmovable {
        out.insert(first, DefectKind::Unmovable(err));
    }
}

/// What is wrong with word `i` of `e`'s replacement (`decoded`) as a branch, if anything:
/// once moved, it must stay within its own sequence (its end included) or land in kernel
/// text outside `.altinstr_replacement`.
fn branch_defect(e: &AltEntry, i: usize, decoded: insn::Decoded, layout: &Layout<'_>) -> Option<DefectKind> {
    let insn::Decoded::PcRel { kind, offset } = decoded else { return None };
    let target = (e.alt + (i * 4) as u64).wrapping_add_signed(offset);
    let own = e.alt..e.alt + u64::from(e.alt_len) + 1;
    if !kind.is_branch() || own.contains(&target) {
        return None;
    }
    let offset = (i * 4) as u8;
    if layout.replacements.contains(target, 4) {
        Some(DefectKind::BranchIntoReplacements { offset, target })
    } else if !layout.text.contains(target, 4) {
        Some(DefectKind::BranchOutsideText { offset, target })
    } else {
        None
    }
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
