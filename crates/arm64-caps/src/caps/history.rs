//! Earlier capability lists, kept so that an object built against one of them can be
//! explained ("cap 4 means HAS_32BIT_EL1 there and HAS_LSE_ATOMICS here") instead of
//! silently patched with the wrong meaning.

use altpatch_core::fingerprint::{CapList, of_list};

/// v0: the first list, before the ID-register features beyond the essentials, most errata
/// and the vulnerability rows were added, and with HAS_LSE_ATOMICS first.
const V0_IDENTS: [&str; 13] = [
    "HAS_LSE_ATOMICS",
    "HAS_SYSREG_GIC_CPUIF",
    "HAS_PAN",
    "HAS_CRC32",
    "HAS_32BIT_EL1",
    "HAS_CACHE_IDC",
    "HAS_CACHE_DIC",
    "HAS_SB",
    "HAS_LDAPR",
    "WORKAROUND_DEVICE_LOAD_ACQUIRE",
    "WORKAROUND_843419",
    "SPECTRE_V2",
    "SPECTRE_V4",
];

/// v1: the list of 53 rows before HAS_VIRT_HOST_EXTN was added after HAS_LSE_ATOMICS
/// (issue 12): every row from HAS_32BIT_EL0_DO_NOT_USE on sits one index lower there.
const V1_IDENTS: [&str; 53] = [
    "ALWAYS_BOOT",
    "ALWAYS_SYSTEM",
    "HAS_SYSREG_GIC_CPUIF",
    "HAS_ECV",
    "HAS_PAN",
    "HW_DBM",
    "HAS_EPAN",
    "HAS_LSE_ATOMICS",
    "HAS_32BIT_EL0_DO_NOT_USE",
    "HAS_32BIT_EL1",
    "HAS_DCPOP",
    "HAS_DCPODP",
    "SVE",
    "HAS_RAS_EXTN",
    "HAS_CACHE_IDC",
    "HAS_CACHE_DIC",
    "HAS_STAGE2_FWB",
    "HAS_ARMv8_4_TTL",
    "HAS_TLB_RANGE",
    "HAS_CRC32",
    "SSBS",
    "HAS_CNP",
    "HAS_SB",
    "HAS_ADDRESS_AUTH_ARCH_QARMA5",
    "HAS_ADDRESS_AUTH_ARCH_QARMA3",
    "HAS_ADDRESS_AUTH_IMP_DEF",
    "HAS_GENERIC_AUTH_ARCH_QARMA5",
    "HAS_GENERIC_AUTH_ARCH_QARMA3",
    "HAS_GENERIC_AUTH_IMP_DEF",
    "HAS_E0PD",
    "HAS_RNG",
    "BTI",
    "MTE",
    "MTE_ASYMM",
    "HAS_LDAPR",
    "HAS_WFXT",
    "WORKAROUND_CLEAN_CACHE",
    "WORKAROUND_DEVICE_LOAD_ACQUIRE",
    "WORKAROUND_834220",
    "WORKAROUND_843419",
    "WORKAROUND_845719",
    "WORKAROUND_SPECULATIVE_AT",
    "WORKAROUND_1418040",
    "WORKAROUND_1463225",
    "WORKAROUND_REPEAT_TLBI",
    "WORKAROUND_SPECULATIVE_SSBS",
    "WORKAROUND_1542419",
    "WORKAROUND_1742098",
    "WORKAROUND_858921",
    "SPECTRE_V2",
    "SPECTRE_V3A",
    "SPECTRE_V4",
    "SPECTRE_BHB",
];

/// Every retired list, oldest first.
pub const LISTS: &[CapList] = &[
    CapList { label: "v0", fingerprint: of_list(&V0_IDENTS), idents: &V0_IDENTS },
    CapList { label: "v1", fingerprint: of_list(&V1_IDENTS), idents: &V1_IDENTS },
];

/// The list, current or retired, whose fingerprint is `fp`.
pub fn by_fingerprint(fp: u32) -> Option<&'static CapList> {
    core::iter::once(&super::LIST).chain(LISTS).find(|l| l.fingerprint == fp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{Cap, FINGERPRINT, LIST};

    #[test]
    fn every_list_is_found_by_its_fingerprint() {
        assert_eq!(by_fingerprint(FINGERPRINT).unwrap().label, "current");
        for l in LISTS {
            assert_eq!(by_fingerprint(l.fingerprint).unwrap().label, l.label);
        }
        assert!(by_fingerprint(FINGERPRINT ^ 1).is_none());
    }

    #[test]
    fn fingerprints_are_distinct() {
        for l in LISTS {
            assert_ne!(l.fingerprint, FINGERPRINT, "{}", l.label);
        }
    }

    #[test]
    fn the_same_index_means_different_caps_in_v0() {
        let v0 = &LISTS[0];
        assert_ne!(v0.ncaps(), LIST.ncaps());
        let idx = Cap::HAS_LSE_ATOMICS.index();
        assert_ne!(v0.ident(idx), Some("HAS_LSE_ATOMICS"));
        assert_eq!(v0.index_of("HAS_LSE_ATOMICS"), Some(0));
        // Every v0 row still exists today (rows are only added or moved, never renamed).
        for ident in v0.idents {
            assert!(Cap::from_ident(ident).is_some(), "{ident}");
        }
    }

    #[test]
    fn v1_is_today_s_list_without_vhe() {
        let v1 = &LISTS[1];
        assert_eq!(v1.label, "v1");
        assert_eq!(v1.ncaps() + 1, LIST.ncaps());
        let without: std::vec::Vec<&str> =
            LIST.idents.iter().copied().filter(|&i| i != "HAS_VIRT_HOST_EXTN").collect();
        assert_eq!(v1.idents, without.as_slice());
        // An object built against v1 that used HAS_32BIT_EL0_DO_NOT_USE carries the index
        // that means HAS_VIRT_HOST_EXTN here: the fingerprint is what tells them apart.
        let old = v1.index_of("HAS_32BIT_EL0_DO_NOT_USE").unwrap();
        assert_eq!(LIST.ident(old), Some("HAS_VIRT_HOST_EXTN"));
        assert_eq!(by_fingerprint(v1.fingerprint).unwrap().label, "v1");
    }
}
