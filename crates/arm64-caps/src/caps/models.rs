//! QEMU 7.2's AArch64 CPU models as a Linux guest at EL1 sees them on
//! `-machine virt,gic-version=3` (no `virtualization=on`, `secure=on` or `mte=on`).
//!
//! Register values come from QEMU 7.2 `target/arm/cpu64.c` (`aarch64_a35_initfn`,
//! `aarch64_a53_initfn`, `aarch64_a57_initfn`, `aarch64_a72_initfn`, `aarch64_a76_initfn`,
//! `aarch64_neoverse_n1_initfn`, `aarch64_a64fx_initfn`, `aarch64_max_initfn`), then the
//! changes QEMU makes before the guest reads them:
//!
//! - `arm_cpu_realizefn` (target/arm/cpu.c) clears ID_AA64PFR0.EL2 when the board gives no
//!   EL2 and ID_AA64PFR0.EL3 when it gives no EL3, and clears ID_AA64PFR1.MTE when the board
//!   provides no tag memory;
//! - `id_aa64pfr0_read` (target/arm/helper.c) ORs ID_AA64PFR0.GIC = 1 in when a GICv3 CPU
//!   interface is attached, which `gic-version=3` does.
//!
//! Registers a model's init function leaves unset are zero (QEMU zero-initialises `isar`).
//!
//! `tests/qemu-models` reads every register QEMU's gdbstub exposes (all of [`IdRegs::by_name`]
//! but MIDR_EL1 and ID_AA64PFR0_EL1) from each model halted at reset and requires these values.

use core::fmt;

use super::fields::{Field, id_aa64pfr0, id_aa64pfr1};
use super::{CpuFeatures, IdRegs, Platform, SystemCaps};

/// A QEMU CPU model and the ID registers its guest sees.
#[derive(Clone, Copy, Debug)]
pub struct QemuModel {
    /// The `-cpu` name.
    pub name: &'static str,
    /// The registers as read at EL1.
    pub regs: IdRegs,
}

/// Replaces a 4-bit field at `shift`: QEMU's `FIELD_DP64` for fields not declared in
/// [`super::fields`] (they are used by no rule).
const fn dp(value: u64, shift: u32, field: u64) -> u64 {
    (value & !(0xf << shift)) | field << shift
}

/// Replaces a declared field.
const fn set(value: u64, field: &Field, v: i64) -> u64 {
    field.insert(value, v)
}

/// What the guest sees of `regs` on `virt,gic-version=3` without EL2, EL3 or tag memory.
const fn as_seen_at_el1(mut regs: IdRegs) -> IdRegs {
    regs.id_aa64pfr0 = set(regs.id_aa64pfr0, &id_aa64pfr0::EL2, 0);
    regs.id_aa64pfr0 = set(regs.id_aa64pfr0, &id_aa64pfr0::EL3, 0);
    if id_aa64pfr0::GIC.extract(regs.id_aa64pfr0) == 0 {
        regs.id_aa64pfr0 = set(regs.id_aa64pfr0, &id_aa64pfr0::GIC, 1);
    }
    regs.id_aa64pfr1 = set(regs.id_aa64pfr1, &id_aa64pfr1::MTE, 0);
    regs
}

const ZERO: IdRegs = IdRegs {
    midr: 0,
    revidr: 0,
    mpidr: 0,
    id_aa64pfr0: 0,
    id_aa64pfr1: 0,
    id_aa64isar0: 0,
    id_aa64isar1: 0,
    id_aa64isar2: 0,
    id_aa64mmfr0: 0,
    id_aa64mmfr1: 0,
    id_aa64mmfr2: 0,
    id_aa64zfr0: 0,
    id_aa64smfr0: 0,
    id_aa64dfr0: 0,
    ctr_el0: 0,
    clidr: 0,
    current_el: 0,
};

/// `aarch64_a57_initfn`: Cortex-A57 r1p0.
const A57: IdRegs = IdRegs {
    midr: 0x411f_d070,
    ctr_el0: 0x8444_c004,
    id_aa64pfr0: 0x0000_2222,
    id_aa64dfr0: 0x1030_5106,
    id_aa64isar0: 0x0001_1120,
    id_aa64mmfr0: 0x0000_1124,
    clidr: 0x0a20_0023,
    ..ZERO
};

/// `aarch64_max_initfn` for TCG in QEMU 7.2: "A57 with extra things", field by field in
/// the order QEMU sets them (the FEAT_ names are QEMU's comments). Features QEMU added
/// after 7.2 (FEAT_FGT, FEAT_EVT, FEAT_PAN3, FEAT_RASv1p1, FEAT_PAuth2/FPAC, FEAT_ECV,
/// FEAT_CLRBHB, FEAT_WFxT) are absent.
const MAX: IdRegs = {
    let mut r = A57;
    // MIDR: implementer 0 ("software use"), architecture 0xF, part number 'Q'.
    r.midr = 0x000f_0000 | (b'Q' as u64) << 4;
    // FEAT_S2FWB requires CLIDR_EL1.{LoUU,LoUIS} = 0, so QEMU clears them.
    r.clidr = 0x0a20_0023 & !(7 << 27) & !(7 << 21);

    let mut t = r.id_aa64isar0;
    t = dp(t, 4, 2); // AES: FEAT_PMULL
    t = dp(t, 8, 1); // SHA1
    t = dp(t, 12, 2); // SHA2: FEAT_SHA512
    t = dp(t, 16, 1); // CRC32
    t = dp(t, 20, 2); // ATOMIC: FEAT_LSE
    t = dp(t, 28, 1); // RDM
    t = dp(t, 32, 1); // SHA3
    t = dp(t, 36, 1); // SM3
    t = dp(t, 40, 1); // SM4
    t = dp(t, 44, 1); // DP: FEAT_DotProd
    t = dp(t, 48, 1); // FHM
    t = dp(t, 52, 2); // TS: FEAT_FlagM2
    t = dp(t, 56, 2); // TLB: FEAT_TLBIRANGE
    t = dp(t, 60, 1); // RNDR: FEAT_RNG
    r.id_aa64isar0 = t;

    let mut t = r.id_aa64isar1;
    t = dp(t, 0, 2); // DPB: FEAT_DPB2
    t = dp(t, 12, 1); // JSCVT
    t = dp(t, 16, 1); // FCMA
    t = dp(t, 20, 2); // LRCPC: FEAT_LRCPC2
    t = dp(t, 32, 1); // FRINTTS
    t = dp(t, 36, 1); // SB
    t = dp(t, 40, 1); // SPECRES
    t = dp(t, 44, 1); // BF16
    t = dp(t, 48, 1); // DGH
    t = dp(t, 52, 1); // I8MM
    // arm_cpu_pauth_finalize: pauth=on (default), pauth-impdef=off: APA = GPA = 1 (QARMA5).
    t = dp(t, 4, 1); // APA
    t = dp(t, 24, 1); // GPA
    r.id_aa64isar1 = t;

    let mut t = r.id_aa64pfr0;
    t = dp(t, 16, 1); // FP: FEAT_FP16
    t = dp(t, 20, 1); // ADVSIMD: FEAT_FP16
    t = dp(t, 28, 1); // RAS: FEAT_RAS
    t = dp(t, 32, 1); // SVE
    t = dp(t, 36, 1); // SEL2
    t = dp(t, 48, 1); // DIT
    t = dp(t, 56, 2); // CSV2: FEAT_CSV2_2
    t = dp(t, 60, 1); // CSV3
    r.id_aa64pfr0 = t;

    let mut t = r.id_aa64pfr1;
    t = dp(t, 0, 1); // BT: FEAT_BTI
    t = dp(t, 4, 2); // SSBS: FEAT_SSBS2
    t = dp(t, 8, 3); // MTE: FEAT_MTE3 (cleared at realize without tag memory)
    t = dp(t, 24, 1); // SME
    r.id_aa64pfr1 = t;

    let mut t = r.id_aa64mmfr0;
    t = dp(t, 0, 6); // PARANGE: 52 bits (FEAT_LPA)
    t = dp(t, 20, 2); // TGRAN16: 16k pages with FEAT_LPA2
    t = dp(t, 28, 1); // TGRAN4: 4k pages with FEAT_LPA2
    t = dp(t, 32, 3); // TGRAN16_2: 16k stage 2 with FEAT_LPA2
    t = dp(t, 36, 2); // TGRAN64_2
    t = dp(t, 40, 3); // TGRAN4_2: 4k stage 2 with FEAT_LPA2
    r.id_aa64mmfr0 = t;

    let mut t = r.id_aa64mmfr1;
    t = dp(t, 0, 2); // HAFDBS: FEAT_HAFDBS
    t = dp(t, 4, 2); // VMIDBITS: FEAT_VMID16
    t = dp(t, 8, 1); // VH: FEAT_VHE
    t = dp(t, 12, 1); // HPDS
    t = dp(t, 16, 1); // LO: FEAT_LOR
    t = dp(t, 20, 2); // PAN: FEAT_PAN2
    t = dp(t, 28, 1); // XNX
    t = dp(t, 36, 1); // ETS
    t = dp(t, 40, 1); // HCX: FEAT_HCX
    r.id_aa64mmfr1 = t;

    let mut t = r.id_aa64mmfr2;
    t = dp(t, 0, 1); // CNP: FEAT_TTCNP
    t = dp(t, 4, 1); // UAO
    t = dp(t, 12, 1); // IESB
    t = dp(t, 16, 1); // VARANGE: FEAT_LVA
    t = dp(t, 28, 1); // ST: FEAT_TTST
    t = dp(t, 36, 1); // IDS: FEAT_IDST
    t = dp(t, 40, 1); // FWB: FEAT_S2FWB
    t = dp(t, 48, 1); // TTL
    t = dp(t, 52, 2); // BBM level 2
    t = dp(t, 60, 1); // E0PD
    r.id_aa64mmfr2 = t;

    let mut t = 0;
    t = dp(t, 0, 1); // SVEVER: SVE2
    t = dp(t, 4, 2); // AES: FEAT_SVE_PMULL128
    t = dp(t, 16, 1); // BITPERM
    t = dp(t, 20, 1); // BFLOAT16
    t = dp(t, 32, 1); // SHA3
    t = dp(t, 40, 1); // SM4
    t = dp(t, 44, 1); // I8MM
    t = dp(t, 52, 1); // F32MM
    t = dp(t, 56, 1); // F64MM
    r.id_aa64zfr0 = t;

    // ID_AA64SMFR0: F32F32 (bit 32), B16F32 (34), F16F32 (35), I8I32 (39:36) = 0xF,
    // F64F64 (48), I16I64 (55:52) = 0xF, FA64 (63).
    r.id_aa64smfr0 = 1 << 32 | 1 << 34 | 1 << 35 | 0xf << 36 | 1 << 48 | 0xf << 52 | 1 << 63;

    r.id_aa64dfr0 = dp(r.id_aa64dfr0, 0, 9); // DEBUGVER: FEAT_Debugv8p4
    r.id_aa64dfr0 = dp(r.id_aa64dfr0, 8, 6); // PMUVER: FEAT_PMUv3p5
    r
};

/// The models, each as its guest sees it.
pub const MODELS: &[QemuModel] = &[
    QemuModel {
        name: "cortex-a35",
        // aarch64_a35_initfn: Cortex-A35 r1p0 ("From B2.2 AArch64 identification registers").
        regs: as_seen_at_el1(IdRegs {
            midr: 0x411f_d040,
            ctr_el0: 0x8444_8004,
            id_aa64pfr0: 0x0000_2222,
            id_aa64dfr0: 0x1030_5106,
            id_aa64isar0: 0x0001_1120,
            id_aa64mmfr0: 0x0010_1122,
            clidr: 0x0a20_0023,
            ..ZERO
        }),
    },
    QemuModel {
        name: "cortex-a53",
        // aarch64_a53_initfn: Cortex-A53 r0p4, REVIDR 0.
        regs: as_seen_at_el1(IdRegs {
            midr: 0x410f_d034,
            ctr_el0: 0x8444_8004,
            id_aa64pfr0: 0x0000_2222,
            id_aa64dfr0: 0x1030_5106,
            id_aa64isar0: 0x0001_1120,
            id_aa64mmfr0: 0x0000_1122,
            clidr: 0x0a20_0023,
            ..ZERO
        }),
    },
    QemuModel { name: "cortex-a57", regs: as_seen_at_el1(A57) },
    QemuModel {
        name: "cortex-a72",
        // aarch64_a72_initfn: Cortex-A72 r0p3.
        regs: as_seen_at_el1(IdRegs { midr: 0x410f_d083, ..A57 }),
    },
    QemuModel {
        name: "cortex-a76",
        // aarch64_a76_initfn: Cortex-A76 r4p1.
        regs: as_seen_at_el1(IdRegs {
            midr: 0x414f_d0b1,
            ctr_el0: 0x8444_c004,
            id_aa64dfr0: 0x0000_0000_1030_5408,
            id_aa64isar0: 0x0000_1000_1021_1120,
            id_aa64isar1: 0x0000_0000_0010_0001,
            id_aa64mmfr0: 0x0000_0000_0010_1122,
            id_aa64mmfr1: 0x0000_0000_1021_2122,
            id_aa64mmfr2: 0x0000_0000_0000_1011,
            id_aa64pfr0: 0x1100_0000_1011_1112,
            id_aa64pfr1: 0x0000_0000_0000_0010,
            clidr: 0x8200_0023,
            ..ZERO
        }),
    },
    QemuModel {
        name: "neoverse-n1",
        // aarch64_neoverse_n1_initfn: Neoverse-N1 r4p1.
        regs: as_seen_at_el1(IdRegs {
            midr: 0x414f_d0c1,
            ctr_el0: 0x8444_c004,
            // PMSVer (bits 35:32) reads 0: QEMU 7.2 has no SPE (tests/qemu-models).
            id_aa64dfr0: 0x0000_0000_1030_5408,
            id_aa64isar0: 0x0000_1000_1021_1120,
            id_aa64isar1: 0x0000_0000_0010_0001,
            id_aa64mmfr0: 0x0000_0000_0010_1125,
            id_aa64mmfr1: 0x0000_0000_1021_2122,
            id_aa64mmfr2: 0x0000_0000_0000_1011,
            id_aa64pfr0: 0x1100_0000_1011_1112,
            id_aa64pfr1: 0x0000_0000_0000_0020,
            clidr: 0x8200_0023,
            ..ZERO
        }),
    },
    QemuModel {
        name: "a64fx",
        // aarch64_a64fx_initfn: Fujitsu A64FX v1r0.
        regs: as_seen_at_el1(IdRegs {
            midr: 0x461f_0010,
            ctr_el0: 0x8666_8006,
            id_aa64pfr0: 0x0000_0001_0111_1111,
            id_aa64dfr0: 0x0000_0000_1030_5408,
            id_aa64mmfr0: 0x0000_0000_0000_1122,
            id_aa64mmfr1: 0x0000_0000_1121_2100,
            id_aa64mmfr2: 0x0000_0000_0000_1011,
            id_aa64isar0: 0x0000_0000_1021_1120,
            id_aa64isar1: 0x0000_0000_0001_0001,
            clidr: 0x8000_0023,
            ..ZERO
        }),
    },
    QemuModel { name: "max", regs: as_seen_at_el1(MAX) },
];

impl QemuModel {
    /// The registers as the kernel snapshots them on `virtualization=on` when it runs at
    /// EL2 (CurrentEL = 2, HCR_EL2.E2H set): the same ID values, read at EL2. (QEMU then
    /// also keeps ID_AA64PFR0.EL2, which no rule reads.)
    pub const fn at_el2(&self) -> IdRegs {
        IdRegs { current_el: 2 << 2, ..self.regs }
    }

    /// What altpatch detects on this model at EL1 on `virt,gic-version=3`, the board these
    /// registers describe: the system-wide capabilities of a machine of such CPUs.
    pub fn system_caps(&self) -> SystemCaps {
        CpuFeatures::new(&self.regs, &Platform { gicv3: true, ..Platform::default() }).finalise()
    }
}

/// The model named `name` (`-cpu` spelling).
pub fn by_name(name: &str) -> Result<&'static QemuModel, UnknownModel<'_>> {
    MODELS.iter().find(|m| m.name == name).ok_or(UnknownModel(name))
}

/// A `-cpu` name no model here has; shown, it lists the names that are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownModel<'a>(pub &'a str);

impl fmt::Display for UnknownModel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown CPU model {}; valid:", self.0)?;
        for (n, model) in MODELS.iter().enumerate() {
            write!(f, "{} {}", if n == 0 { "" } else { "," }, model.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::fields::{id_aa64isar0, id_aa64mmfr2};
    use std::string::ToString;

    #[test]
    fn guest_view_drops_el2_and_el3_and_shows_the_gic() {
        let a57 = by_name("cortex-a57").unwrap().regs;
        // 0x2222 with EL2 and EL3 cleared, GIC = 1 (bit 24).
        assert_eq!(a57.id_aa64pfr0, 0x0100_0022);
        // A64FX already reports GIC = 1; nothing to add.
        let a64fx = by_name("a64fx").unwrap().regs;
        assert_eq!(a64fx.id_aa64pfr0, 0x0000_0001_0111_0011);
    }

    #[test]
    fn max_has_qemu_software_midr_and_hidden_mte() {
        let max = by_name("max").unwrap().regs;
        assert_eq!(max.midr, 0x000f_0510);
        assert_eq!(id_aa64pfr1::MTE.get(&max), 0);
        assert_eq!(id_aa64isar0::ATOMIC.get(&max), 2);
        assert_eq!(id_aa64mmfr2::FWB.get(&max), 1);
        assert_eq!(max.clidr, 0x0200_0023);
    }

    #[test]
    fn every_model_is_found_by_name_and_an_unknown_one_lists_them_all() {
        for m in MODELS {
            assert_eq!(by_name(m.name).unwrap().name, m.name);
        }
        let unknown = by_name("cortex-a15").unwrap_err().to_string();
        assert!(unknown.starts_with("unknown CPU model cortex-a15; valid: cortex-a35, "), "{unknown}");
        assert!(MODELS.iter().all(|m| unknown.contains(m.name)), "{unknown}");
    }
}
