//! The mini kernel's own capability list (not Linux's), and how each CPU detects it from its
//! ID registers.
//!
//! The list's order is its identity: every alternatives entry is stamped with the fingerprint
//! of [`MiniCaps::LIST`], so an object built against any other list (Linux's among them) is
//! refused at boot before a byte is written.

use aarch64_cpu::registers::{ID_AA64ISAR0_EL1, ID_AA64ISAR1_EL1, Readable};
use altpatch_aarch64::{CapList, CapabilityList, cap_index};
use tock_registers::{LocalRegisterCopy, register_bitfields};

/// The mini kernel's capability list.
pub struct MiniCaps;

impl CapabilityList for MiniCaps {
    const LIST: CapList =
        CapList::new("mini-kernel v1", &["ALWAYS_BOOT", "ALWAYS_SYSTEM", "HAS_LSE", "HAS_CRC32", "HAS_SB"]);
}

/// When a capability's alternatives are applied.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scope {
    /// In the boot pass, from the boot CPU's registers alone; every later CPU must have it.
    Boot,
    /// In the system pass, when every online CPU has it.
    System,
}

/// One row of the list: its index, scope, report text and detection rule.
pub struct Cap {
    /// Index in [`MiniCaps::LIST`].
    pub index: u16,
    /// Which pass applies its entries.
    pub scope: Scope,
    /// The `CPU features: detected: ...` text; `None` for capabilities not reported.
    pub description: Option<&'static str>,
    /// Whether a CPU with these ID registers has it.
    pub detect: fn(&IdRegs) -> bool,
}

/// The rows, in list order (each `index` comes from the list by name).
pub const CAPS: [Cap; 5] = [
    Cap { index: cap_index!(MiniCaps, ALWAYS_BOOT), scope: Scope::Boot, description: None, detect: |_| true },
    Cap {
        index: cap_index!(MiniCaps, ALWAYS_SYSTEM),
        scope: Scope::System,
        description: None,
        detect: |_| true,
    },
    Cap {
        index: cap_index!(MiniCaps, HAS_LSE),
        scope: Scope::System,
        description: Some("LSE atomic instructions"),
        // FEAT_LSE: ID_AA64ISAR0_EL1.Atomic >= 0b0010.
        detect: |r| r.isar0.read(ISAR0::Atomic) >= 2,
    },
    Cap {
        index: cap_index!(MiniCaps, HAS_CRC32),
        scope: Scope::System,
        description: Some("CRC32 instructions"),
        // FEAT_CRC32: ID_AA64ISAR0_EL1.CRC32 >= 0b0001.
        detect: |r| r.isar0.read(ISAR0::CRC32) >= 1,
    },
    Cap {
        index: cap_index!(MiniCaps, HAS_SB),
        scope: Scope::System,
        description: Some("Speculation barrier (SB)"),
        // FEAT_SB: ID_AA64ISAR1_EL1.SB >= 0b0001.
        detect: |r| r.isar1.read(ISAR1::SB) >= 1,
    },
];

register_bitfields! {u64,
    /// The ID_AA64ISAR0_EL1 fields the list reads (Arm ARM D19.2.61).
    pub ISAR0 [
        /// FEAT_LSE (0b0010) and FEAT_LSE128 (0b0011).
        Atomic OFFSET(20) NUMBITS(4) [],
        /// FEAT_CRC32.
        CRC32 OFFSET(16) NUMBITS(4) []
    ],
    /// The ID_AA64ISAR1_EL1 fields the list reads (Arm ARM D19.2.62).
    pub ISAR1 [
        /// FEAT_SB.
        SB OFFSET(36) NUMBITS(4) []
    ],
    /// CTR_EL0 (Arm ARM D19.2.34): the cache geometry the D-line callback encodes.
    pub CTR [
        /// Log2 of the number of words in the smallest I-cache line.
        IminLine OFFSET(0) NUMBITS(4) [],
        /// Log2 of the number of words in the smallest D-cache line.
        DminLine OFFSET(16) NUMBITS(4) [],
        /// No D-cache clean needed for instruction-to-data coherence.
        IDC OFFSET(28) NUMBITS(1) [],
        /// No I-cache invalidation needed for instruction-to-data coherence.
        DIC OFFSET(29) NUMBITS(1) []
    ]
}

/// A CPU's ID registers, as the detection rules read them.
#[derive(Clone, Copy)]
pub struct IdRegs {
    /// ID_AA64ISAR0_EL1.
    pub isar0: LocalRegisterCopy<u64, ISAR0::Register>,
    /// ID_AA64ISAR1_EL1.
    pub isar1: LocalRegisterCopy<u64, ISAR1::Register>,
}

impl IdRegs {
    /// This CPU's registers.
    pub fn read() -> IdRegs {
        IdRegs {
            isar0: LocalRegisterCopy::new(ID_AA64ISAR0_EL1.get()),
            isar1: LocalRegisterCopy::new(ID_AA64ISAR1_EL1.get()),
        }
    }

    /// The capabilities a CPU with these registers has, as a mask of list indices.
    pub fn caps(&self) -> CapMask {
        CapMask(CAPS.iter().filter(|cap| (cap.detect)(self)).fold(0, |mask, cap| mask | 1 << cap.index))
    }
}

/// A set of capabilities of [`MiniCaps`], one bit per index.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CapMask(pub u64);

impl CapMask {
    /// Whether capability `index` is in the set.
    pub fn has(self, index: u16) -> bool {
        index < 64 && self.0 & (1 << index) != 0
    }

    /// The capabilities of `self` that `scope` applies.
    pub fn in_scope(self, scope: Scope) -> CapMask {
        CapMask(
            CAPS.iter()
                .filter(|cap| cap.scope == scope && self.has(cap.index))
                .fold(0, |m, c| m | 1 << c.index),
        )
    }

    /// The capabilities in both sets.
    pub fn and(self, other: CapMask) -> CapMask {
        CapMask(self.0 & other.0)
    }

    /// The capabilities of `self` missing from `other`.
    pub fn minus(self, other: CapMask) -> CapMask {
        CapMask(self.0 & !other.0)
    }

    /// The identifiers of the set, in list order.
    pub fn idents(self) -> impl Iterator<Item = &'static str> {
        MiniCaps::LIST.idents.iter().enumerate().filter(move |(i, _)| self.has(*i as u16)).map(|(_, id)| *id)
    }
}

/// This CPU's CTR_EL0 (aarch64-cpu has no register type for it).
pub fn read_ctr_el0() -> u64 {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effect.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    ctr
}

/// The CTR_EL0 that holds for every CPU of `ctrs`: the smallest line sizes, and IDC/DIC only
/// where all have them (Linux's sanitisation of CTR_EL0).
pub fn sanitise_ctr(ctrs: impl Iterator<Item = u64>) -> u64 {
    let mut safe: Option<LocalRegisterCopy<u64, CTR::Register>> = None;
    for ctr in ctrs.map(LocalRegisterCopy::<u64, CTR::Register>::new) {
        safe = Some(match safe {
            None => ctr,
            Some(mut s) => {
                let imin = s.read(CTR::IminLine).min(ctr.read(CTR::IminLine));
                let dmin = s.read(CTR::DminLine).min(ctr.read(CTR::DminLine));
                let idc = s.read(CTR::IDC) & ctr.read(CTR::IDC);
                let dic = s.read(CTR::DIC) & ctr.read(CTR::DIC);
                s.modify(
                    CTR::IminLine.val(imin) + CTR::DminLine.val(dmin) + CTR::IDC.val(idc) + CTR::DIC.val(dic),
                );
                s
            }
        });
    }
    safe.map_or(0, |s| s.get())
}

/// The smallest D-cache line of `ctr_el0`, in bytes.
pub fn dline_bytes(ctr_el0: u64) -> u64 {
    4 << LocalRegisterCopy::<u64, CTR::Register>::new(ctr_el0).read(CTR::DminLine)
}
