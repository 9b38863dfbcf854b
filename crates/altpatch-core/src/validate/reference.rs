//! Whole random tables against an independent reference model (issue 4): a random table over
//! a small synthetic layout is either refused for exactly the defects the model finds, entry
//! by entry, or, when the model finds none, planned to exactly the bytes the model computes.
//!
//! The model shares nothing with the engine but the entry byte format ([`RawEntry::to_bytes`]
//! builds the table): it resolves the offsets itself, checks each rule as docs/boot-log.md and the
//! [`DefectKind`] docs state it, finds overlaps by comparing every pair of sites, decodes
//! instructions with yaxpeax-arm (an independent disassembler) and re-encodes moved ones
//! from the Arm ARM field layouts (C4.1), checking each against yaxpeax's decoding.

use super::*;
use crate::fingerprint::{CapList, of_list};
use crate::plan::{CallbackCall, plan};
use crate::table::RawEntry;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::vec;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{InstDecoder, Instruction, Opcode, Operand};

const IDENTS: [&str; 5] = ["HAS_A", "HAS_B", "HAS_C", "HAS_D", "HAS_E"];
const OLD: [&str; 4] = ["HAS_B", "HAS_A", "HAS_C", "HAS_GONE"];
const CURRENT: CapList = CapList { label: "current", fingerprint: of_list(&IDENTS), idents: &IDENTS };
const HISTORY: [CapList; 1] = [CapList { label: "v0", fingerprint: of_list(&OLD), idents: &OLD }];
const NCAPS: u16 = IDENTS.len() as u16;

/// The synthetic image: 1 KiB of text; 256 bytes of replacements a little under 1 MiB above
/// it, so imm19 branches and literals land on both sides of their range and imm14 ones are
/// out of it unless their target moves with the sequence; the table well above both.
const TEXT: u64 = 0x0010_0000;
const TEXT_LEN: u64 = 0x400;
const REPL: u64 = 0x001f_f000;
const REPL_WORDS: u64 = 64;
const TABLE: u64 = 0x0030_0000;
/// The declared callbacks: the first eight words of text, as self-relative words here.
const CALLBACKS: u64 = 0x0040_0000;
const DECLARED_CALLBACKS: u64 = 8;
/// A module's case: the callbacks the kernel exports for modules, four words of the
/// kernel's text, which lies outside the (module's) synthetic text.
const EXPORTED: u64 = 0x0008_0000;
const EXPORTED_CALLBACKS: u64 = 4;

const NOP: u32 = 0xd503_201f;

/// yaxpeax's decoding of `word`.
fn yax(word: u32) -> Option<Instruction> {
    InstDecoder::default().decode(&mut U8Reader::new(&word.to_le_bytes())).ok()
}

/// yaxpeax's opcode and PC offset of `word`, when it has one.
fn yax_pc_offset(word: u32) -> Option<(Opcode, i64)> {
    let insn = yax(word)?;
    insn.operands.iter().find_map(|o| match o {
        Operand::PCOffset(off) => Some((insn.opcode, *off)),
        _ => None,
    })
}

/// The immediate field of each relocatable opcode (Arm ARM C4.1): bits of the byte offset it
/// reaches (sign included) and log2 of its unit. `None`: PC-relative, but not movable.
fn field_of(op: Opcode) -> Option<(u32, u32)> {
    Some(match op {
        Opcode::B | Opcode::BL => (28, 2),
        Opcode::TBZ | Opcode::TBNZ => (16, 2),
        Opcode::Bcc(_) | Opcode::BCcc(_) | Opcode::CBZ | Opcode::CBNZ => (21, 2),
        Opcode::LDR | Opcode::LDRSW | Opcode::PRFM => (21, 2),
        Opcode::ADR => (21, 0),
        Opcode::ADRP => (33, 12),
        _ => return None,
    })
}

/// `word` with its immediate set to `offset` (already range-checked), field by field from
/// the Arm ARM encodings.
fn model_encode(word: u32, op: Opcode, offset: i64) -> u32 {
    match op {
        // imm26 at [25:0].
        Opcode::B | Opcode::BL => (word & !0x03ff_ffff) | ((offset >> 2) as u32 & 0x03ff_ffff),
        // imm14 at [18:5].
        Opcode::TBZ | Opcode::TBNZ => (word & !(0x3fff << 5)) | (((offset >> 2) as u32 & 0x3fff) << 5),
        // immlo at [30:29], immhi at [23:5]; ADRP counts pages.
        Opcode::ADR | Opcode::ADRP => {
            let imm = (if op == Opcode::ADRP { offset >> 12 } else { offset }) as u32 & 0x1f_ffff;
            (word & !(0b11 << 29 | 0x7_ffff << 5)) | (imm & 0b11) << 29 | (imm >> 2) << 5
        }
        // imm19 at [23:5].
        _ => (word & !(0x7_ffff << 5)) | (((offset >> 2) as u32 & 0x7_ffff) << 5),
    }
}

/// The model's move of the sequence `words` from `from` to `to`: the moved words, or the
/// byte offset of the first word that cannot be moved.
fn model_move(words: &[u32], from: u64, to: u64) -> Result<Vec<u32>, usize> {
    let len = 4 * words.len() as u64;
    let mut out = Vec::new();
    for (i, &w) in words.iter().enumerate() {
        let (old_pc, new_pc) = (from + 4 * i as u64, to.wrapping_add(4 * i as u64));
        let Some((op, off)) = yax_pc_offset(w) else {
            out.push(w);
            continue;
        };
        let Some((bits, unit)) = field_of(op) else { return Err(4 * i) };
        let page = |a: u64| if op == Opcode::ADRP { a & !0xfff } else { a };
        let target = page(old_pc).wrapping_add(off as u64);
        // A target inside the sequence, or at its end, moves with it; ADRP keeps its page.
        let target = if op != Opcode::ADRP && target >= from && target <= from + len {
            to.wrapping_add(target - from)
        } else {
            target
        };
        let needed = i128::from(target.wrapping_sub(page(new_pc)) as i64);
        let reach = 1i128 << (bits - 1);
        if needed < -reach || needed >= reach || needed % (1 << unit) != 0 {
            return Err(4 * i);
        }
        let moved = model_encode(w, op, needed as i64);
        let check = yax_pc_offset(moved).map(|(o, off)| (o, page(new_pc).wrapping_add(off as u64)));
        assert_eq!(check, Some((op, target)), "the model's encoder disagrees with yaxpeax on {w:#x}");
        out.push(moved);
    }
    Ok(out)
}

/// One entry as the generator means it (addresses absolute).
#[derive(Clone, Debug)]
struct Intent {
    cap: u16,
    site: u64,
    alt: u64,
    orig_len: u8,
    alt_len: u8,
    fingerprint: u32,
}

/// A random case: the table's address, its entries, stray bytes after them, the
/// replacement section's words, the enabled capabilities (bit `i`: cap `i`), and whether
/// the table is a module's (checked by `validate_module` against [`EXPORTED`]).
#[derive(Clone, Debug)]
struct Case {
    module: bool,
    table_addr: u64,
    entries: Vec<Intent>,
    trailing: Vec<u8>,
    repl: Vec<u32>,
    enabled: u32,
}

/// What the model says of one entry: its defect names (overlaps aside) in any order, and
/// its resolved site, length and replacement.
struct ModelEntry {
    kinds: BTreeSet<&'static str>,
    unmovable_at: Option<usize>,
    stale_list: Option<Option<&'static str>>,
    callback: bool,
    cap: u16,
    site: u64,
    alt: u64,
    orig_len: u8,
    moved: Option<Vec<u32>>,
}

/// Whether `[addr, addr + len)` lies inside `[base, base + size)`, in exact arithmetic.
fn inside(addr: u64, len: u64, base: u64, size: u64) -> bool {
    let (addr, base) = (u128::from(addr), u128::from(base));
    addr >= base && addr + u128::from(len) <= base + u128::from(size)
}

fn model_entry(case: &Case, raw: &RawEntry, index: usize) -> ModelEntry {
    let entry_addr = case.table_addr + 16 * index as u64;
    let site = entry_addr.wrapping_add(raw.orig_offset as i64 as u64);
    let alt = (entry_addr + 4).wrapping_add(raw.alt_offset as i64 as u64);
    let callback = raw.cap & 0x8000 != 0;
    let cap = raw.cap & 0x7fff;
    let mut kinds = BTreeSet::new();
    let mut add = |k| {
        kinds.insert(k);
    };
    if cap >= NCAPS {
        add("CapOutOfRange");
    }
    if callback && raw.alt_len != 0 {
        add("CallbackWithAltLen");
    }
    if !callback && raw.orig_len != raw.alt_len {
        add("LengthMismatch");
    }
    if raw.orig_len == 0 {
        add("ZeroLength");
    } else if !raw.orig_len.is_multiple_of(4) {
        add("LengthNotWords");
    }
    if !inside(site, u64::from(raw.orig_len).max(1), TEXT, TEXT_LEN) {
        add("SiteOutsideText");
    }
    if !site.is_multiple_of(4) {
        add("SiteMisaligned");
    }
    let mut unmovable_at = None;
    let mut moved = None;
    if callback && case.module {
        // A module may name only an exported callback: the export list stands in for both
        // the declaration and the inside-text rule.
        if !alt.is_multiple_of(4) {
            add("CallbackMisaligned");
        }
        if !(alt.is_multiple_of(4) && inside(alt, 4, EXPORTED, 4 * EXPORTED_CALLBACKS)) {
            add("CallbackNotExported");
        }
    } else if callback {
        if !inside(alt, 4, TEXT, TEXT_LEN) {
            add("CallbackOutsideText");
        }
        if !alt.is_multiple_of(4) {
            add("CallbackMisaligned");
        }
        if !(alt.is_multiple_of(4) && inside(alt, 4, TEXT, 4 * DECLARED_CALLBACKS)) {
            add("CallbackNotDeclared");
        }
    } else {
        let in_section = inside(alt, u64::from(raw.alt_len).max(1), REPL, 4 * REPL_WORDS);
        if !in_section {
            add("ReplacementOutsideSection");
        }
        if !alt.is_multiple_of(4) {
            add("ReplacementMisaligned");
        }
        // Whether it moves is asked only of a well-formed replacement.
        if in_section
            && alt.is_multiple_of(4)
            && raw.orig_len == raw.alt_len
            && raw.orig_len != 0
            && raw.orig_len.is_multiple_of(4)
        {
            let first = ((alt - REPL) / 4) as usize;
            let words = &case.repl[first..first + usize::from(raw.alt_len) / 4];
            match model_move(words, alt, site) {
                Ok(m) => moved = Some(m),
                Err(at) => {
                    add("Unmovable");
                    unmovable_at = Some(at);
                }
            }
            // A branch left pointing into the (never executable) replacement section, outside
            // this sequence (its end included: that is the instruction after the site).
            for (i, &w) in words.iter().enumerate() {
                let pc = alt + 4 * i as u64;
                let branch = yax_pc_offset(w).filter(|(op, _)| {
                    matches!(
                        op,
                        Opcode::B
                            | Opcode::BL
                            | Opcode::TBZ
                            | Opcode::TBNZ
                            | Opcode::Bcc(_)
                            | Opcode::BCcc(_)
                            | Opcode::CBZ
                            | Opcode::CBNZ
                    )
                });
                if let Some((_, off)) = branch {
                    let target = pc.wrapping_add(off as u64);
                    let own = target >= alt && target <= alt + u64::from(raw.alt_len);
                    if !own && inside(target, 4, REPL, 4 * REPL_WORDS) {
                        add("BranchIntoReplacements");
                    } else if !own && !inside(target, 4, TEXT, TEXT_LEN) {
                        add("BranchOutsideText");
                    }
                }
            }
        }
    }
    let mut stale_list = None;
    if raw.fingerprint != CURRENT.fingerprint {
        add("StaleFingerprint");
        stale_list = Some(HISTORY.iter().find(|l| l.fingerprint == raw.fingerprint).map(|l| l.label));
    }
    ModelEntry { kinds, unmovable_at, stale_list, callback, cap, site, alt, orig_len: raw.orig_len, moved }
}

/// Whether the sites of `a` and `b` share a byte.
fn overlap(a: &ModelEntry, b: &ModelEntry) -> bool {
    let end = |e: &ModelEntry| u128::from(e.site) + u128::from(e.orig_len);
    a.orig_len != 0 && b.orig_len != 0 && u128::from(a.site) < end(b) && u128::from(b.site) < end(a)
}

fn kind_name(k: &DefectKind) -> &'static str {
    match k {
        DefectKind::Truncated { .. } => "Truncated",
        DefectKind::TableMisaligned => "TableMisaligned",
        DefectKind::CapOutOfRange => "CapOutOfRange",
        DefectKind::LengthMismatch => "LengthMismatch",
        DefectKind::CallbackWithAltLen => "CallbackWithAltLen",
        DefectKind::ZeroLength => "ZeroLength",
        DefectKind::LengthNotWords => "LengthNotWords",
        DefectKind::SiteOutsideText => "SiteOutsideText",
        DefectKind::SiteMisaligned => "SiteMisaligned",
        DefectKind::ReplacementOutsideSection => "ReplacementOutsideSection",
        DefectKind::ReplacementMisaligned => "ReplacementMisaligned",
        DefectKind::CallbackOutsideText => "CallbackOutsideText",
        DefectKind::CallbackMisaligned => "CallbackMisaligned",
        DefectKind::CallbackNotDeclared => "CallbackNotDeclared",
        DefectKind::CallbackNotExported => "CallbackNotExported",
        DefectKind::BranchOutsideText { .. } => "BranchOutsideText",
        DefectKind::BadCallbackOutput { .. } => "BadCallbackOutput",
        DefectKind::Overlaps { .. } => "Overlaps",
        DefectKind::StaleFingerprint { .. } => "StaleFingerprint",
        DefectKind::Unmovable(_) => "Unmovable",
        DefectKind::BranchIntoReplacements { .. } => "BranchIntoReplacements",
    }
}

/// Replacement words: plain instructions, and every relocatable class with immediates both
/// small (targets inside or at the end of a sequence) and anywhere in the field; a word
/// yaxpeax does not decode becomes a `nop`, so that the model always has an opinion.
fn word() -> impl Strategy<Value = u32> {
    let plain =
        prop::sample::select(vec![NOP, 0xd503_3fdf, 0xd503_3bbf, 0xaa01_03e0, 0x8b02_0020, 0xd65f_03c0]);
    let pc_rel = prop::sample::select(vec![
        0x1400_0000u32, // b
        0x9400_0000,    // bl
        0x5400_0000,    // b.eq
        0x5400_0011,    // bc.ne
        0xb400_0000,    // cbz x0
        0x3500_0001,    // cbnz w1
        0x3600_0002,    // tbz w2, #0
        0xb7f8_0003,    // tbnz x3, #63
        0x1000_0004,    // adr x4
        0x9000_0010,    // adrp x16
        0x5800_0005,    // ldr x5, literal
        0x9800_0006,    // ldrsw x6, literal
        0x1c00_0007,    // ldr s7, literal
        0xd800_0000,    // prfm, literal
    ]);
    let imm = prop_oneof![(-4i32..8).prop_map(|w| (w * 4) as u32), any::<u32>()];
    let relocatable = (pc_rel, imm).prop_map(|(base, imm)| {
        let op = yax(base).map(|i| i.opcode).expect("the class bases decode");
        let (bits, unit) = field_of(op).expect("the class bases are relocatable");
        // A byte offset within the field, sign-extended from its width.
        let off = ((i64::from(imm as i32) << (64 - bits)) >> (64 - bits)) & !((1 << unit) - 1);
        model_encode(base, op, off)
    });
    prop_oneof![4 => plain, 4 => relocatable, 1 => any::<u32>()]
        .prop_map(|w| if yax(w).is_some() { w } else { NOP })
}

/// A well-formed entry in the 16-byte text slot `slot` (so well-formed entries never overlap);
/// a module's callbacks name exported callbacks, the kernel's declared ones.
fn good_entry(slot: u64, module: bool) -> impl Strategy<Value = Intent> {
    (0..NCAPS, 1u8..=4, 0..REPL_WORDS - 4, prop::bool::weighted(0.15), 0..TEXT_LEN / 4).prop_map(
        move |(cap, words, alt_word, callback, cb_word)| {
            let len = 4 * words;
            let site = TEXT + 16 * slot;
            if callback {
                let cap = cap | 0x8000;
                Intent {
                    cap,
                    site,
                    alt: if module {
                        EXPORTED + 4 * (cb_word % EXPORTED_CALLBACKS)
                    } else {
                        TEXT + 4 * (cb_word % DECLARED_CALLBACKS)
                    },
                    orig_len: len,
                    alt_len: 0,
                    fingerprint: CURRENT.fingerprint,
                }
            } else {
                let alt = REPL + 4 * alt_word;
                Intent { cap, site, alt, orig_len: len, alt_len: len, fingerprint: CURRENT.fingerprint }
            }
        },
    )
}

/// Any entry: each field well-formed most of the time, otherwise wrong in one of the ways
/// the checks name (and sites anywhere in text, so they overlap).
fn any_entry() -> impl Strategy<Value = Intent> {
    let cap = prop_oneof![6 => 0..NCAPS, 1 => Just(NCAPS), 1 => NCAPS..0x8000];
    let site = prop_oneof![
        6 => (0..TEXT_LEN / 4).prop_map(|w| TEXT + 4 * w),
        1 => (0..TEXT_LEN + 64).prop_map(|b| TEXT + b - 32),
        1 => (-(1i64 << 30)..(1i64 << 30)).prop_map(|d| TEXT.wrapping_add(d as u64)),
    ];
    let alt = prop_oneof![
        6 => (0..REPL_WORDS).prop_map(|w| REPL + 4 * w),
        2 => (0..TEXT_LEN / 4).prop_map(|w| TEXT + 4 * w),
        1 => (0..4 * EXPORTED_CALLBACKS + 8).prop_map(|b| EXPORTED + b - 4),
        1 => (0..4 * REPL_WORDS + 32).prop_map(|b| REPL + b - 16),
        1 => (-(1i64 << 30)..(1i64 << 30)).prop_map(|d| REPL.wrapping_add(d as u64)),
    ];
    let lens = prop_oneof![8 => (1u8..=4).prop_map(|w| (4 * w, 4 * w)), 1 => (0u8..=4).prop_map(|w| (4 * w, 0)), 1 => (any::<u8>(), any::<u8>())];
    let fingerprint =
        prop_oneof![8 => Just(CURRENT.fingerprint), 1 => Just(HISTORY[0].fingerprint), 1 => any::<u32>()];
    (cap, prop::bool::weighted(0.15), site, alt, lens, fingerprint).prop_map(
        |(cap, callback, site, alt, (orig_len, alt_len), fingerprint)| Intent {
            cap: if callback { cap | 0x8000 } else { cap },
            site,
            alt,
            orig_len,
            alt_len,
            fingerprint,
        },
    )
}

fn case() -> impl Strategy<Value = Case> {
    // Well-formed tables in slot order (the sort-free path) or shuffled; corrupted tables
    // sorted by site half the time.
    let well_formed = |module: bool| {
        (prop::sample::subsequence((0..TEXT_LEN / 16).collect::<Vec<_>>(), 0..10), any::<bool>())
            .prop_flat_map(move |(slots, shuffle)| {
                let entries: Vec<_> = slots.into_iter().map(|slot| good_entry(slot, module)).collect();
                entries.prop_shuffle().prop_map(move |e| (e, shuffle))
            })
            .prop_map(|(mut e, shuffle)| {
                if !shuffle {
                    e.sort_by_key(|i| i.site);
                }
                e
            })
    };
    let corrupted = (prop::collection::vec(any_entry(), 0..10), any::<bool>())
        .prop_map(|(mut e, sort)| {
            if sort {
                e.sort_by_key(|i| i.site);
            }
            e
        })
        .boxed();
    // A module's table one case in four.
    let module = prop::bool::weighted(0.25);
    let entries = module.prop_flat_map(move |module| {
        prop_oneof![3 => well_formed(module), 2 => corrupted.clone()].prop_map(move |e| (module, e))
    });
    let table_addr = prop_oneof![15 => Just(TABLE), 1 => (1u64..4).prop_map(|m| TABLE + m)];
    let trailing = prop_oneof![15 => Just(vec![]), 1 => prop::collection::vec(any::<u8>(), 1..16)];
    let repl = prop::collection::vec(word(), REPL_WORDS as usize);
    (table_addr, entries, trailing, repl, any::<u32>()).prop_map(
        |(table_addr, (module, entries), trailing, repl, enabled)| Case {
            module,
            table_addr,
            entries,
            trailing,
            repl,
            enabled,
        },
    )
}

/// The raw entries of `case`, offsets relative to their own fields, as docs/boot-log.md lays out.
fn raw_entries(case: &Case) -> Vec<RawEntry> {
    let rel = |to: u64, field: u64| to.wrapping_sub(field) as i64 as i32;
    (case.entries.iter().enumerate())
        .map(|(i, e)| {
            let at = case.table_addr + 16 * i as u64;
            RawEntry {
                orig_offset: rel(e.site, at),
                alt_offset: rel(e.alt, at + 4),
                cap: e.cap,
                orig_len: e.orig_len,
                alt_len: e.alt_len,
                fingerprint: e.fingerprint,
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn random_tables_are_refused_for_exactly_the_reference_defects_or_patched_as_it_says(c in case()) {
        let raws = raw_entries(&c);
        let mut table: Vec<u8> = raws.iter().flat_map(RawEntry::to_bytes).collect();
        table.extend_from_slice(&c.trailing);
        let text = vec![0u8; TEXT_LEN as usize];
        let repl: Vec<u8> = c.repl.iter().flat_map(|w| w.to_le_bytes()).collect();
        let callbacks: Vec<u8> = (0..DECLARED_CALLBACKS)
            .flat_map(|k| ((TEXT + 4 * k) as i64 - (CALLBACKS + 4 * k) as i64).to_le_bytes()[..4].to_vec())
            .collect();
        let layout = Layout {
            table: Region { addr: c.table_addr, bytes: &table },
            text: Region { addr: TEXT, bytes: &text },
            replacements: Region { addr: REPL, bytes: &repl },
            callbacks: Region { addr: CALLBACKS, bytes: &callbacks },
        };
        let model: Vec<ModelEntry> = raws.iter().enumerate().map(|(i, r)| model_entry(&c, r, i)).collect();

        // The model's verdict: (index, whole-table defect, kind names), ascending.
        let mut expected: Vec<(usize, bool, BTreeSet<&str>)> = Vec::new();
        if c.table_addr % 4 != 0 {
            expected.push((0, true, BTreeSet::from(["TableMisaligned"])));
        }
        for (i, m) in model.iter().enumerate() {
            let mut kinds = m.kinds.clone();
            if (0..model.len()).any(|j| j != i && overlap(m, &model[j])) {
                kinds.insert("Overlaps");
            }
            if !kinds.is_empty() {
                expected.push((i, false, kinds));
            }
        }
        if !c.trailing.is_empty() {
            expected.push((model.len(), true, BTreeSet::from(["Truncated"])));
        }
        expected.sort();

        let exported: Vec<u64> = (0..EXPORTED_CALLBACKS).map(|k| EXPORTED + 4 * k).collect();
        let verdict = if c.module {
            validate_module(&layout, &CURRENT, &HISTORY, &|_| None, &exported)
        } else {
            validate(&layout, &CURRENT, &HISTORY, &|_| None)
        };
        match verdict {
            Err(defects) => {
                let mut got: Vec<(usize, bool, BTreeSet<&str>)> = defects
                    .iter()
                    .map(|d| (d.index, d.entry.is_none(), d.kinds.iter().map(kind_name).collect()))
                    .collect();
                got.sort();
                prop_assert_eq!(&got, &expected);
                // The details the kinds carry agree with the model too.
                for d in defects.iter().filter(|d| d.entry.is_some()) {
                    let m = &model[d.index];
                    for k in &d.kinds {
                        match *k {
                            DefectKind::Overlaps { other, other_site } => {
                                prop_assert!(overlap(m, &model[other]), "entry {} named {other}", d.index);
                                prop_assert_eq!(other_site, model[other].site);
                            }
                            DefectKind::Unmovable(err) => prop_assert_eq!(Some(err.offset), m.unmovable_at),
                            DefectKind::StaleFingerprint { known } => {
                                prop_assert_eq!(Some(known.map(|k| k.list)), m.stale_list);
                            }
                            DefectKind::Truncated { trailing } => prop_assert_eq!(trailing, c.trailing.len()),
                            _ => {}
                        }
                    }
                }
            }
            Ok(valid) => {
                prop_assert!(expected.is_empty(), "accepted a table the model refuses: {:?}", expected);
                let enabled = |cap: u16| c.enabled & (1 << cap) != 0;
                let p = plan(&valid, &enabled);
                let mut writes = Vec::new();
                let mut callbacks = Vec::new();
                for (i, m) in model.iter().enumerate().filter(|(_, m)| enabled(m.cap)) {
                    if m.callback {
                        callbacks.push(CallbackCall { entry: i, callback: m.alt, site: m.site, len: m.orig_len });
                    } else {
                        let bytes: Vec<u8> = m.moved.as_ref().expect("a valid replacement moves").iter().flat_map(|w| w.to_le_bytes()).collect();
                        writes.push((i, m.site, bytes));
                    }
                }
                let got: Vec<(usize, u64, Vec<u8>)> = p.writes.iter().map(|w| (w.entry, w.addr, w.bytes.to_vec())).collect();
                prop_assert_eq!(got, writes);
                prop_assert_eq!(&p.callbacks, &callbacks);
                prop_assert_eq!(p.patched + p.skipped, model.len());
                prop_assert_eq!(p.patched, model.iter().filter(|m| enabled(m.cap)).count());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// The fast verdict that lets a valid table skip the reporting pass must agree with that
    /// pass on every entry: one accepted that `check` would refuse would patch a bad entry
    /// whenever the rest of its table is clean.
    #[test]
    fn each_entry_passes_the_fast_verdict_exactly_when_check_finds_nothing(c in case()) {
        let table: Vec<u8> = raw_entries(&c).iter().flat_map(RawEntry::to_bytes).collect();
        let text = vec![0u8; TEXT_LEN as usize];
        let repl: Vec<u8> = c.repl.iter().flat_map(|w| w.to_le_bytes()).collect();
        let layout = Layout {
            table: Region { addr: c.table_addr, bytes: &table },
            text: Region { addr: TEXT, bytes: &text },
            replacements: Region { addr: REPL, bytes: &repl },
            callbacks: Region { addr: CALLBACKS, bytes: &[] },
        };
        let declared: Vec<u64> = (0..DECLARED_CALLBACKS).map(|k| TEXT + 4 * k).collect();
        let exported: Vec<u64> = (0..EXPORTED_CALLBACKS).map(|k| EXPORTED + 4 * k).collect();
        let callbacks =
            if c.module { Callbacks::Exported(&exported) } else { Callbacks::Declared(&declared) };
        let t = Table { addr: c.table_addr, bytes: &table };
        // Shared by the entries, as the table's pass shares it.
        let mut last_callback = None;
        for e in t.entries() {
            let mut kinds = Vec::new();
            check(&e, &layout, &CURRENT, &HISTORY, callbacks, &mut kinds);
            let fast = pass::entry_passes(&e, &layout, &CURRENT, callbacks, &mut last_callback);
            prop_assert_eq!(fast, kinds.is_empty(), "entry {}: {:?}", e.index, kinds);
        }
    }
}

/// Sites of one to four words anywhere in a span that is sometimes tiny (so that they crowd
/// and overlap), sometimes huge (so that the buckets are wide and sparse), in any order; and
/// sometimes crowded together but for one far away, so that all but one share a bucket.
fn scattered_sites() -> impl Strategy<Value = Vec<(u64, u64)>> {
    let span = prop_oneof![Just(64u64), Just(1 << 12), Just(1 << 40), Just(u64::MAX - 64)];
    let spread = (span, any::<u64>()).prop_flat_map(|(span, base)| {
        let base = base % (u64::MAX - span - 16);
        prop::collection::vec((0..span / 4, 1u64..=4), 0..40)
            .prop_map(move |v| v.into_iter().map(|(w, len)| (base + 4 * w, base + 4 * w + 4 * len)).collect())
    });
    let crowded = (prop::collection::vec((0u64..256, 1u64..=4), 2..60), 1u64 << 30..1 << 40, any::<usize>())
        .prop_map(|(v, far, at)| {
            let mut sites: Vec<(u64, u64)> = v.into_iter().map(|(w, len)| (4 * w, 4 * w + 4 * len)).collect();
            sites.insert(at % sites.len(), (4 * far, 4 * far + 4));
            sites
        });
    prop_oneof![spread, crowded]
}

proptest! {
    /// The bucketed sort behind the overlap sweep of a table out of address order is a sort.
    #[test]
    fn sites_sorted_by_address_are_a_sorted_permutation(sites in scattered_sites()) {
        let mut expected = sites.clone();
        expected.sort_unstable();
        prop_assert_eq!(pass::by_address(&sites), expected);
    }

    /// ... and the sweep finds an overlap exactly when some pair of sites shares a byte.
    #[test]
    fn sites_are_disjoint_exactly_when_no_pair_overlaps(sites in scattered_sites()) {
        let pairwise = sites.iter().enumerate().all(|(i, a)| {
            sites[i + 1..].iter().all(|b| a.1 <= b.0 || b.1 <= a.0)
        });
        prop_assert_eq!(pass::disjoint(&sites), pairwise);
    }
}
