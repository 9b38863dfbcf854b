//! Linux's fixups of a replacement instruction moved to its site (arch/arm64/kernel/
//! alternative.c, `get_alt_insn`, with arch/arm64/lib/insn.c's `aarch64_get_branch_offset`,
//! `aarch64_set_branch_offset`, `aarch64_insn_adrp_get_offset`/`_set_offset`): an immediate
//! branch leaving the replacement is re-aimed from the site, an `adrp` keeps its 4 KiB page,
//! every other instruction is copied as is; a literal load Linux refuses (`BUG()`).

/// What Linux writes at `site` for the replacement word `insn` read at `repl`, where the
/// replacement sequence spans `[repl_start, repl_start + alt_len]` (alternative.c's
/// `branch_insn_requires_update` counts its end as inside). Err: Linux would `BUG()`.
pub fn moved(insn: u32, repl: u64, site: u64, repl_start: u64, alt_len: u64) -> Result<u32, String> {
    if let Some(off) = branch_offset(insn) {
        let target = repl.wrapping_add_signed(off);
        let inside = target >= repl_start && target <= repl_start + alt_len;
        return Ok(if inside { insn } else { set_branch_offset(insn, target.wrapping_sub(site) as i64) });
    }
    if is_adrp(insn) {
        let target = (repl & !0xfff).wrapping_add_signed(adrp_offset(insn));
        return Ok(set_adrp_offset(insn, target.wrapping_sub(site & !0xfff) as i64));
    }
    if uses_literal(insn) {
        return Err(format!("replacement {insn:#010x} uses a PC-relative literal: Linux BUG()s"));
    }
    Ok(insn)
}

/// Sign-extends the low `bits` of `v`.
fn sext(v: u32, bits: u32) -> i64 {
    let shift = 64 - bits;
    (i64::from(v) << shift) >> shift
}

/// The immediate field of a branch: (shift, width) of imm26, imm19 or imm14.
fn branch_field(insn: u32) -> Option<(u32, u32)> {
    if insn & 0x7c00_0000 == 0x1400_0000 {
        Some((0, 26)) // B, BL
    } else if insn & 0x7e00_0000 == 0x3400_0000 || insn & 0xff00_0010 == 0x5400_0000 {
        Some((5, 19)) // CBZ/CBNZ, B.cond
    } else if insn & 0x7e00_0000 == 0x3600_0000 {
        Some((5, 14)) // TBZ/TBNZ
    } else {
        None
    }
}

/// `aarch64_get_branch_offset`: bytes from the branch to its target.
fn branch_offset(insn: u32) -> Option<i64> {
    let (shift, width) = branch_field(insn)?;
    Some(sext((insn >> shift) & ((1 << width) - 1), width) << 2)
}

/// `aarch64_set_branch_offset`: the field masked, as `aarch64_insn_encode_immediate` does.
fn set_branch_offset(insn: u32, offset: i64) -> u32 {
    let Some((shift, width)) = branch_field(insn) else { return insn };
    let mask = ((1u32 << width) - 1) << shift;
    (insn & !mask) | ((((offset >> 2) as u32) << shift) & mask)
}

fn is_adrp(insn: u32) -> bool {
    insn & 0x9f00_0000 == 0x9000_0000
}

/// `aarch64_insn_adrp_get_offset`: immhi:immlo, in pages, as bytes.
fn adrp_offset(insn: u32) -> i64 {
    let imm = ((insn >> 5) & 0x7ffff) << 2 | ((insn >> 29) & 3);
    sext(imm, 21) << 12
}

/// `aarch64_insn_adrp_set_offset` (AARCH64_INSN_IMM_ADR).
fn set_adrp_offset(insn: u32, offset: i64) -> u32 {
    let imm = (offset >> 12) as u32;
    (insn & !(0x7ffff << 5 | 3 << 29)) | ((imm >> 2) & 0x7ffff) << 5 | (imm & 3) << 29
}

/// `aarch64_insn_uses_literal`: ADR, LDR/LDRSW/PRFM (literal).
fn uses_literal(insn: u32) -> bool {
    insn & 0x9f00_0000 == 0x1000_0000 || insn & 0x3b00_0000 == 0x1800_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_out_of_the_replacement_keeps_its_target() {
        // `b .+0x100` at 0x2000, moved to 0x1000: `b .+0x1100` (0x14000440).
        assert_eq!(moved(0x1400_0040, 0x2000, 0x1000, 0x2000, 8), Ok(0x1400_0440));
        // Backwards: `bl .-0x1000` at 0x1000 moved to 0x3000 reaches 0x0: `bl .-0x3000`.
        let bl = 0x9400_0000 | ((-0x400i32) as u32 & 0x03ff_ffff);
        assert_eq!(
            moved(bl, 0x1000, 0x3000, 0x1000, 4),
            Ok(0x9400_0000 | ((-0xc00i32) as u32 & 0x03ff_ffff))
        );
    }

    #[test]
    fn a_branch_inside_the_replacement_is_copied() {
        // `cbz x0, .+8` at 0x2000 in an 8-byte replacement: target 0x2008, its end: inside.
        assert_eq!(moved(0xb400_0040, 0x2000, 0x1000, 0x2000, 8), Ok(0xb400_0040));
    }

    #[test]
    fn an_adrp_keeps_its_page_and_a_literal_load_is_refused() {
        // `adrp x0, .+0x1000` at 0x5000 reaches page 0x6000; moved to 0x1000: +0x5000 (immlo 1, immhi 1).
        assert_eq!(moved(0xb000_0000, 0x5000, 0x1000, 0x5000, 4), Ok(0xb000_0020));
        assert!(moved(0x5800_0040, 0x5000, 0x1000, 0x5000, 4).unwrap_err().contains("BUG"));
        assert_eq!(moved(0xd503_201f, 0x5000, 0x1000, 0x5000, 4), Ok(0xd503_201f));
    }
}
