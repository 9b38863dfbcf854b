//! The fingerprint of an ordered capability list.
//!
//! Every alternatives entry carries the fingerprint of the capability list its code was
//! built against. An object built against another list (the stale objects behind the
//! v5.13-rc2 `alternative.c:157` BUG) carries another fingerprint, and is refused by name
//! before anything is patched, however plausible its capability numbers look.

/// FNV-1a (32-bit) offset basis.
const FNV_OFFSET: u32 = 0x811c_9dc5;
/// FNV-1a (32-bit) prime.
const FNV_PRIME: u32 = 0x0100_0193;

/// The fingerprint of `idents`, in order: FNV-1a over each identifier's bytes, each followed
/// by a zero byte so that `["AB", "C"]` and `["A", "BC"]` differ. Reordering, adding,
/// removing or renaming a row changes it.
pub const fn of_list(idents: &[&str]) -> u32 {
    let mut hash = FNV_OFFSET;
    let mut row = 0;
    while row < idents.len() {
        let bytes = idents[row].as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            hash = (hash ^ bytes[i] as u32).wrapping_mul(FNV_PRIME);
            i += 1;
        }
        hash = hash.wrapping_mul(FNV_PRIME); // the zero separator: hash ^ 0 == hash
        row += 1;
    }
    hash
}

/// An ordered capability list as the validator and `altcheck` see it: its fingerprint and
/// the identifier of each index. A kernel's own list is one; older lists it keeps (Linux's
/// arm64 list keeps them in `arm64_caps::caps::history`) are others, so a stale entry's
/// numbers can be explained.
#[derive(Clone, Copy, Debug)]
pub struct CapList {
    /// A short label for reports, e.g. `"current"` or `"v1 (before HAS_SB moved)"`.
    pub label: &'static str,
    /// [`of_list`] of `idents`.
    pub fingerprint: u32,
    /// The identifiers in index order (Linux's cpucap names without `ARM64_`).
    pub idents: &'static [&'static str],
}

impl CapList {
    /// The list of `idents`, in index order, with its fingerprint computed.
    pub const fn new(label: &'static str, idents: &'static [&'static str]) -> CapList {
        CapList { label, fingerprint: of_list(idents), idents }
    }

    /// The index of `ident`, for constant contexts: the alternatives macros turn a
    /// capability's name into its number with it, so a name the list lacks is a compile
    /// error, never a wrong number.
    ///
    /// # Panics
    ///
    /// If the list has no capability `ident` (at compile time, where it is used in a
    /// constant).
    pub const fn const_index(&self, ident: &str) -> u16 {
        self.const_index_or(ident, "no capability of this name in the list")
    }

    /// [`const_index`](Self::const_index), stopping with `missing` (the macros spell it with
    /// the name and the list, so the compile error says which capability is unknown).
    ///
    /// # Panics
    ///
    /// With `missing`, if the list has no capability `ident`.
    pub const fn const_index_or(&self, ident: &str, missing: &str) -> u16 {
        let mut row = 0;
        while row < self.idents.len() {
            if str_eq(self.idents[row], ident) {
                return row as u16;
            }
            row += 1;
        }
        panic!("{}", missing);
    }

    /// The number of capabilities (NCAPS): valid indices are `0..ncaps()`.
    pub const fn ncaps(&self) -> u16 {
        self.idents.len() as u16
    }

    /// The identifier of capability `index`, if it is in range.
    pub fn ident(&self, index: u16) -> Option<&'static str> {
        self.idents.get(usize::from(index)).copied()
    }

    /// The index of `ident` in this list.
    pub fn index_of(&self, ident: &str) -> Option<u16> {
        self.idents.iter().position(|&i| i == ident).map(|i| i as u16)
    }
}

/// `a == b`, in a constant.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A consumer's ordered capability list: the type the alternatives macros and the apply
/// engine are parameterised by. The list is the only source of capability numbers; every
/// entry built against it carries its fingerprint, and an entry carrying another is refused.
///
/// ```
/// use altpatch_core::{CapList, CapabilityList};
///
/// /// A kernel's own three capabilities.
/// struct MyCaps;
/// impl CapabilityList for MyCaps {
///     const LIST: CapList = CapList::new("my-kernel v2", &["HAS_LSE", "HAS_CRC32", "HAS_SB"]);
/// }
/// const CRC32: u16 = MyCaps::LIST.const_index("HAS_CRC32");
/// assert_eq!(CRC32, 1);
/// assert_ne!(MyCaps::LIST.fingerprint, CapList::new("v1", &["HAS_CRC32", "HAS_LSE"]).fingerprint);
/// ```
pub trait CapabilityList {
    /// The list: label, fingerprint and identifiers in index order.
    const LIST: CapList;
    /// Lists this one replaced, newest first, so that an entry built against one of them
    /// is explained by name ("cap 7 means HAS_SB in list v0"). Empty by default.
    const HISTORY: &'static [CapList] = &[];
}

#[cfg(test)]
mod tests {
    use super::{CapList, of_list};

    #[test]
    fn const_index_finds_each_row_by_name() {
        const LIST: CapList = CapList::new("t", &["A", "AB", "B"]);
        assert_eq!(LIST.const_index("A"), 0);
        assert_eq!(LIST.const_index("AB"), 1);
        assert_eq!(LIST.const_index("B"), 2);
        assert!(std::panic::catch_unwind(|| LIST.const_index("C")).is_err());
    }

    #[test]
    fn reordering_rows_changes_the_fingerprint() {
        assert_ne!(of_list(&["A", "B"]), of_list(&["B", "A"]));
    }

    #[test]
    fn adding_or_removing_a_row_changes_the_fingerprint() {
        assert_ne!(of_list(&["A", "B"]), of_list(&["A", "B", "C"]));
        assert_ne!(of_list(&["A", "B"]), of_list(&["A"]));
    }

    #[test]
    fn row_boundaries_are_part_of_the_fingerprint() {
        assert_ne!(of_list(&["AB", "C"]), of_list(&["A", "BC"]));
    }

    #[test]
    fn fingerprint_matches_fnv1a_reference_vector() {
        // FNV-1a 32 of the single byte "a" is 0xe40c292c (the FNV reference test vector);
        // one row "a" adds the separator byte 0 to it.
        let a_then_zero = 0xe40c_292cu32.wrapping_mul(0x0100_0193);
        assert_eq!(of_list(&["a"]), a_then_zero);
        assert_eq!(of_list(&[]), 0x811c_9dc5);
    }
}
