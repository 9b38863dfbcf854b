//! The one ordered capability list, and detection.
//!
//! `cap_list!` below is the only place capability numbers come from: each row gives the
//! identifier (Linux arm64's cpucap name without `ARM64_`), the description Linux prints
//! after `CPU features: detected: `, the scope and the detection rule. The index
//! ([`Cap::index`]), [`NCAPS`], the name and description tables and [`FINGERPRINT`] are all
//! derived from it at compile time; assembly takes the numbers through `const` operands.
//!
//! Detection follows Linux's `cpufeature.c`: every CPU's ID registers are snapshotted
//! ([`IdRegs`]); each declared field ([`fields`]) is sanitised across CPUs by its policy;
//! boot-CPU caps are decided from the boot CPU alone before secondaries start, system caps
//! from the sanitised values once all CPUs are in, local-CPU caps (errata, vulnerabilities)
//! when any CPU needs them. A CPU arriving after that is checked by
//! [`SystemCaps::check_late_cpu`].

pub mod errata;
pub mod fields;
pub mod history;
pub mod models;
pub mod overrides;
mod rules;

use altpatch_core::fingerprint::{self, CapList, CapabilityList};
pub use rules::Rule;

/// When a capability is decided, and what a disagreement between CPUs means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Decided from the boot CPU before secondaries start, and patched early. A later CPU
    /// without it is refused.
    BootCpu,
    /// True if any CPU needs it (errata, vulnerabilities): a per-CPU property.
    LocalCpu,
    /// True only if every CPU has it, judged on the sanitised register values.
    System,
}

/// One row of the capability list.
#[derive(Clone, Copy, Debug)]
pub struct CapRow {
    /// Linux's cpucap name without `ARM64_`.
    pub ident: &'static str,
    /// What Linux prints after `CPU features: detected: `.
    pub description: &'static str,
    /// When it is decided.
    pub scope: Scope,
    /// How it is detected.
    pub rule: Rule,
}

/// Declares the capability list. Each row: `IDENT, "description", Scope, rule;`.
macro_rules! cap_list {
    ($($ident:ident, $desc:literal, $scope:ident, $rule:expr;)*) => {
        /// Row numbers, counted by the compiler.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[repr(u16)]
        enum Row { $($ident,)* __Count }

        #[allow(non_upper_case_globals)]
        impl Cap {
            $(
                #[doc = concat!("`ARM64_", stringify!($ident), "`: ", $desc, ".")]
                pub const $ident: Cap = Cap(Row::$ident as u16);
            )*
        }

        /// The number of capabilities.
        pub const NCAPS: u16 = Row::__Count as u16;

        /// The identifiers in index order.
        pub const IDENTS: [&str; NCAPS as usize] = [$(stringify!($ident),)*];

        /// The descriptions in index order.
        pub const DESCRIPTIONS: [&str; NCAPS as usize] = [$($desc,)*];

        /// The rows in index order.
        pub const ROWS: [CapRow; NCAPS as usize] = [$(CapRow {
            ident: stringify!($ident),
            description: $desc,
            scope: Scope::$scope,
            rule: $rule,
        },)*];
    };
}

use fields::{
    id_aa64isar0 as isar0, id_aa64isar1 as isar1, id_aa64isar2 as isar2, id_aa64mmfr0 as mmfr0,
    id_aa64mmfr1 as mmfr1, id_aa64mmfr2 as mmfr2, id_aa64pfr0 as pfr0, id_aa64pfr1 as pfr1,
};
use rules::Rule::{
    Always, CacheDic, CacheIdc, Field, GicCpuIf, Midr, RunsAtEl2, SpectreBhb, SpectreV2, SpectreV4,
};

// Features (Linux 6.1 arch/arm64/kernel/cpufeature.c `arm64_features`), then errata
// (cpu_errata.c `arm64_errata`), then vulnerabilities (proton-pack.c). Minimum values are
// the Arm ARM's encodings of each feature (see `fields`).
cap_list! {
    // Pseudo-capabilities, always true (Linux 6.3+'s ARM64_ALWAYS_BOOT/ALWAYS_SYSTEM): for
    // callbacks that must always run and for the sites that trap unless patched. No
    // description: never reported as detected.
    ALWAYS_BOOT, "", BootCpu, Always;
    ALWAYS_SYSTEM, "", System, Always;
    HAS_SYSREG_GIC_CPUIF, "GIC system register CPU interface", BootCpu, GicCpuIf;
    HAS_ECV, "Enhanced Counter Virtualization", System, Field(&mmfr0::ECV, 1);
    HAS_PAN, "Privileged Access Never", System, Field(&mmfr1::PAN, 1);
    // A weak local feature in Linux: on if any CPU has it (a CPU without it still works).
    HW_DBM, "Hardware dirty bit management", LocalCpu, Field(&mmfr1::HAFDBS, 2);
    HAS_EPAN, "Enhanced Privileged Access Never", System, Field(&mmfr1::PAN, 3);
    HAS_LSE_ATOMICS, "LSE atomic instructions", System, Field(&isar0::ATOMIC, 2);
    // Linux's ARM64_CPUCAP_STRICT_BOOT_CPU_FEATURE with `matches = runs_at_el2`
    // (is_kernel_in_hyp_mode()): the kernel itself runs at EL2 with HCR_EL2.E2H, which it
    // only does where ID_AA64MMFR1_EL1.VH says FEAT_VHE is there and no override (VH=0,
    // `kvm-arm.mode=nvhe`) lowers it. A secondary that runs at EL1 conflicts.
    HAS_VIRT_HOST_EXTN, "Virtualization Host Extensions", BootCpu, RunsAtEl2(&mmfr1::VH);
    HAS_32BIT_EL0_DO_NOT_USE, "32-bit EL0 Support", System, Field(&pfr0::EL0, 2);
    HAS_32BIT_EL1, "32-bit EL1 Support", System, Field(&pfr0::EL1, 2);
    HAS_DCPOP, "Data cache clean to Point of Persistence", System, Field(&isar1::DPB, 1);
    HAS_DCPODP, "Data cache clean to Point of Deep Persistence", System, Field(&isar1::DPB, 2);
    SVE, "Scalable Vector Extension", System, Field(&pfr0::SVE, 1);
    HAS_RAS_EXTN, "RAS Extension Support", System, Field(&pfr0::RAS, 1);
    HAS_CACHE_IDC, "Data cache clean to the PoU not required for I/D coherence", System, CacheIdc;
    HAS_CACHE_DIC, "Instruction cache invalidation not required for I/D coherence", System, CacheDic;
    HAS_STAGE2_FWB, "Stage-2 Force Write-Back", System, Field(&mmfr2::FWB, 1);
    HAS_ARMv8_4_TTL, "ARMv8.4 Translation Table Level", System, Field(&mmfr2::TTL, 1);
    HAS_TLB_RANGE, "TLB range maintenance instructions", System, Field(&isar0::TLB, 2);
    HAS_CRC32, "CRC32 instructions", System, Field(&isar0::CRC32, 1);
    SSBS, "Speculative Store Bypassing Safe (SSBS)", System, Field(&pfr1::SSBS, 1);
    HAS_CNP, "Common not Private translations", System, Field(&mmfr2::CNP, 1);
    HAS_SB, "Speculation barrier (SB)", System, Field(&isar1::SB, 1);
    HAS_ADDRESS_AUTH_ARCH_QARMA5, "Address authentication (architected QARMA5 algorithm)", BootCpu, Field(&isar1::APA, 1);
    HAS_ADDRESS_AUTH_ARCH_QARMA3, "Address authentication (architected QARMA3 algorithm)", BootCpu, Field(&isar2::APA3, 1);
    HAS_ADDRESS_AUTH_IMP_DEF, "Address authentication (IMP DEF algorithm)", BootCpu, Field(&isar1::API, 1);
    HAS_GENERIC_AUTH_ARCH_QARMA5, "Generic authentication (architected QARMA5 algorithm)", System, Field(&isar1::GPA, 1);
    HAS_GENERIC_AUTH_ARCH_QARMA3, "Generic authentication (architected QARMA3 algorithm)", System, Field(&isar2::GPA3, 1);
    HAS_GENERIC_AUTH_IMP_DEF, "Generic authentication (IMP DEF algorithm)", System, Field(&isar1::GPI, 1);
    HAS_E0PD, "E0PD", System, Field(&mmfr2::E0PD, 1);
    HAS_RNG, "Random Number Generator", System, Field(&isar0::RNDR, 1);
    BTI, "Branch Target Identification", BootCpu, Field(&pfr1::BT, 1);
    MTE, "Memory Tagging Extension", BootCpu, Field(&pfr1::MTE, 2);
    MTE_ASYMM, "Asymmetric MTE Tag Check Fault", BootCpu, Field(&pfr1::MTE, 3);
    HAS_LDAPR, "RCpc load-acquire (LDAPR)", System, Field(&isar1::LRCPC, 1);
    HAS_WFXT, "WFx with timeout", System, Field(&isar2::WFXT, 2);
    WORKAROUND_CLEAN_CACHE, "ARM errata 826319, 827319, 824069, or 819472", LocalCpu, Midr(rules::CLEAN_CACHE);
    WORKAROUND_DEVICE_LOAD_ACQUIRE, "ARM erratum 832075", LocalCpu, Midr(rules::ERRATUM_832075);
    WORKAROUND_834220, "ARM erratum 834220", LocalCpu, Midr(rules::ERRATUM_834220);
    WORKAROUND_843419, "ARM erratum 843419", LocalCpu, Midr(rules::ERRATUM_843419);
    WORKAROUND_845719, "ARM erratum 845719", LocalCpu, Midr(rules::ERRATUM_845719);
    WORKAROUND_SPECULATIVE_AT, "ARM errata 1165522, 1319367, or 1530923", LocalCpu, Midr(rules::SPECULATIVE_AT);
    WORKAROUND_1418040, "ARM erratum 1418040", LocalCpu, Midr(rules::ERRATUM_1418040);
    WORKAROUND_1463225, "ARM erratum 1463225", LocalCpu, Midr(rules::ERRATUM_1463225);
    WORKAROUND_REPEAT_TLBI, "Broken broadcast TLBI completion", LocalCpu, Midr(rules::REPEAT_TLBI);
    WORKAROUND_SPECULATIVE_SSBS, "SSBS not fully self-synchronizing", LocalCpu, Midr(rules::SPECULATIVE_SSBS);
    WORKAROUND_1542419, "ARM erratum 1542419 (kernel portion)", LocalCpu, rules::Rule::Neoverse1542419;
    WORKAROUND_1742098, "ARM erratum 1742098", LocalCpu, Midr(rules::ERRATUM_1742098);
    WORKAROUND_858921, "ARM erratum 858921", LocalCpu, Midr(rules::ERRATUM_858921);
    SPECTRE_V2, "Spectre-v2", LocalCpu, SpectreV2;
    SPECTRE_V3A, "Spectre-v3a", LocalCpu, Midr(rules::SPECTRE_V3A);
    SPECTRE_V4, "Spectre-v4", LocalCpu, SpectreV4;
    SPECTRE_BHB, "Spectre-BHB", LocalCpu, SpectreBhb;
}

/// The fingerprint of this list ([`fingerprint::of_list`] of [`IDENTS`]).
pub const FINGERPRINT: u32 = fingerprint::of_list(&IDENTS);

/// This list as the validator and `altcheck` see it.
pub const LIST: CapList = CapList { label: "current", fingerprint: FINGERPRINT, idents: &IDENTS };

/// Linux arm64's list as a type: what the alternatives macros and the apply engine are
/// parameterised by (`altpatch_aarch64::alternative!(list: Arm64, ...)`).
pub struct Arm64;

impl CapabilityList for Arm64 {
    const LIST: CapList = LIST;
    const HISTORY: &'static [CapList] = history::LISTS;
}

/// A capability: an index into the list. Bit 15 of an alternatives entry's `cap` field is
/// the callback flag (the README), so indices stay below `0x8000`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub struct Cap(u16);

const _: () = assert!(NCAPS < 0x8000, "bit 15 of an entry's cap field is the callback flag");

impl Cap {
    /// The capability at `index`, if it is in range.
    pub const fn from_index(index: u16) -> Option<Cap> {
        if index < NCAPS { Some(Cap(index)) } else { None }
    }

    /// The capability named `ident`.
    pub fn from_ident(ident: &str) -> Option<Cap> {
        IDENTS.iter().position(|&i| i == ident).map(|i| Cap(i as u16))
    }

    /// The index: what an alternatives entry carries in bits 0-14 of its cap field.
    pub const fn index(self) -> u16 {
        self.0
    }

    /// The identifier (`HAS_LSE_ATOMICS`).
    pub fn ident(self) -> &'static str {
        IDENTS[usize::from(self.0)]
    }

    /// Whether boot logs report it (`CPU features: detected`, `altpatch: caps`): every row
    /// but the always-true pseudo-capabilities.
    pub fn reported(self) -> bool {
        !self.description().is_empty()
    }

    /// What Linux prints after `CPU features: detected: ` (empty for the always-true
    /// pseudo-capabilities, which are never reported).
    pub fn description(self) -> &'static str {
        DESCRIPTIONS[usize::from(self.0)]
    }

    /// The row this capability was declared by.
    pub fn row(self) -> &'static CapRow {
        &ROWS[usize::from(self.0)]
    }

    /// Every capability in index order.
    pub fn all() -> impl Iterator<Item = Cap> {
        (0..NCAPS).map(Cap)
    }
}

impl core::fmt::Display for Cap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.ident())
    }
}

const WORDS: usize = (NCAPS as usize).div_ceil(64);

/// A set of capabilities: a fixed-size bitmap over [`NCAPS`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CapSet([u64; WORDS]);

impl CapSet {
    /// The empty set.
    pub const fn new() -> CapSet {
        CapSet([0; WORDS])
    }

    /// Whether `cap` is in the set.
    pub const fn contains(&self, cap: Cap) -> bool {
        self.0[cap.0 as usize / 64] & (1 << (cap.0 % 64)) != 0
    }

    /// Adds `cap`.
    pub fn insert(&mut self, cap: Cap) {
        self.0[usize::from(cap.0) / 64] |= 1 << (cap.0 % 64);
    }

    /// Removes `cap`.
    pub fn remove(&mut self, cap: Cap) {
        self.0[usize::from(cap.0) / 64] &= !(1 << (cap.0 % 64));
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The number of capabilities in the set.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The members in index order.
    pub fn iter(&self) -> impl Iterator<Item = Cap> + '_ {
        Cap::all().filter(move |&c| self.contains(c))
    }

    /// The members of `self` that are not in `other`.
    pub fn difference(&self, other: &CapSet) -> CapSet {
        let mut out = *self;
        for (w, o) in out.0.iter_mut().zip(other.0) {
            *w &= !o;
        }
        out
    }
}

impl FromIterator<Cap> for CapSet {
    fn from_iter<I: IntoIterator<Item = Cap>>(iter: I) -> CapSet {
        let mut set = CapSet::new();
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

/// One CPU's ID registers, as read by `mrs` (the kernel reads each from the named system
/// register).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdRegs {
    /// MIDR_EL1.
    pub midr: u64,
    /// REVIDR_EL1.
    pub revidr: u64,
    /// MPIDR_EL1.
    pub mpidr: u64,
    /// ID_AA64PFR0_EL1.
    pub id_aa64pfr0: u64,
    /// ID_AA64PFR1_EL1.
    pub id_aa64pfr1: u64,
    /// ID_AA64ISAR0_EL1.
    pub id_aa64isar0: u64,
    /// ID_AA64ISAR1_EL1.
    pub id_aa64isar1: u64,
    /// ID_AA64ISAR2_EL1 (`S3_0_C0_C6_2` for assemblers that predate it).
    pub id_aa64isar2: u64,
    /// ID_AA64MMFR0_EL1.
    pub id_aa64mmfr0: u64,
    /// ID_AA64MMFR1_EL1.
    pub id_aa64mmfr1: u64,
    /// ID_AA64MMFR2_EL1.
    pub id_aa64mmfr2: u64,
    /// ID_AA64ZFR0_EL1 (`S3_0_C0_C4_4`); read as 0 when SVE is absent.
    pub id_aa64zfr0: u64,
    /// ID_AA64SMFR0_EL1 (`S3_0_C0_C4_5`); read as 0 when SME is absent.
    pub id_aa64smfr0: u64,
    /// ID_AA64DFR0_EL1.
    pub id_aa64dfr0: u64,
    /// CTR_EL0, raw.
    pub ctr_el0: u64,
    /// CLIDR_EL1: needed because LoC = 0 or LoUU = LoUIS = 0 makes CTR_EL0.IDC effectively
    /// set ([`effective_ctr`]).
    pub clidr: u64,
    /// CurrentEL, raw (the exception level in bits 3:2, Arm ARM C5.2.1): the level the CPU
    /// runs the kernel at once its EL2 setup is done, which `HAS_VIRT_HOST_EXTN` is decided
    /// on (Linux's `is_kernel_in_hyp_mode()`). 0 in fixtures that do not say.
    pub current_el: u64,
}

impl IdRegs {
    /// The exception level the snapshot was taken at (CurrentEL.EL).
    pub const fn exception_level(&self) -> u64 {
        (self.current_el >> 2) & 0b11
    }

    /// The registers every CPU of a model reads alike, by their Arm ARM names (as QEMU's
    /// gdbstub names them too): MPIDR (one per CPU) and CurrentEL (the boot path's) left out.
    pub const fn by_name(&self) -> [(&'static str, u64); 15] {
        [
            ("MIDR_EL1", self.midr),
            ("REVIDR_EL1", self.revidr),
            ("ID_AA64PFR0_EL1", self.id_aa64pfr0),
            ("ID_AA64PFR1_EL1", self.id_aa64pfr1),
            ("ID_AA64ISAR0_EL1", self.id_aa64isar0),
            ("ID_AA64ISAR1_EL1", self.id_aa64isar1),
            ("ID_AA64ISAR2_EL1", self.id_aa64isar2),
            ("ID_AA64MMFR0_EL1", self.id_aa64mmfr0),
            ("ID_AA64MMFR1_EL1", self.id_aa64mmfr1),
            ("ID_AA64MMFR2_EL1", self.id_aa64mmfr2),
            ("ID_AA64ZFR0_EL1", self.id_aa64zfr0),
            ("ID_AA64SMFR0_EL1", self.id_aa64smfr0),
            ("ID_AA64DFR0_EL1", self.id_aa64dfr0),
            ("CTR_EL0", self.ctr_el0),
            ("CLIDR_EL1", self.clidr),
        ]
    }
}

/// Things a rule needs that are not in ID registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Platform {
    /// A GICv3 distributor is present and the CPU's ICC system-register interface is
    /// usable (ICC_SRE_EL1.SRE sticks). Without it, ID_AA64PFR0.GIC alone does not make
    /// `HAS_SYSREG_GIC_CPUIF`, as in Linux's `has_useable_gicv3_cpuif`.
    pub gicv3: bool,
    /// Firmware implements SMCCC 1.1 `ARCH_WORKAROUND_1/2` and reports this system as not
    /// affected. False on QEMU `virt` without EL3 firmware: PSCI is QEMU's own and has no
    /// SMCCC_VERSION, so (as Linux 6.1 does) vulnerable CPUs are taken as affected.
    pub firmware_reports_unaffected: bool,
}

/// CTR_EL0 as software should see it: IDC set when CLIDR_EL1 shows no cache needs cleaning
/// to the PoU (LoC = 0, or LoUU = LoUIS = 0), as Linux's `read_cpuid_effective_cachetype`.
pub fn effective_ctr(regs: &IdRegs) -> u64 {
    use aarch64_cpu::registers::CLIDR_EL1;
    use altpatch_core::plan::CTR_EL0;
    use tock_registers::LocalRegisterCopy;
    let clidr = LocalRegisterCopy::<u64, CLIDR_EL1::Register>::new(regs.clidr);
    let no_clean_needed = clidr.read(CLIDR_EL1::LoC) == 0
        || (clidr.read(CLIDR_EL1::LoUU) == 0 && clidr.read(CLIDR_EL1::LoUIS) == 0);
    let mut ctr = LocalRegisterCopy::<u64, CTR_EL0::Register>::new(regs.ctr_el0);
    if no_clean_needed {
        ctr.modify(CTR_EL0::IDC::SET);
    }
    ctr.get()
}

/// System-wide detection while CPUs come up: built from the boot CPU, each secondary added,
/// then finalised.
#[derive(Clone, Debug)]
pub struct CpuFeatures {
    boot: IdRegs,
    sanitised: IdRegs,
    local: CapSet,
    platform: Platform,
}

impl CpuFeatures {
    /// Starts from the boot CPU's registers.
    pub fn new(boot: &IdRegs, platform: &Platform) -> CpuFeatures {
        // Only declared fields are sanitised; undeclared bits of sanitised registers read 0
        // (as Linux treats bits no arm64_ftr_bits entry covers).
        let cpu = with_effective_ctr(boot);
        let mut regs = *boot;
        for reg in fields::Reg::ALL {
            *reg.slot(&mut regs) = 0;
        }
        for f in fields::ALL {
            f.set(&mut regs, f.get(&cpu));
        }
        let mut features =
            CpuFeatures { boot: *boot, sanitised: regs, local: CapSet::new(), platform: *platform };
        features.local = features.local_caps_of(boot);
        features
    }

    fn local_caps_of(&self, regs: &IdRegs) -> CapSet {
        Cap::all()
            .filter(|c| c.row().scope == Scope::LocalCpu)
            .filter(|c| c.row().rule.matches_cpu(regs, &self.platform))
            .collect()
    }

    /// The boot-CPU-scope capabilities, decided from the boot CPU alone: what is patched
    /// before secondaries start.
    pub fn boot_cpu_caps(&self) -> CapSet {
        Cap::all()
            .filter(|c| c.row().scope == Scope::BootCpu)
            .filter(|c| c.row().rule.matches_cpu(&self.boot, &self.platform))
            .collect()
    }

    /// The boot-CPU capabilities ([`CpuFeatures::boot_cpu_caps`]) that a secondary with
    /// `regs` lacks: it would run code patched for them. None for a CPU with the boot CPU's
    /// features, which is not asked rule by rule (those caps were decided on the same
    /// registers and platform).
    pub fn boot_caps_lacking(&self, regs: &IdRegs) -> CapSet {
        if regs.same_features(&self.boot) {
            return CapSet::new();
        }
        self.boot_cpu_caps().iter().filter(|c| !c.row().rule.matches_cpu(regs, &self.platform)).collect()
    }

    /// Sanitises a secondary CPU's registers in, and notes the errata it needs.
    pub fn add_cpu(&mut self, regs: &IdRegs) {
        // A CPU whose registers are the boot CPU's changes nothing: every policy gives back
        // the value folded so far when combined with a value already folded in (the lower
        // or higher of the two, or the agreed value, or the safe one once they disagreed),
        // and its local capabilities are the boot CPU's, already noted. The common case on
        // a homogeneous machine, and some eighty fields a CPU otherwise.
        if regs.same_features(&self.boot) {
            return;
        }
        let cpu = with_effective_ctr(regs);
        for f in fields::ALL {
            let v = f.combine(f.get(&self.sanitised), f.get(&cpu));
            f.set(&mut self.sanitised, v);
        }
        let local = self.local_caps_of(regs);
        for c in local.iter() {
            self.local.insert(c);
        }
    }

    /// The final system capabilities.
    pub fn finalise(&self) -> SystemCaps {
        let mut caps = self.boot_cpu_caps();
        for c in self.local.iter() {
            caps.insert(c);
        }
        for c in Cap::all().filter(|c| c.row().scope == Scope::System) {
            if c.row().rule.matches_cpu(&self.sanitised, &self.platform) {
                caps.insert(c);
            }
        }
        SystemCaps { caps, sanitised: self.sanitised, platform: self.platform }
    }
}

impl IdRegs {
    /// Whether `other` describes the same CPU features: every register but MPIDR_EL1 (which
    /// names the CPU, and which no field and no capability rule reads) is equal.
    pub fn same_features(&self, other: &IdRegs) -> bool {
        IdRegs { mpidr: other.mpidr, ..*self } == *other
    }
}

fn with_effective_ctr(regs: &IdRegs) -> IdRegs {
    IdRegs { ctr_el0: effective_ctr(regs), ..*regs }
}

/// The final system capabilities and the sanitised register values they were decided on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemCaps {
    caps: CapSet,
    sanitised: IdRegs,
    platform: Platform,
}

impl SystemCaps {
    /// Whether the system has `cap`.
    pub fn has(&self, cap: Cap) -> bool {
        self.caps.contains(cap)
    }

    /// Every system capability.
    pub fn caps(&self) -> &CapSet {
        &self.caps
    }

    /// The sanitised ID registers: each declared field is the system-wide safe value;
    /// undeclared bits read 0; MIDR, REVIDR, MPIDR and CLIDR are the boot CPU's; CTR_EL0 is
    /// the effective value ([`effective_ctr`]).
    pub fn sanitised(&self) -> &IdRegs {
        &self.sanitised
    }

    /// The sanitised CTR_EL0: cache line sizes and IDC/DIC for the patch engine.
    pub fn ctr_el0(&self) -> u64 {
        self.sanitised.ctr_el0
    }

    /// The smallest data cache line, in bytes (CTR_EL0.DminLine is log2 of 4-byte words).
    pub fn dcache_line_size(&self) -> usize {
        4 << fields::ctr_el0::DMINLINE.get(&self.sanitised)
    }

    /// The smallest instruction cache line, in bytes.
    pub fn icache_line_size(&self) -> usize {
        4 << fields::ctr_el0::IMINLINE.get(&self.sanitised)
    }

    /// Checks a CPU that comes online after the capabilities are final: it is refused if it
    /// lacks a boot-CPU or system capability the system has, or needs an erratum or
    /// vulnerability workaround that was not enabled.
    pub fn check_late_cpu(&self, regs: &IdRegs) -> Result<(), LateCpuRefusal> {
        let mut refusal = LateCpuRefusal { missing: CapSet::new(), needed: CapSet::new() };
        for c in Cap::all() {
            let cpu_has = c.row().rule.matches_cpu(&with_effective_ctr(regs), &self.platform);
            match c.row().scope {
                Scope::BootCpu | Scope::System if self.has(c) && !cpu_has => refusal.missing.insert(c),
                Scope::LocalCpu if !self.has(c) && cpu_has => refusal.needed.insert(c),
                _ => {}
            }
        }
        if refusal.missing.is_empty() && refusal.needed.is_empty() { Ok(()) } else { Err(refusal) }
    }
}

/// Why a late CPU was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LateCpuRefusal {
    /// System (or boot-CPU) capabilities the CPU lacks.
    pub missing: CapSet,
    /// Errata or vulnerability workarounds the CPU needs that were not enabled.
    pub needed: CapSet,
}

impl core::fmt::Display for LateCpuRefusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut sep = "";
        if !self.missing.is_empty() {
            f.write_str("lacks")?;
            for c in self.missing.iter() {
                write!(f, " {c} ({})", c.description())?;
            }
            sep = "; ";
        }
        if !self.needed.is_empty() {
            write!(f, "{sep}needs workarounds not enabled:")?;
            for c in self.needed.iter() {
                write!(f, " {c} ({})", c.description())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
