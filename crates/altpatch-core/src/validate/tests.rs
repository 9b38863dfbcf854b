//! One test per validation rule; each builds a table by hand (entries from [`RawEntry::new`],
//! whose offsets the table tests check by hand) and expects exactly the named defect.

use super::*;
use crate::fingerprint::{CapList, of_list};
use crate::table::RawEntry;
use std::string::ToString;
use std::vec;

const IDENTS: [&str; 4] = ["HAS_A", "HAS_CRC32", "HAS_C", "HAS_LSE_ATOMICS"];
const OLD: [&str; 5] = ["HAS_A", "HAS_C", "HAS_LSE_ATOMICS", "HAS_CRC32", "HAS_GONE"];
const CURRENT: CapList = CapList { label: "current", fingerprint: of_list(&IDENTS), idents: &IDENTS };
const HISTORY: [CapList; 1] = [CapList { label: "v0", fingerprint: of_list(&OLD), idents: &OLD }];

const TEXT: u64 = 0x1000;
const REPL: u64 = 0x8000;
const TABLE: u64 = 0x9000;
const NOP: u32 = 0xd503_201f;

/// A replacement entry (index `i`) patching `site` with `alt`, `len` bytes, cap `cap`.
fn entry(i: usize, site: u64, alt: u64, cap: u16, len: u8) -> RawEntry {
    RawEntry::new(TABLE + 16 * i as u64, site, alt, cap, len, len, CURRENT.fingerprint).unwrap()
}

/// A callback entry (alt_len 0) for a 4-byte site.
fn callback(i: usize, site: u64, callback: u64, cap: u16) -> RawEntry {
    RawEntry::new(TABLE + 16 * i as u64, site, callback, cap, 4, 0, CURRENT.fingerprint).unwrap()
}

/// Where the declared-callbacks words live.
const CALLBACKS: u64 = 0xa000;

struct Image {
    text: Vec<u8>,
    repl: Vec<u8>,
    table: Vec<u8>,
    callbacks: Vec<u8>,
}

impl Image {
    /// An image whose declared callbacks are the targets of `entries`' callback entries.
    fn new(entries: &[RawEntry]) -> Self {
        let targets: Vec<u64> = (entries.iter().enumerate())
            .filter(|(_, e)| e.cap & crate::table::CALLBACK_FLAG != 0)
            .map(|(i, e)| (TABLE + 16 * i as u64 + 4).wrapping_add_signed(e.alt_offset.into()))
            .collect();
        Self::declaring(entries, &targets)
    }

    /// An image that declares exactly `callbacks`.
    fn declaring(entries: &[RawEntry], callbacks: &[u64]) -> Self {
        let words = |n: usize| (0..n).flat_map(|_| NOP.to_le_bytes()).collect::<Vec<u8>>();
        let declared = (callbacks.iter().enumerate())
            .flat_map(|(i, &cb)| (cb.wrapping_sub(CALLBACKS + 4 * i as u64) as i32).to_le_bytes())
            .collect();
        Image {
            text: words(64),
            repl: words(16),
            table: entries.iter().flat_map(|e| e.to_bytes()).collect(),
            callbacks: declared,
        }
    }

    fn layout(&self) -> Layout<'_> {
        Layout {
            table: Region { addr: TABLE, bytes: &self.table },
            text: Region { addr: TEXT, bytes: &self.text },
            replacements: Region { addr: REPL, bytes: &self.repl },
            callbacks: Region { addr: CALLBACKS, bytes: &self.callbacks },
        }
    }
    fn check(&self) -> Result<ValidTable<'_>, Vec<Defect>> {
        validate(&self.layout(), &CURRENT, &HISTORY, &|a| {
            (a >= TEXT).then(|| Symbol { name: "text".into(), offset: a - TEXT })
        })
    }
}

/// The defect kinds of each bad entry, by index.
fn defects(entries: &[RawEntry]) -> Vec<(usize, Vec<DefectKind>)> {
    Image::new(entries).check().unwrap_err().into_iter().map(|d| (d.index, d.kinds)).collect()
}

#[test]
fn a_good_table_validates() {
    let img = Image::new(&[entry(0, TEXT, REPL, 0, 8), entry(1, TEXT + 8, REPL + 8, 3, 4)]);
    assert_eq!(img.check().unwrap().len(), 2);
}

#[test]
fn cap_index_at_ncaps_is_refused_and_below_is_not() {
    assert_eq!(defects(&[entry(0, TEXT, REPL, 4, 4)]), vec![(0, vec![DefectKind::CapOutOfRange])]);
    assert!(Image::new(&[entry(0, TEXT, REPL, 3, 4)]).check().is_ok());
}

#[test]
fn length_rules_are_each_reported() {
    let mut mismatch = entry(0, TEXT, REPL, 0, 8);
    mismatch.alt_len = 4;
    let odd = entry(1, TEXT + 16, REPL + 16, 0, 6);
    let zero = entry(2, TEXT + 32, REPL + 32, 0, 0);
    let mut cb = callback(3, TEXT + 48, TEXT + 128, crate::table::CALLBACK_FLAG | 1);
    cb.alt_len = 4;
    assert_eq!(
        defects(&[mismatch, odd, zero, cb]),
        vec![
            (0, vec![DefectKind::LengthMismatch]),
            (1, vec![DefectKind::LengthNotWords]),
            (2, vec![DefectKind::ZeroLength]),
            (3, vec![DefectKind::CallbackWithAltLen]),
        ]
    );
}

#[test]
fn addresses_outside_their_regions_or_misaligned_are_refused() {
    let text_end = TEXT + 256;
    let cb = crate::table::CALLBACK_FLAG;
    assert_eq!(
        defects(&[
            entry(0, text_end - 4, REPL, 0, 8),      // runs past the end of text
            entry(1, TEXT + 2, REPL, 0, 4),          // misaligned site
            entry(2, TEXT + 64, REPL + 62, 0, 4),    // replacement runs past its section
            entry(3, TEXT + 80, REPL + 2, 0, 4),     // misaligned replacement
            callback(4, TEXT + 96, REPL + 0x40, cb), // callback outside text
            callback(5, TEXT + 112, TEXT + 6, cb),   // misaligned callback
        ]),
        vec![
            (0, vec![DefectKind::SiteOutsideText]),
            (1, vec![DefectKind::SiteMisaligned]),
            (2, vec![DefectKind::ReplacementOutsideSection, DefectKind::ReplacementMisaligned]),
            (3, vec![DefectKind::ReplacementMisaligned]),
            (4, vec![DefectKind::CallbackOutsideText]),
            (5, vec![DefectKind::CallbackMisaligned]),
        ]
    );
}

#[test]
fn overlapping_sites_name_each_other_and_adjacent_sites_do_not() {
    let d = defects(&[
        entry(0, TEXT, REPL, 0, 8),
        entry(1, TEXT + 4, REPL, 0, 8),
        entry(2, TEXT + 12, REPL, 0, 4), // adjacent to 1: fine
    ]);
    assert_eq!(
        d,
        vec![
            (0, vec![DefectKind::Overlaps { other: 1, other_site: TEXT + 4 }]),
            (1, vec![DefectKind::Overlaps { other: 0, other_site: TEXT }]),
        ]
    );
}

#[test]
fn overlaps_are_found_whatever_the_table_order() {
    // The sites of the test above, listed in descending order (the sorting path). By site:
    // entry 2 [0, 8), entry 1 [4, 12) overlaps it, entry 0 [12, 16) touches 1 only.
    let d = defects(&[
        entry(0, TEXT + 12, REPL, 0, 4),
        entry(1, TEXT + 4, REPL, 0, 8),
        entry(2, TEXT, REPL, 0, 8),
    ]);
    assert_eq!(
        d,
        vec![
            (1, vec![DefectKind::Overlaps { other: 2, other_site: TEXT }]),
            (2, vec![DefectKind::Overlaps { other: 1, other_site: TEXT + 4 }]),
        ]
    );
}

#[test]
fn an_entrys_own_defects_come_before_its_overlaps() {
    let d = defects(&[entry(0, TEXT, REPL, 9, 8), entry(1, TEXT + 4, REPL, 0, 4)]);
    assert_eq!(
        d,
        vec![
            (0, vec![DefectKind::CapOutOfRange, DefectKind::Overlaps { other: 1, other_site: TEXT + 4 }]),
            (1, vec![DefectKind::Overlaps { other: 0, other_site: TEXT }]),
        ]
    );
}

#[test]
fn stale_fingerprint_is_refused_before_any_write_and_explained() {
    let mut stale = entry(0, TEXT, REPL, 3, 4);
    stale.fingerprint = HISTORY[0].fingerprint;
    let mut gone = entry(1, TEXT + 4, REPL, 4, 4);
    gone.fingerprint = HISTORY[0].fingerprint;
    let mut unknown = entry(2, TEXT + 8, REPL, 1, 4);
    unknown.fingerprint = 0xdead_beef;
    let img = Image::new(&[stale, gone, unknown]);
    let lines: Vec<String> = img.check().unwrap_err().iter().map(ToString::to_string).collect();
    // Cap 3: HAS_CRC32 in OLD (index 3), HAS_LSE_ATOMICS in IDENTS (index 3); HAS_CRC32 is
    // index 1 in IDENTS.
    assert_eq!(
        lines[0],
        std::format!(
            "alternatives: bad entry 0: site 0x1000 <text+0x0>, cap 3 (NCAPS 4), orig_len 4, alt_len 4, \
             fingerprint {:#010x} (kernel {:#010x}): stale object: the entry's code was built against \
             another capability list (v0): cap 3 means HAS_CRC32 in list v0, HAS_LSE_ATOMICS here \
             (HAS_CRC32 is cap 1 here); fix: a clean rebuild of the object holding text+0x0",
            HISTORY[0].fingerprint,
            CURRENT.fingerprint
        )
    );
    // Cap 4: HAS_GONE in OLD, beyond NCAPS 4 here.
    assert!(lines[1].contains("capability 4 is out of range (NCAPS 4)"), "{}", lines[1]);
    assert!(
        lines[1].contains("cap 4 means HAS_GONE in list v0, out of range here (NCAPS 4)"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("another capability list (not a known list)"), "{}", lines[2]);
}

#[test]
fn a_replacement_branching_into_another_replacement_is_refused() {
    // Entry 0's replacement is `b .+8` at 0x8000: it lands on 0x8008, inside the replacement
    // section but past its own 4-byte sequence (whose end, 0x8004, would be the instruction
    // after the site). B imm26 = 2 words: 0x14000002. A branch to its own end is fine.
    let mut img = Image::new(&[entry(0, TEXT, REPL, 0, 4), entry(1, TEXT + 8, REPL + 4, 0, 4)]);
    img.repl[0..4].copy_from_slice(&0x1400_0002u32.to_le_bytes());
    img.repl[4..8].copy_from_slice(&0x1400_0001u32.to_le_bytes());
    let d = img.check().unwrap_err();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].index, 0);
    assert_eq!(d[0].kinds, [DefectKind::BranchIntoReplacements { offset: 0, target: REPL + 8 }]);
    assert!(
        d[0].to_string().contains("branches at +0x0 to 0x8008, inside .altinstr_replacement"),
        "{}",
        d[0]
    );
}

#[test]
fn unmovable_replacement_is_refused_with_the_instruction() {
    // TBZ reaches ±32 KiB; from 0x8000 to 0x1000 an outside target 0x8000 + 0x7ffc would need
    // 0xeffc: out of range. tbz w0, #0, .+0x7ffc = 0x36000000 | (0x1fff << 5) = 0x3603ffe0.
    let mut img = Image::new(&[entry(0, TEXT, REPL, 0, 4)]);
    img.repl[0..4].copy_from_slice(&0x3603_ffe0u32.to_le_bytes());
    let d = img.check().unwrap_err();
    // Its target is outside text too, which is a defect of its own.
    assert!(
        matches!(
            d[0].kinds[..],
            [DefectKind::Unmovable(_), DefectKind::BranchOutsideText { offset: 0, target: 0xfffc }]
        ),
        "{d:?}"
    );
    assert!(d[0].to_string().contains("TBZ/TBNZ 0x3603ffe0 at +0x0 cannot reach 0xfffc"), "{}", d[0]);
}

#[test]
fn every_bad_entry_is_reported_not_just_the_first() {
    let d = defects(&[
        entry(0, TEXT, REPL, 9, 4),
        entry(1, TEXT + 4, REPL, 0, 4),
        entry(2, TEXT + 10, REPL, 0, 4),
    ]);
    assert_eq!(d.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 2]);
}

#[test]
fn a_truncated_table_names_the_partial_entry() {
    let mut img = Image::new(&[entry(0, TEXT, REPL, 0, 4)]);
    img.table.extend_from_slice(&[0; 8]);
    let d = img.check().unwrap_err();
    assert_eq!(d[0].index, 1);
    assert_eq!(d[0].kinds, vec![DefectKind::Truncated { trailing: 8 }]);
}

#[test]
fn a_callback_the_kernel_does_not_declare_is_refused_and_a_declared_one_is_not() {
    let cb = callback(0, TEXT, TEXT + 128, crate::table::CALLBACK_FLAG | 1);
    assert!(Image::declaring(&[cb], &[TEXT + 64, TEXT + 128]).check().is_ok());
    let refused = Image::declaring(&[cb], &[TEXT + 64]).check().unwrap_err();
    assert_eq!(refused[0].kinds, vec![DefectKind::CallbackNotDeclared]);
    assert!(refused[0].to_string().contains("callback 0x1080 is not a declared callback"), "{}", refused[0]);
}

#[test]
fn a_replacement_branch_that_leaves_text_is_refused_and_one_into_text_is_not() {
    // B +0x100 at REPL lands at REPL + 0x100: neither text nor the replacement section.
    let b_far = 0x1400_0040u32;
    let mut img = Image::new(&[entry(0, TEXT, REPL, 0, 4)]);
    img.repl[..4].copy_from_slice(&b_far.to_le_bytes());
    let refused = img.check().unwrap_err();
    assert_eq!(refused[0].kinds, vec![DefectKind::BranchOutsideText { offset: 0, target: REPL + 0x100 }]);
    // B back into text (REPL - 0x7000 = TEXT) is fine: relocated, it reaches the same code.
    let b_text = 0x1400_0000u32 | ((((TEXT as i64 - REPL as i64) / 4) as u32) & 0x03ff_ffff);
    img.repl[..4].copy_from_slice(&b_text.to_le_bytes());
    assert!(img.check().is_ok());
}

#[test]
fn callback_output_that_branches_out_of_text_is_refused_and_plain_output_is_not() {
    let img = Image::new(&[]);
    let text = img.layout().text;
    // MOVZ x0, #64 then NOP: fine anywhere.
    assert!(check_callback_output(TEXT, &[0xd280_0800, NOP], &text).is_empty());
    // B +0x1000 from TEXT lands past text's 256 bytes: refused at its offset.
    let out = check_callback_output(TEXT, &[NOP, 0x1400_0400], &text);
    assert_eq!(out, vec![DefectKind::BadCallbackOutput { offset: 4, word: 0x1400_0400 }]);
    // B -4 from TEXT + 8 stays in text.
    assert!(check_callback_output(TEXT + 4, &[NOP, 0x17ff_ffff], &text).is_empty());
}

#[test]
fn a_detached_verdict_attaches_to_the_same_table_and_to_no_other() {
    let img = Image::new(&[entry(0, TEXT, REPL, 0, 8), entry(1, TEXT + 8, REPL + 8, 3, 4)]);
    let checked = img.check().unwrap().detach();
    let layout = img.layout();
    let again = checked.attach(&layout).expect("the very table it was checked in");
    let entries: Vec<AltEntry> = again.entries().collect();
    let expected: Vec<AltEntry> = Table { addr: TABLE, bytes: &img.table }.entries().collect();
    assert_eq!(entries, expected);
    assert_eq!((checked.len(), checked.entry(1)), (2, Some(expected[1])));

    // One byte of the table changed after the check (entry 1's cap): refused.
    let mut changed = img.table.clone();
    changed[16 + 8] ^= 1;
    assert!(checked.attach(&Layout { table: Region { addr: TABLE, bytes: &changed }, ..layout }).is_none());
    // The same bytes elsewhere: their self-relative offsets now name other sites.
    assert!(
        checked.attach(&Layout { table: Region { addr: TABLE + 16, bytes: &img.table }, ..layout }).is_none()
    );
    // Text or replacements of another extent than the ones the sites were checked against.
    let shorter = Region { addr: TEXT, bytes: &img.text[..8] };
    assert!(checked.attach(&Layout { text: shorter, ..layout }).is_none());
    let moved = Region { addr: REPL + 4, bytes: &img.repl };
    assert!(checked.attach(&Layout { replacements: moved, ..layout }).is_none());
}
