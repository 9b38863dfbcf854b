//! The fast verdict: whether a whole table passes, in one pass that records nothing.
//!
//! [`passes`] asks each entry the questions [`super::check`] asks, in a form that stops at
//! the first failure and builds no report: a table that passes (the usual case, at every
//! boot) costs one read of its entries and of their replacements. A table that fails is
//! handed to the reporting pass, which names every defect of every entry; so this verdict
//! must equal "`check` finds nothing" exactly, as a test in `reference.rs` checks entry by
//! entry on random tables.

use alloc::vec::Vec;

use super::{Callbacks, Layout};
use crate::fingerprint::CapList;
use crate::insn::{self, Decoded};
use crate::table::{AltEntry, Table};

/// Whether the whole table passes: aligned, no partial entry, every entry passing
/// [`entry_passes`], no two sites overlapping. Allocates nothing while the sites ascend.
pub(super) fn passes(layout: &Layout<'_>, current: &CapList, callbacks: Callbacks<'_>) -> bool {
    let table = layout.entries();
    if !layout.table.addr.is_multiple_of(4) || table.trailing_bytes() != 0 {
        return false;
    }
    // While the sites ascend, an entry overlaps an earlier one exactly when it starts before
    // the furthest end so far (every passing site is at least one instruction long).
    let (mut ascending, mut last_site, mut reach) = (true, 0, 0);
    let mut last_callback = None;
    for e in table.entries() {
        if !entry_passes(&e, layout, current, callbacks, &mut last_callback) {
            return false;
        }
        if e.site < last_site {
            ascending = false;
        } else if ascending && e.site < reach {
            return false;
        }
        last_site = e.site;
        reach = reach.max(e.site.saturating_add(u64::from(e.orig_len)));
    }
    ascending || sites_disjoint(&table)
}

/// Whether no two sites of `table` overlap, by a sweep over its sites in address order.
fn sites_disjoint(table: &Table<'_>) -> bool {
    let sites: Vec<(u64, u64)> =
        table.entries().map(|e| (e.site, e.site.saturating_add(u64::from(e.orig_len)))).collect();
    disjoint(&sites)
}

/// Whether no two of `sites` (start, end; none empty) overlap.
pub(super) fn disjoint(sites: &[(u64, u64)]) -> bool {
    let mut reach = 0;
    by_address(sites).iter().all(|&(site, end)| {
        let clear = site >= reach;
        reach = reach.max(end);
        clear
    })
}

/// `sites` (start, end) sorted by start, in linear time for sites spread over the text: a
/// counting sort into about one bucket per site by address, then [`settle`] for the order
/// within buckets (nearly all hold one or two). A table out of address order (Linux 6.1's has 166 ascending
/// runs, most under a hundred entries) would cost a comparison sort several times its check.
pub(super) fn by_address(sites: &[(u64, u64)]) -> Vec<(u64, u64)> {
    if u32::try_from(sites.len()).is_err() {
        // Beyond the 32-bit bucket slots below (a 64 GiB table): a comparison sort.
        let mut sorted = sites.to_vec();
        sorted.sort_unstable();
        return sorted;
    }
    let (lo, hi) = sites.iter().fold((u64::MAX, 0), |(lo, hi), &(s, _)| (lo.min(s), hi.max(s)));
    let buckets = sites.len().next_power_of_two();
    // The widest bucket index, `(hi - lo) >> shift`, is below `buckets`.
    let span_bits = 64 - hi.saturating_sub(lo).leading_zeros();
    let shift = span_bits.saturating_sub(buckets.trailing_zeros());
    let bucket = |site: u64| ((site - lo) >> shift) as usize;
    // Counts, then where each bucket starts, then (as sites are placed) where it ends; 32-bit
    // slots (the table has fewer than 2^32 entries) halve the array and its cache misses.
    let mut next = alloc::vec![0u32; buckets];
    for &(site, _) in sites {
        next[bucket(site)] += 1;
    }
    let mut at = 0;
    for slot in &mut next {
        (*slot, at) = (at, at + *slot);
    }
    let mut sorted = alloc::vec![(0, 0); sites.len()];
    for &(site, end) in sites {
        let slot = &mut next[bucket(site)];
        sorted[*slot as usize] = (site, end);
        *slot += 1;
    }
    settle(&mut sorted);
    sorted
}

/// Sorts `sites`, out of order only within buckets, by insertion: one predictable pass plus a
/// step per inversion, with no per-bucket call (most buckets hold one site or none). Past a
/// budget of inversions (sites crowded into few buckets) a comparison sort finishes the job,
/// so the worst case stays O(n log n).
fn settle(sites: &mut [(u64, u64)]) {
    let mut budget = 8 * sites.len();
    for i in 1..sites.len() {
        let mut j = i;
        while j > 0 && sites[j - 1] > sites[j] {
            if budget == 0 {
                sites.sort_unstable();
                return;
            }
            budget -= 1;
            sites.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Whether [`super::check`] finds nothing wrong with `e` (`history` only explains a defect,
/// so it is not needed to find none). `last_callback` is the callback the last callback
/// entry passing before this one named, if any.
pub(super) fn entry_passes(
    e: &AltEntry,
    layout: &Layout<'_>,
    current: &CapList,
    callbacks: Callbacks<'_>,
    last_callback: &mut Option<u64>,
) -> bool {
    let len = e.orig_len;
    let common = e.cap_index() < current.ncaps()
        && e.fingerprint == current.fingerprint
        && len != 0
        && len.is_multiple_of(4)
        && e.site.is_multiple_of(4)
        && layout.text.contains(e.site, u64::from(len));
    if !common || !e.alt.is_multiple_of(4) {
        return false;
    }
    if e.is_callback() {
        return e.alt_len == 0
            && match callbacks {
                Callbacks::Declared(declared) => {
                    layout.text.contains(e.alt, 4) && listed(declared, e.alt, last_callback)
                }
                Callbacks::Exported(exported) => listed(exported, e.alt, last_callback),
            };
    }
    e.alt_len == len
        && (layout.replacements.unmoved(e.alt, len).is_some()
            || (layout.replacements.read(e.alt, usize::from(len)))
                .is_some_and(|seq| replacement_passes(e, seq, layout)))
}

/// Whether `callback` is in `list` (sorted): a table names a handful of callbacks thousands
/// of times (Linux 6.1's, 9 in 14,017 entries), mostly the one the entry before named, so
/// `last` (the last one found) spares most entries the binary search.
fn listed(list: &[u64], callback: u64, last: &mut Option<u64>) -> bool {
    if *last == Some(callback) {
        return true;
    }
    let found = list.binary_search(&callback).is_ok();
    if found {
        *last = Some(callback);
    }
    found
}

/// Whether every word of `e`'s replacement `seq` (whole words, inside the section) moves to
/// the site, and every branch among them stays in its sequence or lands in text outside the
/// replacement section: the words the screen does not clear are decoded.
fn replacement_passes(e: &AltEntry, seq: &[u8], layout: &Layout<'_>) -> bool {
    seq.chunks_exact(4).enumerate().all(|(i, w)| {
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let decoded =
            if insn::may_be_pc_relative(word) { insn::decode(word) } else { Decoded::PositionIndependent };
        decoded == Decoded::PositionIndependent
            || (insn::relocate_decoded(word, decoded, e.alt, e.site, seq.len(), i * 4).is_ok()
                && super::branch_defect(e, i, decoded, layout).is_none())
    })
}
