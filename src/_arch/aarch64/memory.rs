//! The kernel image's layout, from the linker script's symbols, and the MMU.

pub mod mmu;

use core::ops::Range;

/// Bytes in a translation granule (4 KiB pages, Arm ARM D8.2).
pub const PAGE_SIZE: u64 = 4096;

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
    static __stacks_start: u8;
    static __stacks_end: u8;
    static __alt_instructions: u8;
    static __alt_instructions_end: u8;
    static __altinstr_replacement: u8;
    static __altinstr_replacement_end: u8;
    static __altinstr_callbacks: u8;
    static __altinstr_callbacks_end: u8;
}

/// The kernel image's regions, from the linker script's symbols.
#[derive(Clone, Debug)]
pub struct KernelLayout {
    /// The whole image, page aligned.
    pub image: Range<u64>,
    /// Executable code: read-only, executable.
    pub text: Range<u64>,
    /// Constants, the alternatives table and replacements: read-only, never executable.
    pub rodata: Range<u64>,
    /// Data and BSS: read-write, never executable.
    pub data: Range<u64>,
    /// Every CPU's stacks and their guard pages (`stacks::STACK_SLOT` each): the stacks
    /// read-write and never executable, the guard pages never mapped.
    pub stacks: Range<u64>,
    /// The `.altinstructions` table.
    pub alt_table: Range<u64>,
    /// The `.altinstr_replacement` sequences.
    pub alt_replacements: Range<u64>,
    /// The `.altinstr_callbacks` declarations.
    pub alt_callbacks: Range<u64>,
}

macro_rules! addr {
    ($sym:ident) => {
        // Linker-script symbols: only their addresses are taken, never their values.
        &raw const $sym as u64
    };
}

/// The running kernel's layout.
pub fn kernel_layout() -> KernelLayout {
    KernelLayout {
        image: addr!(__kernel_start)..addr!(__kernel_end),
        text: addr!(__text_start)..addr!(__text_end),
        rodata: addr!(__rodata_start)..addr!(__rodata_end),
        data: addr!(__data_start)..addr!(__stacks_start),
        stacks: addr!(__stacks_start)..addr!(__stacks_end),
        alt_table: addr!(__alt_instructions)..addr!(__alt_instructions_end),
        alt_replacements: addr!(__altinstr_replacement)..addr!(__altinstr_replacement_end),
        alt_callbacks: addr!(__altinstr_callbacks)..addr!(__altinstr_callbacks_end),
    }
}

/// Reads the instruction word at `addr` if it lies in kernel text (for the oops).
pub fn read_text_word(addr: u64) -> Option<u32> {
    let text = kernel_layout().text;
    // Text is word aligned, so an aligned address inside it has its whole word there (and
    // `addr + 4` is never computed: a faulting PC may be any value).
    (addr.is_multiple_of(4) && text.contains(&addr)).then(|| {
        // SAFETY: an aligned word inside mapped kernel text.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    })
}
