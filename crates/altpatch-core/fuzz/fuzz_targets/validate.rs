//! Fuzzes the validator and the planner over arbitrary tables and replacement bytes: no
//! input panics; a refused table names at least one reason for each bad entry; an accepted
//! table satisfies every rule (each checked here directly), and its plan, applied to the
//! text, is exactly what the audit expects.
//!
//! Input: a layout byte (table misalignment, distance of the replacements from the text),
//! a byte of text size, a byte of replacement size, then the replacement section, then the
//! table's bytes.

#![no_main]

use arm64_caps::caps;
use altpatch_core::insn;
use altpatch_core::plan::{audit, plan};
use altpatch_core::table::Table;
use altpatch_core::validate::{Layout, Region, validate};
use libfuzzer_sys::fuzz_target;

const TEXT: u64 = 0x1_0000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (shape, text_words, repl_words) = (data[0], usize::from(data[1]) + 1, usize::from(data[2]));
    let rest = &data[3..];
    let (repl, table) = rest.split_at((4 * repl_words).min(rest.len()));
    let text_len = 4 * text_words;
    // Replacements right after the text, ~1 MiB away (the imm19 edge) or 256 MiB away.
    let repl_addr = match shape & 3 {
        0 | 1 => TEXT + 0x800,
        2 => TEXT + 0xf_f000,
        _ => TEXT + 0x1000_0000,
    };
    // The table sits just above the text, so small offsets reach both regions.
    let table_addr = TEXT + 0x1000 + u64::from((shape >> 2) & 3);
    let text = vec![0u8; text_len];
    let layout = Layout {
        table: Region { addr: table_addr, bytes: table },
        text: Region { addr: TEXT, bytes: &text },
        replacements: Region { addr: repl_addr, bytes: repl },
        // Every callback the fuzzer names is undeclared but the first text word.
        callbacks: Region { addr: TEXT + 4, bytes: &(-4i32).to_le_bytes() },
    };

    let valid = match validate(&layout, &caps::LIST, caps::history::LISTS, &|_| None) {
        Err(defects) => {
            assert!(!defects.is_empty());
            for d in &defects {
                assert!(!d.kinds.is_empty(), "a defect without a reason");
                assert!(d.index <= table.len() / 16);
                assert!(d.to_string().starts_with("alternatives: bad entry "));
            }
            return;
        }
        Ok(valid) => valid,
    };

    // Accepted: every rule holds, checked here on its own terms.
    assert!(table_addr % 4 == 0 && table.len() % 16 == 0);
    assert_eq!(valid.len(), Table { addr: table_addr, bytes: table }.len());
    let mut sites: Vec<(u64, u64)> = Vec::new();
    for e in valid.entries() {
        let len = u64::from(e.orig_len);
        assert!(e.cap_index() < caps::NCAPS && e.fingerprint == caps::FINGERPRINT);
        assert!(len > 0 && len % 4 == 0 && e.site % 4 == 0);
        assert!(e.site >= TEXT && e.site + len <= TEXT + text_len as u64, "site outside text");
        if e.is_callback() {
            assert!(e.alt_len == 0 && e.alt % 4 == 0);
            assert!(e.alt >= TEXT && e.alt + 4 <= TEXT + text_len as u64, "callback outside text");
        } else {
            assert!(e.alt_len == e.orig_len && e.alt % 4 == 0);
            let seq = layout.replacements.read(e.alt, usize::from(e.alt_len)).expect("replacement inside");
            assert!(insn::relocate(seq, e.alt, e.site).is_ok(), "an accepted replacement does not move");
        }
        sites.push((e.site, len));
    }
    sites.sort_unstable();
    for pair in sites.windows(2) {
        assert!(pair[0].0 + pair[0].1 <= pair[1].0, "accepted overlapping sites");
    }

    // Planned with everything enabled, applied to the text, the audit finds nothing.
    let p = plan(&valid, &|_| true);
    assert_eq!(p.patched, valid.len());
    let mut patched = text.clone();
    for w in &p.writes {
        let e = &valid.entry(w.entry).expect("a write names an entry of the table");
        assert_eq!((w.addr, w.bytes.len()), (e.site, usize::from(e.orig_len)));
        let at = (w.addr - TEXT) as usize;
        patched[at..at + w.bytes.len()].copy_from_slice(&w.bytes);
    }
    assert!(audit(&p, &Region { addr: TEXT, bytes: &patched }).is_empty());
});
