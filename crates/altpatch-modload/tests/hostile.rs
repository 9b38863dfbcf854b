//! Hostile module objects (byte-edited copies of a well-formed one): each is refused by name,
//! with nothing placed or written outside the module's own image, and no input makes the
//! reader panic. The kernel's loader and `altcheck verify --kernel` both run exactly these
//! checks (`ModuleLayout::plan`, `load_into`), so their verdicts are these.

use altpatch_modload::{LoadError, ModuleLayout, elf_size, load_into, parse};
use object::elf::*;
use object::write::{Object, Relocation, StandardSection, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, RelocationFlags, SymbolFlags, SymbolKind, SymbolScope};
use proptest::prelude::*;

/// The module area's size, as the kernel has it.
const CAPACITY: u64 = 0x100_0000;
const BASE: u64 = 0x4200_0000;

/// A well-formed module: `init` (a BL to `helper`, RET) in `.text`, a header pointing at
/// `init`, a `.bss` word, a one-entry `.altinstructions`, and a call to an export.
fn module() -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
    let text = obj.section_id(StandardSection::Text);
    // bl helper; bl altpatch_log; ret; helper: ret
    let code: Vec<u8> = [0x9400_0000u32, 0x9400_0000, 0xd65f_03c0, 0xd65f_03c0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    obj.append_section_data(text, &code, 4);
    let symbol = |obj: &mut Object, name: &str, value, section| {
        obj.add_symbol(Symbol {
            name: name.into(),
            value,
            size: 4,
            kind: SymbolKind::Text,
            scope: SymbolScope::Compilation,
            weak: false,
            section,
            flags: SymbolFlags::None,
        })
    };
    let init = symbol(&mut obj, "init", 0, SymbolSection::Section(text));
    let helper = symbol(&mut obj, "helper", 12, SymbolSection::Section(text));
    let log = symbol(&mut obj, "altpatch_log", 0, SymbolSection::Undefined);
    let call = |symbol, offset| Relocation {
        offset,
        symbol,
        addend: 0,
        flags: RelocationFlags::Elf { r_type: R_AARCH64_CALL26 },
    };
    obj.add_relocation(text, call(helper, 0)).unwrap();
    obj.add_relocation(text, call(log, 4)).unwrap();
    let header = obj.add_section(Vec::new(), b".altpatch.module".to_vec(), object::SectionKind::ReadOnlyData);
    let mut bytes = b"ALTPMOD1".to_vec();
    bytes.extend_from_slice(&[0; 24]);
    bytes[8..15].copy_from_slice(b"hostile");
    bytes.extend_from_slice(&[0; 8]);
    obj.append_section_data(header, &bytes, 8);
    let abs = Relocation {
        offset: 32,
        symbol: init,
        addend: 0,
        flags: RelocationFlags::Elf { r_type: R_AARCH64_ABS64 },
    };
    obj.add_relocation(header, abs).unwrap();
    let alt = obj.add_section(Vec::new(), b".altinstructions".to_vec(), object::SectionKind::ReadOnlyData);
    obj.append_section_data(alt, &[0; 16], 4);
    let bss = obj.section_id(StandardSection::UninitializedData);
    obj.append_section_bss(bss, 8, 8);
    obj.write().unwrap()
}

fn resolve(name: &str) -> Option<u64> {
    (name == "altpatch_log").then_some(BASE - 0x1000)
}

/// The loader's verdict on `bytes`: the image, or every reason it is refused.
fn load(bytes: &[u8]) -> Result<Vec<u8>, Vec<LoadError>> {
    let elf = parse(bytes).map_err(|e| vec![e])?;
    let layout = ModuleLayout::plan(&elf, CAPACITY).map_err(|e| vec![e])?;
    let mut image = vec![0u8; usize::try_from(layout.size()).unwrap()];
    load_into(&elf, &layout, BASE, &mut image, &resolve)?;
    Ok(image)
}

fn reasons(errors: &[LoadError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// The offset in the file of section `name`'s header.
fn header_of(bytes: &[u8], name: &str) -> usize {
    use object::{Object as _, ObjectSection as _};
    let elf = parse(bytes).unwrap();
    let index = elf.section_by_name(name).unwrap_or_else(|| panic!("no {name}")).index().0;
    let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().unwrap()) as usize;
    shoff + index * 64
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}
fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

// Elf64_Shdr fields.
const SH_NAME: usize = 0;
const SH_TYPE: usize = 4;
const SH_SIZE: usize = 32;
const SH_LINK: usize = 40;
const SH_INFO: usize = 44;
const SH_ENTSIZE: usize = 56;

#[test]
fn the_well_formed_module_loads_with_its_calls_relocated() {
    let image = load(&module()).unwrap_or_else(|e| panic!("{}", reasons(&e)));
    // bl helper: +12 bytes = 3 words.
    assert_eq!(u32::from_le_bytes(image[0..4].try_into().unwrap()), 0x9400_0003);
}

#[test]
fn nobits_sizes_that_wrap_the_read_write_area_are_refused_not_placed() {
    // .bss's size near 2^64 and the header's data (read-write once it is writable)...: a
    // size that wraps the area's cursor must not give a small area.
    for size in [u64::MAX, u64::MAX - 7, 1 << 63, 0u64.wrapping_sub(CAPACITY)] {
        let mut bytes = module();
        let at = header_of(&bytes, ".bss") + SH_SIZE;
        put_u64(&mut bytes, at, size);
        let errors = load(&bytes).unwrap_err();
        assert!(matches!(errors[0], LoadError::TooLarge { .. }), "{size:#x}: {}", reasons(&errors));
    }
}

#[test]
fn a_bss_larger_than_the_module_area_is_refused_before_any_allocation() {
    for size in [1 << 47, 1 << 63, CAPACITY + 1] {
        let mut bytes = module();
        let at = header_of(&bytes, ".bss") + SH_SIZE;
        put_u64(&mut bytes, at, size);
        let elf = parse(&bytes).unwrap();
        let error = ModuleLayout::plan(&elf, CAPACITY).unwrap_err();
        assert!(error.to_string().contains("exceed the module area"), "{error}");
    }
}

/// The file offset of relocation `index` of section `rela`.
fn rela_entry(bytes: &[u8], rela: &str, index: usize) -> usize {
    let at = header_of(bytes, rela);
    u64::from_le_bytes(bytes[at + 24..at + 32].try_into().unwrap()) as usize + index * 24
}

#[test]
fn a_relocation_offset_near_2_pow_64_is_refused_never_wrapped() {
    for offset in [u64::MAX, u64::MAX - 3, u64::MAX - 7, 1 << 63, 16] {
        let mut bytes = module();
        let at = rela_entry(&bytes, ".rela.text", 0);
        put_u64(&mut bytes, at, offset);
        let errors = load(&bytes).unwrap_err();
        assert!(
            errors.iter().any(|e| matches!(e, LoadError::BadPlace { .. })),
            "{offset:#x}: {}",
            reasons(&errors)
        );
    }
}

#[test]
fn a_relocation_section_not_linked_to_the_symbol_table_is_refused_not_skipped() {
    let mut bytes = module();
    let at = header_of(&bytes, ".rela.text") + SH_LINK;
    put_u32(&mut bytes, at, 0);
    let errors = load(&bytes).unwrap_err();
    assert!(reasons(&errors).contains("relocation section .rela.text: sh_link is not the symbol table"));
}

#[test]
fn a_relocation_section_of_partial_entries_is_refused_not_skipped() {
    for (field, value) in [(SH_SIZE, 25u64), (SH_ENTSIZE, 0), (SH_ENTSIZE, 23)] {
        let mut bytes = module();
        let at = header_of(&bytes, ".rela.text") + field;
        put_u64(&mut bytes, at, value);
        let errors = load(&bytes).unwrap_err();
        assert!(reasons(&errors).contains("its entries are not 24-byte Elf64_Rela"), "{}", reasons(&errors));
    }
}

#[test]
fn a_relocation_section_aimed_elsewhere_is_refused_so_its_code_never_runs_unrelocated() {
    let strtab = {
        use object::{Object as _, ObjectSection as _};
        parse(&module()).unwrap().section_by_name(".strtab").unwrap().index().0 as u32
    };
    for info in [0, strtab, 0xffff] {
        let mut bytes = module();
        let at = header_of(&bytes, ".rela.text") + SH_INFO;
        put_u32(&mut bytes, at, info);
        let errors = load(&bytes).unwrap_err();
        // (sh_info past the last section is refused by the ELF reader, in its words.)
        assert!(
            reasons(&errors).to_lowercase().contains("relocation section"),
            "{info}: {}",
            reasons(&errors)
        );
    }
}

#[test]
fn a_header_shorter_than_its_fields_is_refused_before_init_is_read() {
    let mut bytes = module();
    let at = header_of(&bytes, ".altpatch.module") + SH_SIZE;
    put_u64(&mut bytes, at, 8);
    let errors = load(&bytes).unwrap_err();
    assert!(
        reasons(&errors).contains("its .altpatch.module header is 8 bytes, not 40"),
        "{}",
        reasons(&errors)
    );
}

#[test]
fn an_init_outside_the_text_is_refused() {
    let mut bytes = module();
    // The header's relocation: init + 0x10000, far past the text.
    let at = rela_entry(&bytes, ".rela.altpatch.module", 0) + 16;
    put_u64(&mut bytes, at, 0x10000);
    let errors = load(&bytes).unwrap_err();
    assert!(
        reasons(&errors).contains("points init at 0x42010000, not an instruction of its text"),
        "{}",
        reasons(&errors)
    );
}

#[test]
fn a_second_altinstructions_section_is_refused_not_ignored() {
    let mut bytes = module();
    // .bss renamed .altinstructions: the name offset of the real one.
    let name = u32::from_le_bytes(bytes[header_of(&bytes, ".altinstructions")..][..4].try_into().unwrap());
    let at = header_of(&bytes, ".bss") + SH_NAME;
    put_u32(&mut bytes, at, name);
    let errors = load(&bytes).unwrap_err();
    assert_eq!(reasons(&errors), "two .altinstructions sections (one is read, the other would be ignored)");
}

#[test]
fn thousands_of_section_headers_over_the_same_bytes_are_refused_within_the_area() {
    // 8,000 section headers, copies of the text's each spanning the file's first bytes
    // again: the layout passes the module area's bound and stops there, allocating nothing.
    let base = module();
    let text = header_of(&base, ".text");
    let old_shoff = u64::from_le_bytes(base[0x28..0x30].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(base[0x3c..0x3e].try_into().unwrap()) as usize;
    let mut copy = base[text..text + 64].to_vec();
    copy[24..32].copy_from_slice(&0u64.to_le_bytes()); // sh_offset: the file's start
    copy[32..40].copy_from_slice(&0x1000u64.to_le_bytes()); // sh_size: 4 KiB of the file
    let mut bytes = base.clone();
    let shoff = bytes.len();
    bytes.extend_from_slice(&base[old_shoff..old_shoff + shnum * 64]);
    for _ in shnum..8000 {
        bytes.extend_from_slice(&copy);
    }
    put_u64(&mut bytes, 0x28, shoff as u64);
    bytes[0x3c..0x3e].copy_from_slice(&8000u16.to_le_bytes());
    let start = std::time::Instant::now();
    let errors = match load(&bytes) {
        Ok(image) => panic!("loaded an image of {} bytes", image.len()),
        Err(errors) => errors,
    };
    assert!(matches!(errors[0], LoadError::TooLarge { .. }), "{}", reasons(&errors));
    assert!(start.elapsed().as_secs() < 5, "took {:?}", start.elapsed());
}

#[test]
fn an_undefined_symbol_outside_the_export_table_is_refused() {
    let bytes = module();
    let elf = parse(&bytes).unwrap();
    let layout = ModuleLayout::plan(&elf, CAPACITY).unwrap();
    let mut image = vec![0u8; layout.size() as usize];
    let errors = load_into(&elf, &layout, BASE, &mut image, &|_| None).unwrap_err();
    assert_eq!(reasons(&errors), "undefined symbol altpatch_log (not in the kernel's export table)");
}

#[test]
fn a_section_type_rel_is_refused() {
    let mut bytes = module();
    let at = header_of(&bytes, ".rela.text") + SH_TYPE;
    put_u32(&mut bytes, at, SHT_REL);
    assert!(reasons(&load(&bytes).unwrap_err()).contains("SHT_REL relocations"));
}

#[test]
fn the_staged_size_of_a_wrapping_or_32_bit_header_is_a_refusal() {
    let mut bytes = module();
    put_u64(&mut bytes, 0x28, u64::MAX - 10); // e_shoff
    assert!(elf_size(&bytes).is_err());
    let mut bytes = module();
    bytes[4] = 1; // ELFCLASS32
    assert_eq!(
        elf_size(&bytes).unwrap_err().to_string(),
        "malformed ELF object: not a 64-bit little-endian ELF header"
    );
    assert_eq!(elf_size(&module()).unwrap(), module().len());
}

/// Boundary values for a field of `width` bytes.
fn boundary(width: usize) -> impl Strategy<Value = u64> {
    let max = if width == 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    prop_oneof![
        Just(0),
        Just(1),
        Just(max),
        Just(max - 1),
        Just(max / 2 + 1),
        Just(CAPACITY),
        any::<u64>().prop_map(move |v| v & max)
    ]
}

/// Where a mutation lands: an ELF header field, a field of section header `n` (modulo the
/// count), or a field of relocation `n` of `.rela.text`.
#[derive(Clone, Debug)]
enum Field {
    Elf(usize, usize),
    Section(usize, usize, usize),
    Rela(usize, usize, usize),
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        prop::sample::select(vec![
            (0x10, 2),
            (0x12, 2),
            (0x18, 8),
            (0x20, 8),
            (0x28, 8),
            (0x34, 2),
            (0x3a, 2),
            (0x3c, 2),
            (0x3e, 2)
        ])
        .prop_map(|(at, width)| Field::Elf(at, width)),
        (
            0usize..64,
            prop::sample::select(vec![
                (0, 4),
                (4, 4),
                (8, 8),
                (24, 8),
                (32, 8),
                (40, 4),
                (44, 4),
                (48, 8),
                (56, 8)
            ])
        )
            .prop_map(|(n, (at, width))| Field::Section(n, at, width)),
        (0usize..2, prop::sample::select(vec![(0, 8), (8, 4), (12, 4), (16, 8)]))
            .prop_map(|(n, (at, width))| Field::Rela(n, at, width)),
    ]
}

proptest! {
    /// Any ELF-header, section-header or relocation field set to a boundary value: the
    /// reader returns a verdict (never a panic), and a loaded image is within the module area.
    #[test]
    fn any_field_at_a_boundary_value_gives_a_verdict_never_a_panic(field in field(), value in boundary(8)) {
        let mut bytes = module();
        let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().unwrap()) as usize;
        let shnum = u16::from_le_bytes(bytes[0x3c..0x3e].try_into().unwrap()) as usize;
        let (at, width) = match field {
            Field::Elf(at, width) => (at, width),
            Field::Section(n, at, width) => (shoff + (n % shnum) * 64 + at, width),
            Field::Rela(n, at, width) => (rela_entry(&bytes, ".rela.text", n) + at, width),
        };
        bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
        let _ = elf_size(&bytes);
        if let Ok(image) = load(&bytes) {
            prop_assert!(image.len() as u64 <= CAPACITY);
        }
    }
}
