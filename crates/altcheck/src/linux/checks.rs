//! Every check on every entry, whatever CPU would boot the kernel: what Linux's
//! `__apply_alternatives()` (arch/arm64/kernel/alternative.c) would do with each entry were
//! its capability present, and what it silently never does.

use altpatch_core::insn::{self, Decoded, PcRelKind};

use super::cpucaps::LinuxCaps;
use super::entry::{Alt, CallbackMarker, Loc};
use super::features;
use super::space::Space;
use super::symbols::Symbols;

/// One defective entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defect {
    /// The table's space (`vmlinux`, `vdso`, a module's name).
    pub space: String,
    /// The entry's index in its table.
    pub index: usize,
    /// The site, as `symbol+0xoff`.
    pub site: String,
    /// The capability number.
    pub cap: u16,
    /// Its name in the list, or `?`.
    pub cap_name: String,
    /// Bytes at the site.
    pub orig_len: u8,
    /// Bytes of the replacement.
    pub alt_len: u8,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} entry {}: site {}, cap {} ({}), orig_len {}, alt_len {}: {}",
            self.space,
            self.index,
            self.site,
            self.cap,
            self.cap_name,
            self.orig_len,
            self.alt_len,
            self.reason
        )
    }
}

/// What the checks need besides the space.
pub struct Context<'a> {
    /// The kernel's capability list.
    pub caps: &'a LinuxCaps,
    /// The kernel's symbols: a module's callbacks name kernel functions.
    pub kernel: &'a Symbols,
    /// How the kernel marks callbacks, which is also how it treats an out-of-range
    /// capability (before 6.1 it does not bound it).
    pub marker: CallbackMarker,
}

/// Checks every entry of `space`.
pub fn check(space: &Space, cx: &Context<'_>) -> Vec<Defect> {
    let mut out = Vec::new();
    let overlapping = overlaps(space);
    for e in &space.entries {
        let mut reasons = entry_reasons(space, e, cx);
        reasons.extend(overlapping.get(&e.index).cloned());
        for reason in reasons {
            out.push(defect(space, e, cx.caps, reason));
        }
    }
    out
}

fn defect(space: &Space, e: &Alt, caps: &LinuxCaps, reason: String) -> Defect {
    Defect {
        space: space.name.clone(),
        index: e.index,
        site: space.describe(&e.site),
        cap: e.cap,
        cap_name: caps.name(e.cap).unwrap_or("?").to_owned(),
        orig_len: e.orig_len,
        alt_len: e.alt_len,
        reason,
    }
}

/// Everything wrong with `e` on its own.
fn entry_reasons(space: &Space, e: &Alt, cx: &Context<'_>) -> Vec<String> {
    let mut r = Vec::new();
    // Before 6.1 a callback is marked by cpufeature == ARM64_NCAPS itself.
    let sentinel = e.callback && e.cap == cx.caps.ncaps;
    if e.cap >= cx.caps.ncaps && !sentinel {
        r.push(out_of_range(e.cap, cx));
    }
    r.extend(lengths(e));
    let site = match &e.site {
        Loc::Addr(a) => *a,
        Loc::External(n) => {
            r.push(format!("the site is the undefined symbol {n}: not code of this object"));
            return r;
        }
    };
    if site % 4 != 0 || space.code(site, usize::from(e.orig_len)).is_none() {
        r.push("the site is not inside the text: Linux would patch whatever lies there".into());
    }
    if e.callback {
        r.extend(callback(space, e, cx));
    } else {
        r.extend(replacement(space, e, site, cx.caps));
    }
    r
}

/// What Linux does with a capability at or past `ARM64_NCAPS`.
fn out_of_range(cap: u16, cx: &Context<'_>) -> String {
    let ncaps = cx.caps.ncaps;
    match cx.marker {
        // 6.1 on (alternative.c): cpus_have_cap() answers false past ARM64_NCAPS.
        CallbackMarker::Bit15 => format!(
            "capability {cap} is out of range (ARM64_NCAPS {ncaps}): Linux would silently never apply it (cpus_have_cap() is false)"
        ),
        // 5.10 (alternative.c, __apply_alternatives): test_bit() on a bitmap of
        // ARM64_NCAPS + 1 bits, then only `cpufeature < ARM64_CB_PATCH` is checked against
        // the CPU: past it, the entry is patched on every CPU wherever that bit reads as set.
        CallbackMarker::NcapsSentinel => format!(
            "capability {cap} is out of range (ARM64_NCAPS {ncaps}): Linux 5.x does not bound it (test_bit() reads past the capability bitmap; if that bit is set it patches the site on every CPU, without cpus_have_cap())"
        ),
    }
}

/// Linux requires `alt_len == orig_len` (BUG_ON), a callback's `alt_len` 0, whole instructions.
fn lengths(e: &Alt) -> Vec<String> {
    let mut r = Vec::new();
    if !e.orig_len.is_multiple_of(4) {
        r.push(format!("orig_len {} is not a whole number of instructions", e.orig_len));
    }
    if e.callback && e.alt_len != 0 {
        r.push(format!(
            "a callback entry with alt_len {} (Linux emits 0 and BUG()s on anything else when it applies the callback)",
            e.alt_len
        ));
    } else if !e.callback && e.alt_len != e.orig_len {
        r.push(format!(
            "alt_len {} != orig_len {}: Linux's BUG_ON(alt_len != orig_len) fires on any CPU with the capability",
            e.alt_len, e.orig_len
        ));
    }
    r
}

/// A callback must be the start of a function in the text (the kernel's, for a module).
fn callback(space: &Space, e: &Alt, cx: &Context<'_>) -> Option<String> {
    let ok = match &e.target {
        Loc::Addr(a) => space.code(*a, 4).is_some() && space.symbols.is_function_start(*a),
        Loc::External(name) => cx.kernel.addr(name).is_some_and(|a| cx.kernel.is_function_start(a)),
    };
    (!ok)
        .then(|| format!("callback {} is not the start of a function in the text", space.describe(&e.target)))
}

/// The replacement's place, and each instruction as Linux's `get_alt_insn()` would treat it.
fn replacement(space: &Space, e: &Alt, site: u64, caps: &LinuxCaps) -> Vec<String> {
    let len = usize::from(e.alt_len.min(e.orig_len));
    let Loc::Addr(repl) = e.target else {
        return vec![format!("the replacement is the undefined symbol {}", space.describe(&e.target))];
    };
    let Some((region, bytes)) = space.code(repl, usize::from(e.alt_len)) else {
        return vec![format!("the replacement {} is not inside the text", space.describe(&e.target))];
    };
    let mut r = Vec::new();
    let site_region = space.code(site, 0).map(|c| c.0);
    let original = space.code(site, usize::from(e.orig_len)).map_or(&[][..], |c| c.1);
    let before = site.checked_sub(4).and_then(|b| space.code(b, 4)).map_or(&[][..], |c| c.1);
    for (i, word) in words(&bytes[..len - len % 4]).enumerate() {
        let at = 4 * i as u64;
        r.extend(pc_relative(word, repl, site, at, e.alt_len, space.linked || site_region == Some(region)));
        r.extend(gating(word, at, e.cap, caps, original, before));
    }
    r
}

/// Linux relocates branches (B, BL, B.cond, CB(N)Z, TB(N)Z) whose target is outside the
/// replacement without checking the reach, relocates ADRP, and BUG()s on ADR and literal
/// loads (`aarch64_insn_uses_literal()`).
fn pc_relative(word: u32, repl: u64, site: u64, at: u64, alt_len: u8, reach_known: bool) -> Option<String> {
    let (kind, offset) = match insn::decode(word) {
        Decoded::PositionIndependent => return None,
        Decoded::Unmovable => {
            return Some(format!(
                "{} at +{at:#x}: a PC-relative instruction Linux copies unchanged",
                dis(word)
            ));
        }
        Decoded::PcRel { kind, offset } => (kind, offset),
    };
    // aarch64_insn_uses_literal() knows the general-purpose literal loads only: an LDR
    // (literal) to a SIMD&FP register (V, bit 26) is copied unchanged, reading elsewhere.
    if kind == PcRelKind::Literal && word & (1 << 26) != 0 {
        return Some(format!("{} at +{at:#x}: a SIMD&FP literal load Linux copies unchanged", dis(word)));
    }
    if matches!(kind, PcRelKind::Adr | PcRelKind::Literal) {
        return Some(format!(
            "{} at +{at:#x}: Linux BUG()s in get_alt_insn() on ADR and literal loads in a replacement",
            dis(word)
        ));
    }
    let pc = repl + at;
    // ADRP's offset is from the PC's 4 KiB page to the target's.
    let target = if kind == PcRelKind::Adrp {
        (pc & !0xfff).wrapping_add_signed(offset)
    } else {
        pc.wrapping_add_signed(offset)
    };
    let inside = target >= repl && target <= repl + u64::from(alt_len);
    if !reach_known || (kind != PcRelKind::Adrp && inside) {
        return None;
    }
    let needed = if kind == PcRelKind::Adrp {
        (target as i64).wrapping_sub(((site + at) & !0xfff) as i64)
    } else {
        (target as i64).wrapping_sub((site + at) as i64)
    };
    let (min, max) = kind.range();
    (needed < min || needed > max).then(|| {
        format!(
            "{} at +{at:#x} cannot reach {target:#x} from the site (offset {needed:#x}): Linux would encode a wrong target silently",
            dis(word)
        )
    })
}

/// The little-endian instruction words of `b`.
fn words(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// An instruction of a feature the entry's capability does not imply, and which the
/// original sequence does not need already (then whatever guards the site's path, a
/// runtime check, guards the replacement's too: KVM's `ZCR_EL1`/`ZCR_EL12` switch on VHE),
/// nor repeats the very instruction that runs right `before` the site (5.10's
/// `WORKAROUND_REPEAT_TLBI`: `tlbi op` then `ALTERNATIVE("nop; nop", "dsb ish; tlbi op")`,
/// arch/arm64/include/asm/tlbflush.h `__TLBI_0`/`__TLBI_1`: a range TLBI there is guarded
/// by `system_supports_tlb_range()` on the path both share).
fn gating(word: u32, at: u64, cap: u16, caps: &LinuxCaps, original: &[u8], before: &[u8]) -> Option<String> {
    let f = features::needs(word)?;
    let name = caps.name(cap)?;
    let already = words(original).any(|o| features::needs(o) == Some(f)) || words(before).any(|b| b == word);
    (!f.caps.contains(&name) && !already).then(|| {
        format!(
            "{} at +{at:#x} needs {} but the entry is gated on {name}, which does not imply it (implied by {})",
            dis(word),
            f.name,
            f.caps.join(", ")
        )
    })
}

fn dis(word: u32) -> String {
    format!("'{}' ({word:#010x})", crate::disassemble(word))
}

/// Sites that overlap another entry's without being the same range (ALTERNATIVE_2 and
/// `alternative_cb` chains patch one range several times, which Linux allows): one sweep
/// over the entries sorted by site.
fn overlaps(space: &Space) -> std::collections::HashMap<usize, String> {
    let mut ranges: Vec<(u64, u64, usize)> = space
        .entries
        .iter()
        .filter_map(|e| match e.site {
            Loc::Addr(a) => Some((a, a.saturating_add(u64::from(e.orig_len)), e.index)),
            Loc::External(_) => None,
        })
        .collect();
    ranges.sort_unstable();
    let mut out = std::collections::HashMap::new();
    let mut reach: Option<(u64, u64, usize)> = None;
    for &(a, end, i) in &ranges {
        if let Some((b, b_end, j)) = reach
            && a < b_end
            && (a, end) != (b, b_end)
        {
            out.insert(i, format!("the site overlaps entry {j}'s ({})", space.symbols.describe(b)));
        }
        if reach.is_none_or(|r| end > r.1) {
            reach = Some((a, end, i));
        }
    }
    out
}
