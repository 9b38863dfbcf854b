//! ID-register fields as data, the way the Arm ARM (DDI 0487) tabulates them.
//!
//! Each [`Field`] names its register, its position, whether the Arm ARM defines it as a
//! signed or unsigned ID field (D19.1.3 "Principles of the ID scheme for fields in ID
//! registers": a signed field's `0xF` means "not implemented", below zero), and the policy
//! by which the system-wide value is chosen when CPUs disagree, as Linux's
//! `arch/arm64/kernel/cpufeature.c` does (`FTR_LOWER_SAFE`, `FTR_HIGHER_SAFE`, `FTR_EXACT`).
//!
//! `aarch64-cpu` does not define all of these (ID_AA64ISAR2, ID_AA64SMFR0, most of
//! ID_AA64MMFR2 are missing), so the fields a rule or an override needs are declared here.
//! Section numbers are those of DDI 0487 I.a, chapter D19 ("AArch64 System Register
//! Descriptions").

use super::IdRegs;

/// An ID register the capability code snapshots on every CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// ID_AA64PFR0_EL1, D19.2.67.
    IdAa64Pfr0,
    /// ID_AA64PFR1_EL1, D19.2.68.
    IdAa64Pfr1,
    /// ID_AA64ISAR0_EL1, D19.2.61.
    IdAa64Isar0,
    /// ID_AA64ISAR1_EL1, D19.2.62.
    IdAa64Isar1,
    /// ID_AA64ISAR2_EL1, D19.2.63.
    IdAa64Isar2,
    /// ID_AA64MMFR0_EL1, D19.2.64.
    IdAa64Mmfr0,
    /// ID_AA64MMFR1_EL1, D19.2.65.
    IdAa64Mmfr1,
    /// ID_AA64MMFR2_EL1, D19.2.66.
    IdAa64Mmfr2,
    /// ID_AA64ZFR0_EL1, D19.2.70.
    IdAa64Zfr0,
    /// ID_AA64SMFR0_EL1, D19.2.69.
    IdAa64Smfr0,
    /// ID_AA64DFR0_EL1, D19.2.59.
    IdAa64Dfr0,
    /// CTR_EL0, D19.2.34 (as the kernel sees it: see [`super::effective_ctr`]).
    CtrEl0,
}

impl Reg {
    /// Every register that is sanitised field by field.
    pub const ALL: [Reg; 12] = [
        Reg::IdAa64Pfr0,
        Reg::IdAa64Pfr1,
        Reg::IdAa64Isar0,
        Reg::IdAa64Isar1,
        Reg::IdAa64Isar2,
        Reg::IdAa64Mmfr0,
        Reg::IdAa64Mmfr1,
        Reg::IdAa64Mmfr2,
        Reg::IdAa64Zfr0,
        Reg::IdAa64Smfr0,
        Reg::IdAa64Dfr0,
        Reg::CtrEl0,
    ];

    /// The name used on the command line (`id_aa64isar0`), the lower-case register name
    /// without `_EL1`.
    pub const fn name(self) -> &'static str {
        match self {
            Reg::IdAa64Pfr0 => "id_aa64pfr0",
            Reg::IdAa64Pfr1 => "id_aa64pfr1",
            Reg::IdAa64Isar0 => "id_aa64isar0",
            Reg::IdAa64Isar1 => "id_aa64isar1",
            Reg::IdAa64Isar2 => "id_aa64isar2",
            Reg::IdAa64Mmfr0 => "id_aa64mmfr0",
            Reg::IdAa64Mmfr1 => "id_aa64mmfr1",
            Reg::IdAa64Mmfr2 => "id_aa64mmfr2",
            Reg::IdAa64Zfr0 => "id_aa64zfr0",
            Reg::IdAa64Smfr0 => "id_aa64smfr0",
            Reg::IdAa64Dfr0 => "id_aa64dfr0",
            Reg::CtrEl0 => "ctr_el0",
        }
    }

    /// The register's value in `regs`.
    pub const fn read(self, regs: &IdRegs) -> u64 {
        match self {
            Reg::IdAa64Pfr0 => regs.id_aa64pfr0,
            Reg::IdAa64Pfr1 => regs.id_aa64pfr1,
            Reg::IdAa64Isar0 => regs.id_aa64isar0,
            Reg::IdAa64Isar1 => regs.id_aa64isar1,
            Reg::IdAa64Isar2 => regs.id_aa64isar2,
            Reg::IdAa64Mmfr0 => regs.id_aa64mmfr0,
            Reg::IdAa64Mmfr1 => regs.id_aa64mmfr1,
            Reg::IdAa64Mmfr2 => regs.id_aa64mmfr2,
            Reg::IdAa64Zfr0 => regs.id_aa64zfr0,
            Reg::IdAa64Smfr0 => regs.id_aa64smfr0,
            Reg::IdAa64Dfr0 => regs.id_aa64dfr0,
            Reg::CtrEl0 => regs.ctr_el0,
        }
    }

    /// The register's slot in `regs`.
    pub fn slot(self, regs: &mut IdRegs) -> &mut u64 {
        match self {
            Reg::IdAa64Pfr0 => &mut regs.id_aa64pfr0,
            Reg::IdAa64Pfr1 => &mut regs.id_aa64pfr1,
            Reg::IdAa64Isar0 => &mut regs.id_aa64isar0,
            Reg::IdAa64Isar1 => &mut regs.id_aa64isar1,
            Reg::IdAa64Isar2 => &mut regs.id_aa64isar2,
            Reg::IdAa64Mmfr0 => &mut regs.id_aa64mmfr0,
            Reg::IdAa64Mmfr1 => &mut regs.id_aa64mmfr1,
            Reg::IdAa64Mmfr2 => &mut regs.id_aa64mmfr2,
            Reg::IdAa64Zfr0 => &mut regs.id_aa64zfr0,
            Reg::IdAa64Smfr0 => &mut regs.id_aa64smfr0,
            Reg::IdAa64Dfr0 => &mut regs.id_aa64dfr0,
            Reg::CtrEl0 => &mut regs.ctr_el0,
        }
    }
}

/// How the system-wide value of a field is chosen from the CPUs' values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Safe {
    /// The smallest value is safe (a feature level every CPU has): Linux's `FTR_LOWER_SAFE`.
    Lower,
    /// The largest value is safe (e.g. a maximum granule): Linux's `FTR_HIGHER_SAFE`.
    Higher,
    /// All CPUs must agree; on a mismatch the given value is used: Linux's `FTR_EXACT`.
    Exact(i64),
}

/// One field of an ID register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The register holding the field.
    pub reg: Reg,
    /// The Arm ARM's field name, lower case, as used on the command line (`atomic`).
    pub name: &'static str,
    /// The lowest bit.
    pub shift: u8,
    /// The number of bits.
    pub width: u8,
    /// Signed ID field (D19.1.3): `0b1111` reads as -1, "not implemented".
    pub signed: bool,
    /// How CPUs that disagree are reconciled.
    pub safe: Safe,
}

impl Field {
    const fn mask(&self) -> u64 {
        if self.width >= 64 { u64::MAX } else { ((1u64 << self.width) - 1) << self.shift }
    }

    /// The field's value in `value` (the whole register), sign-extended if the field is signed.
    pub const fn extract(&self, value: u64) -> i64 {
        let raw = (value & self.mask()) >> self.shift;
        if self.signed && (raw >> (self.width - 1)) & 1 == 1 {
            raw as i64 - (1i64 << self.width)
        } else {
            raw as i64
        }
    }

    /// The field's value in `regs`.
    pub const fn get(&self, regs: &IdRegs) -> i64 {
        self.extract(self.reg.read(regs))
    }

    /// `value` with the field replaced by `field` (truncated to the field's width).
    pub const fn insert(&self, value: u64, field: i64) -> u64 {
        (value & !self.mask()) | (((field as u64) << self.shift) & self.mask())
    }

    /// Replaces the field in `regs`.
    pub fn set(&self, regs: &mut IdRegs, field: i64) {
        let slot = self.reg.slot(regs);
        *slot = self.insert(*slot, field);
    }

    /// The system-wide value of this field for two CPUs' values, by the field's policy.
    pub const fn combine(&self, a: i64, b: i64) -> i64 {
        match self.safe {
            Safe::Lower => {
                if a < b {
                    a
                } else {
                    b
                }
            }
            Safe::Higher => {
                if a > b {
                    a
                } else {
                    b
                }
            }
            Safe::Exact(safe) => {
                if a == b {
                    a
                } else {
                    safe
                }
            }
        }
    }
}

/// Declares the fields of one register: `NAME: "cmdline-name", shift, width, signedness, policy;`.
macro_rules! fields {
    ($reg:ident; $($(#[$doc:meta])* $id:ident: $name:literal, $shift:literal, $width:literal, $sign:ident, $safe:expr;)*) => {
        $(
            $(#[$doc])*
            pub const $id: Field = Field {
                reg: Reg::$reg,
                name: $name,
                shift: $shift,
                width: $width,
                signed: fields!(@sign $sign),
                safe: $safe,
            };
        )*
    };
    (@sign signed) => { true };
    (@sign unsigned) => { false };
}

use Safe::{Exact, Higher, Lower};

/// ID_AA64PFR0_EL1 (D19.2.67).
pub mod id_aa64pfr0 {
    use super::*;
    fields! { IdAa64Pfr0;
        /// EL0 handling: 1 AArch64 only, 2 AArch64 and AArch32.
        EL0: "el0", 0, 4, unsigned, Lower;
        /// EL1 handling: 1 AArch64 only, 2 AArch64 and AArch32.
        EL1: "el1", 4, 4, unsigned, Lower;
        /// EL2 handling: 0 not implemented.
        EL2: "el2", 8, 4, unsigned, Lower;
        /// EL3 handling: 0 not implemented.
        EL3: "el3", 12, 4, unsigned, Lower;
        /// Floating point: 0 FEAT_FP, 1 FEAT_FP16, 0xF not implemented (signed).
        FP: "fp", 16, 4, signed, Lower;
        /// Advanced SIMD: 0 implemented, 1 with FP16, 0xF not implemented (signed).
        ADVSIMD: "advsimd", 20, 4, signed, Lower;
        /// GIC CPU interface system registers: 1 GICv3/v4, 3 GICv4.1.
        GIC: "gic", 24, 4, unsigned, Exact(0);
        /// RAS: 1 FEAT_RAS, 2 FEAT_RASv1p1.
        RAS: "ras", 28, 4, unsigned, Lower;
        /// SVE: 1 FEAT_SVE.
        SVE: "sve", 32, 4, unsigned, Lower;
        /// Secure EL2: 1 FEAT_SEL2.
        SEL2: "sel2", 36, 4, unsigned, Lower;
        /// Activity monitors: 1 FEAT_AMUv1.
        AMU: "amu", 44, 4, unsigned, Lower;
        /// Data-independent timing: 1 FEAT_DIT.
        DIT: "dit", 48, 4, unsigned, Lower;
        /// Speculative use of out-of-context branch targets: 1 FEAT_CSV2, 2 CSV2_2, 3 CSV2_3.
        CSV2: "csv2", 56, 4, unsigned, Lower;
        /// Speculative use of faulting data: 1 FEAT_CSV3.
        CSV3: "csv3", 60, 4, unsigned, Lower;
    }
}

/// ID_AA64PFR1_EL1 (D19.2.68).
pub mod id_aa64pfr1 {
    use super::*;
    fields! { IdAa64Pfr1;
        /// Branch target identification: 1 FEAT_BTI.
        BT: "bt", 0, 4, unsigned, Lower;
        /// Speculative store bypassing safe: 1 FEAT_SSBS, 2 FEAT_SSBS2.
        SSBS: "ssbs", 4, 4, unsigned, Lower;
        /// Memory tagging: 1 EL0 instructions only, 2 FEAT_MTE2, 3 FEAT_MTE3.
        MTE: "mte", 8, 4, unsigned, Lower;
        /// SME: 1 FEAT_SME.
        SME: "sme", 24, 4, unsigned, Lower;
    }
}

/// ID_AA64ISAR0_EL1 (D19.2.61).
pub mod id_aa64isar0 {
    use super::*;
    fields! { IdAa64Isar0;
        /// AES: 1 FEAT_AES, 2 with FEAT_PMULL.
        AES: "aes", 4, 4, unsigned, Lower;
        /// SHA1: 1 FEAT_SHA1.
        SHA1: "sha1", 8, 4, unsigned, Lower;
        /// SHA2: 1 FEAT_SHA256, 2 FEAT_SHA512.
        SHA2: "sha2", 12, 4, unsigned, Lower;
        /// CRC32: 1 CRC32 instructions.
        CRC32: "crc32", 16, 4, unsigned, Lower;
        /// Atomic: 2 FEAT_LSE.
        ATOMIC: "atomic", 20, 4, unsigned, Lower;
        /// RDM: 1 FEAT_RDM.
        RDM: "rdm", 28, 4, unsigned, Lower;
        /// Dot product: 1 FEAT_DotProd.
        DP: "dp", 44, 4, unsigned, Lower;
        /// Flag manipulation: 1 FEAT_FlagM, 2 FEAT_FlagM2.
        TS: "ts", 52, 4, unsigned, Lower;
        /// TLB maintenance: 1 outer shareable, 2 FEAT_TLBIRANGE.
        TLB: "tlb", 56, 4, unsigned, Lower;
        /// Random number: 1 FEAT_RNG.
        RNDR: "rndr", 60, 4, unsigned, Lower;
    }
}

/// ID_AA64ISAR1_EL1 (D19.2.62).
pub mod id_aa64isar1 {
    use super::*;
    fields! { IdAa64Isar1;
        /// Data persistence: 1 FEAT_DPB, 2 FEAT_DPB2.
        DPB: "dpb", 0, 4, unsigned, Lower;
        /// Address authentication, QARMA5: 1 FEAT_PAuth, higher values enhancements.
        APA: "apa", 4, 4, unsigned, Lower;
        /// Address authentication, IMPLEMENTATION DEFINED algorithm.
        API: "api", 8, 4, unsigned, Lower;
        /// JavaScript conversion: 1 FEAT_JSCVT.
        JSCVT: "jscvt", 12, 4, unsigned, Lower;
        /// Complex numbers: 1 FEAT_FCMA.
        FCMA: "fcma", 16, 4, unsigned, Lower;
        /// RCpc: 1 FEAT_LRCPC, 2 FEAT_LRCPC2.
        LRCPC: "lrcpc", 20, 4, unsigned, Lower;
        /// Generic authentication, QARMA5.
        GPA: "gpa", 24, 4, unsigned, Lower;
        /// Generic authentication, IMPLEMENTATION DEFINED algorithm.
        GPI: "gpi", 28, 4, unsigned, Lower;
        /// Speculation barrier: 1 FEAT_SB.
        SB: "sb", 36, 4, unsigned, Lower;
        /// Prediction restriction: 1 FEAT_SPECRES.
        SPECRES: "specres", 40, 4, unsigned, Lower;
    }
}

/// ID_AA64ISAR2_EL1 (D19.2.63).
pub mod id_aa64isar2 {
    use super::*;
    fields! { IdAa64Isar2;
        /// WFET/WFIT: 2 FEAT_WFxT.
        WFXT: "wfxt", 0, 4, unsigned, Lower;
        /// Generic authentication, QARMA3.
        GPA3: "gpa3", 8, 4, unsigned, Lower;
        /// Address authentication, QARMA3.
        APA3: "apa3", 12, 4, unsigned, Lower;
        /// Memory copy and set: 1 FEAT_MOPS.
        MOPS: "mops", 16, 4, unsigned, Lower;
        /// Clear branch history: 1 FEAT_CLRBHB.
        BC: "bc", 20, 4, unsigned, Lower;
    }
}

/// ID_AA64MMFR0_EL1 (D19.2.64).
pub mod id_aa64mmfr0 {
    use super::*;
    fields! { IdAa64Mmfr0;
        /// Physical address range.
        PARANGE: "parange", 0, 4, unsigned, Lower;
        /// 16-bit ASIDs: 2.
        ASIDBITS: "asidbits", 4, 4, unsigned, Lower;
        /// 16KB granule: 0 not supported, 1 supported.
        TGRAN16: "tgran16", 20, 4, unsigned, Lower;
        /// 64KB granule: 0 supported, 0xF not supported (signed).
        TGRAN64: "tgran64", 24, 4, signed, Lower;
        /// 4KB granule: 0 supported, 0xF not supported (signed).
        TGRAN4: "tgran4", 28, 4, signed, Lower;
        /// Fine-grained traps: 1 FEAT_FGT.
        FGT: "fgt", 56, 4, unsigned, Lower;
        /// Enhanced counter virtualization: 1 FEAT_ECV.
        ECV: "ecv", 60, 4, unsigned, Lower;
    }
}

/// ID_AA64MMFR1_EL1 (D19.2.65).
pub mod id_aa64mmfr1 {
    use super::*;
    fields! { IdAa64Mmfr1;
        /// Hardware access flag / dirty state: 1 AF, 2 AF and dirty (FEAT_HAFDBS).
        HAFDBS: "hafdbs", 0, 4, unsigned, Lower;
        /// VMID bits: 2 16-bit VMIDs.
        VMIDBITS: "vmidbits", 4, 4, unsigned, Lower;
        /// Virtualization host extensions: 1 FEAT_VHE.
        VH: "vh", 8, 4, unsigned, Lower;
        /// Privileged access never: 1 FEAT_PAN, 2 FEAT_PAN2, 3 FEAT_PAN3.
        PAN: "pan", 20, 4, unsigned, Lower;
        /// Enhanced translation synchronization: 1 FEAT_ETS.
        ETS: "ets", 36, 4, unsigned, Lower;
        /// Exploitative control using branch history information: 1 FEAT_ECBHB.
        ECBHB: "ecbhb", 60, 4, unsigned, Lower;
    }
}

/// ID_AA64MMFR2_EL1 (D19.2.66).
pub mod id_aa64mmfr2 {
    use super::*;
    fields! { IdAa64Mmfr2;
        /// Common not private translations: 1 FEAT_TTCNP.
        CNP: "cnp", 0, 4, unsigned, Lower;
        /// User access override: 1 FEAT_UAO.
        UAO: "uao", 4, 4, unsigned, Lower;
        /// Implicit error synchronization event: 1 FEAT_IESB.
        IESB: "iesb", 12, 4, unsigned, Lower;
        /// Virtual address range: 1 FEAT_LVA.
        VARANGE: "varange", 16, 4, unsigned, Lower;
        /// Unaligned single-copy atomicity: 1 FEAT_LSE2.
        AT: "at", 32, 4, unsigned, Lower;
        /// Stage 2 forced write-back: 1 FEAT_S2FWB.
        FWB: "fwb", 40, 4, unsigned, Lower;
        /// TTL hint in TLB maintenance: 1 FEAT_TTL.
        TTL: "ttl", 48, 4, unsigned, Lower;
        /// Break-before-make levels (FEAT_BBM).
        BBM: "bbm", 52, 4, unsigned, Lower;
        /// Enhanced virtualization traps: FEAT_EVT.
        EVT: "evt", 56, 4, unsigned, Lower;
        /// E0PDx in TCR_EL1: 1 FEAT_E0PD.
        E0PD: "e0pd", 60, 4, unsigned, Lower;
    }
}

/// ID_AA64ZFR0_EL1 (D19.2.70).
pub mod id_aa64zfr0 {
    use super::*;
    fields! { IdAa64Zfr0;
        /// SVE version: 1 FEAT_SVE2.
        SVEVER: "svever", 0, 4, unsigned, Lower;
    }
}

/// ID_AA64SMFR0_EL1 (D19.2.69).
pub mod id_aa64smfr0 {
    use super::*;
    fields! { IdAa64Smfr0;
        /// Full A64 instruction set in streaming SVE mode: 1 FEAT_SME_FA64.
        FA64: "fa64", 63, 1, unsigned, Lower;
    }
}

/// ID_AA64DFR0_EL1 (D19.2.59).
pub mod id_aa64dfr0 {
    use super::*;
    fields! { IdAa64Dfr0;
        /// Debug architecture version.
        DEBUGVER: "debugver", 0, 4, unsigned, Lower;
        /// PMU version (0xF: IMPLEMENTATION DEFINED, treated as signed like Linux).
        PMUVER: "pmuver", 8, 4, signed, Lower;
    }
}

/// CTR_EL0 (D19.2.34). Cache line sizes are log2 of words (4 bytes).
pub mod ctr_el0 {
    use super::*;
    fields! { CtrEl0;
        /// log2 of the smallest instruction cache line, in words.
        IMINLINE: "iminline", 0, 4, unsigned, Lower;
        /// L1 instruction cache policy: 0b10 VIPT, 0b11 PIPT; VIPT is safe on a mismatch.
        L1IP: "l1ip", 14, 2, unsigned, Exact(0b10);
        /// log2 of the smallest data cache line, in words.
        DMINLINE: "dminline", 16, 4, unsigned, Lower;
        /// Exclusives reservation granule.
        ERG: "erg", 20, 4, unsigned, Higher;
        /// Cache writeback granule.
        CWG: "cwg", 24, 4, unsigned, Higher;
        /// 1: data cache clean to PoU not required for instruction-to-data coherence.
        IDC: "idc", 28, 1, unsigned, Lower;
        /// 1: instruction cache invalidation to PoU not required for coherence.
        DIC: "dic", 29, 1, unsigned, Lower;
    }
}

/// Every declared field, in register order: the sanitiser walks this, and overrides look
/// names up in it.
pub const ALL: &[Field] = &[
    id_aa64pfr0::EL0,
    id_aa64pfr0::EL1,
    id_aa64pfr0::EL2,
    id_aa64pfr0::EL3,
    id_aa64pfr0::FP,
    id_aa64pfr0::ADVSIMD,
    id_aa64pfr0::GIC,
    id_aa64pfr0::RAS,
    id_aa64pfr0::SVE,
    id_aa64pfr0::SEL2,
    id_aa64pfr0::AMU,
    id_aa64pfr0::DIT,
    id_aa64pfr0::CSV2,
    id_aa64pfr0::CSV3,
    id_aa64pfr1::BT,
    id_aa64pfr1::SSBS,
    id_aa64pfr1::MTE,
    id_aa64pfr1::SME,
    id_aa64isar0::AES,
    id_aa64isar0::SHA1,
    id_aa64isar0::SHA2,
    id_aa64isar0::CRC32,
    id_aa64isar0::ATOMIC,
    id_aa64isar0::RDM,
    id_aa64isar0::DP,
    id_aa64isar0::TS,
    id_aa64isar0::TLB,
    id_aa64isar0::RNDR,
    id_aa64isar1::DPB,
    id_aa64isar1::APA,
    id_aa64isar1::API,
    id_aa64isar1::JSCVT,
    id_aa64isar1::FCMA,
    id_aa64isar1::LRCPC,
    id_aa64isar1::GPA,
    id_aa64isar1::GPI,
    id_aa64isar1::SB,
    id_aa64isar1::SPECRES,
    id_aa64isar2::WFXT,
    id_aa64isar2::GPA3,
    id_aa64isar2::APA3,
    id_aa64isar2::MOPS,
    id_aa64isar2::BC,
    id_aa64mmfr0::PARANGE,
    id_aa64mmfr0::ASIDBITS,
    id_aa64mmfr0::TGRAN16,
    id_aa64mmfr0::TGRAN64,
    id_aa64mmfr0::TGRAN4,
    id_aa64mmfr0::FGT,
    id_aa64mmfr0::ECV,
    id_aa64mmfr1::HAFDBS,
    id_aa64mmfr1::VMIDBITS,
    id_aa64mmfr1::VH,
    id_aa64mmfr1::PAN,
    id_aa64mmfr1::ETS,
    id_aa64mmfr2::CNP,
    id_aa64mmfr2::UAO,
    id_aa64mmfr2::IESB,
    id_aa64mmfr2::VARANGE,
    id_aa64mmfr2::AT,
    id_aa64mmfr2::FWB,
    id_aa64mmfr2::TTL,
    id_aa64mmfr2::BBM,
    id_aa64mmfr2::EVT,
    id_aa64mmfr2::E0PD,
    id_aa64zfr0::SVEVER,
    id_aa64smfr0::FA64,
    id_aa64dfr0::DEBUGVER,
    id_aa64dfr0::PMUVER,
    ctr_el0::IMINLINE,
    ctr_el0::L1IP,
    ctr_el0::DMINLINE,
    ctr_el0::ERG,
    ctr_el0::CWG,
    ctr_el0::IDC,
    ctr_el0::DIC,
];

/// The declared field `reg.field` (`"id_aa64isar0"`, `"atomic"`), if there is one.
pub fn lookup(reg: &str, field: &str) -> Option<&'static Field> {
    ALL.iter().find(|f| f.reg.name() == reg && f.name == field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_field_all_ones_reads_as_not_implemented() {
        // ID_AA64PFR0.FP = 0xF: no floating point (D19.2.67).
        let pfr0 = 0xFu64 << 16;
        assert_eq!(id_aa64pfr0::FP.extract(pfr0), -1);
        assert_eq!(id_aa64pfr0::FP.extract(1 << 16), 1);
        // The same bits in an unsigned field read 15.
        assert_eq!(id_aa64pfr0::GIC.extract(0xF << 24), 15);
    }

    #[test]
    fn lower_safe_picks_the_minimum_signed_aware() {
        assert_eq!(id_aa64isar0::ATOMIC.combine(2, 0), 0);
        // FP: -1 (absent) against 1 (FP16): absent wins.
        assert_eq!(id_aa64pfr0::FP.combine(1, -1), -1);
    }

    #[test]
    fn higher_safe_picks_the_maximum() {
        assert_eq!(ctr_el0::CWG.combine(4, 2), 4);
        assert_eq!(ctr_el0::ERG.combine(0, 3), 3);
    }

    #[test]
    fn exact_mismatch_gives_the_safe_value() {
        assert_eq!(ctr_el0::L1IP.combine(0b11, 0b11), 0b11);
        assert_eq!(ctr_el0::L1IP.combine(0b11, 0b01), 0b10);
    }

    #[test]
    fn insert_replaces_only_the_field() {
        let v = 0xFFFF_FFFF_FFFF_FFFFu64;
        assert_eq!(id_aa64isar0::ATOMIC.insert(v, 0), !(0xFu64 << 20));
        // A negative value truncates to the field width.
        assert_eq!(id_aa64pfr0::FP.insert(0, -1), 0xF << 16);
        assert_eq!(id_aa64smfr0::FA64.insert(0, 1), 1 << 63);
        assert_eq!(id_aa64smfr0::FA64.extract(1 << 63), 1);
    }

    #[test]
    fn fields_do_not_overlap_within_a_register() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                if a.reg == b.reg {
                    assert_eq!(a.mask() & b.mask(), 0, "{} and {} overlap", a.name, b.name);
                    assert_ne!(a.name, b.name);
                }
            }
        }
    }

    #[test]
    fn lookup_finds_fields_by_command_line_names() {
        assert_eq!(lookup("id_aa64isar0", "atomic"), Some(&id_aa64isar0::ATOMIC));
        assert_eq!(lookup("id_aa64isar0", "nonsense"), None);
        assert_eq!(lookup("id_aa64isar9", "atomic"), None);
    }
}
