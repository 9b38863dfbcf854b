//! The module area's pages: a bitmap allocator of contiguous runs (first fit).

use crate::memory::{PAGE_SIZE, mmu::MODULE_AREA};
use core::ops::Range;
use spin::Mutex;

/// Pages in the module area.
const PAGES: usize = ((MODULE_AREA.end - MODULE_AREA.start) / PAGE_SIZE) as usize;

/// The allocation bitmap between two runs of guard words: the bitmap's neighbours in kernel
/// data hold a known pattern, so a write that spills past a misplaced section shows.
#[repr(C)]
struct Bitmap {
    before: [u64; 4],
    /// Bit `i`: page `i` of the area is allocated.
    used: [u64; PAGES / 64],
    after: [u64; 4],
}

/// What each guard word holds.
const GUARD: u64 = 0xa17c_a7c4_cafe_f00d;

static USED: Mutex<Bitmap> =
    Mutex::new(Bitmap { before: [GUARD; 4], used: [0; PAGES / 64], after: [GUARD; 4] });

/// A run of `bytes` (rounded up to pages) of the module area, or `None` when no run fits.
pub fn alloc(bytes: u64) -> Option<Range<u64>> {
    let count = bytes.div_ceil(PAGE_SIZE).max(1) as usize;
    let mut bitmap = USED.lock();
    let used = &mut bitmap.used;
    let is_free = |used: &[u64; PAGES / 64], page: usize| used[page / 64] & (1 << (page % 64)) == 0;
    let mut start = 0;
    while start + count <= PAGES {
        match (start..start + count).find(|&page| !is_free(used, page)) {
            Some(taken) => start = taken + 1,
            None => {
                for page in start..start + count {
                    used[page / 64] |= 1 << (page % 64);
                }
                let base = MODULE_AREA.start + start as u64 * PAGE_SIZE;
                return Some(base..base + count as u64 * PAGE_SIZE);
            }
        }
    }
    None
}

/// Returns the run `pages` (from [`alloc()`]) to the area.
pub fn free(pages: Range<u64>) {
    let used = &mut USED.lock().used;
    let first = ((pages.start - MODULE_AREA.start) / PAGE_SIZE) as usize;
    let count = ((pages.end - pages.start) / PAGE_SIZE) as usize;
    for page in first..first + count {
        used[page / 64] &= !(1 << (page % 64));
    }
}

/// The allocation bitmap as it is now: a refused load must leave it exactly so (the canary
/// `load_all` checks after each one).
pub fn snapshot() -> [u64; PAGES / 64] {
    USED.lock().used
}

/// Whether the guard words on either side of the bitmap still hold their pattern.
pub fn neighbours_intact() -> bool {
    let bitmap = USED.lock();
    bitmap.before.iter().chain(&bitmap.after).all(|&word| word == GUARD)
}

/// Pages of the module area in use.
pub fn pages_in_use() -> usize {
    USED.lock().used.iter().map(|word| word.count_ones() as usize).sum()
}
