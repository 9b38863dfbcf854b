//! Memory: the kernel image's layout, the MMU, and the heap. The layout and the MMU are
//! `_arch/aarch64/memory.rs` and `_arch/aarch64/memory/mmu.rs`.

pub use crate::_arch::memory::{PAGE_SIZE, kernel_layout, mmu};
use crate::semihosting::{self, ExitStatus};
use core::ops::Range;

/// The bytes of `range` inside the kernel image (text or read-only data).
///
/// # Safety
///
/// If `range` overlaps text, the slice must be gone before text is next written through the
/// alias (a patch pass): a shared reference may not see its bytes change.
pub unsafe fn image_bytes(range: &Range<u64>) -> &'static [u8] {
    let layout = kernel_layout();
    assert!(layout.image.start <= range.start && range.end <= layout.image.end);
    // SAFETY: the range lies inside the kernel image, mapped readable for the kernel's life;
    // the caller promises the slice does not outlive the bytes staying as they are.
    unsafe { core::slice::from_raw_parts(range.start as *const u8, (range.end - range.start) as usize) }
}

/// Arch code's report that all `tables` page tables are in use (`mmu`), possibly before the
/// console exists: through the host's console, then the run ends (status 2).
#[unsafe(no_mangle)]
fn altpatch_page_tables_exhausted(tables: usize) -> ! {
    let mut message = semihosting::Message::new();
    let _ = core::fmt::Write::write_fmt(
        &mut message,
        format_args!("altpatch: all {tables} page tables are in use\n"),
    );
    message.write0();
    semihosting::exit(ExitStatus::Oops)
}

/// The hook's definition has the type `mmu` declares.
const _: fn(usize) -> ! = altpatch_page_tables_exhausted;
