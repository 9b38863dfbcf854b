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
    let nops = |n: usize| (0..n).flat_map(|_| NOP.to_le_bytes()).collect::<Vec<u8>>();
    let mut repl = nops(16);
    repl[0..4].copy_from_slice(&0x97ff_ffffu32.to_le_bytes()); // bl .-4 (outside the sequence)
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
    let elf =
        elf::build(&sections, &[("func", TEXT + 0x100, 0x40, 1, true), ("cb", TEXT + 0x200, 8, 1, true)]);
    Image::parse(&elf).unwrap()
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
    // bl .-4 at REPL (0x40100000) targets 0x400ffffc, kept absolute; from 0x40080100 that
    // is +0x7fefc (yaxpeax prints the PC-relative form `bl $+0x7fefc`).
    assert!(s.contains("entry 0 at 0x40080100 <func+0x0> (HAS_CRC32): patched"), "{s}");
    assert!(s.contains("-> bl $+0x7fefc"), "{s}");
    assert!(s.contains("1 patched, 1 skipped of 2 entries"), "{s}");
}
