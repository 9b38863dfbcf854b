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

/// Every retired list, oldest first.
pub const LISTS: &[CapList] =
    &[CapList { label: "v0", fingerprint: of_list(&V0_IDENTS), idents: &V0_IDENTS }];

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
}
