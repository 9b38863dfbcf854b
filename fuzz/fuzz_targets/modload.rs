//! Any bytes through the module reader exactly as `altcheck verify --kernel` and the
//! kernel's loader take them: parse, plan within the module area, load into an image of the
//! planned size. Never a panic or an abort (a wrapped sum is a refusal, not an overflow
//! panic: this target builds with debug assertions), memory bounded by the module area, and
//! every placement of an accepted plan lies inside its own area of the image (the property
//! whose failure let a wrapped `.bss` land on the kernel's module-area bitmap, issue 20).

#![no_main]

use altpatch_modload::{Area, ModuleLayout};
use libfuzzer_sys::fuzz_target;

/// Bytes of the kernel's module area (`MODULE_AREA` in the kernel's mmu.rs; altcheck's
/// `MODULE_AREA_SIZE`).
const MODULE_AREA_SIZE: u64 = 0x100_0000;
/// Where the kernel maps the first module (altcheck's `MODULE_AREA_BASE`).
const MODULE_AREA_BASE: u64 = 0x4200_0000;

/// The kernel's export table (and nothing else), at made-up addresses in the kernel's range.
fn resolve(name: &str) -> Option<u64> {
    let at = altpatch_modload::KERNEL_EXPORTS.iter().position(|&e| e == name)?;
    Some(0x4008_0000 + 0x40 * at as u64)
}

/// Every placement within its area, every area within the capacity.
fn check_layout(layout: &ModuleLayout) {
    assert!(layout.size() <= MODULE_AREA_SIZE, "an image over the module area was planned");
    for p in &layout.placements {
        let area = layout.area(p.area);
        let end = p.offset.checked_add(p.size).expect("a placement that wraps was planned");
        assert!(
            area.start <= p.offset && end <= area.end,
            "{} at {:#x}+{:#x} outside {} {:?}",
            p.name,
            p.offset,
            p.size,
            p.area.name(),
            area
        );
    }
    let areas = [Area::Text, Area::ReadOnly, Area::ReadWrite].map(|a| layout.area(a));
    assert!(areas[0].end <= areas[1].start && areas[1].end <= areas[2].start, "areas overlap");
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(elf) = altpatch_modload::parse(bytes) else { return };
    let Ok(layout) = ModuleLayout::plan(&elf, MODULE_AREA_SIZE) else { return };
    check_layout(&layout);
    let size = usize::try_from(layout.size()).expect("a planned size fits the module area");
    let mut image = vec![0u8; size];
    let loaded = altpatch_modload::load_into(&elf, &layout, MODULE_AREA_BASE, &mut image, &resolve);
    assert_eq!(image.len(), size, "the image changed size");
    if let Ok(header) = loaded {
        // The kernel jumps to init: an accepted header points into the module's own text.
        let text = layout.area(Area::Text);
        let offset = header.init.checked_sub(MODULE_AREA_BASE).expect("init below the module");
        assert!(text.contains(&offset) && offset % 4 == 0, "init {:#x} outside the text", header.init);
    }
});
