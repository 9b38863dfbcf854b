//! Memory: aarch64-rt's initial identity map (1 GiB blocks, for the first instructions of
//! every CPU), then the kernel's own page table built with aarch64-paging, in which no page is
//! ever writable and executable at once:
//!
//! | range                          | attributes                    |
//! |--------------------------------|-------------------------------|
//! | devices 0x0800_0000..0x1000_0000 | device nGnRE, RW, XN        |
//! | RAM below the image (the DTB)  | normal, read-only, XN         |
//! | text (text_begin..rodata_begin)| normal, read-only, executable |
//! | rodata + alternatives          | normal, read-only, XN         |
//! | data, bss, stacks, rest of RAM | normal, RW, XN                |
//!
//! Text is written only through [`TextAliasMap`]: a second, writable and never-executable
//! mapping of the text pages at [`ALIAS_OFFSET`] above them, made for one write and removed
//! (with its TLB entries) before it returns.

use aarch64_paging::{
    Mapping,
    descriptor::{El1Attributes, PhysicalAddress},
    idmap::IdTranslation,
    paging::{Constraints, El1And0, MemoryRegion, VaRange},
};
use aarch64_rt::{InitialPagetable, initial_pagetable};
use altpatch_aarch64::{Stopped, TextAlias};
use core::ops::Range;
use spin::{Mutex, Once};

/// Device memory: MAIR index 0 (aarch64-rt's DEFAULT_MAIR: Device-nGnRE).
const DEVICE: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_0)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::NON_GLOBAL)
    .union(El1Attributes::UXN)
    .union(El1Attributes::PXN);

/// Normal memory: MAIR index 1 (write-back, read/write-allocate), inner shareable. Not global,
/// so that the initial map's TLB entries (ASID 0) never match the kernel's (ASID 1).
const NORMAL: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_1)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::NON_GLOBAL);

/// Read-only, never-executable data.
const RODATA: El1Attributes =
    NORMAL.union(El1Attributes::READ_ONLY).union(El1Attributes::UXN).union(El1Attributes::PXN);
/// Text: read-only, executable at EL1 only.
const TEXT: El1Attributes = NORMAL.union(El1Attributes::READ_ONLY).union(El1Attributes::UXN);
/// Writable, never-executable data (and the text alias).
const DATA: El1Attributes = NORMAL.union(El1Attributes::UXN).union(El1Attributes::PXN);

/// The start of RAM on QEMU `virt`.
pub const RAM_BASE: usize = 0x4000_0000;
/// The devices the kernel uses (GIC, PL011) lie in this range.
const DEVICES: Range<usize> = 0x0800_0000..0x1000_0000;
/// The text alias lies this far above the text (256 GiB: inside the 39-bit space that
/// aarch64-rt's TCR gives TTBR0, far from RAM).
pub const ALIAS_OFFSET: usize = 0x40_0000_0000;
/// The kernel page table's ASID (the initial map runs with ASID 0).
const ASID: usize = 1;
/// Root level 1: aarch64-rt's DEFAULT_TCR_EL1 has T0SZ = 25 (39-bit addresses).
const ROOT_LEVEL: usize = 1;

initial_pagetable!({
    let mut idmap = [0; 512];
    // The first GiB: devices (PL011 at 0x0900_0000).
    idmap[0] = DEVICE.bits();
    // The second: RAM, where the image runs (the kernel's own table replaces this early).
    idmap[1] = NORMAL.bits() | RAM_BASE;
    InitialPagetable(idmap)
});

unsafe extern "C" {
    /// aarch64-rt's image.ld: the first byte of `.init` (the image's executable start).
    static text_begin: u8;
    /// aarch64-rt's image.ld: the page-aligned start of `.rodata`.
    static rodata_begin: u8;
    /// aarch64-rt's image.ld: the page-aligned start of `.data`.
    static data_begin: u8;
}

/// The image's text, read-only data and writable ranges, from the linker's symbols.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// Executable text (`.init`, `.text`), up to the page that starts `.rodata`.
    pub text: (usize, usize),
    /// Read-only data: `.rodata`, `.got` and the alternatives sections.
    pub rodata: (usize, usize),
    /// The start of `.data`; everything above it is writable.
    pub data: usize,
}

impl ImageLayout {
    /// The layout of this image.
    pub fn get() -> ImageLayout {
        let text = (&raw const text_begin) as usize;
        let rodata = (&raw const rodata_begin) as usize;
        let data = (&raw const data_begin) as usize;
        ImageLayout { text: (text, rodata), rodata: (rodata, data), data }
    }
}

/// The kernel page table (identity map plus, while a write is in progress, the text alias).
type PageTable = Mapping<IdTranslation<El1Attributes>, El1And0>;

/// Owner of the page table: reached from every CPU, changed only under the lock.
struct Shared(PageTable);

// SAFETY: the page table is plain memory owned by this value; every change goes through the
// mutex below, and its tables are never freed while a CPU uses them (they are never freed).
unsafe impl Send for Shared {}

static KERNEL_PT: Once<Mutex<Shared>> = Once::new();

/// Builds the kernel page table for `ram` and switches this CPU (the boot CPU) to it.
///
/// # Panics
///
/// If a range cannot be mapped (it does not fit the 39-bit address space).
pub fn init(ram: Range<u64>) {
    let image = ImageLayout::get();
    let ram_end = ram.end as usize;
    let mut pt =
        PageTable::with_asid_and_va_range(IdTranslation::new(), ASID, ROOT_LEVEL, El1And0, VaRange::Lower);
    let mut map = |range: Range<usize>, flags: El1Attributes| {
        pt.map_range(
            &MemoryRegion::new(range.start, range.end),
            PhysicalAddress(range.start),
            flags,
            Constraints::empty(),
        )
        .expect("mmu: kernel mapping");
    };
    map(DEVICES, DEVICE);
    map(RAM_BASE..image.text.0, RODATA);
    map(image.text.0..image.text.1, TEXT);
    map(image.rodata.0..image.rodata.1, RODATA);
    map(image.data..ram_end, DATA);
    let pt = KERNEL_PT.call_once(|| Mutex::new(Shared(pt)));
    switch_to(pt);
}

/// Switches a secondary CPU (running on aarch64-rt's initial map) to the kernel page table.
pub fn enter_secondary() {
    switch_to(KERNEL_PT.get().expect("the boot CPU built the page table"));
}

fn switch_to(pt: &Mutex<Shared>) {
    let pt = pt.lock();
    // SAFETY: the kernel table maps everything this CPU uses (image, stacks, heap, DTB,
    // devices) at the same addresses with the same memory types as the initial map, and it is
    // never dropped (it lives in a static).
    unsafe {
        pt.0.activate();
    }
    // SAFETY: TLB invalidation of this CPU's EL1&0 entries, then barriers: the initial map's
    // entries are gone before anything is fetched through the new table.
    unsafe {
        core::arch::asm!("tlbi vmalle1", "dsb nsh", "isb", options(nostack, preserves_flags));
    }
}

/// The writable, never-executable alias of the text, mapped only for one write at a time.
pub struct TextAliasMap;

// SAFETY: `with_writable` maps exactly the pages of `text` (page aligned by the engine) at
// `ALIAS_OFFSET` above them, writable and never executable, hands `write` one slice over
// exactly those bytes, then unmaps them; aarch64-paging's `map_range` on the live table issues
// TLBI VAAE1IS for every page it changes and waits for completion (DSB ISH, ISB), so the alias
// is gone from every CPU's TLB when this returns. Nothing else refers to the alias addresses.
unsafe impl TextAlias for TextAliasMap {
    fn with_writable(&self, _stopped: &Stopped<'_>, text: Range<u64>, write: &mut dyn FnMut(&mut [u8])) {
        let pt = KERNEL_PT.get().expect("the page table exists before any patching");
        let mut pt = pt.lock();
        let (start, end) = (text.start as usize, text.end as usize);
        let image = ImageLayout::get();
        assert!(
            start >= image.text.0 && end <= image.text.1 && start % 4096 == 0 && end % 4096 == 0,
            "text alias: {start:#x}..{end:#x} is not whole pages of text"
        );
        let alias = MemoryRegion::new(start + ALIAS_OFFSET, end + ALIAS_OFFSET);
        pt.0.map_range(&alias, PhysicalAddress(start), DATA, Constraints::NO_BLOCK_MAPPINGS)
            .expect("text alias: map");
        // SAFETY: the alias was just mapped writable over exactly these bytes, and nothing
        // else refers to the alias addresses while the lock is held.
        let bytes =
            unsafe { core::slice::from_raw_parts_mut((start + ALIAS_OFFSET) as *mut u8, end - start) };
        write(bytes);
        // Unmapping a range: flags without VALID.
        pt.0.map_range(
            &alias,
            PhysicalAddress(start),
            El1Attributes::empty(),
            Constraints::NO_BLOCK_MAPPINGS,
        )
        .expect("text alias: unmap");
    }
}

/// Whether `addr` is mapped writable in the kernel page table, for the self-test that checks
/// no text page is.
pub fn is_writable(addr: usize) -> bool {
    let pt = KERNEL_PT.get().expect("page table").lock();
    let mut writable = false;
    let _ = pt.0.walk_range(&MemoryRegion::new(addr, addr + 1), &mut |_, desc, _| {
        let flags = desc.flags();
        writable |= flags.contains(El1Attributes::VALID) && !flags.contains(El1Attributes::READ_ONLY);
        Ok(())
    });
    writable
}
