//! The kernel's own table as a `fault-injection` kernel may validate it: a copy with one
//! entry corrupted (`fault.corrupt=KIND`), or with the D-line callback's entry naming a
//! callback that writes a branch out of the kernel text (`fault.callback_output`).

use super::args::faults;
use crate::{cache::encode_dcache_line_size, memory};
use alloc::vec::Vec;
use altpatch_aarch64::{AltCallback, CallbackContext};
use altpatch_core::table::{CALLBACK_FLAG, ENTRY_SIZE, RawEntry};
use core::ops::Range;

/// The bytes to validate in place of the kernel's table (at `table`, over kernel text
/// `text`): a copy with the defect an armed fault plants, or `None` for the table as linked.
pub fn kernel_table(table: &Range<u64>, text: &Range<u64>) -> Option<&'static [u8]> {
    let faults = faults();
    if let Some(kind) = faults.corrupt {
        let bytes = corrupted(table, text, kind);
        crate::println!("altpatch: fault injection: one kernel table entry corrupted ({kind})");
        return bytes;
    }
    if faults.callback_output {
        let (from, to): (AltCallback, AltCallback) = (encode_dcache_line_size, branch_out_of_text);
        let mut copy = TableCopy::of(table);
        copy.retarget_callback(from as usize as u64, to as usize as u64)?;
        return Some(copy.leak());
    }
    None
}

/// `fault.callback_output`'s callback: the D-line callback's words, the first made `B +64
/// MiB`, far outside the kernel text: the engine must refuse it unwritten.
fn branch_out_of_text(site: &CallbackContext<'_>, dest: &mut [u32]) {
    /// B +64 MiB (imm26 = 16 << 20 words).
    const B_OUT_OF_TEXT: u32 = 0x1400_0000 | (16 << 20);
    encode_dcache_line_size(site, dest);
    dest[0] = B_OUT_OF_TEXT;
}

const _: AltCallback = branch_out_of_text;

// Declared in `.altinstr_callbacks` as `alternative_cb!` declares each callback: the
// validator accepts an entry naming it, and its output is what is refused.
core::arch::global_asm!(
    ".pushsection .altinstr_callbacks, \"a\"",
    ".balign 4",
    ".word {callback} - .",
    ".popsection",
    callback = sym branch_out_of_text,
);

/// A copy of `table` with one entry corrupted as `kind` names (see
/// [`CORRUPTIONS`](super::args::CORRUPTIONS)): the validator must name it and nothing may
/// be patched.
fn corrupted(table: &Range<u64>, text: &Range<u64>, kind: &str) -> Option<&'static [u8]> {
    let mut copy = TableCopy::of(table);
    let plain = copy.find(0, false)?;
    let rodata = memory::kernel_layout().rodata.start;
    match kind {
        "callback" => copy.retarget_callback_at(copy.find(0, true)?, rodata),
        // At `_start` (the first word of text: code, aligned, not a callback).
        "callback_undeclared" => copy.retarget_callback_at(copy.find(0, true)?, text.start),
        "overlap" => {
            // The next plain entry's site moves onto this one's.
            let other = copy.find(plain + 1, false)?;
            let site = copy.field(plain) as i64 + i64::from(copy.entry(plain).orig_offset);
            let mut o = copy.entry(other);
            o.orig_offset = (site - copy.field(other) as i64) as i32;
            copy.set(other, o);
        }
        _ => {
            let e = corrupt_entry(copy.entry(plain), copy.field(plain), text, rodata, kind)?;
            copy.set(plain, e);
        }
    }
    Some(copy.leak())
}

/// Entry `e` (at `field`) with the defect `kind` names, for the kinds of one plain entry.
fn corrupt_entry(
    mut e: RawEntry,
    field: u64,
    text: &Range<u64>,
    rodata: u64,
    kind: &str,
) -> Option<RawEntry> {
    match kind {
        "cap" => e.cap = arm64_caps::caps::NCAPS + 3,
        "length" => e.alt_len = e.orig_len + 4,
        "words" => (e.orig_len, e.alt_len) = (e.orig_len - 2, e.alt_len - 2),
        "site" => e.orig_offset = (rodata as i64 - field as i64) as i32,
        "align" => e.orig_offset += 2,
        "replacement" => e.alt_offset = (text.start as i64 - (field + 4) as i64) as i32,
        "fingerprint" => e.fingerprint ^= 1,
        _ => return None,
    }
    Some(e)
}

/// A copy of a table, read and written entry by entry.
struct TableCopy {
    /// The table's address.
    base: u64,
    bytes: Vec<u8>,
}

impl TableCopy {
    /// A copy of the table at `table` in the kernel image.
    fn of(table: &Range<u64>) -> Self {
        // SAFETY: the table is read-only data, never written.
        let bytes = unsafe { memory::image_bytes(table) }.to_vec();
        Self { base: table.start, bytes }
    }

    fn entry(&self, i: usize) -> RawEntry {
        RawEntry::from_bytes(
            self.bytes[i * ENTRY_SIZE..][..ENTRY_SIZE].try_into().unwrap_or(&[0; ENTRY_SIZE]),
        )
    }

    fn set(&mut self, i: usize, e: RawEntry) {
        self.bytes[i * ENTRY_SIZE..][..ENTRY_SIZE].copy_from_slice(&e.to_bytes());
    }

    /// The address of entry `i`.
    fn field(&self, i: usize) -> u64 {
        self.base + (i * ENTRY_SIZE) as u64
    }

    /// The first entry from `from` on that is a callback entry (`callback`) or a plain one.
    fn find(&self, from: usize, callback: bool) -> Option<usize> {
        (from..self.bytes.len() / ENTRY_SIZE).find(|&i| (self.entry(i).cap & CALLBACK_FLAG != 0) == callback)
    }

    /// Callback entry `i` made to name `target` (its `alt_offset` is relative to its own
    /// field, 4 bytes into the entry).
    fn retarget_callback_at(&mut self, i: usize, target: u64) {
        let mut e = self.entry(i);
        e.alt_offset = (target as i64 - (self.field(i) + 4) as i64) as i32;
        self.set(i, e);
    }

    /// The first callback entry that names `from` made to name `to`; `None` if none does.
    fn retarget_callback(&mut self, from: u64, to: u64) -> Option<()> {
        let names = |copy: &Self, i: usize| {
            copy.field(i).wrapping_add(4).wrapping_add_signed(copy.entry(i).alt_offset.into()) == from
        };
        let mut i = self.find(0, true)?;
        while !names(self, i) {
            i = self.find(i + 1, true)?;
        }
        self.retarget_callback_at(i, to);
        Some(())
    }

    /// The copy, for the rest of the run.
    fn leak(self) -> &'static [u8] {
        alloc::boxed::Box::leak(self.bytes.into_boxed_slice())
    }
}
