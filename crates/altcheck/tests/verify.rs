//! `altcheck` on hand-built ELF images: a good table passes, each defect kind is named.

mod elf;

use altcheck::{Image, dump, simulate, verify};
use altpatch_core::fingerprint::{CapList, of_list};
use altpatch_core::table::{CALLBACK_FLAG, RawEntry};
use elf::Section;

const IDENTS: [&str; 3] = ["HAS_A", "HAS_CRC32", "HAS_LSE_ATOMICS"];
const OLD: [&str; 3] = ["HAS_A", "HAS_LSE_ATOMICS", "HAS_CRC32"];
const CURRENT: CapList = CapList { label: "current", fingerprint: of_list(&IDENTS), idents: &IDENTS };
const HISTORY: [CapList; 1] = [CapList { label: "v0", fingerprint: of_list(&OLD), idents: &OLD }];

const TEXT: u64 = 0x4008_0000;
const REPL: u64 = 0x4010_0000;
const TABLE: u64 = 0x4010_1000;
const NOP: u32 = 0xd503_201f;

/// An image whose text holds `func` (0x40 bytes of nops) at TEXT + 0x100.
fn image(entries: &[RawEntry]) -> Image {
    image_with_symbols(
        entries,
        &[("func", TEXT + 0x100, 0x40, 1, elf::FUNC), ("cb", TEXT + 0x200, 8, 1, elf::FUNC)],
    )
}

/// An image as [`image`] makes, with the symbols `symbols`.
fn image_with_symbols(entries: &[RawEntry], symbols: &[(&str, u64, u64, u16, u8)]) -> Image {
    let nops = |n: usize| (0..n).flat_map(|_| NOP.to_le_bytes()).collect::<Vec<u8>>();
    let mut repl = nops(16);
    // bl 0x40080010 (back into text, outside the sequence): imm26 = -0x7fff0 / 4.
    repl[0..4].copy_from_slice(&0x97fe_0004u32.to_le_bytes());
    let sections = [
        Section { name: ".text", addr: TEXT, flags: 6, bytes: nops(0x100) },
        Section { name: ".altinstr_replacement", addr: REPL, flags: 2, bytes: repl },
        Section {
            name: ".altinstructions",
            addr: TABLE,
            flags: 2,
            bytes: entries.iter().flat_map(|e| e.to_bytes()).collect(),
        },
    ];
    Image::parse(&elf::build(&sections, symbols)).unwrap()
}

fn entry(i: usize, site: u64, alt: u64, cap: u16, len: u8) -> RawEntry {
    RawEntry::new(TABLE + 16 * i as u64, site, alt, cap, len, len, CURRENT.fingerprint).unwrap()
}

#[test]
fn a_valid_table_verifies_clean() {
    let img = image(&[entry(0, TEXT + 0x100, REPL, 1, 8), entry(1, TEXT + 0x108, REPL + 8, 2, 4)]);
    assert_eq!(verify(&img, &CURRENT, &HISTORY), Vec::<String>::new());
}

#[test]
fn each_defect_kind_is_named_with_its_entry_and_symbol() {
    let mut stale = entry(0, TEXT + 0x100, REPL, 2, 4);
    stale.fingerprint = HISTORY[0].fingerprint;
    let mut mismatch = entry(1, TEXT + 0x104, REPL, 0, 8);
    mismatch.alt_len = 4;
    let mut cb =
        RawEntry::new(TABLE + 32, TEXT + 0x110, TEXT + 0x200, CALLBACK_FLAG, 4, 0, CURRENT.fingerprint)
            .unwrap();
    cb.alt_len = 4;
    let cases: [(RawEntry, &str); 7] = [
        (stale, "cap 2 means HAS_CRC32 in list v0, HAS_LSE_ATOMICS here"),
        (mismatch, "orig_len differs from alt_len"),
        (cb, "callback entry with nonzero alt_len"),
        (entry(3, TEXT + 0x114, REPL, 7, 4), "capability 7 is out of range (NCAPS 3)"),
        (entry(4, TEXT + 0x1000, REPL, 0, 4), "site is outside the kernel text"),
        (entry(5, TEXT + 0x118, REPL + 0x1000, 0, 4), "replacement is outside .altinstr_replacement"),
        (entry(6, TEXT + 0x11a, REPL + 4, 0, 4), "site is not 4-byte aligned"),
    ];
    let entries: Vec<RawEntry> = cases.iter().map(|c| c.0).collect();
    let lines = verify(&image(&entries), &CURRENT, &HISTORY);
    assert_eq!(lines.len(), cases.len(), "{lines:#?}");
    for (i, (line, (_, why))) in lines.iter().zip(&cases).enumerate() {
        assert!(line.starts_with(&format!("alternatives: bad entry {i}: site ")), "{line}");
        assert!(line.contains(why), "{line}");
    }
    // Symbolized: 0x104 into text is func+0x4.
    assert!(lines[1].contains("<func+0x4>"), "{}", lines[1]);
    assert!(lines[0].contains("fix: a clean rebuild of the object holding func+0x0"), "{}", lines[0]);
}

#[test]
fn overlapping_sites_are_both_named() {
    // Two entries whose sites overlap (0x100..0x108 and 0x104..0x108) name each other.
    let lines = verify(
        &image(&[entry(0, TEXT + 0x100, REPL, 0, 8), entry(1, TEXT + 0x104, REPL + 8, 0, 4)]),
        &CURRENT,
        &HISTORY,
    );
    assert!(lines[0].contains("overlaps the site of entry 1"), "{lines:?}");
    assert!(lines[1].contains("overlaps the site of entry 0"), "{lines:?}");
}

#[test]
fn dump_and_simulate_show_each_entry() {
    let img = image(&[entry(0, TEXT + 0x100, REPL, 1, 8), entry(1, TEXT + 0x108, REPL + 8, 2, 4)]);
    let d = dump(&img, &CURRENT);
    assert!(d.contains("<func+0x0>") && d.contains("HAS_CRC32") && d.contains("HAS_LSE_ATOMICS"), "{d}");
    let s = simulate(&img, &CURRENT, &HISTORY, &|i| i == 1).unwrap();
    // The bl at REPL (0x40100000) targets 0x40080010, kept absolute; from 0x40080100 that
    // is -0xf0 (yaxpeax prints the PC-relative form `bl $-0xf0`).
    assert!(s.contains("entry 0: HAS_CRC32 at 0x40080100 <func+0x0>: patched\n"), "{s}");
    assert!(s.contains("    after:  0x40080100  bl $-0xf0\n"), "{s}");
    assert!(s.contains("entry 1: HAS_LSE_ATOMICS at 0x40080108 <func+0x8>: not patched\n"), "{s}");
    assert!(s.contains("1 patched, 1 skipped of 2 entries"), "{s}");
}

#[test]
fn rust_symbols_are_named_demangled_without_their_hash() {
    // `altpatch::sync::arch_sync::fetch_add` in the legacy mangling: _ZN, then each path
    // segment as <length><text>, the `17h<16 hex>` hash segment, E.
    let mangled = "_ZN8altpatch4sync9arch_sync9fetch_add17h9956e7d6c5daba7dE";
    let img = image_with_symbols(
        &[entry(0, TEXT + 0x40, REPL + 8, 1, 4)],
        &[(mangled, TEXT + 0x100, 0x20, 1, elf::FUNC)],
    );
    assert_eq!(img.describe(TEXT + 0x104), "0x40080104 <altpatch::sync::arch_sync::fetch_add+0x4>");
}

#[test]
fn a_site_in_an_assembly_routine_is_named_after_its_label() {
    // A `global_asm!` routine is a size-0 STT_NOTYPE label; a sized function before it
    // ended at 0x108, and a linker-script marker shares the routine's address.
    let img = image_with_symbols(
        &[entry(0, TEXT + 0x40, REPL + 8, 1, 4)],
        &[
            ("probe", TEXT + 0x100, 8, 1, elf::FUNC),
            ("__late_text_end", TEXT + 0x100, 0, 1, elf::NOTYPE),
            ("sync_icache_range", TEXT + 0x108, 0, 1, elf::NOTYPE),
            ("__text_start", TEXT, 0, 1, elf::NOTYPE),
        ],
    );
    assert_eq!(img.describe(TEXT + 0x104), "0x40080104 <probe+0x4>");
    assert_eq!(img.describe(TEXT + 0x114), "0x40080114 <sync_icache_range+0xc>");
    // Before `probe`, only the marker at the start of the text names the address.
    assert_eq!(img.describe(TEXT + 0x10), "0x40080010 <__text_start+0x10>");
}

#[test]
fn an_address_past_a_sized_function_with_no_label_is_shown_bare() {
    let img = image_with_symbols(
        &[entry(0, TEXT + 0x40, REPL + 8, 1, 4)],
        &[("func", TEXT + 0x100, 0x10, 1, elf::FUNC)],
    );
    assert_eq!(img.describe(TEXT + 0x110), "0x40080110");
    // Outside every section nothing names it either.
    assert_eq!(img.describe(0x1000), "0x1000");
}

#[test]
fn dump_keeps_its_columns_aligned_when_symbols_are_long() {
    let long = "_ZN66_$LT$altpatch..console..LineWriter$u20$as$u20$core..fmt..Write$GT$9write_str17hd04b28d36f186e47E";
    let img = image_with_symbols(
        &[entry(0, TEXT + 0x100, REPL, 0, 4), entry(1, TEXT + 0x104, REPL + 4, 2, 4)],
        &[(long, TEXT + 0x100, 0x40, 1, elf::FUNC)],
    );
    let d = dump(&img, &CURRENT);
    let lines: Vec<&str> = d.lines().collect();
    assert_eq!(lines.len(), 3, "{d}");
    let col = lines[0].find("site").unwrap();
    // Every row's site starts under the header's `site`, the symbol at the end of the row.
    assert!(
        lines[1][col..]
            .starts_with("0x40080100 <<altpatch::console::LineWriter as core::fmt::Write>::write_str+0x0>"),
        "{d}"
    );
    assert!(lines[2][col..].starts_with("0x40080104 <"), "{d}");
    assert_eq!(lines[0].find("kind"), lines[1].find("replacement"), "{d}");
    assert_eq!(lines[2].find("HAS_LSE_ATOMICS"), lines[0].find("capability"), "{d}");
}
