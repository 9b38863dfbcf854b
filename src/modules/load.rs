//! Loading one module: place, relocate, seal, check and apply its alternatives, run its init.
//! Every failure refuses the module by name, and the [`Mapping`] guard takes back every page
//! it had, so a refused module leaves nothing mapped or allocated.

use super::{area, exports};
use crate::{
    alternative::{self, KernelCaps, PassError},
    cache, cpu,
    memory::mmu::{self, MODULE_AREA, MapKind},
    println, smp,
};
use alloc::{format, string::String, string::ToString, vec::Vec};
use altpatch_aarch64::{Defect, Layout, Linked, LinkedText, Region, SourceRecords, Symbol};
use altpatch_core::validate::DefectKind;
use altpatch_modload::{Area, ModuleLayout};
use altpatch_rendezvous::Failure;
use arm64_caps::caps::{Cap, SystemCaps};
use core::ops::Range;
use spin::Mutex;

/// One load at a time: the page tables and the module test slot are the loader's alone.
static LOADER: Mutex<()> = Mutex::new(());

/// A module that loaded and whose init passed: its pages stay mapped until [`unload`].
pub struct Loaded {
    /// The module's name, from its header.
    pub name: String,
    /// Its init function (which runs its self-test), for [`Loaded::retest`].
    init: extern "C" fn() -> bool,
    mapping: Mapping,
}

impl Loaded {
    /// Runs the module's init (its self-test on every online CPU) again: after CPU hotplug,
    /// the CPUs that came back run its patched code too. Whether it passed.
    pub fn retest(&self) -> bool {
        let _loader = LOADER.lock();
        (self.init)()
    }
}

/// Loads the module `object` (from staging slot `slot`) against the final capabilities:
/// the loaded module, or the reason it was refused (already printed unless `quiet`).
pub fn load(
    object: &[u8],
    slot: usize,
    system: &SystemCaps,
    timeout_us: u64,
    quiet: bool,
) -> Result<Loaded, String> {
    let _loader = LOADER.lock();
    let name = altpatch_modload::parse(object)
        .ok()
        .and_then(|elf| altpatch_modload::header::name(&elf))
        .unwrap_or_else(|| format!("slot{slot}"));
    exports::set_quiet(quiet);
    let result = place_and_run(object, &name, system, timeout_us, quiet);
    exports::set_quiet(false);
    match result {
        Ok((mapping, init)) => Ok(Loaded { name, init, mapping }),
        Err(reason) => {
            if !quiet {
                println!("modules: {name} refused: {reason}");
            }
            Err(reason)
        }
    }
}

/// Unmaps a loaded module and returns its pages.
pub fn unload(module: Loaded) {
    let _loader = LOADER.lock();
    drop(module.mapping);
}

/// The whole load; on `Err` the mapping guard has already given everything back.
fn place_and_run(
    object: &[u8],
    name: &str,
    system: &SystemCaps,
    timeout_us: u64,
    quiet: bool,
) -> Result<(Mapping, extern "C" fn() -> bool), String> {
    let elf = altpatch_modload::parse(object).map_err(|e| e.to_string())?;
    let layout = ModuleLayout::plan(&elf, MODULE_AREA.end - MODULE_AREA.start).map_err(|e| e.to_string())?;
    let mut mapping = Mapping::new(layout.size())?;
    let base = mapping.pages.start;
    // SAFETY: the mapping's pages are mapped read-write (not yet sealed), belong to this
    // load alone, and nothing else references them.
    let image = unsafe { mapping.bytes_mut() };
    image.fill(0);
    let header =
        altpatch_modload::load_into(&elf, &layout, base, image, &exports::resolve).map_err(|errors| {
            let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
            all.join("; ")
        })?;
    mapping.seal(&layout);
    apply_alternatives(&layout, base, name, system, timeout_us, quiet)?;
    // SAFETY: `header.init` is an instruction of the module's text (`header::read` checked
    // it), where the module's header points it at its `extern "C" fn() -> bool` init; the
    // text is mapped executable, relocated and patched, and every CPU passed a context
    // synchronisation (the rendezvous) since.
    let init = unsafe { core::mem::transmute::<usize, extern "C" fn() -> bool>(header.init as usize) };
    if !init() {
        return Err(String::from("its init's self-test failed"));
    }
    if !quiet {
        println!(
            "modules: {name}: loaded at {base:#x} (text {} KiB, rodata {} KiB, data {} KiB), init passed",
            layout.area_sizes[0] / 1024,
            layout.area_sizes[1] / 1024,
            layout.area_sizes[2] / 1024
        );
    }
    Ok((mapping, init))
}

/// A loaded module's alternatives regions: (address, length) of its table, its text and
/// its replacements, and the kernel's exported callbacks, which stand in for the
/// `.altinstr_callbacks` a module does not declare.
struct ModuleText {
    spans: [(u64, usize); 3],
    exported: Vec<u64>,
}

impl LinkedText for ModuleText {
    fn with_linked<R>(&self, f: impl FnOnce(&Linked<'_>) -> R) -> R {
        let region = |(addr, len): (u64, usize)| Region {
            addr,
            // SAFETY: the three spans lie in the module's mapped, readable image. Text
            // changes only inside a stop window, when no slice of it is alive (`f` writes
            // nothing, and no `Linked` outlives it).
            bytes: unsafe { core::slice::from_raw_parts(addr as *const u8, len) },
        };
        let [table, text, replacements] = self.spans.map(region);
        let layout = Layout { table, text, replacements, callbacks: Region { addr: 0, bytes: &[] } };
        // SAFETY: `text` is the module's text, mapped until the module is unloaded (after
        // every pass over it), and `exported` the export table's callbacks, each an
        // `AltCallback` by that table's type: `Linked::module`'s contract.
        let linked = unsafe { Linked::module(layout, &self.exported) };
        f(&linked)
    }
}

/// Checks the module's table with the kernel's checks (fingerprint included; a callback
/// only among the kernel's exported callbacks), then applies it under a new rendezvous
/// generation of every online CPU.
fn apply_alternatives(
    layout: &ModuleLayout,
    base: u64,
    name: &str,
    system: &SystemCaps,
    timeout_us: u64,
    quiet: bool,
) -> Result<(), String> {
    let region =
        |section: &str| layout.by_name(section).map_or((base, 0), |p| (base + p.offset, p.size as usize));
    let text = layout.area(Area::Text);
    let spans = [
        region(".altinstructions"),
        (base + text.start, (text.end - text.start) as usize),
        region(".altinstr_replacement"),
    ];
    let symbolize = |addr: u64| symbolize(layout, base, addr);
    let enabled = |index: u16| Cap::from_index(index).is_some_and(|cap| system.has(cap));
    let mut module = ModuleText { spans, exported: exports::callbacks() };
    // A callback's bad output refuses the module as a bad entry does.
    let pass = module
        .with_linked(|linked| {
            let checked = altpatch_aarch64::check::<KernelCaps>(linked, &symbolize)?;
            checked.prepare(linked, &enabled, system.ctr_el0())
        })
        .map_err(|defects| refusal(&defects, quiet))?;
    let done =
        alternative::apply(&mut module, &pass, smp::online(), timeout_us).map_err(|error| match error {
            PassError::Rendezvous(missing @ Failure::Missing(_)) => {
                format!("rendezvous failed: {missing}; nothing was patched")
            }
            // A CPU that never left the stop window: the system cannot go on (exit 4), as for the
            // kernel's own passes.
            error @ PassError::Rendezvous(Failure::NotDeparted { .. }) => alternative::fail_pass(error),
            PassError::Audit(mismatches) => {
                format!("{} patched sites did not take the write", mismatches.len())
            }
            // Prepared above: the engine refuses nothing after that.
            PassError::Refused(defects) => refusal(&defects, quiet),
        })?;
    if !quiet {
        println!(
            "modules: {name}: {} patched, {} skipped of {} entries (rendezvous generation {})",
            done.output.patched,
            done.output.entries - done.output.patched,
            done.output.entries,
            done.stats.generation
        );
    }
    Ok(())
}

/// Names a site of the module: the source line its macro recorded in `.altinstr_where`
/// (as the kernel's own sites are named), else its section and offset.
fn symbolize(layout: &ModuleLayout, base: u64, addr: u64) -> Option<Symbol> {
    let section = |name: &str| {
        let p = layout.by_name(name)?;
        // SAFETY: the section lies in the module's mapped image, and neither it nor any other
        // non-text section is written after relocation.
        Some(Region { addr: base + p.offset, bytes: unsafe { module_bytes(base + p.offset, p.size) } })
    };
    let recorded = section(".altinstr_where").zip(section(".rodata.altinstr_where"));
    recorded.and_then(|(records, strings)| SourceRecords { records, strings }.symbolize(addr)).or_else(|| {
        let p =
            layout.placements.iter().find(|p| (base + p.offset..base + p.offset + p.size).contains(&addr))?;
        Some(Symbol { name: p.name.clone(), offset: addr - base - p.offset })
    })
}

/// The `len` bytes of the loaded module at `addr`.
///
/// # Safety
///
/// `addr..addr + len` lies in the module's mapped image and is not written while the slice
/// lives.
unsafe fn module_bytes<'a>(addr: u64, len: u64) -> &'a [u8] {
    // SAFETY: the caller's promise.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) }
}

/// Prints every defect (unless `quiet`) and says why the module is refused: the first
/// defect's reasons, which for a stale module name the list it was built against and the fix.
fn refusal(defects: &[Defect], quiet: bool) -> String {
    if !quiet {
        for defect in defects {
            println!("{defect}");
        }
    }
    let stale = |d: &Defect| d.kinds.iter().all(|k| matches!(k, DefectKind::StaleFingerprint { .. }));
    if defects.iter().all(stale) {
        let list = defects.iter().find_map(|d| match d.kinds.first() {
            Some(DefectKind::StaleFingerprint { known: Some(meaning) }) => Some(meaning.list),
            _ => None,
        });
        return format!(
            "{} alternatives entries built against another capability list ({}, fingerprint {:#010x}; this kernel's is {:#010x}); fix: rebuild the module against this kernel's crates (scripts/build -p PACKAGE)",
            defects.len(),
            list.unwrap_or("not a known list"),
            defects[0].entry.map_or(0, |e| e.fingerprint),
            defects[0].kernel_fingerprint
        );
    }
    let first = defects.first().map(ToString::to_string).unwrap_or_default();
    let reasons = first.split_once("): ").map_or(first.as_str(), |(_, reasons)| reasons);
    let index = defects.first().map_or(0, |d| d.index);
    format!("{} bad alternatives entries; entry {index}: {reasons}", defects.len())
}

/// A module's run of module-area pages, mapped; dropping it unmaps and frees them.
struct Mapping {
    pages: Range<u64>,
}

impl Mapping {
    /// `bytes` of module area, mapped read-write (never executable).
    fn new(bytes: u64) -> Result<Self, String> {
        let pages =
            area::alloc(bytes).ok_or_else(|| format!("the module area has no room for {bytes} bytes"))?;
        // SAFETY: the loader lock serialises page-table changes; the pages are freshly
        // allocated and unmapped.
        unsafe { mmu::map_module_pages(pages.clone(), MapKind::ReadWrite) };
        Ok(Self { pages })
    }

    /// The image, writable.
    ///
    /// # Safety
    ///
    /// The pages are still mapped read-write, and no other reference to them is alive.
    unsafe fn bytes_mut(&mut self) -> &mut [u8] {
        let len = (self.pages.end - self.pages.start) as usize;
        // SAFETY: the caller's promise.
        unsafe { core::slice::from_raw_parts_mut(self.pages.start as *mut u8, len) }
    }

    /// Text becomes read-only and executable (made visible to instruction fetch), read-only
    /// data read-only; data and BSS stay read-write. Never writable and executable at once.
    fn seal(&self, layout: &ModuleLayout) {
        let at = |area: Area| {
            let r = layout.area(area);
            self.pages.start + r.start..self.pages.start + r.end
        };
        for (area, kind) in [(Area::Text, MapKind::Text), (Area::ReadOnly, MapKind::ReadOnly)] {
            let pages = at(area);
            if !pages.is_empty() {
                // SAFETY: the loader lock serialises page-table changes; nothing runs or
                // reads the module while it is sealed.
                unsafe { mmu::protect_module_pages(pages, kind) };
            }
        }
        let text = at(Area::Text);
        if !text.is_empty() {
            cache::sync_icache_range(text);
        }
        cpu::context_sync();
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the loader lock serialises page-table changes; the module's code no longer
        // runs (its init returned, or it never ran).
        unsafe { mmu::unmap_module_pages(self.pages.clone()) };
        area::free(self.pages.clone());
    }
}
