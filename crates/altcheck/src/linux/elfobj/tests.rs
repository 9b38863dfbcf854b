//! Module and vDSO tables on objects written with `object::write`.

use object::write::{
    Object as WObject, Relocation, SectionId, StandardSection, Symbol, SymbolId, SymbolSection,
};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope,
};

use super::*;

const NOP: [u8; 4] = 0xd503_201fu32.to_le_bytes();

/// A module: `.text` (`func` at 0, replacements at 0x20), `.altinstructions` with a
/// replacement entry and a callback entry naming the kernel's `alt_cb_patch_nops`.
fn module() -> Vec<u8> {
    let mut o = WObject::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
    let text = o.section_id(StandardSection::Text);
    o.append_section_data(text, &NOP.repeat(16), 4);
    let func = symbol(&mut o, "func", text, 0, 0x20, SymbolScope::Compilation);
    let table = o.add_section(Vec::new(), b".altinstructions".to_vec(), SectionKind::ReadOnlyData);
    // Raw entries: offsets zero (the relocations supply them), cap, lengths.
    let mut raw = Vec::new();
    raw.extend_from_slice(&[0; 8]);
    raw.extend_from_slice(&26u16.to_le_bytes());
    raw.extend_from_slice(&[4, 4]);
    raw.extend_from_slice(&[0; 8]);
    raw.extend_from_slice(&(0x8000u16 | 1).to_le_bytes());
    raw.extend_from_slice(&[4, 0]);
    o.append_section_data(table, &raw, 4);
    let cb = o.add_symbol(Symbol {
        name: b"alt_cb_patch_nops".to_vec(),
        value: 0,
        size: 0,
        kind: SymbolKind::Text,
        scope: SymbolScope::Linkage,
        weak: false,
        section: SymbolSection::Undefined,
        flags: SymbolFlags::None,
    });
    for (off, sym, addend) in [(0, func, 0x4), (4, func, 0x20), (12, func, 0x8), (16, cb, 0)] {
        let flags = RelocationFlags::Elf { r_type: object::elf::R_AARCH64_PREL32 };
        o.add_relocation(table, Relocation { offset: off, symbol: sym, addend, flags }).unwrap();
    }
    o.write().unwrap()
}

fn symbol(
    o: &mut WObject<'_>,
    name: &str,
    section: SectionId,
    value: u64,
    size: u64,
    scope: SymbolScope,
) -> SymbolId {
    o.add_symbol(Symbol {
        name: name.as_bytes().to_vec(),
        value,
        size,
        kind: SymbolKind::Text,
        scope,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    })
}

#[test]
fn a_modules_entries_are_resolved_through_its_relocations() {
    let s = module_space("m", &module(), CallbackMarker::Bit15, 85).unwrap().unwrap();
    assert_eq!(s.entries.len(), 2);
    let (e, cb) = (&s.entries[0], &s.entries[1]);
    assert_eq!(
        (s.describe(&e.site), s.describe(&e.target), e.cap, e.callback),
        ("func+0x4".into(), "func+0x20".into(), 26, false)
    );
    assert_eq!(
        (s.describe(&cb.site), cb.target.clone(), cb.cap, cb.callback),
        ("func+0x8".into(), Loc::External("alt_cb_patch_nops".into()), 1, true)
    );
    assert!(
        s.code(
            match e.site {
                Loc::Addr(a) => a,
                _ => unreachable!(),
            },
            4
        )
        .is_some()
    );
    assert!(!s.linked);
}

#[test]
fn an_object_without_a_table_has_no_space_and_garbage_is_an_error() {
    let o = WObject::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little).write().unwrap();
    assert!(module_space("empty", &o, CallbackMarker::Bit15, 85).unwrap().is_none());
    assert!(
        module_space("junk", b"junk", CallbackMarker::Bit15, 85).err().unwrap().contains("not an ELF object")
    );
}

#[test]
fn a_vdso_is_found_on_a_page_boundary_of_the_image() {
    // A stand-in vDSO: a relocatable object has the same headers and sections the scan and
    // the table decoding read (a real vDSO is ET_DYN with final addresses).
    let mut image = vec![0u8; 0x3000];
    let m = module();
    image.extend_from_slice(&m);
    image.extend_from_slice(&[0; 64]);
    let found = vdsos(&image, CallbackMarker::Bit15, 85);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].name.as_str(), found[0].entries.len()), ("vdso", 2));
    image[0x3000] = 0;
    assert!(vdsos(&image, CallbackMarker::Bit15, 85).is_empty());
}

#[test]
fn a_modules_callback_must_be_a_kernel_function() {
    use crate::linux::checks::{Context, check};
    use crate::linux::cpucaps::LinuxCaps;
    let caps = LinuxCaps::shipped("6.1.0-57-arm64").unwrap();
    let s = module_space("m", &module(), CallbackMarker::Bit15, caps.ncaps).unwrap().unwrap();
    let kernel =
        Symbols::new(vec![Sym { addr: 0xffff_8000_0801_0000, kind: b'T', name: "alt_cb_patch_nops".into() }]);
    assert_eq!(check(&s, &Context { caps: &caps, kernel: &kernel, marker: CallbackMarker::Bit15 }), vec![]);
    let other =
        Symbols::new(vec![Sym { addr: 0xffff_8000_0801_0000, kind: b'T', name: "something_else".into() }]);
    let d = check(&s, &Context { caps: &caps, kernel: &other, marker: CallbackMarker::Bit15 });
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].to_string(),
        "m entry 1: site func+0x8, cap 1 (ALWAYS_SYSTEM), orig_len 4, alt_len 0: callback alt_cb_patch_nops is not the start of a function in the text"
    );
}
