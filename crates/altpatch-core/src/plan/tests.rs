//! Planning, cache maintenance and audit. CTR_EL0 values are built from the Arm ARM field
//! positions (DminLine [19:16], IminLine [3:0], IDC 28, DIC 29), line counts by hand.

use super::*;
use crate::fingerprint::{CapList, of_list};
use crate::table::{CALLBACK_FLAG, RawEntry};
use crate::validate::{Layout, validate};
use std::string::ToString;
use std::vec;

const IDENTS: [&str; 2] = ["HAS_A", "HAS_B"];
const LIST: CapList = CapList { label: "current", fingerprint: of_list(&IDENTS), idents: &IDENTS };
/// 64-byte D and I lines: DminLine = IminLine = 4 (4 << 4 = 64 bytes).
const CTR_64: u64 = 4 << 16 | 4;

fn plan_for(enabled: &dyn Fn(u16) -> bool) -> PatchPlan {
    // Sites: 0x1000 (8 bytes, cap 0), 0x1038 (16 bytes, cap 1: straddles the 0x1040 line),
    // 0x1048 (callback, cap 0, 4 bytes). Replacement: b .+0x100 (0x14000040) then nops.
    // Text runs up to 0x8200, so the branch's target 0x8100 is code (a replacement may not
    // branch out of text).
    let text = vec![0u8; 0x7200];
    let mut repl = [0x1f, 0x20, 0x03, 0xd5].repeat(8);
    repl[0..4].copy_from_slice(&0x1400_0040u32.to_le_bytes());
    let entries = [
        RawEntry::new(0x9000, 0x1000, 0x8000, 0, 8, 8, LIST.fingerprint).unwrap(),
        RawEntry::new(0x9010, 0x1038, 0x8008, 1, 16, 16, LIST.fingerprint).unwrap(),
        RawEntry::new(0x9020, 0x1048, 0x1080, CALLBACK_FLAG, 4, 0, LIST.fingerprint).unwrap(),
    ];
    let table: Vec<u8> = entries.iter().flat_map(|e| e.to_bytes()).collect();
    // The one declared callback, 0x1080, as a self-relative word at 0xa000.
    let callbacks = (0x1080i32 - 0xa000).to_le_bytes();
    let layout = Layout {
        table: Region { addr: 0x9000, bytes: &table },
        text: Region { addr: 0x1000, bytes: &text },
        replacements: Region { addr: 0x8000, bytes: &repl },
        callbacks: Region { addr: 0xa000, bytes: &callbacks },
    };
    plan(&validate(&layout, &LIST, &[], &|_| None).unwrap(), enabled)
}

#[test]
fn plan_writes_relocated_bytes_for_enabled_caps_only() {
    let p = plan_for(&|cap| cap == 0);
    assert_eq!((p.patched, p.skipped), (2, 1));
    assert_eq!(p.writes.len(), 1);
    // b .+0x100 from 0x8000 reaches 0x8100; at 0x1000 it needs 0x7100 = imm26 0x1c40.
    assert_eq!(p.writes.get(0).unwrap().bytes[0..4], 0x1400_1c40u32.to_le_bytes());
    assert_eq!(p.callbacks, vec![CallbackCall { entry: 2, callback: 0x1080, site: 0x1048, len: 4 }]);
}

#[test]
fn maintenance_touches_each_distinct_line_once() {
    let p = plan_for(&|_| true);
    // Ranges 0x1000+8, 0x1038+16 (lines 0x1000, 0x1040), 0x1048+4 (line 0x1040).
    let m = maintenance(&p, CTR_64);
    assert_eq!(m.dc_cvau, vec![0x1000, 0x1040]);
    // Two I-lines: one whole invalidate instead, never more operations than Linux's one.
    assert!(m.ic_ivau.is_empty() && m.ic_ialluis);
    // 16-byte I-lines (IminLine 2): 0x1000, 0x1030, 0x1040 (0x1038..0x1048), 0x1040 again.
    let m = maintenance(&p, 4 << 16 | 2);
    assert_eq!((m.dc_cvau.len(), m.ic_ivau.len(), m.ic_ialluis), (2, 0, true));
    // One site in one I-line: one IC IVAU, the floor.
    let mut one = PatchPlan { patched: 1, ..PatchPlan::default() };
    one.writes.push(0, 0x1004, &[0; 8]);
    let m = maintenance(&one, CTR_64);
    assert_eq!((m.dc_cvau, m.ic_ivau, m.ic_ialluis), (vec![0x1000], vec![0x1000], false));
}

#[test]
fn idc_skips_the_clean_and_dic_skips_the_invalidate() {
    let p = plan_for(&|_| true);
    let m = maintenance(&p, CTR_64 | 1 << 28);
    assert!(m.dc_cvau.is_empty() && m.ic_ialluis);
    let m = maintenance(&p, CTR_64 | 1 << 28 | 1 << 29);
    assert!(m.dc_cvau.is_empty() && m.ic_ivau.is_empty() && !m.ic_ialluis);
}

#[test]
fn linux_baseline_counts_lines_per_entry_and_one_full_invalidate_unless_dic() {
    let p = plan_for(&|_| true);
    // Per entry with 64-byte lines: 0x1000+8 -> 1, 0x1038+16 -> 2, 0x1048+4 -> 1; IDC ignored.
    assert_eq!(linux_baseline_ops(&p, CTR_64 | 1 << 28), BaselineOps { dc_civac: 4, ic_iallu: 1 });
    // DIC: Linux's icache_inval_all_pou() returns before its IC IALLUIS; the D-lines remain.
    assert_eq!(linux_baseline_ops(&p, CTR_64 | 1 << 29), BaselineOps { dc_civac: 4, ic_iallu: 0 });
    assert_eq!(linux_baseline_ops(&plan_for(&|_| false), CTR_64), BaselineOps::default());
}

#[test]
fn a_site_longer_than_the_inline_buffer_is_planned_whole() {
    // Five words at 0x8000: four nops, then b .+0x100 (0x14000040) at 0x8010, reaching
    // 0x8110. At site 0x1000 that word sits at 0x1010 and needs 0x7100: imm26 0x1c40.
    // Text runs up to 0x8200, so the target is code.
    let text = vec![0u8; 0x7200];
    let nop = 0xd503_201fu32.to_le_bytes();
    let mut repl = nop.repeat(5);
    repl[16..20].copy_from_slice(&0x1400_0040u32.to_le_bytes());
    let table = RawEntry::new(0x9000, 0x1000, 0x8000, 0, 20, 20, LIST.fingerprint).unwrap().to_bytes();
    let layout = Layout {
        table: Region { addr: 0x9000, bytes: &table },
        text: Region { addr: 0x1000, bytes: &text },
        replacements: Region { addr: 0x8000, bytes: &repl },
        callbacks: Region { addr: 0, bytes: &[] },
    };
    let p = plan(&validate(&layout, &LIST, &[], &|_| None).unwrap(), &|_| true);
    let mut expected = nop.repeat(4);
    expected.extend_from_slice(&0x1400_1c40u32.to_le_bytes());
    assert_eq!(p.writes.get(0).unwrap().bytes, &expected[..]);
}

#[test]
fn writes_read_back_as_pushed_in_place_or_in_the_side_buffer() {
    let mut w = Writes::default();
    let sites: [Vec<u8>; 5] =
        [(0..16).collect(), (0..17).collect(), vec![], (100..104).collect(), (0..40).collect()];
    for (i, bytes) in sites.iter().enumerate() {
        w.push(i * 7, 0x1000 + 0x100 * i as u64, bytes);
    }
    assert_eq!(w.len(), sites.len());
    for (i, (got, bytes)) in w.iter().zip(&sites).enumerate() {
        assert_eq!(got, Write { entry: i * 7, addr: 0x1000 + 0x100 * i as u64, bytes });
        assert_eq!(w.get(i), Some(got));
    }
    assert_eq!(w.get(sites.len()), None);
}

#[test]
fn writes_compare_by_content_however_they_are_held() {
    let (mut a, mut b) = (Writes::default(), Writes::with_capacity(4));
    a.push(0, 0x1000, &[1; 20]);
    a.push(1, 0x1020, &[2; 24]);
    b.push(0, 0x1000, &[1; 20]);
    b.push(1, 0x1020, &[2; 24]);
    assert_eq!(a, b);
    b.push(2, 0x1040, &[3; 4]);
    assert_ne!(a, b);
    a.push(2, 0x1040, &[3, 3, 3, 4]);
    assert_ne!(a, b);
}

#[test]
fn a_failed_fill_adds_neither_a_write_nor_side_bytes() {
    let mut w = Writes::default();
    assert_eq!(w.push_with(0, 0x1000, 20, |_| None), None);
    assert_eq!(w.push_with(1, 0x1000, 8, |_| None), None);
    assert!(w.is_empty() && w.long.is_empty());
    w.push(2, 0x1000, &[5; 20]);
    assert_eq!(w.get(0).unwrap().bytes, &[5; 20]);
}

#[test]
#[should_panic(expected = "past the 4G entries")]
fn an_entry_index_past_u32_is_refused_not_truncated() {
    Writes::default().push(u32::MAX as usize + 1, 0x1000, &[0; 4]);
}

#[test]
fn audit_reports_the_first_differing_word_of_each_site() {
    let p = plan_for(&|_| true);
    let mut text = vec![0u8; 0x100];
    for w in &p.writes {
        let at = (w.addr - 0x1000) as usize;
        text[at..at + w.bytes.len()].copy_from_slice(w.bytes);
    }
    assert!(audit(&p, &Region { addr: 0x1000, bytes: &text }).is_empty());
    text[0x3c] ^= 1; // second word of the 0x1038 site
    let m = audit(&p, &Region { addr: 0x1000, bytes: &text });
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].entry, m[0].addr, m[0].expected), (1, 0x103c, 0xd503_201f));
    assert_eq!(m[0].found, Some(0xd503_201e));
}

#[test]
fn a_mismatch_reads_with_both_words_in_hex_or_says_the_site_is_outside_the_text() {
    let m = Mismatch { entry: 1, addr: 0x103c, expected: 0xd503_201f, found: Some(0x1f) };
    assert_eq!(m.to_string(), "entry 1 at 0x103c: expected 0xd503201f, found 0x0000001f");
    let outside = Mismatch { found: None, ..m };
    assert_eq!(
        outside.to_string(),
        "entry 1 at 0x103c: expected 0xd503201f, found no word: the site is outside the text"
    );
}

#[test]
fn enabled_is_asked_once_for_each_capability_the_table_names() {
    // Caps 0, 1 and 0 again (the callback): two questions, cap 0 once for both its entries.
    let asked = core::cell::RefCell::new(vec![]);
    let p = plan_for(&|cap| {
        asked.borrow_mut().push(cap);
        cap == 1
    });
    assert_eq!(asked.into_inner(), vec![0, 1]);
    assert_eq!((p.patched, p.skipped), (1, 2));
}
