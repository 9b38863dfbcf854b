//! CPU models by MIDR_EL1, and the variant/revision ranges errata notices give.
//!
//! MIDR_EL1 (Arm ARM D19.2.100): Implementer (bits 31:24), Variant (23:20), Architecture
//! (19:16), PartNum (15:4), Revision (3:0). A model is Implementer, Architecture and
//! PartNum; "rVpR" is Variant and Revision.

/// A CPU model: MIDR with variant and revision zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model(pub u32);

/// The bits of MIDR_EL1 that name a model (Implementer, Architecture, PartNum).
const MODEL_MASK: u32 = 0xff0f_fff0;

impl Model {
    /// The model from implementer and part number (architecture 0xF: "see ID registers").
    pub const fn new(implementer: u8, part: u16) -> Model {
        Model((implementer as u32) << 24 | 0xf << 16 | (part as u32 & 0xfff) << 4)
    }

    /// Whether `midr` is this model (any variant and revision).
    pub const fn matches(self, midr: u64) -> bool {
        (midr as u32) & MODEL_MASK == self.0
    }
}

/// Arm Limited (implementer 0x41) Cortex-A35.
pub const CORTEX_A35: Model = Model::new(0x41, 0xd04);
/// Cortex-A53.
pub const CORTEX_A53: Model = Model::new(0x41, 0xd03);
/// Cortex-A55.
pub const CORTEX_A55: Model = Model::new(0x41, 0xd05);
/// Cortex-A57.
pub const CORTEX_A57: Model = Model::new(0x41, 0xd07);
/// Cortex-A72.
pub const CORTEX_A72: Model = Model::new(0x41, 0xd08);
/// Cortex-A73.
pub const CORTEX_A73: Model = Model::new(0x41, 0xd09);
/// Cortex-A76.
pub const CORTEX_A76: Model = Model::new(0x41, 0xd0b);
/// Cortex-A77.
pub const CORTEX_A77: Model = Model::new(0x41, 0xd0d);
/// Neoverse-N1.
pub const NEOVERSE_N1: Model = Model::new(0x41, 0xd0c);
/// Fujitsu (implementer 0x46) A64FX.
pub const FUJITSU_A64FX: Model = Model::new(0x46, 0x001);

/// `rVpR` packed as Linux's `MIDR_CPU_VAR_REV`: variant in bits 23:20, revision in bits 3:0.
pub const fn var_rev(variant: u8, revision: u8) -> u32 {
    (variant as u32 & 0xf) << 20 | (revision as u32 & 0xf)
}

/// A range of revisions of one model, inclusive at both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MidrRange {
    /// The model.
    pub model: Model,
    /// The first affected `rVpR` ([`var_rev`]).
    pub first: u32,
    /// The last affected `rVpR`.
    pub last: u32,
    /// A revision fixed by a REVIDR_EL1 bit: `(rVpR, mask)`. A CPU of exactly that revision
    /// with any bit of `mask` set in REVIDR is not affected.
    pub fixed_by_revidr: Option<(u32, u64)>,
}

impl MidrRange {
    /// `model` from `rFvpFr` to `rLvpLr`.
    pub const fn range(model: Model, first: (u8, u8), last: (u8, u8)) -> MidrRange {
        MidrRange {
            model,
            first: var_rev(first.0, first.1),
            last: var_rev(last.0, last.1),
            fixed_by_revidr: None,
        }
    }

    /// Every revision of `model`.
    pub const fn all(model: Model) -> MidrRange {
        MidrRange::range(model, (0, 0), (0xf, 0xf))
    }

    /// This range, except revision `rVpR` when REVIDR has a bit of `mask` set.
    pub const fn fixed(self, at: (u8, u8), mask: u64) -> MidrRange {
        MidrRange { fixed_by_revidr: Some((var_rev(at.0, at.1), mask)), ..self }
    }

    /// Whether a CPU with these MIDR and REVIDR values is affected.
    pub const fn affects(&self, midr: u64, revidr: u64) -> bool {
        if !self.model.matches(midr) {
            return false;
        }
        let vr = var_rev(((midr >> 20) & 0xf) as u8, (midr & 0xf) as u8);
        if vr < self.first || vr > self.last {
            return false;
        }
        match self.fixed_by_revidr {
            Some((at, mask)) => !(vr == at && revidr & mask != 0),
            None => true,
        }
    }
}

/// Whether any range of `list` affects the CPU.
pub fn any_affects(list: &[MidrRange], midr: u64, revidr: u64) -> bool {
    list.iter().any(|r| r.affects(midr, revidr))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a MIDR the way the Arm ARM lays it out (D19.2.100).
    fn midr(implementer: u64, variant: u64, part: u64, revision: u64) -> u64 {
        implementer << 24 | variant << 20 | 0xf << 16 | part << 4 | revision
    }

    #[test]
    fn models_match_qemu_midr_values() {
        // QEMU 7.2 target/arm/cpu64.c: cortex-a57 midr 0x411fd070, a53 0x410fd034,
        // a72 0x410fd083, a76 0x414fd0b1, a64fx 0x461f0010, cortex-a35 0x411fd040,
        // neoverse-n1 0x414fd0c1.
        assert!(CORTEX_A57.matches(0x411f_d070));
        assert!(CORTEX_A53.matches(0x410f_d034));
        assert!(CORTEX_A72.matches(0x410f_d083));
        assert!(CORTEX_A76.matches(0x414f_d0b1));
        assert!(FUJITSU_A64FX.matches(0x461f_0010));
        assert!(CORTEX_A35.matches(0x411f_d040));
        assert!(NEOVERSE_N1.matches(0x414f_d0c1));
        assert!(!CORTEX_A57.matches(0x410f_d083));
    }

    #[test]
    fn range_bounds_are_inclusive_at_variant_and_revision_boundaries() {
        // Erratum 832075: Cortex-A57 r0p0 to r1p2.
        let r = MidrRange::range(CORTEX_A57, (0, 0), (1, 2));
        assert!(r.affects(midr(0x41, 0, 0xd07, 0), 0));
        assert!(r.affects(midr(0x41, 0, 0xd07, 15), 0)); // r0p15 < r1p0
        assert!(r.affects(midr(0x41, 1, 0xd07, 0), 0));
        assert!(r.affects(midr(0x41, 1, 0xd07, 2), 0));
        assert!(!r.affects(midr(0x41, 1, 0xd07, 3), 0));
        assert!(!r.affects(midr(0x41, 2, 0xd07, 0), 0));
        // Another part number in the same range is not affected.
        assert!(!r.affects(midr(0x41, 1, 0xd08, 0), 0));
    }

    #[test]
    fn revidr_bit_marks_a_fixed_revision() {
        // Erratum 843419: Cortex-A53 r0p0-r0p4, fixed in r0p4 parts with REVIDR bit 8.
        let r = MidrRange::range(CORTEX_A53, (0, 0), (0, 4)).fixed((0, 4), 1 << 8);
        assert!(r.affects(midr(0x41, 0, 0xd03, 4), 0));
        assert!(!r.affects(midr(0x41, 0, 0xd03, 4), 1 << 8));
        // The REVIDR bit means nothing on other revisions.
        assert!(r.affects(midr(0x41, 0, 0xd03, 3), 1 << 8));
        assert!(!r.affects(midr(0x41, 1, 0xd03, 0), 0));
    }
}
