//! What to write where, and the cache maintenance that makes it visible.
//!
//! [`plan`] turns a [`ValidTable`] and the set of enabled capabilities into the list of
//! writes (the relocated replacement bytes for each site) and callback calls; the kernel
//! performs them through a writable alias of its text. [`maintenance`] lists the distinct
//! cache lines those writes touch, so each line is cleaned and invalidated once, however
//! many sites share it. [`audit`] compares the text afterwards with what was meant.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::insn;
use crate::table::AltEntry;
use crate::validate::{Region, ValidTable};
use tock_registers::LocalRegisterCopy;

/// One write: the relocated replacement for one site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The entry's index in the table.
    pub entry: usize,
    /// The site address (the text address, not the writable alias).
    pub addr: u64,
    /// The bytes to store there.
    pub bytes: SiteBytes,
}

/// The bytes written at one site. Sites of up to [`SiteBytes::INLINE`] bytes (nearly all:
/// alternatives are one to four instructions) are held in place, so planning a table
/// allocates once for the list of writes, not once per site. Reads as a `[u8]`; built from
/// bytes by `collect()` or `From<Vec<u8>>`.
#[derive(Clone)]
pub struct SiteBytes(Store);

/// Where a [`SiteBytes`] keeps its bytes. Both variants are 16 bytes and the inline bytes are
/// 8-aligned, so a [`Write`] is 40 bytes and its bytes move as two whole words.
#[derive(Clone)]
enum Store {
    /// In place: the first `len` bytes of `bytes`.
    Inline { len: u8, bytes: Inline },
    /// On the heap, for a longer site.
    Heap(Box<[u8]>),
}

/// The bytes of a site held in place.
#[derive(Clone, Copy)]
#[repr(align(8))]
struct Inline([u8; SiteBytes::INLINE]);

impl SiteBytes {
    /// The longest site held in place: four instructions.
    pub const INLINE: usize = 16;

    /// `len` zero bytes.
    fn zeroed(len: usize) -> Self {
        if len <= Self::INLINE {
            SiteBytes(Store::Inline { len: len as u8, bytes: Inline([0; Self::INLINE]) })
        } else {
            SiteBytes(Store::Heap(alloc::vec![0; len].into_boxed_slice()))
        }
    }
}

impl core::ops::Deref for SiteBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Store::Inline { len, bytes } => &bytes.0[..usize::from(*len)],
            Store::Heap(v) => v,
        }
    }
}

impl core::ops::DerefMut for SiteBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Store::Inline { len, bytes } => &mut bytes.0[..usize::from(*len)],
            Store::Heap(v) => v,
        }
    }
}

impl From<Vec<u8>> for SiteBytes {
    fn from(v: Vec<u8>) -> Self {
        SiteBytes(Store::Heap(v.into_boxed_slice()))
    }
}

impl FromIterator<u8> for SiteBytes {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        let mut bytes = [0; Self::INLINE];
        for len in 0..Self::INLINE {
            match iter.next() {
                Some(b) => bytes[len] = b,
                None => return SiteBytes(Store::Inline { len: len as u8, bytes: Inline(bytes) }),
            }
        }
        match iter.next() {
            None => SiteBytes(Store::Inline { len: Self::INLINE as u8, bytes: Inline(bytes) }),
            Some(b) => {
                let mut v = Vec::from(bytes);
                v.push(b);
                v.extend(iter);
                SiteBytes::from(v)
            }
        }
    }
}

impl PartialEq for SiteBytes {
    /// Equal when the bytes are, however they are held.
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for SiteBytes {}

impl core::fmt::Debug for SiteBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
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
    pub writes: Vec<Write>,
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
    let mut out = PatchPlan { writes: Vec::with_capacity(table.len()), ..PatchPlan::default() };
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
            out.writes.push(Write { entry: e.index, addr: e.site, bytes: replacement_at_site(table, &e) });
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

/// The replacement of `e` relocated to its site. Validation already checked that every
/// sequence moves; a failure here would mean the table changed after validation.
fn replacement_at_site(table: &ValidTable<'_>, e: &AltEntry) -> SiteBytes {
    let len = usize::from(e.alt_len);
    let replacements = &table.layout().replacements;
    let inline =
        |bytes: u128| SiteBytes(Store::Inline { len: e.alt_len, bytes: Inline(bytes.to_le_bytes()) });
    // Nearly every replacement: up to four words, none PC-relative, copied as they are.
    if let Some(bytes) = replacements.unmoved(e.alt, e.alt_len) {
        return inline(bytes);
    }
    let moved = match replacements.read(e.alt, len) {
        // The usual site (up to four instructions): relocated straight into the inline bytes.
        Some(seq) if len <= SiteBytes::INLINE && len.is_multiple_of(4) => relocate_inline(seq, e).map(inline),
        Some(seq) => {
            let mut bytes = SiteBytes::zeroed(len);
            insn::relocate_into(seq, e.alt, e.site, &mut bytes).ok().map(|()| bytes)
        }
        None => None,
    };
    // Unreachable for a `ValidTable`: its layout is borrowed immutably and was checked.
    moved.unwrap_or_else(|| panic!("alternatives: entry {} changed after validation", e.index))
}

/// `e`'s replacement `seq` (whole words, at most [`SiteBytes::INLINE`] bytes) relocated to
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
