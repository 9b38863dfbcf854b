//! Every range of code Linux patches alternatives in (arch/arm64/kernel/vmlinux.lds.S):
//! the text (`_stext.._etext`, the hyp text inside it), the init text
//! (`_sinittext.._einittext`), the exit text (between the init text and the table), and
//! from 6.0 on `.rodata.text` (the entry trampoline, hibernate's and kexec's text, 6.12's
//! idmap text), from the symbols where the image has them, else from the layout.

use super::bounds::{Sources, Table};
use super::layout;
use super::symbols::Sym;

/// One range of code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRange {
    /// Its first byte, a link address.
    pub start: u64,
    /// One past its last.
    pub end: u64,
    /// What it is and how it was found.
    pub what: String,
}

/// Symbol pairs bracketing `.rodata.text`'s parts (6.0 on; 5.10 has them in the text).
const RODATA_TEXT: &[(&str, &str)] = &[
    ("__entry_tramp_text_start", "__entry_tramp_text_end"),
    ("__hibernate_exit_text_start", "__hibernate_exit_text_end"),
    ("__relocate_new_kernel_start", "__relocate_new_kernel_end"),
    ("__idmap_text_start", "__idmap_text_end"),
];

/// Every code range of the image whose table is `table`.
pub fn ranges(s: &Sources<'_>, table: &Table) -> Result<Vec<CodeRange>, String> {
    let sym = |n: &str| s.symbols.addr(n);
    let pair = |a: &str, b: &str| Some((sym(a)?, sym(b)?)).filter(|(x, y)| x < y);
    let range = |(start, end): (u64, u64), what: &str| CodeRange { start, end, what: what.to_owned() };
    let (stext, etext) = pair("_stext", "_etext").ok_or("no _stext/_etext symbols: cannot bound the text")?;
    let mut out = vec![range((stext, etext), "text (symbols)")];
    out.extend(pair("_sinittext", "_einittext").map(|r| range(r, "init text (symbols)")));
    // .exit.text lies between the init text and .altinstructions.
    let exit = match pair("__exittext_begin", "__exittext_end") {
        Some(r) => Some(range(r, "exit text (symbols)")),
        None => sym("_einittext")
            .filter(|&a| a < table.start)
            .map(|a| range((a, table.start), "exit text (layout: _einittext to the table)")),
    };
    out.extend(exit);
    let named: Vec<CodeRange> = RODATA_TEXT
        .iter()
        .filter_map(|(a, b)| pair(a, b))
        .filter(|&(a, b)| !(stext..etext).contains(&a) || !(stext..=etext).contains(&b))
        .map(|r| range(r, ".rodata.text (symbols)"))
        .collect();
    if named.is_empty() {
        out.extend(
            rodata_text_by_layout(s, etext)
                .map(|r| range(r, ".rodata.text (layout: the code pages before the page tables)")),
        );
    } else {
        out.extend(named);
    }
    Ok(out)
}

/// `.rodata.text` from the layout: the code pages between `_etext` and the zero pages
/// (page tables) before the init text.
fn rodata_text_by_layout(s: &Sources<'_>, etext: u64) -> Option<(u64, u64)> {
    let init = s.symbols.addr("__inittext_begin").or_else(|| s.symbols.addr("_sinittext"))?;
    let to_off = |a: u64| usize::try_from(a.checked_sub(s.base)?).ok();
    let end = layout::before_padding(s.img, to_off(init)?)?;
    let slots: std::collections::HashSet<usize> = s
        .relocs
        .entries
        .iter()
        .filter_map(|e| to_off(e.0))
        .filter(|&o| o < end && o + 0x10_0000 > end)
        .collect();
    let (a, b) = layout::code_pages_before(s.img, end, &|o| slots.contains(&o))?;
    let (a, b) = (s.base + a as u64, s.base + b as u64);
    (a >= etext).then_some((a, b))
}

/// Labels for the ranges the layout found, which no symbol names (`.rodata.text` in 6.1):
/// sites there read `.rodata.text+0x10` rather than `_etext+0x951010`. Not text symbols, so
/// that no callback can land on one.
pub fn labels(ranges: &[CodeRange]) -> Vec<Sym> {
    ranges
        .iter()
        .filter(|r| r.what.starts_with(".rodata.text (layout"))
        .map(|r| Sym { addr: r.start, kind: b'r', name: ".rodata.text".into() })
        .collect()
}
