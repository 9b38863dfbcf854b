//! Sets of CPUs by index, sized for the largest machine the rendezvous serves.

use core::fmt;

/// The most CPUs a [`CpuSet`] (and so a rendezvous) can name: QEMU `virt`'s limit with a
/// GICv3, which Linux boots.
pub const MAX_CPUS: usize = 512;

const WORDS: usize = MAX_CPUS / 64;

/// A set of CPU indices below [`MAX_CPUS`]: a fixed bitmap, `Copy`, no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CpuSet([u64; WORDS]);

impl CpuSet {
    /// The empty set.
    pub const EMPTY: CpuSet = CpuSet([0; WORDS]);

    /// CPUs `0..n`.
    ///
    /// # Panics
    ///
    /// If `n` is above [`MAX_CPUS`].
    pub const fn first(n: usize) -> CpuSet {
        assert!(n <= MAX_CPUS, "more CPUs than a CpuSet names");
        let mut set = CpuSet::EMPTY;
        let mut word = 0;
        while word * 64 < n {
            let left = n - word * 64;
            set.0[word] = if left >= 64 { u64::MAX } else { (1 << left) - 1 };
            word += 1;
        }
        set
    }

    /// The set whose first 64 members are the bits of `mask`.
    pub const fn from_mask(mask: u64) -> CpuSet {
        let mut set = CpuSet::EMPTY;
        set.0[0] = mask;
        set
    }

    /// The set whose members are the set bits of `words` ([`MAX_CPUS`] / 64 of them), CPU
    /// `64 * w + b` for bit `b` of word `w`: how a machine that keeps its CPUs in atomic words reads them at once.
    pub const fn from_words(words: [u64; WORDS]) -> CpuSet {
        CpuSet(words)
    }

    /// Whether `cpu` is in the set (false for any index at or above [`MAX_CPUS`]).
    pub const fn contains(&self, cpu: usize) -> bool {
        cpu < MAX_CPUS && self.0[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    /// Adds `cpu`.
    ///
    /// # Panics
    ///
    /// If `cpu` is [`MAX_CPUS`] or more.
    pub fn insert(&mut self, cpu: usize) {
        assert!(cpu < MAX_CPUS, "CPU {cpu} beyond a CpuSet's {MAX_CPUS}");
        self.0[cpu / 64] |= 1 << (cpu % 64);
    }

    /// Removes `cpu` (nothing if it is not a member).
    pub fn remove(&mut self, cpu: usize) {
        if cpu < MAX_CPUS {
            self.0[cpu / 64] &= !(1 << (cpu % 64));
        }
    }

    /// The set without `cpu`.
    pub fn without(mut self, cpu: usize) -> CpuSet {
        self.remove(cpu);
        self
    }

    /// The members of `self` not in `other`.
    pub fn difference(&self, other: &CpuSet) -> CpuSet {
        let mut out = *self;
        for (word, o) in out.0.iter_mut().zip(other.0) {
            *word &= !o;
        }
        out
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set has no member.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The highest member plus one (0 for the empty set): the indices a scan must cover.
    pub fn end(&self) -> usize {
        self.0.iter().rposition(|&w| w != 0).map_or(0, |i| i * 64 + 64 - self.0[i].leading_zeros() as usize)
    }

    /// The members, ascending.
    pub fn iter(&self) -> Members {
        Members { set: *self, word: 0 }
    }
}

/// The members of a [`CpuSet`], ascending: [`CpuSet::iter`]. Steps from member to member
/// (one count of trailing zeros each), not bit by bit: the rendezvous's primary walks the
/// set inside the stop window, where a 512-bit scan would cost more than the members.
#[derive(Clone, Debug)]
pub struct Members {
    /// The members not yet returned.
    set: CpuSet,
    /// The first word of `set` that may still hold one.
    word: usize,
}

impl Iterator for Members {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.word < WORDS {
            let bits = self.set.0[self.word];
            if bits != 0 {
                // Clear the lowest set bit: the next call finds the one above it.
                self.set.0[self.word] = bits & (bits - 1);
                return Some(self.word * 64 + bits.trailing_zeros() as usize);
            }
            self.word += 1;
        }
        None
    }
}

impl FromIterator<usize> for CpuSet {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> CpuSet {
        let mut set = CpuSet::EMPTY;
        for cpu in iter {
            set.insert(cpu);
        }
        set
    }
}

/// `{0-3, 5, 8-9}`: ranges of consecutive members.
impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        let mut members = self.iter().peekable();
        let mut first = true;
        while let Some(start) = members.next() {
            let mut end = start;
            while members.peek() == Some(&(end + 1)) {
                end = members.next().unwrap_or(end);
            }
            let sep = if first { "" } else { ", " };
            first = false;
            if end == start { write!(f, "{sep}{start}")? } else { write!(f, "{sep}{start}-{end}")? }
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{format, vec::Vec};

    #[test]
    fn first_n_holds_exactly_the_first_n_indices() {
        for n in [0, 1, 63, 64, 65, 128, 300, MAX_CPUS] {
            let set = CpuSet::first(n);
            assert_eq!(set.len(), n);
            assert_eq!(set.end(), n);
            assert!(n == 0 || set.contains(n - 1));
            assert!(!set.contains(n));
        }
    }

    #[test]
    fn members_beyond_64_are_kept_and_listed_in_order() {
        let set: CpuSet = [511, 3, 64, 200].into_iter().collect();
        assert_eq!(set.iter().collect::<Vec<_>>(), [3, 64, 200, 511]);
        assert_eq!(
            set.without(64).difference(&CpuSet::from_mask(1 << 3)).iter().collect::<Vec<_>>(),
            [200, 511]
        );
    }

    #[test]
    fn words_name_cpus_64_to_a_word_low_bit_first() {
        let mut words = [0; WORDS];
        words[0] = 1 << 5;
        words[1] = 1;
        words[WORDS - 1] = 1 << 63;
        let set = CpuSet::from_words(words);
        assert_eq!(set.iter().collect::<Vec<_>>(), [5, 64, MAX_CPUS - 1]);
        assert_eq!(set, [5, 64, MAX_CPUS - 1].into_iter().collect());
    }

    #[test]
    fn debug_shows_ranges() {
        let set: CpuSet = [0, 1, 2, 3, 5, 8, 9].into_iter().collect();
        assert_eq!(format!("{set:?}"), "{0-3, 5, 8-9}");
    }
}
