//! The kernel heap: `linked_list_allocator` over the largest stretch of free RAM.

use core::ops::Range;
use linked_list_allocator::LockedHeap;

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// The largest part of `ram` that none of `taken` overlaps.
pub fn largest_free(ram: &[Range<u64>], taken: &[Range<u64>]) -> Option<Range<u64>> {
    let mut best: Option<Range<u64>> = None;
    for region in ram {
        // Candidate pieces start at the region start or at the end of a taken range.
        let starts = core::iter::once(region.start).chain(taken.iter().map(|t| t.end));
        for start in starts.filter(|s| region.contains(s)) {
            let end =
                taken.iter().filter(|t| t.end > start).map(|t| t.start.max(start)).fold(region.end, u64::min);
            if end > start && best.as_ref().is_none_or(|b| end - start > b.end - b.start) {
                best = Some(start..end);
            }
        }
    }
    best
}

/// Hands `region` to the allocator.
///
/// # Safety
///
/// `region` is mapped read-write, unused by anything else for the kernel's life, and this
/// is called once.
pub unsafe fn init(region: Range<u64>) {
    // SAFETY: the caller promises the region is free, mapped and handed over once.
    unsafe { ALLOCATOR.lock().init(region.start as *mut u8, (region.end - region.start) as usize) };
}

/// Bytes the heap manages.
pub fn size() -> usize {
    ALLOCATOR.lock().size()
}

/// Bytes of the heap in use.
pub fn used() -> usize {
    ALLOCATOR.lock().used()
}
