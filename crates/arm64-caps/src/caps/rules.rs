//! Detection rules, and the MIDR lists of errata and vulnerabilities.
//!
//! Errata ranges are those of the Arm errata notices (Software Developer Errata Notices for
//! each core) as Linux 6.1's `cpu_errata.c` encodes them; vulnerability lists are Arm's
//! published "Speculative Processor Vulnerability" tables as Linux 6.1's `proton-pack.c`
//! encodes them.

use super::errata::{
    CORTEX_A35, CORTEX_A53, CORTEX_A55, CORTEX_A57, CORTEX_A72, CORTEX_A73, CORTEX_A76, MidrRange,
    NEOVERSE_N1, any_affects,
};
use super::fields::{self, Field};
use super::{IdRegs, Platform};

/// How a capability is detected on one CPU's registers (for system-scope rows, on the
/// sanitised registers).
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// Always true: the ALWAYS_* pseudo-capabilities.
    Always,
    /// The field is at least this value (signed comparison for signed fields).
    Field(&'static Field, i64),
    /// ID_AA64PFR0.GIC >= 1 and the platform's GICv3 CPU interface is usable.
    GicCpuIf,
    /// The CPU runs the kernel at EL2 (Linux's `runs_at_el2`, `is_kernel_in_hyp_mode()`) and
    /// the field (ID_AA64MMFR1_EL1.VH, after overrides) says the Virtualization Host
    /// Extensions are there: the kernel only stays at EL2 with HCR_EL2.E2H set.
    RunsAtEl2(&'static Field),
    /// Effective CTR_EL0.IDC is 1.
    CacheIdc,
    /// CTR_EL0.DIC is 1.
    CacheDic,
    /// The MIDR (and REVIDR) is in one of the ranges: an erratum.
    Midr(&'static [MidrRange]),
    /// Neoverse-N1 erratum 1542419: any N1 whose CTR_EL0.DIC is set.
    Neoverse1542419,
    /// Spectre-v2: affected unless CSV2, a known-safe core, or firmware says unaffected.
    SpectreV2,
    /// Spectre-v4 (speculative store bypass): affected unless a known-safe core or firmware
    /// says unaffected. SSBS mitigates, it does not make the CPU unaffected.
    SpectreV4,
    /// Spectre-BHB: affected unless CSV2_3, ECBHB or a core known to be safe.
    SpectreBhb,
}

impl Rule {
    /// Whether the rule holds for these register values.
    pub fn matches_cpu(&self, regs: &IdRegs, platform: &Platform) -> bool {
        match *self {
            Rule::Always => true,
            Rule::Field(field, min) => field.get(regs) >= min,
            Rule::GicCpuIf => platform.gicv3 && fields::id_aa64pfr0::GIC.get(regs) >= 1,
            Rule::RunsAtEl2(field) => regs.exception_level() == 2 && field.get(regs) >= 1,
            Rule::CacheIdc => fields::ctr_el0::IDC.get(regs) == 1,
            Rule::CacheDic => fields::ctr_el0::DIC.get(regs) == 1,
            Rule::Midr(list) => any_affects(list, regs.midr, regs.revidr),
            Rule::Neoverse1542419 => {
                NEOVERSE_N1.matches(regs.midr) && fields::ctr_el0::DIC.extract(regs.ctr_el0) == 1
            }
            Rule::SpectreV2 => {
                fields::id_aa64pfr0::CSV2.get(regs) < 1
                    && !any_affects(SPECTRE_V2_SAFE, regs.midr, regs.revidr)
                    && !platform.firmware_reports_unaffected
            }
            Rule::SpectreV4 => {
                !any_affects(SPECTRE_V4_SAFE, regs.midr, regs.revidr)
                    && (fields::id_aa64pfr1::SSBS.get(regs) >= 1 || !platform.firmware_reports_unaffected)
            }
            Rule::SpectreBhb => {
                fields::id_aa64pfr0::CSV2.get(regs) < 3
                    && fields::id_aa64mmfr1::ECBHB.get(regs) < 1
                    && !any_affects(SPECTRE_BHB_SAFE, regs.midr, regs.revidr)
            }
        }
    }
}

const fn all(m: super::errata::Model) -> MidrRange {
    MidrRange::all(m)
}

/// Cortex-A53 r0p0-r0p2: errata 826319, 827319, 824069; r0p0-r0p1: 819472.
pub const CLEAN_CACHE: &[MidrRange] = &[MidrRange::range(CORTEX_A53, (0, 0), (0, 2))];
/// Cortex-A57 r0p0-r1p2: erratum 832075 (device load-acquire may pass a store).
pub const ERRATUM_832075: &[MidrRange] = &[MidrRange::range(CORTEX_A57, (0, 0), (1, 2))];
/// Cortex-A57 r0p0-r1p2: erratum 834220 (stage-2 fault reported at the wrong level).
pub const ERRATUM_834220: &[MidrRange] = &[MidrRange::range(CORTEX_A57, (0, 0), (1, 2))];
/// Cortex-A53 r0p0-r0p4, except r0p4 with REVIDR bit 8 (the fix): erratum 843419 (ADRP).
pub const ERRATUM_843419: &[MidrRange] =
    &[MidrRange::range(CORTEX_A53, (0, 0), (0, 4)).fixed((0, 4), 1 << 8)];
/// Cortex-A53 r0p0-r0p4: erratum 845719 (AArch32 load after AArch64 load).
pub const ERRATUM_845719: &[MidrRange] = &[MidrRange::range(CORTEX_A53, (0, 0), (0, 4))];
/// Speculative AT: A76 r0p0-r2p0 (1165522), A57 and A72 all (1319537/1319367),
/// A55 r0p0-r2p0 (1530923).
pub const SPECULATIVE_AT: &[MidrRange] = &[
    MidrRange::range(CORTEX_A76, (0, 0), (2, 0)),
    all(CORTEX_A57),
    all(CORTEX_A72),
    MidrRange::range(CORTEX_A55, (0, 0), (2, 0)),
];
/// Cortex-A76 and Neoverse-N1 r0p0-r3p1: erratum 1418040 (AArch32 CNTVCT).
pub const ERRATUM_1418040: &[MidrRange] =
    &[MidrRange::range(CORTEX_A76, (0, 0), (3, 1)), MidrRange::range(NEOVERSE_N1, (0, 0), (3, 1))];
/// Cortex-A76 r0p0-r3p1: erratum 1463225 (software step over SVC).
pub const ERRATUM_1463225: &[MidrRange] = &[MidrRange::range(CORTEX_A76, (0, 0), (3, 1))];
/// Broken broadcast TLBI completion: Cortex-A76 r0p0-r3p0 erratum 1286807, and (Linux 6.1.y
/// since the CVE-2025-10263 backport, "arm64: errata: Mitigate TLBI errata on various Arm
/// CPUs") every Cortex-A76 (erratum 4193800) and Neoverse-N1 (erratum 4193800). (Falkor and
/// the other cores of the Linux row are not modelled: no QEMU model has them.)
pub const REPEAT_TLBI: &[MidrRange] =
    &[MidrRange::range(CORTEX_A76, (0, 0), (3, 0)), all(CORTEX_A76), all(NEOVERSE_N1)];
/// SSBS not fully self-synchronizing (erratum 3194386 and siblings): Cortex-A76 (3324349)
/// and Neoverse-N1 (3324349) among the modelled cores.
pub const SPECULATIVE_SSBS: &[MidrRange] = &[all(CORTEX_A76), all(NEOVERSE_N1)];
/// Cortex-A57 r0p1 onwards and all A72: erratum 1742098 (AArch32 AES sequences).
pub const ERRATUM_1742098: &[MidrRange] =
    &[MidrRange::range(CORTEX_A57, (0, 1), (0xf, 0xf)), all(CORTEX_A72)];
/// Cortex-A73, all revisions: erratum 858921 (counter read).
pub const ERRATUM_858921: &[MidrRange] = &[all(CORTEX_A73)];
/// Spectre-v3a (rogue system register read): Cortex-A57 and A72.
pub const SPECTRE_V3A: &[MidrRange] = &[all(CORTEX_A57), all(CORTEX_A72)];

/// Cores Arm lists as not affected by Spectre-v2 (among those modelled).
const SPECTRE_V2_SAFE: &[MidrRange] = &[all(CORTEX_A35), all(CORTEX_A53), all(CORTEX_A55)];
/// Cores Arm lists as not affected by Spectre-v4 (among those modelled).
const SPECTRE_V4_SAFE: &[MidrRange] = &[all(CORTEX_A35), all(CORTEX_A53), all(CORTEX_A55)];
/// Cores Linux lists as not affected by Spectre-BHB (`spectre_bhb_safe_list`, among those
/// modelled). Since "arm64: errata: Assume that unknown CPUs _are_ vulnerable to Spectre
/// BHB" (backported to 6.1.y), every other core is affected unless it has CSV2_3 or ECBHB.
const SPECTRE_BHB_SAFE: &[MidrRange] = &[all(CORTEX_A35), all(CORTEX_A53), all(CORTEX_A55)];
