//! What `altcheck ... --linux` prints: text (one line per defect or entry, then the summary
//! line) or JSON (one object per line, then a summary object).

use serde_json::json;

use super::analysis::{Analysis, Summary};
use super::bounds::Table;
use super::checks::Defect;
use super::entry::Alt;
use super::space::Space;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// A defect as a line.
pub fn defect(d: &Defect, f: Format) -> String {
    match f {
        Format::Text => d.to_string(),
        Format::Json => json!({
            "type": "defect", "space": d.space, "index": d.index, "site": d.site, "cap": d.cap,
            "cap_name": d.cap_name, "orig_len": d.orig_len, "alt_len": d.alt_len, "reason": d.reason,
        })
        .to_string(),
    }
}

/// The table's bounds as the first line: `table A..B (from ...)`; in JSON with the
/// kernel's own table's entries and callbacks (the summary's counts include the vDSO's).
pub fn table(t: &Table, callbacks: usize, f: Format) -> String {
    match f {
        Format::Text => format!("table {:#x}..{:#x} ({})", t.start, t.end, t.how),
        Format::Json => json!({
            "type": "table", "start": format!("{:#x}", t.start), "end": format!("{:#x}", t.end),
            "entries": (t.end - t.start) / 12, "callbacks": callbacks, "how": t.how,
        })
        .to_string(),
    }
}

/// The summary as a line.
pub fn summary(s: &Summary, f: Format) -> String {
    match f {
        Format::Text => s.to_string(),
        Format::Json => json!({
            "type": "summary", "release": s.release, "kernel_entries": s.kernel_entries,
            "kernel_callbacks": s.kernel_callbacks, "module_entries": s.module_entries,
            "modules": s.modules, "defects": s.defects,
        })
        .to_string(),
    }
}

/// The capability's name, or `#N`.
fn cap_name(a: &Analysis, cap: u16) -> String {
    a.caps.name(cap).map_or_else(|| format!("#{cap}"), str::to_owned)
}

/// One `dump` row: space, index, capability, lengths, kind, site, callback.
pub fn dump_row(a: &Analysis, s: &Space, e: &Alt, f: Format) -> String {
    let (site, target) = (s.describe(&e.site), s.describe(&e.target));
    let kind = if e.callback { "callback" } else { "replacement" };
    match f {
        Format::Text => {
            let cb = if e.callback { format!("  callback {target}") } else { String::new() };
            format!(
                "{:<10} {:>6}  {:<36} {:>4} {:>4}  {kind:<11}  {site}{cb}",
                s.name,
                e.index,
                cap_name(a, e.cap),
                e.orig_len,
                e.alt_len
            )
        }
        Format::Json => {
            // The kernel's entries also say where they are in the (unpacked) image, so that a
            // test can corrupt one.
            let at =
                (s.name == "vmlinux").then(|| a.kernel.table.start - a.kernel.base + (12 * e.index) as u64);
            json!({
                "type": "entry", "space": s.name, "index": e.index, "cap": e.cap, "cap_name": cap_name(a, e.cap),
                "orig_len": e.orig_len, "alt_len": e.alt_len, "kind": kind, "site": site, "target": target,
                "image_offset": at,
            })
            .to_string()
        }
    }
}

/// The `dump` header (text only).
pub fn dump_header() -> String {
    format!(
        "{:<10} {:>6}  {:<36} {:>4} {:>4}  {:<11}  site",
        "space", "index", "capability", "orig", "alt", "kind"
    )
}

/// One `simulate` row: what Linux does with the entry given `enabled`.
pub fn simulate_row(a: &Analysis, s: &Space, e: &Alt, enabled: bool, f: Format) -> String {
    let site = s.describe(&e.site);
    let verdict = match (enabled, e.callback) {
        (false, _) => "not patched".to_owned(),
        (true, false) => "patched".to_owned(),
        (true, true) => format!("callback {}", s.describe(&e.target)),
    };
    match f {
        Format::Text => format!("{} entry {}: {} at {site}: {verdict}", s.name, e.index, cap_name(a, e.cap)),
        Format::Json => json!({
            "type": "entry", "space": s.name, "index": e.index, "cap": e.cap, "cap_name": cap_name(a, e.cap),
            "site": site, "applied": enabled, "callback": e.callback, "verdict": verdict,
        })
        .to_string(),
    }
}
