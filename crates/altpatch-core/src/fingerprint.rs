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
/// the identifier of each index. The kernel's own list is one; older lists kept in
/// [`crate::caps::history`] are others, so a stale entry's numbers can be explained.
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

#[cfg(test)]
mod tests {
    use super::of_list;

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
