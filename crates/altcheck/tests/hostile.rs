//! `altcheck` on hostile or wrong input: each is refused with a message that says what is
//! wrong, before anything is allocated by a size the headers claim.

mod elf;

use altcheck::Image;
use elf::Section;

const TEXT: u64 = 0x4008_0000;
const REPL: u64 = 0x4010_0000;
const TABLE: u64 = 0x4010_1000;
const NOP: [u8; 4] = 0xd503_201fu32.to_le_bytes();

/// A small good image: text, replacements, a one-entry table, and the given symbols.
fn image(symbols: &[(&str, u64, u64, u16, u8)]) -> Vec<u8> {
    let sections = [
        Section { name: ".text", addr: TEXT, flags: 6, bytes: NOP.repeat(64) },
        Section { name: ".altinstr_replacement", addr: REPL, flags: 2, bytes: NOP.repeat(4) },
        Section { name: ".altinstructions", addr: TABLE, flags: 2, bytes: vec![0; 16] },
    ];
    elf::build(&sections, symbols)
}

/// The section header of section `index` (1: the first of `image`'s sections).
fn header(elf: &mut [u8], index: usize) -> &mut [u8] {
    let shoff = u64::from_le_bytes(elf[40..48].try_into().unwrap()) as usize;
    &mut elf[shoff + 64 * index..][..64]
}

fn refused(elf: &[u8]) -> String {
    match Image::parse(elf) {
        Ok(_) => panic!("accepted"),
        Err(why) => why,
    }
}

#[test]
fn an_elf_for_another_machine_is_refused_by_name() {
    let mut elf = image(&[]);
    elf[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    let why = refused(&elf);
    assert!(why.contains("X86_64") && why.contains("not AArch64"), "{why}");
}

#[test]
fn a_truncated_elf_is_called_truncated_and_junk_is_not_an_elf() {
    let elf = image(&[]);
    let why = refused(&elf[..100]);
    assert!(why.starts_with("a truncated or malformed ELF (100 bytes)"), "{why}");
    assert_eq!(refused(b"#!/bin/sh\necho hello\n"), "not an ELF file (no ELF magic)");
}

#[test]
fn a_nobits_table_section_is_refused_not_read_as_empty() {
    let mut elf = image(&[]);
    header(&mut elf, 3)[4..8].copy_from_slice(&8u32.to_le_bytes()); // SHT_NOBITS
    let why = refused(&elf);
    assert_eq!(why, ".altinstructions is NOBITS: it holds no bytes in the file");
}

#[test]
fn an_empty_or_reversed_table_is_refused() {
    let equal = image(&[
        ("__alt_instructions", TABLE, 0, 3, elf::NOTYPE),
        ("__alt_instructions_end", TABLE, 0, 3, elf::NOTYPE),
    ]);
    assert!(refused(&equal).contains("reversed or empty"));
    let reversed = image(&[
        ("__alt_instructions", TABLE + 16, 0, 3, elf::NOTYPE),
        ("__alt_instructions_end", TABLE, 0, 3, elf::NOTYPE),
    ]);
    assert!(refused(&reversed).contains("reversed or empty"));
    let half = image(&[("__alt_instructions", TABLE, 0, 3, elf::NOTYPE)]);
    assert!(refused(&half).contains("only one of __alt_instructions and __alt_instructions_end"));
}

#[test]
fn table_symbols_pointing_at_no_loaded_section_are_refused() {
    // 0x1000..0x1010 is in no section: debug data (address 0) must not stand in for it.
    let elf = image(&[
        ("__alt_instructions", 0x1000, 0, 0xfff1, elf::NOTYPE),
        ("__alt_instructions_end", 0x1010, 0, 0xfff1, elf::NOTYPE),
    ]);
    assert!(refused(&elf).contains("is in no section"), "{}", refused(&elf));
}

#[test]
fn a_range_larger_than_the_file_is_refused_before_anything_is_allocated() {
    // `.text` claims 16 GiB and `__text_end` agrees: the file is a few KiB.
    let big = 16u64 << 30;
    let mut elf =
        image(&[("__text_start", TEXT, 0, 1, elf::FUNC), ("__text_end", TEXT + big, 0, 1, elf::FUNC)]);
    header(&mut elf, 1)[32..40].copy_from_slice(&big.to_le_bytes());
    let why = refused(&elf);
    assert!(why.contains("is larger than the file"), "{why}");
}

#[test]
fn a_missing_table_is_named() {
    let sections = [Section { name: ".text", addr: TEXT, flags: 6, bytes: NOP.repeat(4) }];
    let elf = elf::build(&sections, &[]);
    assert_eq!(
        refused(&elf),
        "no alternatives table: no .altinstructions section and no __alt_instructions symbols"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any image with bytes overwritten anywhere (headers included) and cut anywhere is
    /// refused with a message or read; a read one verifies and dumps without a panic.
    #[test]
    fn mutated_images_are_refused_or_read_never_a_panic(
        writes in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u64>()), 0..8),
        cut in 0usize..4096,
    ) {
        let mut elf = image(&[
            ("__text_start", TEXT, 0, 1, elf::FUNC),
            ("__text_end", TEXT + 256, 0, 1, elf::FUNC),
            ("__alt_instructions", TABLE, 0, 3, elf::NOTYPE),
            ("__alt_instructions_end", TABLE + 16, 0, 3, elf::NOTYPE),
        ]);
        for (at, value) in writes {
            let at = at % elf.len();
            let end = (at + 8).min(elf.len());
            elf[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        elf.truncate(cut.max(1).min(elf.len()));
        if let Ok(image) = Image::parse(&elf) {
            let list = arm64_caps::caps::LIST;
            let _ = altcheck::verify(&image, &list, arm64_caps::caps::history::LISTS);
            let _ = altcheck::dump(&image, &list);
        }
    }
}
