//! Figure 1b of `scripts/bench`: the price of checking, on a real table. Linux 6.1's own
//! alternatives table (Debian's arm64 image named by `ALTPATCH_LINUX_IMAGE`, read with
//! altcheck's Linux reader) is converted to altpatch's 16-byte format and run through
//! altpatch's [`validate`] + [`plan`] + the writes, beside a port of Linux's unchecked
//! `__apply_alternatives` loop (arch/arm64/kernel/alternative.c, 6.1) over the same entries,
//! both writing into a copy of the text with every capability enabled. Callbacks are not
//! run by either (they are Linux's own functions): both only count them.
//!
//! Prints `bench: linux_table.<name> = <value> <unit>` rows (median of 31 samples), or one
//! `SKIPPED` row when `ALTPATCH_LINUX_IMAGE` is not set.
//!
//! The converted table is laid after the image (so its self-relative offsets reach the
//! text); the replacement region is the span of the replacements the table names (Linux's
//! `.altinstr_replacement`, which the raw image does not delimit); the declared callbacks are
//! those the table names (a raw image has no `.altinstr_callbacks`); each entry carries the
//! kernel's fingerprint, its capability number folded into altpatch's range.

use std::hint::black_box;
use std::time::Instant;

use altcheck::linux::entry::{self, CallbackMarker, ENTRY_SIZE as LINUX_ENTRY_SIZE};
use altcheck::linux::kernel;
use altpatch_core::plan::plan;
use altpatch_core::table::{ENTRY_SIZE, RawEntry};
use altpatch_core::validate::{Layout, Region, validate};
use arm64_caps::caps;

fn row(name: &str, value: impl std::fmt::Display, unit: &str) {
    println!("bench: linux_table.{name} = {value} {unit}");
}

/// Median time of `f`, in ns, over 31 samples of `iters` calls each.
fn median_ns(iters: u32, mut f: impl FnMut()) -> f64 {
    f();
    let mut samples: Vec<f64> = (0..31)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// One entry of Linux's table, as `__apply_alternatives` reads it.
struct LinuxAlt {
    site: u64,
    repl: u64,
    cpufeature: u16,
    orig_len: u8,
    alt_len: u8,
}

/// `aarch64_insn_is_branch_imm`: B, BL, CBZ/CBNZ, TBZ/TBNZ, B.cond.
fn is_branch_imm(insn: u32) -> bool {
    insn & 0x7c00_0000 == 0x1400_0000
        || insn & 0x7e00_0000 == 0x3400_0000
        || insn & 0x7e00_0000 == 0x3600_0000
        || insn & 0xff00_0010 == 0x5400_0000
}

/// The immediate field of a branch: `(lsb, width)` (`aarch64_get_branch_offset`).
fn branch_field(insn: u32) -> (u32, u32) {
    if insn & 0x7c00_0000 == 0x1400_0000 {
        (0, 26)
    } else if insn & 0x7e00_0000 == 0x3600_0000 {
        (5, 14)
    } else {
        (5, 19)
    }
}

/// `get_alt_insn`: the replacement word at `repl_pc` rewritten for `site_pc`.
fn get_alt_insn(a: &LinuxAlt, site_pc: u64, repl_pc: u64, insn: u32) -> u32 {
    if is_branch_imm(insn) {
        let (lsb, width) = branch_field(insn);
        let mask = (1u32 << width) - 1;
        let imm = (insn >> lsb) & mask;
        let offset = (((imm << (32 - width)) as i32) >> (32 - width)) as i64 * 4;
        let target = repl_pc.wrapping_add_signed(offset);
        // branch_insn_requires_update: not inside the replacement (its end included).
        if !(target >= a.repl && target <= a.repl + u64::from(a.alt_len)) {
            let new = (target.wrapping_sub(site_pc) as i64 >> 2) as u32 & mask;
            return (insn & !(mask << lsb)) | new << lsb;
        }
        insn
    } else if insn & 0x9f00_0000 == 0x9000_0000 {
        // ADRP: the same page from the site.
        let imm = ((insn >> 5) & 0x7ffff) << 2 | ((insn >> 29) & 3);
        let offset = (((imm << 11) as i32) >> 11) as i64 * 4096;
        let target = (repl_pc & !0xfff).wrapping_add_signed(offset);
        let new = ((target.wrapping_sub(site_pc & !0xfff) as i64) >> 12) as u32 & 0x1f_ffff;
        (insn & !(0x7ffff << 5 | 3 << 29)) | (new >> 2) << 5 | (new & 3) << 29
    } else {
        // aarch64_insn_uses_literal: BUG() in Linux; none in a table that boots.
        insn
    }
}

/// The port of 6.1's `__apply_alternatives` for the kernel's table (not a module: the
/// writes go to the linear alias, here `out`, a copy of the text at `text_addr`), every
/// capability enabled. Returns the entries patched and the callbacks it would call.
fn linux_apply(
    table: &[u8],
    table_addr: u64,
    img: &Region<'_>,
    text_addr: u64,
    out: &mut [u8],
) -> (usize, usize) {
    let (mut patched, mut callbacks) = (0, 0);
    for (i, b) in table.chunks_exact(LINUX_ENTRY_SIZE).enumerate() {
        let at = table_addr + (i * LINUX_ENTRY_SIZE) as u64;
        let rd = |k: usize| i32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
        let a = LinuxAlt {
            site: at.wrapping_add_signed(rd(0).into()),
            repl: (at + 4).wrapping_add_signed(rd(4).into()),
            cpufeature: u16::from_le_bytes([b[8], b[9]]),
            orig_len: b[10],
            alt_len: b[11],
        };
        // test_bit(cap, feature_mask) && cpus_have_cap(cap): every capability enabled.
        let cb = a.cpufeature & entry::CB_BIT != 0;
        assert!(if cb { a.alt_len == 0 } else { a.alt_len == a.orig_len }, "BUG_ON in entry {i}");
        let nr_inst = usize::from(a.orig_len) / 4;
        if cb {
            // alt_cb(alt, origptr, updptr, nr_inst): Linux's own function, not run here.
            callbacks += 1;
            continue;
        }
        let upd = (a.site - text_addr) as usize;
        let repl = (a.repl - img.addr) as usize;
        for k in 0..nr_inst {
            let w = &img.bytes[repl + 4 * k..repl + 4 * k + 4];
            let insn = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let new = get_alt_insn(&a, a.site + 4 * k as u64, a.repl + 4 * k as u64, insn);
            out[upd + 4 * k..upd + 4 * k + 4].copy_from_slice(&new.to_le_bytes());
        }
        patched += 1;
    }
    (patched, callbacks)
}

fn main() {
    let Ok(path) = std::env::var("ALTPATCH_LINUX_IMAGE") else {
        row("entries", "SKIPPED", "(ALTPATCH_LINUX_IMAGE not set: no Linux image to read)");
        return;
    };
    let file = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let k = kernel::load(file, None).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (t0, t1) = (k.table.start, k.table.end);
    let table_bytes = k.bytes(t0, (t1 - t0) as usize).expect("the table lies in the image");
    let marker =
        entry::Version::of_release(&k.release).map_or(CallbackMarker::Bit15, |v| v.callback_marker());
    assert_eq!(marker, CallbackMarker::Bit15, "{}: the port is of 6.1's loop", k.release);
    let alts = entry::decode_table(t0, table_bytes, marker, caps::NCAPS);
    let addr = |l: &entry::Loc| match l {
        entry::Loc::Addr(a) => *a,
        entry::Loc::External(name) => panic!("a linked image names no external {name}"),
    };

    // The whole image as one region (text, init text and the replacements all lie in it).
    let image = Region { addr: k.base, bytes: &k.image };
    let text_lo = k.text.iter().map(|r| r.start).min().expect("text");
    let text_hi = k.text.iter().map(|r| r.end).max().expect("text");
    let text = Region {
        addr: text_lo,
        bytes: k.bytes(text_lo, (text_hi - text_lo) as usize).expect("text in image"),
    };

    // 6.1 assembles each replacement in a subsection of its object's text, so replacements
    // and text interleave; altpatch's layout keeps them apart (a branch into the replacement
    // section is refused). Each replacement is therefore moved, with altpatch's relocator,
    // into a replacement region right after the text; an entry whose replacement cannot move
    // there (a short-range branch or literal load reaching out of it) is left out of both
    // sides, and counted.
    let repl_addr = (text_hi + 0xfff) & !0xfff;
    let mut repl_bytes = Vec::new();
    let mut kept = Vec::new();
    let mut dropped = 0;
    for a in &alts {
        if a.callback {
            kept.push((a, addr(&a.target)));
            continue;
        }
        let from = addr(&a.target);
        let to = repl_addr + repl_bytes.len() as u64;
        let seq = k.bytes(from, usize::from(a.alt_len)).expect("replacement in image");
        match altpatch_core::insn::relocate(seq, from, to) {
            Ok(moved) => {
                repl_bytes.extend_from_slice(&moved);
                kept.push((a, to));
            }
            Err(_) => dropped += 1,
        }
    }
    let replacements = Region { addr: repl_addr, bytes: &repl_bytes };

    // The same entries in Linux's 12-byte format (pointing at the replacements in place),
    // and in altpatch's 16-byte format, after the image; then the callbacks they name.
    let linux_addr = (repl_addr + repl_bytes.len() as u64 + 0xfff) & !0xfff;
    let mut linux_table = Vec::with_capacity(kept.len() * LINUX_ENTRY_SIZE);
    for (i, (a, _)) in kept.iter().enumerate() {
        let at = linux_addr + (i * LINUX_ENTRY_SIZE) as u64;
        let rel = |to: u64, field: u64| i32::try_from(to.wrapping_sub(field) as i64).expect("offset fits");
        linux_table.extend_from_slice(&rel(addr(&a.site), at).to_le_bytes());
        linux_table.extend_from_slice(&rel(addr(&a.target), at + 4).to_le_bytes());
        linux_table.extend_from_slice(&a.raw.to_le_bytes());
        linux_table.extend_from_slice(&[a.orig_len, a.alt_len]);
    }
    let t0 = linux_addr;
    let table_addr = (linux_addr + linux_table.len() as u64 + 0xfff) & !0xfff;
    // The entries in altpatch's format, in the order given, at `table_addr`.
    let encode = |order: &[&(&entry::Alt, u64)]| {
        let mut table = Vec::with_capacity(order.len() * ENTRY_SIZE);
        for (i, (a, target)) in order.iter().enumerate() {
            let at = table_addr + (i * ENTRY_SIZE) as u64;
            // Linux 6.1 has more capabilities than altpatch's list: the number is folded into
            // altpatch's range (every capability is enabled on both sides, so it only names one).
            let cap = (a.cap % caps::NCAPS) | (a.raw & entry::CB_BIT);
            let raw =
                RawEntry::new(at, addr(&a.site), *target, cap, a.orig_len, a.alt_len, caps::FINGERPRINT)
                    .expect("offsets fit");
            table.extend_from_slice(&raw.to_bytes());
        }
        table
    };
    let table = encode(&kept.iter().collect::<Vec<_>>());
    // The same entries sorted by site, to measure what the table's own order costs (its
    // sites are not ascending, so validation sorts them for the overlap sweep).
    let mut by_site: Vec<_> = kept.iter().collect();
    by_site.sort_by_key(|(a, _)| addr(&a.site));
    let table_by_site = encode(&by_site);
    let cb_addr = table_addr + table.len() as u64;
    let mut cbs: Vec<u64> = alts.iter().filter(|a| a.callback).map(|a| addr(&a.target)).collect();
    cbs.sort_unstable();
    cbs.dedup();
    let callbacks_bytes: Vec<u8> = cbs
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| {
            let field = cb_addr + 4 * i as u64;
            i32::try_from(c.wrapping_sub(field) as i64).expect("callback offset fits").to_le_bytes()
        })
        .collect();
    let layout = Layout {
        table: Region { addr: table_addr, bytes: &table },
        text,
        replacements,
        callbacks: Region { addr: cb_addr, bytes: &callbacks_bytes },
    };
    row("dropped", dropped, "entries (replacement cannot move out of the text: left out of both sides)");

    let n = kept.len();
    row("release", &k.release, "(Debian's arm64 image)");
    row(
        "entries",
        n,
        &format!(
            "entries of {} ({} callbacks, {} distinct)",
            alts.len(),
            alts.iter().filter(|a| a.callback).count(),
            cbs.len()
        ),
    );
    let valid = match validate(&layout, &caps::LIST, caps::history::LISTS, &|_| None) {
        Ok(v) => v,
        Err(defects) => {
            for d in defects.iter().take(10) {
                eprintln!("{d}");
            }
            panic!("Linux's table, converted, has {} bad entries", defects.len());
        }
    };
    let p = plan(&valid, &|_| true);

    let mut out = text.bytes.to_vec();
    let (linux_patched, linux_cbs) = linux_apply(&linux_table, t0, &image, text_lo, &mut out);
    assert_eq!((p.writes.len(), p.callbacks.len()), (linux_patched, linux_cbs), "the same entries patched");
    // Both strategies write the same bytes (Linux refuses literal loads; 6.1's table has none).
    let mut ours = text.bytes.to_vec();
    for w in &p.writes {
        let at = (w.addr - text_lo) as usize;
        ours[at..at + w.bytes.len()].copy_from_slice(w.bytes);
    }
    assert!(ours == out, "altpatch's plan and Linux's loop write different bytes");
    row("patched", linux_patched, &format!("entries ({linux_cbs} callbacks counted, not run)"));

    let iters = 200;
    let unchecked = median_ns(iters, || {
        black_box(linux_apply(black_box(&linux_table), t0, &image, text_lo, &mut out));
    });
    let validate_ns = median_ns(iters, || {
        black_box(validate(black_box(&layout), &caps::LIST, caps::history::LISTS, &|_| None).is_ok());
    });
    let layout_by_site = Layout { table: Region { addr: table_addr, bytes: &table_by_site }, ..layout };
    assert!(validate(&layout_by_site, &caps::LIST, caps::history::LISTS, &|_| None).is_ok());
    let validate_by_site_ns = median_ns(iters, || {
        let valid = validate(black_box(&layout_by_site), &caps::LIST, caps::history::LISTS, &|_| None);
        black_box(valid.is_ok());
    });
    let checked = median_ns(iters, || {
        let valid =
            validate(black_box(&layout), &caps::LIST, caps::history::LISTS, &|_| None).expect("valid");
        let p = plan(&valid, &|_| true);
        for w in &p.writes {
            let at = (w.addr - text_lo) as usize;
            ours[at..at + w.bytes.len()].copy_from_slice(w.bytes);
        }
        black_box(&mut ours);
    });
    let mut dst_table = vec![0u8; table.len()];
    let mut dst_repl = vec![0u8; replacements.bytes.len()];
    let copy = median_ns(iters, || {
        dst_table.copy_from_slice(black_box(&table));
        dst_repl.copy_from_slice(black_box(replacements.bytes));
        black_box((&mut dst_table, &mut dst_repl));
    });
    let per = |ns: f64| format!("{:.2}", ns / n as f64);
    row(
        "linux_unchecked",
        per(unchecked),
        "ns/entry (port of 6.1's __apply_alternatives, writes into a copy)",
    );
    row("validate", per(validate_ns), "ns/entry");
    row(
        "validate_by_site",
        per(validate_by_site_ns),
        "ns/entry (the same entries sorted by site: the overlap sweep needs no sort)",
    );
    row("checked", per(checked), "ns/entry (validate + plan + the same writes)");
    row("copy_inputs", per(copy), "ns/entry (the table and the replacements)");
    row("checked_vs_unchecked", format!("{:.1}", checked / unchecked), "x (the price of checking)");
    row(
        "checked_minus_unchecked",
        format!("{:.1}", (checked - unchecked) / 1000.0),
        "us for the whole table",
    );
    let r = checked / copy;
    let verdict = if r <= 10.0 { "met".to_owned() } else { format!("missed by {:.1}x", r / 10.0) };
    println!(
        "bench: goal.validation_vs_copy_inputs.linux_6_1 = {r:.1} x (Linux 6.1's table, {n} entries, validate + plan + writes; goal <= 10: {verdict})"
    );
}
