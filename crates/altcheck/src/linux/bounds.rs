//! The alternatives table's bounds, `__alt_instructions .. __alt_instructions_end`, from
//! what the image says about them, never from the entries being judged:
//!
//! - **symbols**: the two symbols (CONFIG_KALLSYMS_ALL, a System.map, an ELF vmlinux);
//! - **reference**: the `struct alt_region` Linux's own `apply_boot_alternatives()`
//!   (arch/arm64/kernel/alternative.c, 5.10 to 7.x) hands to `__apply_alternatives()`:
//!   in 5.10 built on the stack from two ADRP+ADD pairs, from 6.1 on a static
//!   `kernel_alternatives` of two pointers that one ADRP+ADD names (its pointers are
//!   relocated: read through `.rela.dyn`/`.relr.dyn`);
//! - **padding**: the table is the last thing before the zeros that align the init segment
//!   up to `__initdata_begin` (the PE `.data` section), so its end is where they begin (see
//!   `layout.rs`).
//!
//! Every method available is used; they must agree, or the image is refused with the
//! disagreement named.

use super::layout;
use super::relocs::Relocs;
use super::symbols::Symbols;

/// The functions whose code names the table (alternative.c).
const REFERENCES: &[&str] = &["apply_boot_alternatives", "__apply_alternatives_multi_stop"];
/// How far into such a function the ADRP+ADD pairs are looked for.
const MAX_INSNS: usize = 96;
/// The size of one entry.
const ENTRY: u64 = 12;

/// The table's bounds and how they were found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// `__alt_instructions`, a link address.
    pub start: u64,
    /// `__alt_instructions_end`.
    pub end: u64,
    /// `from symbols` or `from layout: ...` (the CONTRACT's wording).
    pub how: String,
    /// The other methods that agreed, for the notes.
    pub agreed: Vec<String>,
}

/// What the bounds are read from.
pub struct Sources<'a> {
    /// The flat image.
    pub img: &'a [u8],
    /// Its link address.
    pub base: u64,
    /// Its symbols.
    pub symbols: &'a Symbols,
    /// Its relocations.
    pub relocs: &'a Relocs,
    /// `__initdata_begin` (link address) and where it came from, when known.
    pub initdata: Option<(u64, &'static str)>,
}

/// The table's bounds, every available method agreeing.
pub fn find(s: &Sources<'_>) -> Result<Table, String> {
    let symbols = by_symbols(s)?;
    let reference = by_reference(s);
    let padding = by_padding(s);
    let (start, end, how) = match (&symbols, &reference) {
        (Some((a, b)), _) => (*a, *b, "from symbols".to_owned()),
        (None, Some((a, b, f))) => {
            let end_how = match padding {
                Some(_) => " (the padding before __initdata_begin agrees)".to_owned(),
                None => String::new(),
            };
            (*a, *b, format!("from layout: the alt_region {f}() passes{end_how}"))
        }
        (None, None) => {
            return Err(format!(
                "cannot bound the alternatives table: no __alt_instructions/__alt_instructions_end symbols (no CONFIG_KALLSYMS_ALL) and no alt_region in {} (pass --system-map, or the -dbg package's vmlinux)",
                REFERENCES.join(" or ")
            ));
        }
    };
    let mut agreed = Vec::new();
    if let (Some(_), Some((a, b, f))) = (&symbols, &reference) {
        if (*a, *b) != (start, end) {
            return Err(format!(
                "the table's bounds disagree: the symbols say {start:#x}..{end:#x}, the alt_region {f}() passes says {a:#x}..{b:#x}"
            ));
        }
        agreed.push(format!("the alt_region {f}() passes"));
    }
    if let Some((pad, at)) = padding {
        // The last entry may itself end in zero bytes (a callback's alt_len): fewer than 12.
        let ok = end >= pad && end - pad < ENTRY && zeros(s, end, at);
        if !ok {
            return Err(format!(
                "the table's bounds disagree: {how} ends it at {end:#x}, the padding before __initdata_begin ({at:#x}, {}) begins at {pad:#x}",
                s.initdata.map_or("", |i| i.1)
            ));
        }
        agreed.push("the padding before __initdata_begin".into());
    }
    check(s, start, end)?;
    Ok(Table { start, end, how, agreed })
}

/// Whether the bytes `[from, to)` (link addresses) are all zero.
fn zeros(s: &Sources<'_>, from: u64, to: u64) -> bool {
    let (Some(a), Some(b)) = (off(s, from), off(s, to)) else { return false };
    s.img.get(a..b).is_some_and(|r| r.iter().all(|&x| x == 0))
}

fn off(s: &Sources<'_>, addr: u64) -> Option<usize> {
    usize::try_from(addr.checked_sub(s.base)?).ok().filter(|&o| o <= s.img.len())
}

/// The bounds must be ordered, inside the image, aligned and whole entries.
fn check(s: &Sources<'_>, start: u64, end: u64) -> Result<(), String> {
    if start > end || off(s, start).is_none() || off(s, end).is_none() {
        return Err(format!("the alternatives table {start:#x}..{end:#x} lies outside the image"));
    }
    if !start.is_multiple_of(4) || !(end - start).is_multiple_of(ENTRY) {
        return Err(format!(
            "the alternatives table {start:#x}..{end:#x} is not a whole number of {ENTRY}-byte entries at a 4-byte boundary"
        ));
    }
    Ok(())
}

/// The two symbols, when both exist; one without the other is an error.
fn by_symbols(s: &Sources<'_>) -> Result<Option<(u64, u64)>, String> {
    match (s.symbols.addr("__alt_instructions"), s.symbols.addr("__alt_instructions_end")) {
        (Some(a), Some(b)) => Ok(Some((a, b))),
        (None, None) => Ok(None),
        _ => Err("only one of __alt_instructions and __alt_instructions_end is a symbol".into()),
    }
}

/// The padding's start before `__initdata_begin`, and `__initdata_begin`.
fn by_padding(s: &Sources<'_>) -> Option<(u64, u64)> {
    let (at, _) = s.initdata?;
    let pad = layout::before_padding(s.img, off(s, at)?)?;
    Some((s.base + pad as u64, at))
}

/// The region the table lies in by the layout: after the init text, before
/// `__initdata_begin` (or the image's end).
fn init_region(s: &Sources<'_>) -> (u64, u64) {
    let lo = s.symbols.addr("_einittext").or_else(|| s.symbols.addr("_sinittext")).unwrap_or(s.base);
    let hi = s.initdata.map_or(s.base + s.img.len() as u64, |i| i.0);
    (lo, hi)
}

/// The `alt_region` one of [`REFERENCES`] passes: `(start, end, function)`.
fn by_reference(s: &Sources<'_>) -> Option<(u64, u64, &'static str)> {
    let (lo, hi) = init_region(s);
    let inside = |a: u64| (lo..=hi).contains(&a);
    REFERENCES.iter().find_map(|&f| {
        let addrs = adrp_add_targets(s, f)?;
        // 6.1 on: a two-pointer struct; 5.10: both addresses directly.
        let via_struct = addrs.iter().find_map(|&x| {
            let a = s.relocs.pointer_at(s.img, s.base, x)?;
            let b = s.relocs.pointer_at(s.img, s.base, x.checked_add(8)?)?;
            (inside(a) && inside(b) && a <= b && (b - a) % ENTRY == 0).then_some((a, b))
        });
        let direct: Vec<u64> = addrs.iter().copied().filter(|&a| inside(a)).collect();
        let pair = via_struct.or_else(|| match direct[..] {
            [a, b] if a != b => Some((a.min(b), a.max(b))).filter(|(a, b)| (b - a) % ENTRY == 0),
            _ => None,
        })?;
        Some((pair.0, pair.1, f))
    })
}

/// The addresses function `name`'s ADRP+ADD pairs (same register) compute, in order.
fn adrp_add_targets(s: &Sources<'_>, name: &str) -> Option<Vec<u64>> {
    let at = s.symbols.addr(name)?;
    let mut page = [None::<u64>; 32];
    let mut out = Vec::new();
    for i in 0..MAX_INSNS as u64 {
        let pc = at + 4 * i;
        let o = off(s, pc)?;
        let Some(w) = s.img.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])) else {
            break;
        };
        if w == 0xd65f_03c0 {
            break; // ret
        }
        let rd = (w & 31) as usize;
        if w & 0x9f00_0000 == 0x9000_0000 {
            // ADRP: immhi:immlo pages from the PC's page.
            let imm = ((w >> 29) & 3) | ((w >> 5) & 0x7_ffff) << 2;
            let pages = i64::from((imm << 11) as i32 >> 11);
            page[rd] = Some((pc & !0xfff).wrapping_add_signed(pages << 12));
        } else if w & 0xff80_0000 == 0x9100_0000 {
            // ADD (immediate, 64-bit, unshifted): Xd = Xn + imm12. A page may serve several
            // ADDs; other instructions are not followed (a wrong address is filtered by
            // the region and the other methods).
            let rn = ((w >> 5) & 31) as usize;
            if let Some(p) = page[rn] {
                out.push(p + u64::from((w >> 10) & 0xfff));
            }
            page[rd] = None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
