//! Alternatives: the macros that fill `.altinstructions` from Rust, and the boot-time engine
//! that validates the table and patches the running kernel.
//!
//! - [`alternative!`](crate::alternative): Linux's `ALTERNATIVE(old, new, cap)` for `asm!`.
//! - [`alternative_cb!`](crate::alternative_cb): Linux's `ALTERNATIVE_CB`, a site rewritten
//!   by a callback with a value known only at boot.
//! - [`has_cap!`](crate::has_cap): a static branch, one instruction at the site after patching.
//! - `boot/alternative.s`: `alternative_if_not` / `alternative_else` / `alternative_endif`
//!   for assembly files.
//!
//! Capability numbers and the list's fingerprint reach the assembler only as `const`
//! operands taken from [`altpatch_core::caps`]: there is no second copy to go stale.

pub use altpatch_core::caps::{Cap, FINGERPRINT};
pub use altpatch_core::table::CALLBACK_FLAG;

/// `ALTERNATIVE(old, new, cap)`: emits the `old` instructions at the site and records an
/// entry that replaces them with `new` (which must be the same length; the assembler refuses
/// otherwise) on CPUs with `cap`. Expands to `core::arch::asm!`, so it is used inside
/// `unsafe`; further operands, which must be named or explicit registers, follow `cap`.
#[macro_export]
macro_rules! alternative {
    (old: [$($old:literal),+ $(,)?], new: [$($new:literal),+ $(,)?], cap: $cap:ident $(, $($rest:tt)*)?) => {
        $crate::alternative_entry!(
            old: [$($old),+],
            new: [$($new),+],
            cap: $crate::alternative::Cap::$cap.index(),
            fingerprint: $crate::alternative::FINGERPRINT
            $(, $($rest)*)?
        )
    };
}

/// The one place an `asm!` entry is spelled out: [`alternative!`](crate::alternative) with the
/// capability index and list fingerprint given as constant expressions, and optionally the
/// table section (`table: ".altinstructions.late"`) for a late region. Used directly only
/// by late regions and by the stale object of the seed reproduction (`tests/stale/`),
/// which stamps entries with an older list's numbers.
#[macro_export]
macro_rules! alternative_entry {
    (old: [$($old:literal),+ $(,)?], new: [$($new:literal),+ $(,)?], cap: $cap:expr, fingerprint: $fp:expr $(, $($rest:tt)*)?) => {
        $crate::alternative_entry!(
            table: ".altinstructions",
            old: [$($old),+], new: [$($new),+], cap: $cap, fingerprint: $fp $(, $($rest)*)?
        )
    };
    (table: $table:literal, old: [$($old:literal),+ $(,)?], new: [$($new:literal),+ $(,)?], cap: $cap:expr, fingerprint: $fp:expr $(, $($rest:tt)*)?) => {
        core::arch::asm!(
            "661:",
            $($old,)+
            "662:",
            concat!(".pushsection ", $table, ", \"a\""),
            ".balign 4",
            ".word 661b - .",
            ".word 663f - .",
            ".hword {alt_cap}",
            ".byte 662b - 661b",
            ".byte 664f - 663f",
            ".word {alt_fingerprint}",
            ".popsection",
            $crate::alternative_where!(),
            ".pushsection .altinstr_replacement, \"a\"",
            ".balign 4",
            "663:",
            $($new,)+
            "664:",
            ".org . - (664b - 663b) + (662b - 661b)",
            ".org . - (662b - 661b) + (664b - 663b)",
            ".popsection",
            alt_cap = const $cap,
            alt_fingerprint = const $fp,
            $($($rest)*)?
        )
    };
}

/// The source record of the entry being emitted: a pair of self-relative words in
/// `.altinstr_where` (the site at label 661, a `"file:line"` string) naming the line that
/// invoked the outermost alternatives macro, for the kernel's reports.
#[doc(hidden)]
#[macro_export]
macro_rules! alternative_where {
    () => {
        concat!(
            ".pushsection .altinstr_where, \"a\"\n",
            ".balign 4\n",
            ".word 661b - .\n",
            ".word 667f - .\n",
            ".popsection\n",
            ".pushsection .rodata.altinstr_where, \"a\"\n",
            "667: .asciz \"",
            file!(),
            ":",
            line!(),
            "\"\n",
            ".popsection"
        )
    };
}

/// `ALTERNATIVE_CB(old, cap, callback)`: emits `old` at the site and records a callback
/// entry: on CPUs with `cap`, `callback` (an [`AltCallback`]) writes the site's new
/// instructions. Used inside `unsafe`, like [`alternative!`](crate::alternative).
#[macro_export]
macro_rules! alternative_cb {
    (old: [$($old:literal),+ $(,)?], callback: $cb:path, cap: $cap:ident $(, $($rest:tt)*)?) => {{
        const _: $crate::alternative::AltCallback = $cb;
        core::arch::asm!(
            "661:",
            $($old,)+
            "662:",
            ".pushsection .altinstructions, \"a\"",
            ".balign 4",
            ".word 661b - .",
            ".word {alt_callback} - .",
            ".hword {alt_cap}",
            ".byte 662b - 661b",
            ".byte 0",
            ".word {alt_fingerprint}",
            ".popsection",
            $crate::alternative_where!(),
            alt_cap = const $crate::alternative::Cap::$cap.index() | $crate::alternative::CALLBACK_FLAG,
            alt_fingerprint = const $crate::alternative::FINGERPRINT,
            alt_callback = sym $cb,
            $($($rest)*)?
        )
    }};
}

/// Whether `cap` is detected, as a static branch (Linux's `alternative_has_cap_unlikely`):
/// the site is a NOP, patched to a branch to the `true` path on CPUs with `cap`; the branch
/// lives in the replacement and is relocated to the site. Before patching it reads `false`.
#[macro_export]
macro_rules! has_cap {
    ($cap:ident) => {
        'has_cap: {
            // SAFETY: the site is a NOP or, once patched, a branch to the label block; neither
            // touches memory, the stack or the flags.
            unsafe {
                $crate::alternative!(
                    old: ["nop"],
                    new: ["b {yes}"],
                    cap: $cap,
                    yes = label { break 'has_cap true },
                    options(nomem, nostack, preserves_flags)
                )
            }
            false
        }
    };
}

/// The arguments of an alternatives callback.
pub struct CallbackSite<'a> {
    /// The site's instructions as they are now.
    pub original: &'a [u32],
}

/// An alternatives callback: writes exactly `dest.len()` (= the site's) instructions.
pub type AltCallback = fn(site: &CallbackSite<'_>, dest: &mut [u32]);

use crate::{cache, memory, println, semihosting::ExitStatus};
use alloc::vec::Vec;
use altpatch_core::{
    caps,
    plan::{self, PatchPlan, Write},
    validate::{self, Defect, Layout, Region},
};
use core::{
    ops::Range,
    sync::atomic::{AtomicU64, Ordering},
};

/// The system-wide CTR_EL0 (sanitised across CPUs) once the capabilities are final; before
/// that, the boot CPU's. Callbacks that encode cache geometry read it.
static SYSTEM_CTR_EL0: AtomicU64 = AtomicU64::new(0);

/// The CTR_EL0 value callbacks and maintenance use (see [`SYSTEM_CTR_EL0`]).
pub fn system_ctr_el0() -> u64 {
    SYSTEM_CTR_EL0.load(Ordering::Relaxed)
}

/// Sets the CTR_EL0 value for callbacks and maintenance.
pub fn set_system_ctr_el0(ctr: u64) {
    SYSTEM_CTR_EL0.store(ctr, Ordering::Relaxed);
}

/// What one patch pass did.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassSummary {
    /// Entries applied in this pass.
    pub patched: usize,
    /// Entries in the table.
    pub entries: usize,
    /// Cache maintenance operations executed.
    pub ops: MaintenanceOps,
}

/// Cache maintenance operations a pass executed, by instruction.
#[derive(Clone, Copy, Debug, Default)]
pub struct MaintenanceOps {
    /// DC CVAU: D-lines cleaned to the point of unification.
    pub dc_cvau: usize,
    /// IC IVAU: I-lines invalidated.
    pub ic_ivau: usize,
    /// DC CIVAC: D-lines cleaned and invalidated to the point of coherency (baseline only).
    pub dc_civac: usize,
    /// IC IALLU: whole I-cache invalidations (baseline only).
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

/// An alternatives region: a table and the text its sites may lie in. The kernel's own
/// region is validated at boot and a defect there is fatal; a late region (Linux's module
/// alternatives) is applied after boot and refused on its own, the kernel going on.
#[derive(Clone, Debug)]
pub struct AltRegion {
    /// A name for reports.
    pub name: &'static str,
    /// The region's `.altinstructions` table.
    pub table: Range<u64>,
    /// The text its sites (and callbacks) must lie in.
    pub text: Range<u64>,
    /// Bytes to validate in place of the table's own, at the table's address: a corrupted
    /// copy, for the negative boots (`fault.corrupt=KIND`).
    pub table_bytes: Option<&'static [u8]>,
}

impl AltRegion {
    /// The kernel's own table over all of kernel text.
    pub fn kernel() -> Self {
        let k = memory::kernel_layout();
        Self { name: "kernel", table: k.alt_table, text: k.text, table_bytes: None }
    }

    /// The region as the validator sees it.
    ///
    /// # Safety
    ///
    /// The slices borrow kernel text: the layout (and anything borrowing from it) must be
    /// gone before text is next written.
    unsafe fn layout(&self) -> Layout<'static> {
        let replacements = memory::kernel_layout().alt_replacements;
        // SAFETY: the table and replacements are read-only data that never changes; the
        // caller keeps the text slice from outliving the next write.
        unsafe {
            Layout {
                table: Region {
                    addr: self.table.start,
                    bytes: self.table_bytes.unwrap_or_else(|| memory::image_bytes(&self.table)),
                },
                text: Region { addr: self.text.start, bytes: memory::image_bytes(&self.text) },
                replacements: Region { addr: replacements.start, bytes: memory::image_bytes(&replacements) },
            }
        }
    }
}

unsafe extern "C" {
    static __altinstr_where: u8;
    static __altinstr_where_end: u8;
}

/// Where the entry for `site` was written (`file:line`), from the `.altinstr_where` records
/// the macros leave beside each entry; `None` for sites that have none (assembly files).
pub fn site_location(site: u64) -> Option<&'static str> {
    let (start, end) = (&raw const __altinstr_where as u64, &raw const __altinstr_where_end as u64);
    (start..end).step_by(8).find_map(|record| {
        // SAFETY: `record` and `record + 4` are aligned words of the read-only where table.
        let (to_site, to_text) =
            unsafe { (core::ptr::read(record as *const i32), core::ptr::read((record + 4) as *const i32)) };
        if record.wrapping_add_signed(to_site.into()) != site {
            return None;
        }
        let text = (record + 4).wrapping_add_signed(to_text.into()) as *const core::ffi::c_char;
        // SAFETY: the macros point the second word at a NUL-terminated string in read-only data.
        unsafe { core::ffi::CStr::from_ptr(text) }.to_str().ok()
    })
}

/// The validator's symbolizer: a site's source location, where the macros recorded one.
fn symbolize(addr: u64) -> Option<validate::Symbol> {
    site_location(addr).map(|location| validate::Symbol { name: location.into(), offset: 0 })
}

/// Bytes of text written by [`patch`] since boot: the only place text changes.
static TEXT_BYTES_WRITTEN: AtomicU64 = AtomicU64::new(0);

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

/// Defects `fault.corrupt=KIND` can plant in a copy of the kernel's table, one entry each.
pub const CORRUPTIONS: &[&str] =
    &["cap", "length", "words", "site", "align", "replacement", "callback", "overlap", "fingerprint"];

/// A copy of `region`'s table with one entry corrupted as `kind` names (see [`CORRUPTIONS`]),
/// for the negative boots: the validator must name it and nothing may be patched.
pub fn corrupted_table(region: &AltRegion, kind: &str) -> Option<&'static [u8]> {
    use altpatch_core::table::{ENTRY_SIZE, RawEntry};
    // SAFETY: the table is read-only data, never written.
    let mut bytes = unsafe { memory::image_bytes(&region.table) }.to_vec();
    let entry = |bytes: &[u8], i: usize| {
        RawEntry::from_bytes(bytes[i * ENTRY_SIZE..][..ENTRY_SIZE].try_into().unwrap_or(&[0; ENTRY_SIZE]))
    };
    let count = bytes.len() / ENTRY_SIZE;
    let is_callback = |e: &RawEntry| e.cap & CALLBACK_FLAG != 0;
    let plain = (0..count).find(|&i| !is_callback(&entry(&bytes, i)))?;
    let (index, mut e) = (plain, entry(&bytes, plain));
    let rodata = memory::kernel_layout().rodata.start;
    let field = region.table.start + (index * ENTRY_SIZE) as u64;
    match kind {
        "cap" => e.cap = caps::NCAPS + 3,
        "length" => e.alt_len = e.orig_len + 4,
        "words" => (e.orig_len, e.alt_len) = (e.orig_len - 2, e.alt_len - 2),
        "site" => e.orig_offset = (rodata as i64 - field as i64) as i32,
        "align" => e.orig_offset += 2,
        "replacement" => e.alt_offset = (region.text.start as i64 - (field + 4) as i64) as i32,
        "fingerprint" => e.fingerprint ^= 1,
        "callback" => {
            let index = (0..count).find(|&i| is_callback(&entry(&bytes, i)))?;
            let mut e = entry(&bytes, index);
            let field = region.table.start + (index * ENTRY_SIZE) as u64;
            e.alt_offset = (rodata as i64 - (field + 4) as i64) as i32;
            bytes[index * ENTRY_SIZE..][..ENTRY_SIZE].copy_from_slice(&e.to_bytes());
            return Some(alloc::boxed::Box::leak(bytes.into_boxed_slice()));
        }
        "overlap" => {
            // The next plain entry's site moves onto this one's.
            let other = (plain + 1..count).find(|&i| !is_callback(&entry(&bytes, i)))?;
            let mut o = entry(&bytes, other);
            let site = field as i64 + i64::from(e.orig_offset);
            let other_field = region.table.start + (other * ENTRY_SIZE) as u64;
            o.orig_offset = (site - other_field as i64) as i32;
            bytes[other * ENTRY_SIZE..][..ENTRY_SIZE].copy_from_slice(&o.to_bytes());
        }
        _ => return None,
    }
    bytes[index * ENTRY_SIZE..][..ENTRY_SIZE].copy_from_slice(&e.to_bytes());
    Some(alloc::boxed::Box::leak(bytes.into_boxed_slice()))
}

/// Validates `region`, plans the entries whose capability `enabled` accepts, runs their
/// callbacks into buffers, and returns the plan with every write in it.
fn prepare(region: &AltRegion, enabled: &dyn Fn(u16) -> bool) -> Result<(PatchPlan, usize), Vec<Defect>> {
    // SAFETY: the layout lives only in this function, which writes no text: the plan it
    // returns owns its bytes.
    let layout = unsafe { region.layout() };
    let valid = validate::validate(&layout, &caps::LIST, caps::history::LISTS, &symbolize)?;
    let mut plan = plan::plan(&valid, enabled);
    for call in core::mem::take(&mut plan.callbacks) {
        let original: Vec<u32> = layout
            .text
            .read(call.site, usize::from(call.len))
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let mut dest = alloc::vec![0u32; original.len()];
        // SAFETY: the validator checked that the callback lies in kernel text, aligned, and
        // that the entry carries this kernel's fingerprint. Of the macros that stamp that
        // fingerprint, only `alternative_cb!` sets CALLBACK_FLAG with a target in text (every
        // other entry points into `.altinstr_replacement`), and it type-checks its function
        // as an `AltCallback`.
        let callback: AltCallback =
            unsafe { core::mem::transmute::<usize, AltCallback>(call.callback as usize) };
        callback(&CallbackSite { original: &original }, &mut dest);
        plan.writes.push(Write {
            entry: call.entry,
            addr: call.site,
            bytes: dest.iter().flat_map(|w| w.to_le_bytes()).collect(),
        });
    }
    Ok((plan, valid.entries.len()))
}

/// Validates `region` and patches every entry whose capability `enabled` accepts: writes
/// through the temporary alias, then the coalesced cache maintenance, then an audit of every
/// site. On a defect nothing is written.
///
/// # Safety
///
/// No other CPU runs, or every other CPU waits in the rendezvous, in code no entry patches;
/// each CPU executes a context synchronization event before it runs patched code.
pub unsafe fn patch(
    region: &AltRegion,
    enabled: &dyn Fn(u16) -> bool,
    ctr_el0: u64,
) -> Result<PassSummary, Vec<Defect>> {
    let (plan, entries) = prepare(region, enabled)?;
    let maintenance = plan::maintenance(&plan, ctr_el0);
    // SAFETY: the caller promises no CPU executes the text while it changes; the alias is
    // the only writable view of it.
    unsafe {
        memory::mmu::with_text_alias(region.text.clone(), |alias| {
            for write in &plan.writes {
                TEXT_BYTES_WRITTEN.fetch_add(write.bytes.len() as u64, Ordering::Relaxed);
                let at = alias.ptr(write.addr, write.bytes.len() as u64);
                // SAFETY: the validator put `write.addr..+len` inside the region's text, which
                // the alias maps read-write for the duration of this closure.
                core::ptr::copy_nonoverlapping(write.bytes.as_ptr(), at, write.bytes.len());
            }
        });
    }
    let ops = apply_maintenance(&plan, &maintenance, ctr_el0);

    // SAFETY: the writes are done; the layout is dropped at the end of this statement.
    let mismatches = plan::audit(&plan, &unsafe { region.layout() }.text);
    if !mismatches.is_empty() {
        for m in &mismatches {
            println!(
                "alternatives: audit: entry {} at {:#x}: expected {:08x}, found {:x?}",
                m.entry, m.addr, m.expected, m.found
            );
        }
        crate::bug!(ExitStatus::SelfTestFailed);
    }
    Ok(PassSummary { patched: plan.writes.len(), entries, ops })
}

/// The coalesced maintenance: each distinct D-line cleaned to the PoU and each distinct
/// I-line invalidated once, then one DSB ISH. (The `bench-baseline` feature does it the way
/// Linux's `__apply_alternatives` does instead, for the benchmark comparison.)
fn apply_maintenance(plan: &PatchPlan, maintenance: &plan::Maintenance, ctr_el0: u64) -> MaintenanceOps {
    let mut ops = MaintenanceOps::default();
    if cfg!(feature = "bench-baseline") {
        let geometry = plan::CacheGeometry::from_ctr_el0(ctr_el0);
        let line = geometry.dline;
        for (addr, len) in plan.ranges() {
            let mut at = addr & !(line - 1);
            while at < addr + len.max(1) {
                cache::clean_invalidate_dcache_line_poc(at);
                ops.dc_civac += 1;
                at += line;
            }
        }
        cache::complete_maintenance();
        // Linux's icache_inval_all_pou() returns before its IC IALLU under CTR_EL0.DIC.
        if plan.patched != 0 && !geometry.dic {
            cache::invalidate_icache_all();
            ops.ic_iallu += 1;
        }
        cache::complete_maintenance();
        return ops;
    }
    for &line in &maintenance.dc_cvau {
        cache::clean_dcache_line_pou(line);
    }
    cache::complete_maintenance();
    for &line in &maintenance.ic_ivau {
        cache::invalidate_icache_line_pou(line);
    }
    cache::complete_maintenance();
    ops.dc_cvau = maintenance.dc_cvau.len();
    ops.ic_ivau = maintenance.ic_ivau.len();
    ops
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
