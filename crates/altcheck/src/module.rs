//! `--kernel ELF MODULE`: a module object checked against the kernel it will load into,
//! before anyone boots it. The module is laid out and relocated exactly as the kernel's
//! loader does (altpatch-modload, at the start of the kernel's module area), its undefined
//! symbols resolved against the kernel ELF's symbols (the kernel's exports are `no_mangle`
//! symbols of their export names), its callbacks allowed only among the kernel's exported
//! callbacks (`altpatch_cb_*`), and its entries' fingerprints compared with the kernel's.
//! The result is an [`Image`] that `verify`, `dump` and `simulate` take as they take a kernel.

use crate::{Image, ImageSymbol, demangle};
use altpatch_core::fingerprint::CapList;
use altpatch_modload::{Area, ModuleLayout};
use object::{Object, ObjectSymbol, SymbolSection};

/// Where the kernel maps the first module (`MODULE_AREA` in the kernel's mmu.rs).
pub const MODULE_AREA_BASE: u64 = 0x4200_0000;
/// Bytes of the kernel's module area (`MODULE_AREA` in the kernel's mmu.rs): the most a
/// module's image may take, so also the most altcheck allocates for one.
pub const MODULE_AREA_SIZE: u64 = 0x100_0000;

/// The largest module object the kernel reads: one staging slot less its 16-byte staging
/// header (`SLOT_SIZE` in the kernel's modules/staging.rs; `scripts/run --module` refuses
/// larger files).
pub const MODULE_OBJECT_MAX: u64 = (1 << 20) - 16;

/// The prefix of the kernel's exported callbacks.
const CALLBACK_PREFIX: &str = "altpatch_cb_";

/// Reads module `module` for kernel `kernel` (paths): the module's image, as loaded, with
/// the reasons the kernel's loader would refuse it before its table (relocations, symbols),
/// which `verify` reports. Err: unreadable input, or a kernel built against another list
/// than `current`.
pub fn load(kernel: &str, module: &str, current: &CapList) -> Result<Image, String> {
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"));
    let size = std::fs::metadata(module).map_err(|e| format!("cannot read {module}: {e}"))?.len();
    if size > MODULE_OBJECT_MAX {
        return Err(format!(
            "{module}: {size} bytes: refused (the kernel stages a module object in a {} KiB slot)",
            MODULE_OBJECT_MAX / 1024
        ));
    }
    let (kernel_bytes, module_bytes) = (read(kernel)?, read(module)?);
    let kernel_image = Image::parse(&kernel_bytes).map_err(|e| format!("{kernel}: {e}"))?;
    let kernel_fp = kernel_image.entries().first().map(|e| e.fingerprint);
    if kernel_fp.is_some_and(|fp| fp != current.fingerprint) {
        return Err(format!(
            "{kernel}: its table is built against fingerprint {:#010x}, not this altcheck's list {} ({:#010x})",
            kernel_fp.unwrap_or(0),
            current.label,
            current.fingerprint
        ));
    }
    let kernel_file = object::File::parse(&*kernel_bytes).map_err(|e| format!("{kernel}: {e}"))?;
    // Only the kernel's export table: the kernel's loader resolves nothing else.
    let exports = |name: &str| {
        altpatch_modload::KERNEL_EXPORTS.contains(&name).then_some(())?;
        kernel_file.symbols().find(|s| !s.is_undefined() && s.name() == Ok(name)).map(|s| s.address())
    };
    let callbacks: Vec<u64> = kernel_file
        .symbols()
        .filter(|s| s.is_global() && s.name().is_ok_and(|n| n.starts_with(CALLBACK_PREFIX)))
        .map(|s| s.address())
        .collect();
    place(&module_bytes, &exports, callbacks).map_err(|e| format!("{module}: {e}"))
}

/// The module laid out and relocated at [`MODULE_AREA_BASE`], as an [`Image`].
fn place(bytes: &[u8], exports: &dyn Fn(&str) -> Option<u64>, callbacks: Vec<u64>) -> Result<Image, String> {
    let elf = altpatch_modload::parse(bytes).map_err(|e| e.to_string())?;
    // The plan is bounded by the module area, so the image below is too.
    let layout = ModuleLayout::plan(&elf, MODULE_AREA_SIZE).map_err(|e| e.to_string())?;
    let base = MODULE_AREA_BASE;
    let mut image = vec![0u8; usize::try_from(layout.size()).map_err(|e| e.to_string())?];
    // The kernel loader's own steps. Every relocation that can be applied is: the table is
    // checked even when the loader would refuse the module for another reason, so that one
    // run names every defect.
    let refusals = match altpatch_modload::load_into(&elf, &layout, base, &mut image, exports) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|e| format!("module refused by the loader: {e}")).collect(),
    };
    let span = |name: &str| {
        layout.by_name(name).map_or((base, Vec::new()), |p| {
            (base + p.offset, image[p.offset as usize..(p.offset + p.size) as usize].to_vec())
        })
    };
    let text = layout.area(Area::Text);
    let mut symbols: Vec<ImageSymbol> = elf
        .symbols()
        .filter_map(|s| {
            let SymbolSection::Section(index) = s.section() else { return None };
            let p = layout.placement(index.0)?;
            let name = s.name().ok().filter(|n| !n.is_empty())?;
            let section = layout.placements.iter().position(|q| q.index == p.index);
            Some(ImageSymbol {
                addr: base + p.offset + s.address(),
                size: s.size(),
                section,
                global: s.is_global(),
                name: demangle(name),
            })
        })
        .collect();
    symbols.sort();
    Ok(Image {
        table: span(".altinstructions"),
        text: (base + text.start, image[text.start as usize..text.end as usize].to_vec()),
        replacements: span(".altinstr_replacement"),
        // A module declares no callback of its own: its exports list is what it may name.
        callbacks: (0, Vec::new()),
        sections: layout.placements.iter().map(|p| (base + p.offset, base + p.offset + p.size)).collect(),
        symbols,
        exported_callbacks: Some(callbacks),
        refusals,
    })
}
