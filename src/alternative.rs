//! Alternatives in this kernel: altpatch-aarch64's macros and apply engine, bound to Linux
//! arm64's capability list, over this kernel's regions, text alias and rendezvous.
//!
//! - `alternative!`, [`alternative_cb!`](crate::alternative_cb),
//!   [`has_cap!`](crate::has_cap) and [`alternative_entry!`](crate::alternative_entry): the
//!   crate's macros with `list:` fixed to [`KernelCaps`].
//! - [`AltRegion`]: a table with the text its sites lie in and its own replacements; the
//!   kernel's, or a late region's. [`AltRegion::check`] validates it once;
//!   [`AltRegion::prepare`] plans a pass before the stop window; [`apply`] runs it inside
//!   and audits it after, through altpatch-aarch64's [`Passes`] (for the kernel's table, a
//!   late region's or a module's: any [`LinkedText`]).

use crate::{cpu, fault, memory, println, rendezvous::RENDEZVOUS, semihosting::ExitStatus, time};
use alloc::vec::Vec;
pub use altpatch_aarch64::PassError;
use altpatch_aarch64::{
    Applied, Checked, Defect, Layout, Linked, LinkedText, Passes, Prepared, Region, SourceRecords, Stopped,
    Symbol, TextAlias,
};
use altpatch_rendezvous::{Completed, CpuSet, Failure};
use core::{
    ops::Range,
    sync::atomic::{AtomicU64, Ordering},
};

/// The capability list this kernel's entries are built against: Linux arm64's.
/// Arch code builds its own sites against the same list (`_arch::Caps`).
pub type KernelCaps = crate::_arch::Caps;

/// `ALTERNATIVE(old, new, cap)` over the kernel's list: see `altpatch_aarch64::alternative!`.
#[macro_export]
macro_rules! alternative {
    ($($body:tt)*) => {
        altpatch_aarch64::alternative!(list: $crate::alternative::KernelCaps, $($body)*)
    };
}

/// `ALTERNATIVE_CB(old, cap, callback)` over the kernel's list: see
/// `altpatch_aarch64::alternative_cb!`.
#[macro_export]
macro_rules! alternative_cb {
    ($($body:tt)*) => {
        altpatch_aarch64::alternative_cb!(list: $crate::alternative::KernelCaps, $($body)*)
    };
}

/// A static branch on a capability of the kernel's list: see `altpatch_aarch64::has_cap!`.
#[macro_export]
macro_rules! has_cap {
    ($cap:ident) => {
        altpatch_aarch64::has_cap!(list: $crate::alternative::KernelCaps, $cap)
    };
}

/// An entry with explicit numbers and sections: see `altpatch_aarch64::alternative_entry!`.
#[macro_export]
macro_rules! alternative_entry {
    ($($body:tt)*) => {
        altpatch_aarch64::alternative_entry!($($body)*)
    };
}

/// The index of capability `IDENT` of the kernel's list, as a constant.
#[macro_export]
macro_rules! cap_index {
    ($cap:ident) => {
        altpatch_aarch64::cap_index!($crate::alternative::KernelCaps, $cap)
    };
}

/// The fingerprint of the kernel's list.
pub const FINGERPRINT: u32 = altpatch_aarch64::fingerprint!(KernelCaps);

/// An alternatives region: a table, the text its sites and callbacks lie in, and its own
/// replacements. The kernel's own region is checked at boot and a defect there is fatal;
/// a late region (Linux's module alternatives) is applied after boot and refused on its
/// own, the kernel going on.
///
/// Its fields are private: which text a pass may write is fixed where the region is made,
/// by [`AltRegion::kernel`] or under [`AltRegion::linked`]'s contract, never by safe code.
#[derive(Debug)]
pub struct AltRegion {
    name: &'static str,
    table: Range<u64>,
    text: Range<u64>,
    replacements: Range<u64>,
    /// Bytes validated in place of the table's own (fault injection's defective copy).
    table_bytes: Option<&'static [u8]>,
}

impl AltRegion {
    /// The kernel's own table over all of kernel text.
    pub fn kernel() -> Self {
        let k = memory::kernel_layout();
        // SAFETY: the linker's own bounds of the image's table, text and replacements.
        unsafe { Self::linked("kernel", k.alt_table, k.text, k.alt_replacements) }
    }

    /// A region of the image named `name`.
    ///
    /// # Safety
    ///
    /// `text` is code of this image (kernel text, mapped and never written but by a pass),
    /// and every range lies inside the image: a pass writes the sites the table names inside
    /// `text`, whatever the table holds (it is validated; `text` is not).
    pub unsafe fn linked(
        name: &'static str,
        table: Range<u64>,
        text: Range<u64>,
        replacements: Range<u64>,
    ) -> Self {
        Self { name, table, text, replacements, table_bytes: None }
    }

    /// This region, validated and applied from `bytes` in place of its table's own when
    /// given: the negative boots' defective copy. Safe, since a table is only ever trusted
    /// after [`AltRegion::check`].
    pub fn with_table_bytes(self, bytes: Option<&'static [u8]>) -> Self {
        Self { table_bytes: bytes, ..self }
    }

    /// The region's name, for reports.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its table's address range.
    pub fn table(&self) -> Range<u64> {
        self.table.clone()
    }

    /// The text its sites lie in.
    pub fn text(&self) -> Range<u64> {
        self.text.clone()
    }

    /// Validates the whole table, once: every defect of every entry, or the checked table.
    pub fn check(&self) -> Result<Checked, Vec<Defect>> {
        self.with_linked(|layout| altpatch_aarch64::check::<KernelCaps>(layout, &symbolize))
    }

    /// The writes and maintenance of a pass over the entries `enabled` accepts, prepared
    /// before the stop window (callbacks run here; a bad callback output is a defect).
    pub fn prepare(
        &self,
        checked: &Checked,
        enabled: &dyn Fn(u16) -> bool,
        ctr_el0: u64,
    ) -> Result<Prepared, Vec<Defect>> {
        self.with_linked(|layout| checked.prepare(layout, enabled, ctr_el0))
    }
}

impl LinkedText for AltRegion {
    /// Runs `f` over the region as the engine sees it. The text slice lives only inside `f`,
    /// which writes nothing: text changes only in [`Prepared::apply`], inside a stop window,
    /// never while this borrow is alive.
    fn with_linked<R>(&self, f: impl FnOnce(&Linked<'_>) -> R) -> R {
        let declared = memory::kernel_layout().alt_callbacks;
        // SAFETY: the table and replacements are read-only data that never changes; the text
        // slice does not outlive `f` (see above). The text is the image's code (the contract
        // of `AltRegion::linked`, the only way to make a region) and `declared` its
        // `.altinstr_callbacks` as linked, each word written by `alternative_cb!` beside a
        // use of an `AltCallback`: `Linked::image`'s contract.
        let linked = unsafe {
            Linked::image(Layout {
                table: Region {
                    addr: self.table.start,
                    bytes: self.table_bytes.unwrap_or_else(|| memory::image_bytes(&self.table)),
                },
                text: Region { addr: self.text.start, bytes: memory::image_bytes(&self.text) },
                replacements: Region {
                    addr: self.replacements.start,
                    bytes: memory::image_bytes(&self.replacements),
                },
                callbacks: Region { addr: declared.start, bytes: memory::image_bytes(&declared) },
            })
        };
        f(&linked)
    }
}

/// The kernel's text alias: text pages mapped read-write and never executable at
/// [`memory::mmu::TEXT_ALIAS_BASE`] for the duration of one write.
pub struct KernelTextAlias;

// SAFETY: `with_text_alias` maps exactly the pages of `text` at the alias, read-write and
// execute-never, and unmaps them (with TLB invalidation) before returning; the slice covers
// exactly those pages, and nothing else references the alias.
unsafe impl TextAlias for KernelTextAlias {
    fn with_writable(&self, _stopped: &Stopped<'_>, text: Range<u64>, write: &mut dyn FnMut(&mut [u8])) {
        // SAFETY: `_stopped` proves every other CPU waits in the rendezvous, and this CPU is
        // the only one running the work: exclusive use of the page tables, and no CPU
        // executes the text while it changes.
        unsafe {
            memory::mmu::with_text_alias(text.clone(), |alias| {
                let len = text.end - text.start;
                let at = alias.ptr(text.start, len);
                // SAFETY: the alias maps `len` bytes read-write from `at` until this closure
                // returns, and no other reference to them exists.
                write(core::slice::from_raw_parts_mut(at, len as usize));
            })
        }
    }
}

/// Bytes of text written since boot: the only place text changes is [`apply`].
static TEXT_BYTES_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Applies `pass` (prepared over `text`) with every CPU in `online` held in the rendezvous,
/// exceptions masked on this CPU: the stop window holds only the writes and the maintenance;
/// the audit of every written site follows it.
pub fn apply(
    text: &mut impl LinkedText,
    pass: &Prepared,
    online: CpuSet,
    timeout_us: u64,
) -> Result<Completed<Applied>, PassError> {
    let passes = Passes {
        rendezvous: &RENDEZVOUS,
        alias: &fault::text_alias(KernelTextAlias),
        primary: cpu::cpu_index(),
        timeout: time::micros_to_ticks(timeout_us),
    };
    let daif = cpu::mask_exceptions();
    let result = passes.apply_prepared(text, pass, online);
    cpu::restore_exceptions(daif);
    // Written whether or not the audit then found a site that did not take the write.
    let written = match &result {
        Ok(done) => done.output.bytes_written,
        Err(PassError::Audit(_)) => pass.bytes(),
        Err(_) => 0,
    };
    TEXT_BYTES_WRITTEN.fetch_add(written as u64, Ordering::Relaxed);
    result
}

/// Reports a pass of the kernel's own table that did not apply, and stops: a missing CPU is
/// exit 4, text that did not take the writes an oops.
pub fn fail_pass(error: PassError) -> ! {
    match error {
        PassError::Rendezvous(failure @ Failure::Missing(_)) => {
            println!("alternatives: rendezvous failed: {failure}; nothing was patched");
            crate::semihosting::exit(ExitStatus::CpuBringUp);
        }
        PassError::Rendezvous(failure) => {
            println!("alternatives: rendezvous failed: {failure}");
            crate::semihosting::exit(ExitStatus::CpuBringUp);
        }
        PassError::Refused(defects) => refuse_table(&defects),
        error @ PassError::Audit(_) => {
            error.report(&mut |line| println!("{line}"));
            crate::bug!(ExitStatus::SelfTestFailed)
        }
    }
}

/// Reports every defect of the kernel's own table, one line each, then stops with Linux's
/// BUG and exit status 3.
pub fn refuse_table(defects: &[Defect]) -> ! {
    for defect in defects {
        println!("{defect}");
    }
    println!(
        "alternatives: {} bad entries; nothing was patched ({} bytes of text written)",
        defects.len(),
        TEXT_BYTES_WRITTEN.load(Ordering::Relaxed)
    );
    crate::bug!(ExitStatus::InvalidTable)
}

unsafe extern "C" {
    static __altinstr_where: u8;
    static __altinstr_where_end: u8;
}

/// Where the entry for `site` was written (`file:line`), from the `.altinstr_where` records
/// the macros leave beside each entry (Rust and assembly); `None` for a site no record names.
pub fn site_location(site: u64) -> Option<&'static str> {
    let rodata = memory::kernel_layout().rodata;
    // SAFETY: neither the where table nor the read-only data is text: no pass writes them.
    let (records, strings) = unsafe {
        let records = (&raw const __altinstr_where as u64)..(&raw const __altinstr_where_end as u64);
        (memory::image_bytes(&records), memory::image_bytes(&rodata))
    };
    let records = Region { addr: &raw const __altinstr_where as u64, bytes: records };
    let strings = Region { addr: rodata.start, bytes: strings };
    SourceRecords { records, strings }.location(site)
}

/// The validator's symbolizer: a site's source location, where the macros recorded one.
fn symbolize(addr: u64) -> Option<Symbol> {
    site_location(addr).map(|location| Symbol { name: location.into(), offset: 0 })
}

/// The BRK immediate of a site that must never run unpatched (see [`check_boot_patched`]).
pub const UNPATCHED_SITE_BRK_IMM: u16 = 0xa17;

/// A site that traps unless the boot pass patched it (an always-on boot capability), in
/// the spirit of Zircon's self-check: a kernel whose boot patching silently did nothing
/// cannot get past this call.
#[inline(never)]
pub fn check_boot_patched() {
    // SAFETY: the site is a BRK (which ends the run through the exception handler) or, once
    // patched, a NOP; neither touches memory or registers.
    unsafe {
        crate::alternative!(
            old: ["brk #{imm}"],
            new: ["nop"],
            cap: ALWAYS_BOOT,
            imm = const UNPATCHED_SITE_BRK_IMM,
            options(nomem, nostack, preserves_flags)
        )
    }
}

/// As [`check_boot_patched`], for the system-wide pass under the rendezvous.
#[inline(never)]
pub fn check_system_patched() {
    // SAFETY: as in `check_boot_patched`.
    unsafe {
        crate::alternative!(
            old: ["brk #{imm}"],
            new: ["nop"],
            cap: ALWAYS_SYSTEM,
            imm = const UNPATCHED_SITE_BRK_IMM,
            options(nomem, nostack, preserves_flags)
        )
    }
}
