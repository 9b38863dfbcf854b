//! The apply engine: validation and planning before the rendezvous, only the prepared writes
//! and cache maintenance inside it.
//!
//! ```text
//!   check::<L>(&linked)          whole table, every defect named      (once per region)
//!   checked.prepare(&linked, ..) plan + callbacks, bytes owned        (before the window)
//!   rendezvous.stop_machine(.., |stopped| prepared.apply(stopped, &alias))
//!                                the writes through the alias, DC CVAU / IC IVAU, DSB
//!   prepared.audit(&text)        every written site as meant           (after the window)
//! ```
//!
//! [`Prepared::apply`] takes the rendezvous's [`Stopped`] proof, which only
//! `altpatch_rendezvous::Rendezvous::stop_machine` can make: applying outside a stop-machine
//! does not compile. Text is written only through the consumer's [`TextAlias`], a writable,
//! never-executable view of it.

use alloc::vec::Vec;
use altpatch_core::{
    CapabilityList,
    plan::{self, CacheGeometry, Maintenance, Mismatch, PatchPlan},
    validate::Region,
    validate::{self, CheckedTable, Defect, Symbol, ValidTable},
};
use altpatch_rendezvous::Stopped;
use core::ops::Range;

use crate::{Linked, cache};

/// What a callback sees: the site as it is, and the facts it may encode. Callbacks run
/// while the write is prepared, before the stop window, and read no globals.
#[derive(Clone, Copy)]
pub struct CallbackContext<'a> {
    /// The site's address.
    pub site: u64,
    /// The site's instructions as they are now.
    pub original: &'a [u32],
    /// The system's cache geometry (CTR_EL0, sanitised across CPUs).
    pub geometry: CacheGeometry,
    /// Whether capability `i` of the consumer's list is enabled in this pass.
    pub enabled: &'a dyn Fn(u16) -> bool,
}

/// An alternatives callback: writes exactly `dest.len()` (= the site's) instructions.
pub type AltCallback = fn(context: &CallbackContext<'_>, dest: &mut [u32]);

/// A writable, never-executable view of text, supplied by the kernel (its page tables).
///
/// # Safety
///
/// `with_writable(stopped, text, f)` must call `f` exactly once with a slice of `text.end -
/// text.start` bytes whose byte `i` is the memory at text address `text.start + i`, mapped
/// writable and not executable, and no other live reference to that memory; the alias must
/// be gone (and its TLB entries invalidated) when it returns.
pub unsafe trait TextAlias {
    /// Runs `write` over the writable view of `text` (page aligned by the caller). `stopped`
    /// proves that every other CPU waits in the rendezvous, so the implementation may
    /// change shared page tables and no CPU executes the text meanwhile.
    fn with_writable(&self, stopped: &Stopped<'_>, text: Range<u64>, write: &mut dyn FnMut(&mut [u8]));
}

/// A region's table after [`check`]: every entry valid, its bytes owned. Holds no borrow of
/// text, so one check serves every pass over the region (the boot pass and the system pass).
#[derive(Clone, Debug)]
pub struct Checked {
    table: CheckedTable,
    ncaps: u16,
    fingerprint: u32,
}

/// Validates the whole of `linked`'s table against list `L` (and `L::HISTORY` to explain a
/// stale entry): the result holds every defect of every entry, or the checked table.
/// `symbolize` names sites in the reports. For a module ([`Linked::module`]) a callback
/// entry's callback must be one of the kernel's exported callbacks, never the module's own;
/// that list stands in for `.altinstr_callbacks`. Everything else is checked alike.
pub fn check<L: CapabilityList>(
    linked: &Linked<'_>,
    symbolize: &dyn Fn(u64) -> Option<Symbol>,
) -> Result<Checked, Vec<Defect>> {
    let layout = linked.layout();
    let valid = match linked.exported_callbacks() {
        None => validate::validate(layout, &L::LIST, L::HISTORY, symbolize)?,
        Some(exports) => validate::validate_module(layout, &L::LIST, L::HISTORY, symbolize, exports)?,
    };
    Ok(Checked::of::<L>(&valid))
}

impl Checked {
    /// The table `valid`, checked against list `L`.
    fn of<L: CapabilityList>(valid: &ValidTable<'_>) -> Self {
        Checked { table: valid.detach(), ncaps: L::LIST.ncaps(), fingerprint: L::LIST.fingerprint }
    }

    /// The number of entries in the table.
    pub fn entries(&self) -> usize {
        self.table.len()
    }

    /// The writes (replacements relocated to their sites, callback output) for the entries
    /// whose capability `enabled` accepts, and the cache maintenance they need under
    /// `ctr_el0`. Runs before the stop window: callbacks run here, and what each wrote is
    /// checked before it can be written (no branch out of text, nothing that cannot run
    /// at the site): a bad output refuses the whole pass, by entry.
    ///
    /// # Panics
    ///
    /// If `layout` is not the layout this table was checked in (the same table bytes at the
    /// same address, the same text and replacement spans).
    pub fn prepare(
        &self,
        linked: &Linked<'_>,
        enabled: &dyn Fn(u16) -> bool,
        ctr_el0: u64,
    ) -> Result<Prepared, Vec<Defect>> {
        let layout = linked.layout();
        let valid = (self.table.attach(layout))
            .unwrap_or_else(|| panic!("alternatives: a table prepared in a layout it was not checked in"));
        let mut plan = plan::plan(&valid, enabled);
        let geometry = CacheGeometry::from_ctr_el0(ctr_el0);
        let mut defects = Vec::new();
        for call in core::mem::take(&mut plan.callbacks) {
            let original = words(layout.text.read(call.site, usize::from(call.len)).unwrap_or(&[]));
            let mut dest = alloc::vec![0u32; original.len()];
            let context = CallbackContext { site: call.site, original: &original, geometry, enabled };
            run_callback(call.callback, &context, &mut dest);
            let kinds = validate::check_callback_output(call.site, &dest, &layout.text);
            if !kinds.is_empty() {
                defects.push(self.defect(call.entry, kinds));
                continue;
            }
            let bytes: Vec<u8> = dest.iter().flat_map(|w| w.to_le_bytes()).collect();
            plan.writes.push(call.entry, call.site, &bytes);
        }
        if !defects.is_empty() {
            return Err(defects);
        }
        let maintenance = plan::maintenance(&plan, ctr_el0);
        Ok(Prepared { plan, maintenance, entries: self.table.len(), ctr_el0 })
    }

    /// A defect of entry `index` found while preparing.
    fn defect(&self, index: usize, kinds: Vec<validate::DefectKind>) -> Defect {
        let entry = self.table.entry(index);
        Defect {
            index,
            addr: entry.map_or(0, |e| e.addr),
            entry,
            symbol: None,
            ncaps: self.ncaps,
            kernel_fingerprint: self.fingerprint,
            kinds,
        }
    }
}

fn words(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect()
}

/// Calls the callback at text address `callback`.
fn run_callback(callback: u64, context: &CallbackContext<'_>, dest: &mut [u32]) {
    // SAFETY: the table was checked in a `Linked` (`prepare` refuses another layout), whose
    // constructor's contract vouches for the callbacks: [`check`] accepted the entry only with
    // the consumer's fingerprint and its callback declared in the image's
    // `.altinstr_callbacks` (each word an `AltCallback`, as only `alternative_cb!` writes
    // it), or, for a module, as one of the kernel's exported callbacks (each an
    // `AltCallback`, by `Linked::module`'s contract).
    let callback: AltCallback = unsafe { core::mem::transmute::<usize, AltCallback>(callback as usize) };
    callback(context, dest);
}

/// One pass's writes and maintenance, owned and ready for the stop window.
#[derive(Clone, Debug)]
pub struct Prepared {
    plan: PatchPlan,
    maintenance: Maintenance,
    entries: usize,
    ctr_el0: u64,
}

/// What applying a [`Prepared`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Entries applied in this pass.
    pub patched: usize,
    /// Entries in the table.
    pub entries: usize,
    /// Bytes of text written.
    pub bytes_written: usize,
    /// Cache maintenance operations executed.
    pub ops: MaintenanceOps,
}

/// Cache maintenance operations a pass executed, by instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceOps {
    /// DC CVAU: D-lines cleaned to the point of unification.
    pub dc_cvau: usize,
    /// IC IVAU: I-lines invalidated.
    pub ic_ivau: usize,
    /// DC CIVAC: D-lines cleaned and invalidated to the point of coherency (Linux baseline).
    pub dc_civac: usize,
    /// IC IALLUIS: whole I-cache invalidations (two I-lines or more; Linux's strategy always).
    pub ic_iallu: usize,
}

impl core::ops::Add for MaintenanceOps {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            dc_cvau: self.dc_cvau + o.dc_cvau,
            ic_ivau: self.ic_ivau + o.ic_ivau,
            dc_civac: self.dc_civac + o.dc_civac,
            ic_iallu: self.ic_iallu + o.ic_iallu,
        }
    }
}

impl Prepared {
    /// Entries this pass applies.
    pub fn patched(&self) -> usize {
        self.plan.patched
    }

    /// Entries in the table.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Bytes of text this pass writes.
    pub fn bytes(&self) -> usize {
        self.plan.writes.iter().map(|write| write.bytes.len()).sum()
    }

    /// Writes the prepared bytes through `alias` and makes them visible to instruction fetch
    /// on every CPU (the rendezvous's context synchronisation does the rest): the stop
    /// window's whole work. `stopped` proves every other CPU waits in the rendezvous. The
    /// alias spans only the pages from the first write to the last.
    pub fn apply(&self, stopped: &Stopped<'_>, alias: &impl TextAlias) -> Applied {
        let mut bytes_written = 0;
        if let Some(pages) = self.written_pages() {
            alias.with_writable(stopped, pages.clone(), &mut |text| {
                for write in &self.plan.writes {
                    let at = (write.addr - pages.start) as usize;
                    text[at..at + write.bytes.len()].copy_from_slice(write.bytes);
                    bytes_written += write.bytes.len();
                }
            });
        }
        let ops =
            if cfg!(feature = "linux-baseline") { self.linux_maintenance() } else { self.maintenance() };
        Applied { patched: self.plan.patched, entries: self.entries, bytes_written, ops }
    }

    /// Compares every written site in `text` (the text after [`Prepared::apply`]) with what
    /// was meant: run after the stop window, it proves the writes took.
    pub fn audit(&self, text: &Region<'_>) -> Result<(), Vec<Mismatch>> {
        let mismatches = plan::audit(&self.plan, text);
        if mismatches.is_empty() { Ok(()) } else { Err(mismatches) }
    }

    /// The whole pages from the first write to the last, if anything is written.
    fn written_pages(&self) -> Option<Range<u64>> {
        let start = self.plan.writes.iter().map(|w| w.addr).min()?;
        let end = self.plan.writes.iter().map(|w| w.addr + w.bytes.len() as u64).max()?;
        Some(page_round(&(start..end)))
    }

    /// The coalesced maintenance: each distinct D-line cleaned to the PoU, each distinct
    /// I-line invalidated, each batch completed by DSB ISH (Arm ARM B2.4.4).
    fn maintenance(&self) -> MaintenanceOps {
        for &line in &self.maintenance.dc_cvau {
            cache::clean_dcache_line_pou(line);
        }
        cache::complete_maintenance();
        for &line in &self.maintenance.ic_ivau {
            cache::invalidate_icache_line_pou(line);
        }
        if self.maintenance.ic_ialluis {
            cache::invalidate_icache_all();
        }
        cache::complete_maintenance();
        MaintenanceOps {
            dc_cvau: self.maintenance.dc_cvau.len(),
            ic_ivau: self.maintenance.ic_ivau.len(),
            ic_iallu: usize::from(self.maintenance.ic_ialluis),
            ..MaintenanceOps::default()
        }
    }

    /// Linux's `__apply_alternatives` strategy, for the benchmark comparison: DC CIVAC per
    /// line of each entry, then one IC IALLUIS unless CTR_EL0.DIC.
    fn linux_maintenance(&self) -> MaintenanceOps {
        let geometry = CacheGeometry::from_ctr_el0(self.ctr_el0);
        let mut ops = MaintenanceOps::default();
        for (addr, len) in self.plan.ranges() {
            let mut at = addr & !(geometry.dline - 1);
            while at < addr + len.max(1) {
                cache::clean_invalidate_dcache_line_poc(at);
                ops.dc_civac += 1;
                at += geometry.dline;
            }
        }
        cache::complete_maintenance();
        if self.plan.patched != 0 && !geometry.dic {
            cache::invalidate_icache_all();
            ops.ic_iallu += 1;
        }
        cache::complete_maintenance();
        ops
    }
}

/// 4 KiB pages.
const PAGE_SIZE: u64 = 4096;

/// `range` widened to whole pages.
fn page_round(range: &Range<u64>) -> Range<u64> {
    range.start & !(PAGE_SIZE - 1)..range.end.div_ceil(PAGE_SIZE) * PAGE_SIZE
}
