//! Figure 2 of `scripts/bench`: the cache maintenance a patch needs, counted.
//!
//! For the kernel's own table (the ELF named by `ALTPATCH_ELF`, read with altcheck's
//! library) and for synthetic tables, with CTR_EL0.IDC/DIC clear and set, three counts of
//! maintenance operations:
//! - `floor`: the distinct cache lines the patched sites touch, counted here by a reference
//!   model independent of the engine (a set of line addresses per cache): one DC CVAU per
//!   D-line unless IDC, one IC IVAU per I-line unless DIC (Arm ARM B2.4.4, "Concurrent
//!   modification and execution of instructions");
//! - `ours`: what [`plan::maintenance`] emits;
//! - `linux`: what Linux's per-entry `__apply_alternatives` does ([`plan::linux_baseline_ops`]):
//!   DC CIVAC over each patched entry's range, then one IC IALLU.
//!
//! Counting one IC IALLU as one operation flatters Linux: it discards the whole I-cache on
//! the patching CPU, and every later fetch refills it. The counts, not times, are the figure
//! that transfers to hardware (TCG models no cache).
//!
//! Prints `bench: <name> = <value> <unit>` rows, which `scripts/bench` collects.

use std::collections::BTreeSet;

use altcheck::Image;
use altpatch_core::plan::{self, PatchPlan};
use altpatch_core::validate::ValidTable;
use arm64_caps::caps::{self, Cap, effective_ctr, models};

#[path = "../../altpatch-core/benches/synthetic/mod.rs"]
mod synthetic;

/// CTR_EL0.IDC (bit 28) and DIC (bit 29), Arm ARM D23.2.39.
const IDC: u64 = 1 << 28;
/// See [`IDC`].
const DIC: u64 = 1 << 29;

/// The reference model: distinct lines of the patched sites per cache the CTR asks for, an
/// I-cache needing more than one line counted as one whole invalidate.
fn floor(valid: &ValidTable<'_>, enabled: &dyn Fn(u16) -> bool, ctr: u64) -> usize {
    let dline = 4u64 << ((ctr >> 16) & 0xf);
    let iline = 4u64 << (ctr & 0xf);
    let mut d = BTreeSet::new();
    let mut i = BTreeSet::new();
    for e in valid.entries().filter(|e| enabled(e.cap_index())) {
        for byte in (e.site..e.site + u64::from(e.orig_len)).step_by(4) {
            d.insert(byte / dline);
            i.insert(byte / iline);
        }
    }
    let dc = if ctr & IDC != 0 { 0 } else { d.len() };
    // Per line, or one whole invalidate: whichever is fewer.
    let ic = if ctr & DIC != 0 { 0 } else { i.len().min(1) };
    dc + ic
}

fn row(name: &str, value: impl std::fmt::Display, unit: &str) {
    println!("bench: {name} = {value} {unit}");
}

/// The rows for one table and one set of enabled capabilities.
fn report(label: &str, valid: &ValidTable<'_>, enabled: &dyn Fn(u16) -> bool, base_ctr: u64) {
    let p: PatchPlan = plan::plan(valid, enabled);
    row(&format!("maint.{label}.entries"), valid.len(), "entries");
    row(&format!("maint.{label}.patched"), p.patched, "entries");
    let base = base_ctr & !(IDC | DIC);
    for (ctr_label, ctr) in
        [("noidc_nodic", base), ("idc", base | IDC), ("dic", base | DIC), ("idc_dic", base | IDC | DIC)]
    {
        let m = plan::maintenance(&p, ctr);
        let ours = m.ops();
        let l = plan::linux_baseline_ops(&p, ctr);
        let linux = l.dc_civac + l.ic_iallu;
        let fl = floor(valid, enabled, ctr);
        let name = format!("maint.{label}.{ctr_label}");
        row(&format!("{name}.floor"), fl, "ops");
        row(
            &format!("{name}.ours"),
            format!(
                "{ours} ({} dc cvau + {} ic ivau + {} ic ialluis)",
                m.dc_cvau.len(),
                m.ic_ivau.len(),
                u8::from(m.ic_ialluis)
            ),
            "ops",
        );
        row(
            &format!("{name}.linux"),
            format!("{linux} ({} dc civac + {} ic iallu)", l.dc_civac, l.ic_iallu),
            "ops",
        );
        let ratio = |a: usize, b: usize| {
            if b == 0 {
                if a == 0 { "1.00".to_owned() } else { "inf".to_owned() }
            } else {
                format!("{:.2}", a as f64 / b as f64)
            }
        };
        row(&format!("{name}.ours_vs_floor"), ratio(ours, fl), "x");
        row(&format!("{name}.ours_vs_linux"), ratio(ours, linux), "x");
    }
}

fn main() {
    let max = models::by_name("max").expect("QEMU's max model is in the model table");
    let ctr = effective_ctr(&max.regs);
    row("maint.ctr_el0_max", format!("{ctr:#x}"), "(QEMU max; lines of DminLine/IminLine)");

    match std::env::var("ALTPATCH_ELF") {
        Ok(path) => {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let image = Image::parse(&data).unwrap_or_else(|e| panic!("{path}: {e}"));
            match image.validate(&caps::LIST, caps::history::LISTS) {
                Ok(valid) => {
                    report("kernel.all", &valid, &|_| true, ctr);
                    let system = max.system_caps();
                    let has = |i: u16| Cap::from_index(i).is_some_and(|c| system.has(c));
                    report("kernel.max", &valid, &has, ctr);
                }
                Err(defects) => {
                    for d in &defects {
                        eprintln!("{d}");
                    }
                    panic!("{path}: the kernel's table is invalid ({} bad entries)", defects.len());
                }
            }
        }
        Err(_) => eprintln!("maintenance: ALTPATCH_ELF not set; the kernel's own table is skipped"),
    }

    for n in [1_000, 10_000, 100_000] {
        let image = synthetic::generate(n);
        let layout = image.layout();
        let valid = altpatch_core::validate::validate(&layout, &caps::LIST, caps::history::LISTS, &|_| None)
            .unwrap_or_else(|d| panic!("synthetic table of {n} entries is invalid: {}", d[0]));
        report(&format!("synthetic_{n}.all"), &valid, &|_| true, ctr);
    }
}
