//! Which optional architecture feature an instruction needs, and which Linux capabilities
//! imply that feature. A replacement is only ever run on CPUs with its entry's capability,
//! so an instruction of a feature that capability does not imply takes an undefined
//! instruction exception on a CPU that has the capability and lacks the feature.
//!
//! Encodings are matched by bit pattern (Arm ARM DDI 0487, C4.1 encoding index). Hint-space
//! instructions (PACIASP, AUTIASP, BTI, ESB, ...) are left out on purpose: they execute as
//! NOPs where the feature is absent, so they are safe under any capability.

/// An optional feature and the capabilities (names without `ARM64_`, 5.10, 6.1 and 6.12 spellings)
/// that imply it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    /// The feature, as the Arm ARM names it.
    pub name: &'static str,
    /// Capabilities under which the instruction is safe.
    pub caps: &'static [&'static str],
}

const LSE: Feature = Feature { name: "FEAT_LSE atomics", caps: &["HAS_LSE_ATOMICS"] };
const CRC32: Feature = Feature { name: "CRC32", caps: &["HAS_CRC32"] };
const SB: Feature = Feature { name: "FEAT_SB", caps: &["HAS_SB"] };
const LRCPC: Feature = Feature { name: "FEAT_LRCPC (LDAPR)", caps: &["HAS_LDAPR"] };
/// 5.10's `ALT_PAN_NOT_UAO` matches only where the system has PAN
/// (arch/arm64/kernel/cpufeature.c, `cpufeature_pan_not_uao()`: HAS_PAN and not HAS_UAO);
/// its replacements are `SET_PSTATE_PAN()` (asm/uaccess.h, `__uaccess_enable/disable`).
const PAN: Feature =
    Feature { name: "FEAT_PAN (PSTATE.PAN)", caps: &["HAS_PAN", "HAS_EPAN", "ALT_PAN_NOT_UAO"] };
const PAUTH: Feature = Feature {
    name: "FEAT_PAuth (address authentication)",
    caps: &[
        "HAS_ADDRESS_AUTH",
        "HAS_ADDRESS_AUTH_ARCH",
        "HAS_ADDRESS_AUTH_ARCH_QARMA5",
        "HAS_ADDRESS_AUTH_ARCH_QARMA3",
        "HAS_ADDRESS_AUTH_IMP_DEF",
    ],
};
const PACGA: Feature = Feature {
    name: "FEAT_PAuth (generic authentication)",
    caps: &[
        "HAS_GENERIC_AUTH",
        "HAS_GENERIC_AUTH_ARCH",
        "HAS_GENERIC_AUTH_ARCH_QARMA5",
        "HAS_GENERIC_AUTH_ARCH_QARMA3",
        "HAS_GENERIC_AUTH_IMP_DEF",
    ],
};
const MTE: Feature = Feature { name: "FEAT_MTE", caps: &["MTE", "MTE_ASYMM", "MTE_STORE_ONLY"] };
const DCPOP: Feature = Feature { name: "FEAT_DPB (DC CVAP)", caps: &["HAS_DCPOP", "HAS_DCPODP"] };
const DCPODP: Feature = Feature { name: "FEAT_DPB2 (DC CVADP)", caps: &["HAS_DCPODP"] };
const TLBIRANGE: Feature = Feature { name: "FEAT_TLBIRANGE", caps: &["HAS_TLB_RANGE"] };
const WFXT: Feature = Feature { name: "FEAT_WFxT", caps: &["HAS_WFXT"] };
const RNG: Feature = Feature { name: "FEAT_RNG (RNDR)", caps: &["HAS_RNG"] };
const ECV: Feature =
    Feature { name: "FEAT_ECV (self-synchronised counter)", caps: &["HAS_ECV", "HAS_ECV_CNTPOFF"] };
const SSBS: Feature = Feature { name: "FEAT_SSBS (PSTATE.SSBS)", caps: &["SSBS"] };
/// KVM_HVHE (6.12): the nVHE hypervisor runs with HCR_EL2.E2H set, which needs FEAT_VHE.
const VHE: Feature =
    Feature { name: "FEAT_VHE (*_EL12/*_EL02 registers)", caps: &["HAS_VIRT_HOST_EXTN", "KVM_HVHE"] };
const GIC: Feature = Feature {
    name: "GIC system register CPU interface (ICC_*)",
    caps: &["HAS_SYSREG_GIC_CPUIF", "HAS_GIC_CPUIF_SYSREGS", "HAS_IRQ_PRIO_MASKING", "HAS_GIC_PRIO_MASKING"],
};
const AMU: Feature = Feature { name: "FEAT_AMUv1 (activity monitors)", caps: &["HAS_AMU_EXTN"] };
const SVE: Feature = Feature { name: "FEAT_SVE", caps: &["SVE"] };

/// A system register access (MRS/MSR register form): (op0, op1, CRn, CRm, op2).
fn sysreg(w: u32) -> Option<(u32, u32, u32, u32, u32)> {
    (w & 0xffd0_0000 == 0xd510_0000)
        .then(|| (2 + ((w >> 19) & 1), (w >> 16) & 7, (w >> 12) & 15, (w >> 8) & 15, (w >> 5) & 7))
}

/// The feature a system register access needs, if any.
fn sysreg_feature(r: (u32, u32, u32, u32, u32)) -> Option<Feature> {
    match r {
        (3, 0, 4, 2, 3) => Some(PAN),
        (3, 3, 4, 2, 6) => Some(SSBS),
        (3, 3, 2, 4, 0 | 1) => Some(RNG),
        (3, 3, 14, 0, 5 | 6) => Some(ECV),
        // ZCR_ELx at every level and alias (ZCR_EL1, _EL2, _EL12): SVE first, then the
        // VHE aliases (every op1 = 5 encoding).
        (3, 0 | 4 | 5, 1, 2, 0) => Some(SVE),
        (3, 5, _, _, _) => Some(VHE),
        (3, 0, 4, 6, 0) | (3, 0, 12, 8 | 11 | 12, _) => Some(GIC),
        (3, 3, 13, 2..=7, _) => Some(AMU),
        // GCR_EL1, RGSR_EL1 (CRn 1, CRm 0, op2 5/6), TFSR_EL1 / TFSRE0_EL1 (CRn 5, CRm 6).
        (3, 0, 1, 0, 5 | 6) | (3, 0, 5, 6, 0 | 1) | (3, 3, 4, 2, 7) => Some(MTE),
        _ => None,
    }
}

/// The feature a SYS instruction (DC, TLBI, ...) needs: (op1, CRn, CRm, op2).
fn sys_feature(w: u32) -> Option<Feature> {
    if w & 0xfff8_0000 != 0xd508_0000 {
        return None;
    }
    match ((w >> 16) & 7, (w >> 12) & 15, (w >> 8) & 15, (w >> 5) & 7) {
        (3, 7, 12, 1) => Some(DCPOP),
        (3, 7, 13, 1) => Some(DCPODP),
        // TLBI RVAE1IS/RVALE1IS/RVAAE1IS..., (OS, and non-shareable): CRm 2, 5, 6 at op1 0.
        (0, 8, 2 | 5 | 6, 1 | 3 | 5 | 7) => Some(TLBIRANGE),
        // DC GVA, DC GZVA and the tag cache maintenance (op1 3, CRm 4/10/12/13/14, op2 3-5).
        (3, 7, 4, 3 | 4) | (3, 7, 10 | 12 | 13 | 14, 3 | 5) => Some(MTE),
        _ => None,
    }
}

/// The feature instruction word `w` needs beyond the base architecture, if any.
pub fn needs(w: u32) -> Option<Feature> {
    if let Some(r) = sysreg(w) {
        return sysreg_feature(r);
    }
    if let Some(f) = sys_feature(w) {
        return Some(f);
    }
    // MSR (immediate): PAN (op1 0, op2 4), SSBS (op1 3, op2 1), TCO (op1 3, op2 4).
    match w & 0xffff_f0ff {
        0xd500_409f => return Some(PAN),
        0xd503_403f => return Some(SSBS),
        0xd503_409f => return Some(MTE),
        _ => {}
    }
    data_processing(w).or_else(|| memory(w))
}

/// Data-processing and barrier encodings.
fn data_processing(w: u32) -> Option<Feature> {
    if w == 0xd503_30ff {
        return Some(SB);
    }
    if w & 0xffff_ffc0 == 0xd503_1000 {
        return Some(WFXT);
    }
    if w & 0x7fe0_e000 == 0x1ac0_4000 {
        return Some(CRC32);
    }
    if w & 0xffff_c000 == 0xdac1_0000 || w & 0xfe1f_f800 == 0xd61f_0800 || w & 0xff20_0400 == 0xf820_0400 {
        // PAC*/AUT*/XPAC* (1-source), BRAA/BLRAA/RETAA/ERETAA..., LDRAA/LDRAB.
        return Some(PAUTH);
    }
    if w & 0xffe0_fc00 == 0x9ac0_3000 {
        return Some(PACGA);
    }
    // IRG, GMI, SUBP(S), ADDG/SUBG.
    if matches!(w & 0xffe0_fc00, 0x9ac0_1000 | 0x9ac0_1400 | 0x9ac0_0000 | 0xbac0_0000)
        || w & 0xbfc0_c000 == 0x9180_0000
    {
        return Some(MTE);
    }
    // SVE's top-level encoding space (op0 = 0b0010 in bits 28:25, bit 31 clear).
    (w & 0x9e00_0000 == 0x0400_0000).then_some(SVE)
}

/// Loads and stores.
fn memory(w: u32) -> Option<Feature> {
    // Atomic memory operations (V = 0): LDAPR is o3 = 1, opc = 100; SWP o3 = 1, opc = 000;
    // every o3 = 0 form is an LSE atomic (LDADD, LDCLR, LDEOR, LDSET, LD{S,U}{MAX,MIN}).
    if w & 0x3f20_0c00 == 0x3820_0000 {
        let (o3, opc) = ((w >> 15) & 1, (w >> 12) & 7);
        return match (o3, opc) {
            (1, 0b100) if w & 0x3fff_fc00 == 0x38bf_c000 => Some(LRCPC),
            (0, _) | (1, 0) => Some(LSE),
            _ => None,
        };
    }
    // CAS{A,L,AL}{B,H} and CASP{A,L,AL}.
    if w & 0x3fa0_7c00 == 0x08a0_7c00 || w & 0xbfa0_7c00 == 0x0820_7c00 {
        return Some(LSE);
    }
    // Load/store memory tags (STG, STZG, ST2G, LDG, STGM, LDGM, ...) and STGP.
    if w & 0xff20_0000 == 0xd920_0000 || matches!(w & 0xffc0_0000, 0x6880_0000 | 0x6900_0000 | 0x6980_0000) {
        return Some(MTE);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(w: u32) -> Option<&'static str> {
        needs(w).map(|f| f.name)
    }

    #[test]
    fn instructions_map_to_their_features() {
        // Encodings from llvm-mc -triple=aarch64 -mattr=+v8.7a,+mte,+rcpc,+lse,... -show-encoding.
        let cases: [(u32, Feature); 24] = [
            (0xf8200020, LSE),       // ldadd x0, x0, [x1]
            (0xc8e0fc22, LSE),       // casal x0, x2, [x1]
            (0x48207c82, LSE),       // casp x0, x1, x2, x3, [x4]
            (0xf8208020, LSE),       // swp x0, x0, [x1]
            (0xb8206041, LSE),       // ldumax w0, w1, [x2]
            (0xf8bfc020, LRCPC),     // ldapr x0, [x1]
            (0x9ac14c00, CRC32),     // crc32x w0, w0, x1
            (0x1ac15000, CRC32),     // crc32cb w0, w0, w1
            (0xd50330ff, SB),        // sb
            (0xd500419f, PAN),       // msr pan, #1
            (0xd5184260, PAN),       // msr pan, x0
            (0xd50b7c20, DCPOP),     // dc cvap, x0
            (0xd50b7d20, DCPODP),    // dc cvadp, x0
            (0xdac11020, PAUTH),     // autia x0, x1
            (0xd65f0bff, PAUTH),     // retaa
            (0xf8200420, PAUTH),     // ldraa x0, [x1]
            (0x9ac23020, PACGA),     // pacga x0, x1, x2
            (0x9ac11000, MTE),       // irg x0, x0, x1
            (0xd9200820, MTE),       // stg x0, [x1]
            (0xd503419f, MTE),       // msr tco, #1
            (0xd5088220, TLBIRANGE), // tlbi rvae1is, x0
            (0xd53b2400, RNG),       // mrs x0, rndr
            (0xd53be0c0, ECV),       // mrs x0, cntvctss_el0
            (0xd53d4000, VHE),       // mrs x0, spsr_el12
        ];
        for (w, f) in cases {
            assert_eq!(name(w), Some(f.name), "{w:#010x}");
        }
        assert_eq!(name(0xd503413f), Some(SSBS.name)); // msr ssbs, #1
        assert_eq!(name(0xd5184600), Some(GIC.name)); // msr icc_pmr_el1, x0
        assert_eq!(name(0xd5031000), Some(WFXT.name)); // wfet x0
    }

    #[test]
    fn base_instructions_and_hints_need_nothing() {
        for w in [
            0xd503201f, 0xd503233f, 0xd503245f, 0xf9400020, 0x885f7c20, 0xd5033bbf, 0xd53b4200, 0x94000000,
            0xd9000020,
        ] {
            // nop, paciasp, bti c, ldr x0,[x1], ldxr w0,[x1], dmb ish, mrs x0,daif, bl, stlur x0,[x1]
            assert_eq!(needs(w), None, "{w:#010x}");
        }
    }
}
