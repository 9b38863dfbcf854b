//! What `simulate --linux ... --emit-text` prints: one row (or JSON object) per site, or a
//! reviewer's report grouped by capability, errata named as Linux's cpucaps name them.

use serde_json::json;

use super::analysis::Analysis;
use super::emit::Site;
use super::report::Format;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn disasm(b: &[u8]) -> Vec<String> {
    b.chunks_exact(4).map(|w| crate::disassemble(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))).collect()
}

fn cap_name(a: &Analysis, cap: u16) -> String {
    a.caps.name(cap).map_or_else(|| format!("#{cap}"), str::to_owned)
}

/// `: "ARM erratum 832075"`: what Linux prints after `CPU features: detected: ` for the
/// capability (arm64-caps' descriptions are Linux 6.1's), empty when it prints nothing.
fn linux_name(ident: &str) -> String {
    arm64_caps::caps::Cap::from_ident(ident)
        .map(|c| c.description())
        .filter(|d| !d.is_empty())
        .map_or_else(String::new, |d| format!(" \"{d}\""))
}

/// One site as a line.
pub fn site_row(a: &Analysis, s: &Site, f: Format) -> String {
    let site = a.spaces[0].symbols.describe(s.addr);
    match f {
        Format::Text => format!(
            "entry {} {} at {site} (+{:#x}): {}: [{}] -> [{}]",
            s.index,
            cap_name(a, s.cap),
            s.offset,
            s.why,
            disasm(&s.before).join("; "),
            disasm(&s.after).join("; ")
        ),
        Format::Json => json!({
            "type": "site", "index": s.index, "capability": cap_name(a, s.cap), "applied": s.applied,
            "why": s.why, "before": hex(&s.before), "after": hex(&s.after),
            "runtime_dependent": s.runtime_dependent, "modelled": s.modelled, "site": site,
            "offset": s.offset, "len": s.before.len(),
            "before_asm": disasm(&s.before), "after_asm": disasm(&s.after),
        })
        .to_string(),
    }
}

/// The reviewer's report: per capability that is on, its sites and what they become; then
/// the runtime-dependent callbacks.
pub fn report(a: &Analysis, model: &str, sites: &[Site]) -> String {
    let mut caps: Vec<u16> = sites.iter().filter(|s| s.applied).map(|s| s.cap).collect();
    caps.sort_unstable();
    caps.dedup();
    let mut out = format!(
        "{model}: {} capabilities applied at {} of {} sites\n",
        caps.len(),
        sites.iter().filter(|s| s.applied).count(),
        sites.len()
    );
    for cap in caps {
        let name = cap_name(a, cap);
        let of: Vec<&Site> = sites.iter().filter(|s| s.applied && s.cap == cap).collect();
        out += &format!("\n{name}{}: {} sites\n", linux_name(&name), of.len());
        for s in of {
            out += &format!("  {}\n", site_row(a, s, Format::Text));
        }
    }
    let rt: Vec<&Site> = sites.iter().filter(|s| s.runtime_dependent).collect();
    out += &format!("\nruntime-dependent (left as the original bytes): {}\n", rt.len());
    for s in rt {
        out += &format!("  entry {} {}: {}\n", s.index, cap_name(a, s.cap), s.why);
    }
    out
}
