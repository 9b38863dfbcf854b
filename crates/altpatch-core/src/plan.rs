//! What to write where, and the cache maintenance that makes it visible.
//!
//! [`plan`] turns a [`ValidTable`] and the set of enabled capabilities into the list of
//! writes (the relocated replacement bytes for each site) and callback calls; the kernel
//! performs them through a writable alias of its text. [`maintenance`] lists the distinct
//! cache lines those writes touch, so each line is cleaned and invalidated once, however
//! many sites share it. [`audit`] compares the text afterwards with what was meant.

use alloc::vec::Vec;

use crate::insn;
use crate::table::AltEntry;
use crate::validate::{Region, ValidTable};
use tock_registers::LocalRegisterCopy;

/// One write as callers read it: the relocated replacement for one site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write<'p> {
    /// The entry's index in the table.
    pub entry: usize,
    /// The site address (the text address, not the writable alias).
    pub addr: u64,
    /// The bytes to store there.
    pub bytes: &'p [u8],
}

/// A plan's writes, in the order pushed, read as [`Write`]s. Each takes 32 bytes, with the
/// bytes of a site in place when it is at most [`Writes::INLINE`] long (nearly all:
/// alternatives are one to four instructions) and otherwise in one side buffer shared by
/// the longer sites: planning a table allocates the list once, not once per site, and the
/// list for up to a million sites (32 MB) stays below glibc's 32 MiB ceiling, above which
/// each call maps fresh pages and takes their faults.
#[derive(Clone, Default)]
pub struct Writes {
    slots: Vec<Slot>,
    /// The bytes of the sites longer than [`Writes::INLINE`], one after another.
    long: Vec<u8>,
}

/// One stored write. `len` is the site's length when its bytes are in place, or
/// [`Slot::LONG`]: then `bytes` holds the offset and the length of the bytes in
/// [`Writes::long`] as one little-endian u128 (offset in the low half). Laid out by hand so
/// that a slot is 32 bytes and its bytes move as two whole words.
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    addr: u64,
    bytes: [u8; Writes::INLINE],
    entry: u32,
    len: u8,
}

// The point of the layout: 32 bytes a write, where a usize index, an address, a length and
// 16 bytes took 40.
const _: () = assert!(core::mem::size_of::<Slot>() == 32);

impl Slot {
    /// The `len` of a slot whose bytes are in the side buffer (no inline length is this).
    const LONG: u8 = u8::MAX;
}

impl Writes {
    /// The longest site whose bytes are held in place: four instructions.
    pub const INLINE: usize = 16;

    /// No writes, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Writes { slots: Vec::with_capacity(n), long: Vec::new() }
    }

    /// Adds the write of `bytes` at `addr` for entry `entry`.
    ///
    /// # Panics
    ///
    /// If `entry` is above `u32::MAX`. The list keeps indices in 32 bits to stay small; a
    /// table of more than 4G entries (48 GiB of entries, each at its own site in at least
    /// 16 GiB of text) is not one any kernel has.
    #[inline]
    pub fn push(&mut self, entry: usize, addr: u64, bytes: &[u8]) {
        let mut held = [0; Self::INLINE];
        if let Some(inline) = held.get_mut(..bytes.len()) {
            inline.copy_from_slice(bytes);
            return self.push_held(entry, addr, bytes.len() as u8, held);
        }
        let copied = self.push_with(entry, addr, bytes.len(), |to| {
            to.copy_from_slice(bytes);
            Some(())
        });
        copied.unwrap_or_else(|| unreachable!("a copy cannot fail"));
    }

    /// Adds the write of `len` bytes at `addr` for entry `entry`, filled in place by `fill`
    /// (given `len` zero bytes), unless `fill` fails: then nothing is added. Panics as
    /// [`Writes::push`] does.
    fn push_with(
        &mut self,
        entry: usize,
        addr: u64,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Option<()>,
    ) -> Option<()> {
        let mut held = [0; Self::INLINE];
        if let Some(inline) = held.get_mut(..len) {
            fill(inline)?;
            self.push_held(entry, addr, len as u8, held);
        } else {
            let at = self.long.len();
            self.long.resize(at + len, 0);
            if fill(&mut self.long[at..]).is_none() {
                self.long.truncate(at);
                return None;
            }
            let place = (len as u128) << 64 | at as u128;
            self.push_held(entry, addr, Slot::LONG, place.to_le_bytes());
        }
        Some(())
    }

    /// Adds a slot: `len` bytes of `bytes` in place (zero beyond), or [`Slot::LONG`].
    #[inline]
    fn push_held(&mut self, entry: usize, addr: u64, len: u8, bytes: [u8; Self::INLINE]) {
        let entry = u32::try_from(entry)
            .unwrap_or_else(|_| panic!("alternatives: entry {entry} is past the 4G entries a plan holds"));
        self.slots.push(Slot { addr, bytes, entry, len });
    }

    /// The number of writes.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no writes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The `i`th write pushed.
    pub fn get(&self, i: usize) -> Option<Write<'_>> {
        self.slots.get(i).map(|s| self.view(s))
    }

    /// Every write, in the order pushed.
    pub fn iter(&self) -> WritesIter<'_> {
        WritesIter { writes: self, slots: self.slots.iter() }
    }

    /// `slot` as a [`Write`], its bytes in place or in the side buffer.
    fn view<'p>(&'p self, slot: &'p Slot) -> Write<'p> {
        let bytes = if slot.len == Slot::LONG {
            let place = u128::from_le_bytes(slot.bytes);
            let (at, len) = (place as u64 as usize, (place >> 64) as usize);
            &self.long[at..at + len]
        } else {
            &slot.bytes[..usize::from(slot.len)]
        };
        Write { entry: slot.entry as usize, addr: slot.addr, bytes }
    }
}

/// The iterator of [`Writes::iter`].
#[derive(Clone)]
pub struct WritesIter<'p> {
    writes: &'p Writes,
    slots: core::slice::Iter<'p, Slot>,
}

impl<'p> Iterator for WritesIter<'p> {
    type Item = Write<'p>;
    fn next(&mut self) -> Option<Write<'p>> {
        self.slots.next().map(|s| self.writes.view(s))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl ExactSizeIterator for WritesIter<'_> {}

impl<'p> IntoIterator for &'p Writes {
    type Item = Write<'p>;
    type IntoIter = WritesIter<'p>;
    fn into_iter(self) -> WritesIter<'p> {
        self.iter()
    }
}

impl PartialEq for Writes {
    /// Equal when the writes are, wherever their bytes are held.
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Writes {}

impl core::fmt::Debug for Writes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One callback call: the kernel calls `callback(entry, site, len)`, which patches the site
/// itself (through the same writable alias).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackCall {
    /// The entry's index in the table.
    pub entry: usize,
    /// The callback's address (in kernel text).
    pub callback: u64,
    /// The site address.
    pub site: u64,
    /// The site's length in bytes.
    pub len: u8,
}

/// Everything patching one table means.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatchPlan {
    /// The writes, in table order.
    pub writes: Writes,
    /// The callback calls, in table order.
    pub callbacks: Vec<CallbackCall>,
    /// Entries whose capability is enabled (writes plus callbacks).
    pub patched: usize,
    /// Entries whose capability is not enabled.
    pub skipped: usize,
}

impl PatchPlan {
    /// Every byte range the plan changes: write sites and callback sites, in table order.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let writes = self.writes.iter().map(|w| (w.addr, w.bytes.len() as u64));
        let callbacks = self.callbacks.iter().map(|c| (c.site, u64::from(c.len)));
        writes.chain(callbacks)
    }
}

/// The plan for `table` when capability `i` is enabled exactly when `enabled(i)`. Entries
/// (replacement and callback alike) apply when their capability is enabled, as Linux's
/// `alternative_cb` does; a callback that must always run names an always-on capability.
/// `enabled` is asked once per capability the table names.
pub fn plan(table: &ValidTable<'_>, enabled: &dyn Fn(u16) -> bool) -> PatchPlan {
    let mut out = PatchPlan { writes: Writes::with_capacity(table.len()), ..PatchPlan::default() };
    let mut verdicts = Verdicts::new(table.ncaps(), enabled);
    for e in table.entries() {
        if !verdicts.enabled(e.cap_index()) {
            out.skipped += 1;
            continue;
        }
        out.patched += 1;
        if e.is_callback() {
            out.callbacks.push(CallbackCall {
                entry: e.index,
                callback: e.alt,
                site: e.site,
                len: e.orig_len,
            });
        } else {
            replacement_at_site(table, &e, &mut out.writes);
        }
    }
    out
}

/// `enabled`'s answers, remembered per capability: one indirect call per capability rather
/// than one per entry.
struct Verdicts<'f> {
    enabled: &'f dyn Fn(u16) -> bool,
    /// Per capability index: 0 not asked yet, 1 disabled, 2 enabled.
    known: Vec<u8>,
}

impl<'f> Verdicts<'f> {
    fn new(ncaps: u16, enabled: &'f dyn Fn(u16) -> bool) -> Self {
        Verdicts { enabled, known: alloc::vec![0; usize::from(ncaps)] }
    }

    fn enabled(&mut self, cap: u16) -> bool {
        // A valid table's indices are below NCAPS; any other is asked every time.
        let Some(known) = self.known.get_mut(usize::from(cap)) else { return (self.enabled)(cap) };
        if *known == 0 {
            *known = 1 + u8::from((self.enabled)(cap));
        }
        *known == 2
    }
}

/// Pushes the replacement of `e` relocated to its site onto `writes`. Validation already
/// checked that every sequence moves; a failure here would mean the table changed after
/// validation.
fn replacement_at_site(table: &ValidTable<'_>, e: &AltEntry, writes: &mut Writes) {
    let len = usize::from(e.alt_len);
    let replacements = &table.layout().replacements;
    let mut held = |bytes: u128| writes.push_held(e.index, e.site, e.alt_len, bytes.to_le_bytes());
    // Nearly every replacement: up to four words, none PC-relative, copied as they are.
    if let Some(bytes) = replacements.unmoved(e.alt, e.alt_len) {
        return held(bytes);
    }
    let moved = match replacements.read(e.alt, len) {
        // The usual site (up to four instructions): relocated straight into the inline bytes.
        Some(seq) if len <= Writes::INLINE && len.is_multiple_of(4) => relocate_inline(seq, e).map(held),
        Some(seq) => {
            writes.push_with(e.index, e.site, len, |to| insn::relocate_into(seq, e.alt, e.site, to).ok())
        }
        None => None,
    };
    // Unreachable for a `ValidTable`: its layout is borrowed immutably and was checked.
    moved.unwrap_or_else(|| panic!("alternatives: entry {} changed after validation", e.index))
}

/// `e`'s replacement `seq` (whole words, at most [`Writes::INLINE`] bytes) relocated to
/// its site, zero-extended: each word the screen does not clear is decoded. The words gather
/// in one integer, so the bytes are stored once, whole.
fn relocate_inline(seq: &[u8], e: &AltEntry) -> Option<u128> {
    let mut moved = 0u128;
    for (i, w) in seq.chunks_exact(4).enumerate() {
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let word = if insn::may_be_pc_relative(word) {
            insn::relocate_one(word, e.alt, e.site, seq.len(), 4 * i).ok()?
        } else {
            word
        };
        moved |= u128::from(word) << (32 * i);
    }
    Some(moved)
}

/// The cache geometry and coherence properties from CTR_EL0 (Arm ARM D23.2.39).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheGeometry {
    /// Smallest data cache line in bytes (4 << DminLine, bits 19:16).
    pub dline: u64,
    /// Smallest instruction cache line in bytes (4 << IminLine, bits 3:0).
    pub iline: u64,
    /// IDC (bit 28): data cache clean to the PoU is not required for I/D coherence.
    pub idc: bool,
    /// DIC (bit 29): instruction cache invalidation to the PoU is not required.
    pub dic: bool,
}

/// CTR_EL0, the Cache Type Register (Arm ARM D23.2.39): the fields altpatch uses, as
/// tock-registers bitfields (the generated items are the macro's, hence no docs of their own).
#[allow(missing_docs)]
pub mod registers {
    tock_registers::register_bitfields! {u64,
        pub CTR_EL0 [
            /// Instruction cache invalidation to the PoU is not required for I/D coherence.
            DIC OFFSET(29) NUMBITS(1) [],
            /// Data cache clean to the PoU is not required for I/D coherence.
            IDC OFFSET(28) NUMBITS(1) [],
            /// Log2 of the words in the smallest data cache line.
            DminLine OFFSET(16) NUMBITS(4) [],
            /// Log2 of the words in the smallest instruction cache line.
            IminLine OFFSET(0) NUMBITS(4) []
        ]
    }
}
pub use registers::CTR_EL0;

impl CacheGeometry {
    /// Decodes CTR_EL0: the one decoder of that register in altpatch.
    pub fn from_ctr_el0(ctr: u64) -> Self {
        let ctr = LocalRegisterCopy::<u64, CTR_EL0::Register>::new(ctr);
        CacheGeometry {
            dline: 4 << ctr.read(CTR_EL0::DminLine),
            iline: 4 << ctr.read(CTR_EL0::IminLine),
            idc: ctr.is_set(CTR_EL0::IDC),
            dic: ctr.is_set(CTR_EL0::DIC),
        }
    }
}

/// The cache maintenance that makes a plan's writes visible to instruction fetch: for
/// each line address, DC CVAU (D-cache clean by VA to PoU), then DSB ISH; each IC IVAU
/// (I-cache invalidate by VA to PoU), or one IC IALLUIS, then DSB ISH and ISB (Arm ARM
/// B2.4.4, "Concurrent modification and execution of instructions").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Distinct D-cache line addresses to clean, ascending (empty when CTR_EL0.IDC is set).
    pub dc_cvau: Vec<u64>,
    /// Distinct I-cache line addresses to invalidate, ascending: at most one, since two or
    /// more are one [`Maintenance::ic_ialluis`] instead (empty when CTR_EL0.DIC is set).
    pub ic_ivau: Vec<u64>,
    /// One whole I-cache invalidate (IC IALLUIS) instead of per-line ones: chosen when the
    /// writes touch two I-lines or more, so that no table ever costs more operations than
    /// Linux's one IC IALLUIS, and a one-line table costs one IC IVAU, the floor either way.
    pub ic_ialluis: bool,
}

impl Maintenance {
    /// The number of maintenance instructions (DSBs and ISBs aside).
    pub fn ops(&self) -> usize {
        self.dc_cvau.len() + self.ic_ivau.len() + usize::from(self.ic_ialluis)
    }
}

/// The distinct lines of `line` bytes touched by `ranges`, ascending.
fn lines(ranges: impl Iterator<Item = (u64, u64)>, line: u64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for (addr, len) in ranges {
        if len == 0 {
            continue;
        }
        let mut l = addr & !(line - 1);
        while l < addr + len {
            out.push(l);
            l += line;
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The coalesced maintenance for every range `plan` changes (writes and callback sites),
/// given CTR_EL0. Addresses are text addresses: the data cache behaves as PIPT, so cleaning
/// by the text address also cleans what was written through the alias; the instruction
/// cache is invalidated by the address it fetches from.
pub fn maintenance(plan: &PatchPlan, ctr_el0: u64) -> Maintenance {
    let g = CacheGeometry::from_ctr_el0(ctr_el0);
    let ic_lines = if g.dic { Vec::new() } else { lines(plan.ranges(), g.iline) };
    let ic_ialluis = ic_lines.len() > 1;
    Maintenance {
        dc_cvau: if g.idc { Vec::new() } else { lines(plan.ranges(), g.dline) },
        ic_ivau: if ic_ialluis { Vec::new() } else { ic_lines },
        ic_ialluis,
    }
}

/// The operations Linux's per-entry strategy (arm64 `__apply_alternatives`) performs for the
/// same plan, for the benchmark comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BaselineOps {
    /// DC CIVAC (clean and invalidate to PoC) by D-line, per patched entry's range, counted
    /// once per entry even where entries share a line; at least one per entry.
    pub dc_civac: usize,
    /// Whole I-cache invalidations (Linux's `icache_inval_all_pou()`, IC IALLUIS, after the
    /// loop): one when anything was patched and CTR_EL0.DIC is clear, else none.
    pub ic_iallu: usize,
}

/// What Linux's strategy would do for `plan`: for each patched entry, clean+invalidate each
/// D-line of its site to the PoC (it ignores IDC, as a workaround for Cortex-A53 errata
/// 826319/827319/824069/819472), then invalidate the whole I-cache once, unless the system
/// has DIC: Linux's `icache_inval_all_pou()` (arch/arm64/include/asm/cacheflush.h) returns
/// without invalidating when `ARM64_HAS_CACHE_DIC` is set, since then instruction fetch is
/// coherent with data without it (Arm ARM D23.2.39, CTR_EL0.DIC).
pub fn linux_baseline_ops(plan: &PatchPlan, ctr_el0: u64) -> BaselineOps {
    let g = CacheGeometry::from_ctr_el0(ctr_el0);
    let mut ops = BaselineOps::default();
    for (addr, len) in plan.ranges() {
        let first = addr & !(g.dline - 1);
        // At least one line, even for an empty range (the loop runs its body first).
        ops.dc_civac += (addr + len.max(1) - first).div_ceil(g.dline) as usize;
    }
    if plan.patched != 0 && !g.dic {
        ops.ic_iallu = 1;
    }
    ops
}

/// A site whose bytes after patching are not what the plan wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The entry's index in the table.
    pub entry: usize,
    /// Address of the first differing instruction (or the site, if it is unreadable).
    pub addr: u64,
    /// The word the plan wrote there.
    pub expected: u32,
    /// The word found there (`None`: the site is not inside `text`).
    pub found: Option<u32>,
}

impl core::fmt::Display for Mismatch {
    /// `entry I at 0xADDR: expected 0xWORD, found 0xWORD` (or `found no word: the site is
    /// outside the text`): instruction words in hex, as a disassembler shows them.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "entry {} at {:#x}: expected {:#010x}, ", self.entry, self.addr, self.expected)?;
        match self.found {
            Some(word) => write!(f, "found {word:#010x}"),
            None => write!(f, "found no word: the site is outside the text"),
        }
    }
}

/// Compares every written site in `text` (the kernel text after patching) with `plan`.
/// Callback sites are not audited: what a callback writes is its own business.
pub fn audit(plan: &PatchPlan, text: &Region<'_>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for w in &plan.writes {
        let found = text.read(w.addr, w.bytes.len());
        for (i, want) in w.bytes.chunks_exact(4).enumerate() {
            let expected = u32::from_le_bytes([want[0], want[1], want[2], want[3]]);
            let got = found.map(|f| {
                let b = &f[i * 4..i * 4 + 4];
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            });
            if got != Some(expected) {
                out.push(Mismatch { entry: w.entry, addr: w.addr + (i * 4) as u64, expected, found: got });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
