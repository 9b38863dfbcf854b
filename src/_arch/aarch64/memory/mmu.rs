//! The AArch64 stage-1 translation for the kernel's level: 4 KiB granule, 39-bit virtual
//! addresses, an identity map of RAM and devices, and a temporary writable alias for
//! patching text.
//!
//! Descriptor formats: Arm ARM D8.3 ("Translation table descriptor formats").
//!
//! The same tables and code serve the EL1&0 regime (the kernel at EL1) and the EL2&0 regime
//! (the kernel at EL2 with HCR_EL2.E2H and TGE set, VHE). With E2H = 1 the EL2&0 regime uses
//! the EL1&0 descriptor format, two VA ranges (TTBR0/TTBR1) and EL1's TCR layout, and the
//! names MAIR_EL1, TCR_EL1, TTBR0_EL1 and SCTLR_EL1 used at EL2 access MAIR_EL2, TCR_EL2,
//! TTBR0_EL2 and SCTLR_EL2 (Arm ARM "Behavior of HCR_EL2.E2H", and D8.1's translation
//! regimes). AP bits 2:1 then means EL2 read-write/read-only, PXN applies to EL2 and UXN to EL0,
//! exactly as at EL1; every mapping here is global (nG = 0), so no ASID matters.
//!
//! TLB maintenance: TLBI VMALLE1 and TLBI VAAE1IS executed at EL2 with HCR_EL2.{E2H, TGE} =
//! {1, 1} operate on the EL2&0 regime's entries (Arm ARM C5.5, each instruction's
//! description: "If HCR_EL2.{E2H, TGE} is {1, 1}, the entry would be required to translate
//! ... using the EL2&0 translation regime"), as Linux's VHE host relies on (its `enter_vhe`
//! issues TLBI VMALLE1 at EL2). The same instructions are therefore right at both levels.

use super::{KernelLayout, PAGE_SIZE};
use crate::_arch::{
    cpu,
    stacks::{EXCEPTION_STACK_SIZE, GUARD_SIZE, STACK_SIZE, STACK_SLOT},
};
use aarch64_cpu::{asm::barrier, registers::*};
use core::{cell::UnsafeCell, mem::offset_of, ops::Range};
use tock_registers::{
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields,
};

register_bitfields! {u64,
    /// A stage-1 table, block or page descriptor (Arm ARM D8.3.1, D8.3.2).
    DESCRIPTOR [
        /// Unprivileged execute-never.
        UXN OFFSET(54) NUMBITS(1) [],
        /// Privileged execute-never.
        PXN OFFSET(53) NUMBITS(1) [],
        /// Output address (bits 47:12) or next-level table address.
        ADDR OFFSET(12) NUMBITS(36) [],
        /// Access flag: set, so that no access-flag fault is taken.
        AF OFFSET(10) NUMBITS(1) [],
        /// Shareability: inner shareable for normal memory.
        SH OFFSET(8) NUMBITS(2) [ Inner = 0b11 ],
        /// AP[2:1]: EL1 read-write, or read-only; EL0 no access.
        AP OFFSET(6) NUMBITS(2) [ ReadWrite = 0b00, ReadOnly = 0b10 ],
        /// Index into MAIR_EL1.
        ATTR_INDEX OFFSET(2) NUMBITS(3) [ Device = 0, Normal = 1 ],
        /// At levels 1-2: 1 for a table, 0 for a block; at level 3: 1 for a page.
        TYPE OFFSET(1) NUMBITS(1) [ Block = 0, TableOrPage = 1 ],
        /// Valid.
        VALID OFFSET(0) NUMBITS(1) []
    ]
}

/// Permissions and memory type of a mapping. There is no writable-and-executable kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// Kernel text: read-only, executable at EL1.
    Text,
    /// Read-only data: read-only, never executable.
    ReadOnly,
    /// Data, stacks, heap, the text alias: read-write, never executable.
    ReadWrite,
    /// Device registers: Device-nGnRE, read-write, never executable.
    Device,
}

impl MapKind {
    fn attributes(self) -> u64 {
        use DESCRIPTOR::*;
        let normal = ATTR_INDEX::Normal + SH::Inner;
        let fields = match self {
            MapKind::Text => normal + AP::ReadOnly + UXN::SET,
            MapKind::ReadOnly => normal + AP::ReadOnly + UXN::SET + PXN::SET,
            MapKind::ReadWrite => normal + AP::ReadWrite + UXN::SET + PXN::SET,
            MapKind::Device => ATTR_INDEX::Device + AP::ReadWrite + UXN::SET + PXN::SET,
        };
        (fields + AF::SET + VALID::SET).value
    }
}

/// Entries per table with a 4 KiB granule.
const ENTRIES: usize = 512;
/// Virtual address bits: T0SZ = 64 - 39, so the walk starts at level 1 (Arm ARM D8.2.5).
const VA_BITS: u64 = 39;
/// Bytes mapped by one level-2 block.
const BLOCK_SIZE: u64 = 2 << 20;
/// Bytes one level-1 entry spans (a level-2 table's reach).
const L1_SPAN: u64 = 1 << 30;
/// Where the writable alias of kernel text appears: inside the 39-bit space, above QEMU
/// `virt`'s high regions below 512 GiB (the second GICv3 redistributor region sits at
/// 256 GiB once a machine has more than 123 CPUs, and the high PCIe ECAM after it).
pub const TEXT_ALIAS_BASE: u64 = 0x7f_0000_0000;
/// Tables the kernel can allocate: level 1, and level 2/3 tables for RAM, devices and the alias.
/// 64 for the image, its per-CPU stacks page by page (guard pages between them), RAM,
/// devices and the alias; 16 more for the module area, mapped page by page as modules load.
const POOL_TABLES: usize = 80;

#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

impl Table {
    /// Zeroes every entry, 128 bytes a loop iteration: the library memset stores 8 bytes
    /// an iteration (about 1500 instructions a table), and the boot map allocates eight
    /// tables before the MMU is on, where DC ZVA cannot be used (Device memory, Arm ARM
    /// D7.5.10).
    fn clear(&mut self) {
        let start = self.0.as_mut_ptr();
        // SAFETY: the stores cover exactly the table's 4096 bytes (32 iterations of 128),
        // which `&mut self` holds exclusively; the table is 4096-byte aligned.
        unsafe {
            core::arch::asm!(
                "2:",
                "stp xzr, xzr, [{at}]",
                "stp xzr, xzr, [{at}, #16]",
                "stp xzr, xzr, [{at}, #32]",
                "stp xzr, xzr, [{at}, #48]",
                "stp xzr, xzr, [{at}, #64]",
                "stp xzr, xzr, [{at}, #80]",
                "stp xzr, xzr, [{at}, #96]",
                "stp xzr, xzr, [{at}, #112]",
                "add {at}, {at}, #128",
                "cmp {at}, {end}",
                "b.lo 2b",
                at = inout(reg) start => _,
                end = in(reg) start.wrapping_add(ENTRIES),
                options(nostack),
            )
        };
    }
}

struct PageTables {
    /// The level-1 table (the first allocated), once allocated.
    l1: *mut Table,
    /// Tables handed out from [`POOL`].
    used: usize,
}

/// The tables themselves, outside the BSS so that boot does not clear 128 KiB it never
/// reads: each table is cleared when [`PageTables::alloc`] hands it out.
#[unsafe(link_section = ".page_tables")]
static POOL: BootCell<[Table; POOL_TABLES]> =
    BootCell(UnsafeCell::new([const { Table([0; ENTRIES]) }; POOL_TABLES]));

/// The values a CPU loads to turn its MMU on: the boot CPU publishes them for the
/// secondaries' `boot/entry.s`, cleaned to the point of coherency.
#[repr(C, align(64))]
pub struct MmuState {
    mair: u64,
    tcr: u64,
    ttbr0: u64,
    sctlr: u64,
}

/// Offsets of [`MmuState`] pairs for `boot/entry.s`.
pub const MMU_MAIR_TCR: usize = offset_of!(MmuState, mair);
/// See [`MMU_MAIR_TCR`].
pub const MMU_TTBR_SCTLR: usize = offset_of!(MmuState, ttbr0);
const _: () = assert!(offset_of!(MmuState, tcr) == MMU_MAIR_TCR + 8);
const _: () = assert!(offset_of!(MmuState, sctlr) == MMU_TTBR_SCTLR + 8);

/// A cell written only while one CPU runs (before the secondaries start, or with the
/// others held in the rendezvous), which the translation hardware also reads.
pub struct BootCell<T>(UnsafeCell<T>);
// SAFETY: every mutable access is serialised by the boot flow as documented on each user.
unsafe impl<T> Sync for BootCell<T> {}

static TABLES: BootCell<PageTables> =
    BootCell(UnsafeCell::new(PageTables { l1: core::ptr::null_mut(), used: 0 }));

unsafe extern "Rust" {
    /// The kernel's report that all `tables` page tables are in use, which the kernel
    /// defines under this name: possibly before the console exists; it ends the run.
    fn altpatch_page_tables_exhausted(tables: usize) -> !;
}

/// Read by `boot/entry.s` on each secondary CPU.
pub static MMU_STATE: BootCell<MmuState> =
    BootCell(UnsafeCell::new(MmuState { mair: 0, tcr: 0, ttbr0: 0, sctlr: 0 }));

impl PageTables {
    fn alloc(&mut self) -> u64 {
        if self.used == POOL_TABLES {
            // SAFETY: the kernel defines the hook with this signature (its definition is
            // checked against this function type there; a missing one fails to link).
            unsafe { altpatch_page_tables_exhausted(POOL_TABLES) };
        }
        // SAFETY: tables from `used` on are handed out to no one yet; the caller of every
        // `PageTables` method has exclusive use of the tables (see `enable`).
        let table = unsafe { &mut (*POOL.0.get())[self.used] };
        self.used += 1;
        table.clear();
        table as *mut Table as u64
    }

    /// The level-1 table, allocated on first use.
    fn l1(&mut self) -> *mut Table {
        if self.l1.is_null() {
            self.l1 = self.alloc() as *mut Table;
        }
        self.l1
    }

    /// The next-level table behind `entry`, allocating it if the entry is empty.
    fn next_table(&mut self, table: *mut Table, index: usize) -> *mut Table {
        // SAFETY: `table` is one of this pool's tables (or l1), identity mapped.
        let entry = unsafe { &mut (*table).0[index] };
        if *entry & 0b11 != 0b11 {
            assert!(*entry & 1 == 0, "a block already covers this range");
            let next = self.alloc();
            *entry =
                (DESCRIPTOR::ADDR.val(next >> 12) + DESCRIPTOR::TYPE::TableOrPage + DESCRIPTOR::VALID::SET)
                    .value;
        }
        (DESCRIPTOR::ADDR.read(*entry) << 12) as *mut Table
    }

    /// Maps `va..va + size` to `pa..` as `kind`, with 2 MiB blocks where both addresses are
    /// block aligned and no finer mapping exists, 4 KiB pages elsewhere.
    fn map(&mut self, va: u64, pa: u64, size: u64, kind: MapKind) {
        self.map_with(va, pa, size, kind, true);
    }

    /// [`Self::map`] with 4 KiB pages only, for a mapping [`Self::unmap_pages`] removes.
    fn map_pages(&mut self, va: u64, pa: u64, size: u64, kind: MapKind) {
        self.map_with(va, pa, size, kind, false);
    }

    fn map_with(&mut self, mut va: u64, mut pa: u64, size: u64, kind: MapKind, blocks: bool) {
        assert!(
            va.is_multiple_of(PAGE_SIZE) && pa.is_multiple_of(PAGE_SIZE) && size.is_multiple_of(PAGE_SIZE)
        );
        assert!(va + size <= 1 << VA_BITS);
        let end = va + size;
        let l1 = self.l1();
        while va < end {
            // The level-2 table is walked to once per GiB, not once per block: RAM is
            // hundreds of blocks.
            let l2 = self.next_table(l1, (va >> 30) as usize % ENTRIES);
            let gib_end = end.min((va | (L1_SPAN - 1)) + 1);
            while va < gib_end {
                let l2_index = (va >> 21) as usize % ENTRIES;
                if blocks && va.is_multiple_of(BLOCK_SIZE) && pa.is_multiple_of(BLOCK_SIZE) {
                    // SAFETY: `l2` is a pool table, which `self` holds exclusively.
                    let mapped = fill_blocks(unsafe { &mut *l2 }, va, pa, gib_end, kind);
                    va += mapped;
                    pa += mapped;
                    if mapped != 0 {
                        continue;
                    }
                }
                let l3 = self.next_table(l2, l2_index);
                // Every page up to the end of this 2 MiB region (one level-3 table) in one go.
                let region_end = gib_end.min((va | (BLOCK_SIZE - 1)) + 1);
                // SAFETY: `l3` is a pool table, which `self` holds exclusively.
                fill_pages(unsafe { &mut *l3 }, va, pa, region_end - va, kind);
                pa += region_end - va;
                va = region_end;
            }
        }
    }

    /// Removes the 4 KiB pages of `va..va + size` (which must have been page mapped).
    fn unmap_pages(&mut self, va: u64, size: u64) {
        let l1 = self.l1();
        let mut page = va;
        while page < va + size {
            let l2 = self.next_table(l1, (page >> 30) as usize % ENTRIES);
            let l3 = self.next_table(l2, (page >> 21) as usize % ENTRIES);
            // SAFETY: `l3` is a pool table.
            unsafe { (*l3).0[(page >> 12) as usize % ENTRIES] = 0 };
            page += PAGE_SIZE;
        }
    }
}

/// Writes the level-2 block entries mapping `va..` (block aligned, inside `table`'s GiB) to
/// `pa..` (block aligned) as `kind`, one store a block, for as many whole blocks as fit
/// before `end` and as long as each entry is empty or already that very block (two devices
/// in one 2 MiB are mapped once); returns the bytes mapped. An entry holding anything else
/// (a level-3 table: a finer mapping) ends the run: the caller maps pages there.
fn fill_blocks(table: &mut Table, va: u64, pa: u64, end: u64, kind: MapKind) -> u64 {
    let first = (va >> 21) as usize % ENTRIES;
    let count = ((end - va) / BLOCK_SIZE) as usize;
    let mut descriptor = DESCRIPTOR::ADDR.val(pa >> 12).value | kind.attributes();
    let mut mapped = 0;
    for entry in &mut table.0[first..first + count] {
        if *entry != 0 && *entry != descriptor {
            break;
        }
        *entry = descriptor;
        descriptor += BLOCK_SIZE;
        mapped += BLOCK_SIZE;
    }
    mapped
}

/// Writes the level-3 entries mapping `va..va + size` (inside `table`'s 2 MiB) to `pa..` as
/// `kind`: one store a page.
fn fill_pages(table: &mut Table, va: u64, pa: u64, size: u64, kind: MapKind) {
    let first = (va >> 12) as usize % ENTRIES;
    let count = (size / PAGE_SIZE) as usize;
    let mut descriptor =
        DESCRIPTOR::ADDR.val(pa >> 12).value | DESCRIPTOR::TYPE::TableOrPage.value | kind.attributes();
    for entry in &mut table.0[first..first + count] {
        *entry = descriptor;
        descriptor += PAGE_SIZE;
    }
}

/// What the identity map covers, from the device tree and the linker script.
pub struct MemoryMap<'a> {
    /// RAM regions.
    pub ram: &'a [Range<u64>],
    /// Device register ranges (UART, GIC).
    pub devices: &'a [Range<u64>],
    /// The kernel image.
    pub kernel: &'a KernelLayout,
    /// How many CPUs the device tree lists: only their stacks are mapped.
    pub cpus: usize,
}

fn page_round(range: &Range<u64>) -> Range<u64> {
    (range.start & !(PAGE_SIZE - 1))..range.end.next_multiple_of(PAGE_SIZE)
}

/// What to map for the device registers `device`: the 2 MiB blocks around them, unless
/// those reach into RAM (which must keep its own attributes), else their pages. A block maps
/// the neighbouring devices' registers too: harmless, as nothing is ever read from Device
/// memory speculatively (Arm ARM B2.7.2), and one block entry replaces up to 512 page
/// entries and a level-3 table (QEMU `virt`'s GICv3 redistributors alone are 352 pages
/// before their first 2 MiB boundary).
fn device_round(device: &Range<u64>, ram: &[Range<u64>]) -> Range<u64> {
    let blocks =
        (device.start & !(BLOCK_SIZE - 1))..device.end.saturating_add(BLOCK_SIZE - 1) & !(BLOCK_SIZE - 1);
    if blocks.end < device.end || ram.iter().any(|ram| ram.start < blocks.end && blocks.start < ram.end) {
        return page_round(device);
    }
    blocks
}

/// Maps the stack and exception stack of each of the first `cpus` CPUs read-write, in pages,
/// and leaves their guard pages unmapped (see `stacks::STACK_SLOT`). The slots of CPUs the
/// device tree does not list stay unmapped: no CPU can run on them (CPUs are brought up and
/// hot-plugged from the tree's list only), and mapping all 512 slots page by page was 6144
/// page-table walks, the largest part of the time before the first console line.
fn map_stacks(tables: &mut PageTables, stacks: &Range<u64>, cpus: usize) {
    let mut slot = stacks.start;
    let end = stacks.end.min(stacks.start.saturating_add((cpus.max(1) * STACK_SLOT) as u64));
    while slot + STACK_SLOT as u64 <= end {
        let stack = slot + GUARD_SIZE as u64;
        tables.map_pages(stack, stack, STACK_SIZE as u64, MapKind::ReadWrite);
        let exception_stack = stack + (STACK_SIZE + GUARD_SIZE) as u64;
        tables.map_pages(exception_stack, exception_stack, EXCEPTION_STACK_SIZE as u64, MapKind::ReadWrite);
        slot += STACK_SLOT as u64;
    }
}

/// Builds the identity map and turns the MMU and caches on for the boot CPU, then publishes
/// the same settings for the secondaries.
///
/// # Safety
///
/// Called once, on the boot CPU, with the MMU off and no other CPU running; the map must
/// cover the code, stack and data this CPU uses next.
pub unsafe fn enable(map: &MemoryMap<'_>) {
    // SAFETY: the caller promises one CPU and no MMU: nothing else reads or writes the tables.
    let tables = unsafe { &mut *TABLES.0.get() };
    let k = map.kernel;
    tables.map(k.text.start, k.text.start, k.text.end - k.text.start, MapKind::Text);
    tables.map(k.rodata.start, k.rodata.start, k.rodata.end - k.rodata.start, MapKind::ReadOnly);
    tables.map(k.data.start, k.data.start, k.data.end - k.data.start, MapKind::ReadWrite);
    map_stacks(tables, &k.stacks, map.cpus);
    for ram in map.ram {
        let ram = page_round(ram);
        // RAM less the image (mapped above) and the module area (mapped page by page as
        // modules load: see `map_module_pages`).
        let holes = [k.image.clone(), MODULE_AREA];
        let mut start = ram.start;
        for hole in holes.iter().chain(core::iter::once(&(ram.end..ram.end))) {
            let end = hole.start.clamp(start, ram.end);
            if start < end {
                tables.map(start, start, end - start, MapKind::ReadWrite);
            }
            start = start.max(hole.end.min(ram.end));
        }
    }
    for device in map.devices {
        let device = device_round(device, map.ram);
        tables.map(device.start, device.start, device.end - device.start, MapKind::Device);
    }

    let parange = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange);
    // SAFETY: as above.
    let state = unsafe { &mut *MMU_STATE.0.get() };
    state.mair = (MAIR_EL1::Attr0_Device::nonGathering_nonReordering_EarlyWriteAck
        + MAIR_EL1::Attr1_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
        + MAIR_EL1::Attr1_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc)
        .value;
    state.tcr = (TCR_EL1::T0SZ.val(64 - VA_BITS)
        + TCR_EL1::TG0::KiB_4
        + TCR_EL1::SH0::Inner
        + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
        + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
        + TCR_EL1::EPD1::DisableTTBR1Walks
        + TCR_EL1::IPS.val(parange.min(0b101)))
    .value;
    state.ttbr0 = tables.l1() as u64;

    MAIR_EL1.set(state.mair);
    TCR_EL1.set(state.tcr);
    TTBR0_EL1.set_baddr(state.ttbr0);
    barrier::isb(barrier::SY);
    // SAFETY: TLBI VMALLE1 only drops this CPU's stale translations (of the EL2&0 regime at
    // EL2 under VHE: the module documentation); nothing uses them yet.
    unsafe { core::arch::asm!("tlbi vmalle1", "dsb nsh", options(nostack, preserves_flags)) };
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(
        SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable + SCTLR_EL1::WXN::Enable,
    );
    barrier::isb(barrier::SY);
    state.sctlr = SCTLR_EL1.get();

    // The secondaries read the state with their caches off: clean it to the point of coherency.
    clean_dcache_to_poc(MMU_STATE.0.get() as u64, core::mem::size_of::<MmuState>() as u64);
}

/// Cleans `addr..addr + len` from the data caches to the point of coherency (DC CVAC), for
/// an observer with its caches off, and waits for completion (DSB SY).
pub fn clean_dcache_to_poc(addr: u64, len: u64) {
    let line = altpatch_core::plan::CacheGeometry::from_ctr_el0(cpu::ctr_el0()).dline;
    let mut at = addr & !(line - 1);
    while at < addr + len {
        // SAFETY: DC CVAC on a mapped address only writes back a line; no data changes.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) at, options(nostack, preserves_flags)) };
        at += line;
    }
    barrier::dsb(barrier::SY);
}

/// The module area: RAM that the identity map leaves out and the heap never uses, where a
/// module's sections are mapped page by page with their own permissions (identity mapped:
/// virtual = physical, so the text alias reaches module text as it reaches kernel text).
/// 2 MiB aligned, so that it splits no block of the identity map but its own; within 128 MiB
/// of kernel text, so that a module's BL/B (R_AARCH64_CALL26/JUMP26) reaches the kernel.
pub const MODULE_AREA: Range<u64> = 0x4200_0000..0x4300_0000;

/// Maps the module-area pages `pages` (identity) as `kind`. The pages were unmapped: a new
/// valid entry replaces an invalid one, so only the table writes need ordering.
///
/// # Safety
///
/// No other CPU changes the page tables meanwhile (the module loader runs on the boot CPU
/// alone, serialised by its lock); `pages` lies in [`MODULE_AREA`], page aligned, unmapped.
pub unsafe fn map_module_pages(pages: Range<u64>, kind: MapKind) {
    assert!(MODULE_AREA.start <= pages.start && pages.end <= MODULE_AREA.end);
    // SAFETY: the caller promises exclusive use of the tables.
    let tables = unsafe { &mut *TABLES.0.get() };
    tables.map_pages(pages.start, pages.start, pages.end - pages.start, kind);
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
}

/// Unmaps the module-area pages `pages` and invalidates their TLB entries on every CPU.
///
/// # Safety
///
/// As [`map_module_pages`]; and no CPU uses the pages any more.
pub unsafe fn unmap_module_pages(pages: Range<u64>) {
    assert!(MODULE_AREA.start <= pages.start && pages.end <= MODULE_AREA.end);
    // SAFETY: the caller promises exclusive use of the tables.
    let tables = unsafe { &mut *TABLES.0.get() };
    tables.unmap_pages(pages.start, pages.end - pages.start);
    invalidate_tlb(pages);
}

/// Changes the permissions of mapped module-area pages to `kind`, break-before-make (Arm
/// ARM D8.16.1): unmapped and their TLB entries invalidated on every CPU first, so no CPU
/// ever holds the old and the new permission at once (never writable and executable).
///
/// # Safety
///
/// As [`unmap_module_pages`]: nothing may access the pages while they are briefly unmapped.
pub unsafe fn protect_module_pages(pages: Range<u64>, kind: MapKind) {
    // SAFETY: the caller's promises are these functions' own.
    unsafe {
        unmap_module_pages(pages.clone());
        map_module_pages(pages, kind);
    }
}

/// TLBI VAAE1IS for every page of `pages`, completed on every CPU.
fn invalidate_tlb(pages: Range<u64>) {
    barrier::dsb(barrier::ISHST);
    let mut page = pages.start;
    while page < pages.end {
        // SAFETY: invalidating TLB entries for pages just unmapped; nothing else uses them.
        unsafe {
            core::arch::asm!("tlbi vaae1is, {}", in(reg) page >> 12, options(nostack, preserves_flags))
        };
        page += PAGE_SIZE;
    }
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// Above this many alias pages, [`with_text_alias`] removes the alias's TLB entries with one
/// broadcast invalidate of the whole regime instead of one per page (as Linux's
/// `flush_tlb_kernel_range` does above its own threshold). The alias spans every page from the
/// first write to the last, inside the stop window with every other CPU held: each broadcast
/// TLBI is a message to every CPU, and under QEMU's single-threaded TCG each one hands every
/// waiting CPU a turn.
const ALIAS_TLBI_PAGES: u64 = 4;

/// A writable view of kernel text, alive only inside [`with_text_alias`].
pub struct TextAlias {
    /// The text pages the alias maps.
    pages: Range<u64>,
}

impl TextAlias {
    /// The writable alias of text address `addr`.
    ///
    /// # Panics
    ///
    /// If `addr..addr + len` is not inside the aliased pages.
    pub fn ptr(&self, addr: u64, len: u64) -> *mut u8 {
        assert!(self.pages.start <= addr && addr + len <= self.pages.end, "{addr:#x} is not aliased");
        (TEXT_ALIAS_BASE + (addr - self.pages.start)) as *mut u8
    }
}

/// Runs `write` with the pages of kernel text `text` also mapped read-write (never
/// executable) at [`TEXT_ALIAS_BASE`]; `write` gets the [`TextAlias`] that translates.
/// The executable mapping stays read-only throughout, and the alias is removed (and its TLB
/// entries invalidated on every CPU) before this returns.
///
/// # Safety
///
/// Only one CPU runs this at a time, and no other CPU executes the text being changed until
/// the caller's synchronisation (the rendezvous) says so.
pub unsafe fn with_text_alias<R>(text: Range<u64>, write: impl FnOnce(&TextAlias) -> R) -> R {
    let text = page_round(&text);
    let size = text.end - text.start;
    // SAFETY: the caller promises exclusive use of the tables.
    let tables = unsafe { &mut *TABLES.0.get() };
    tables.map_pages(TEXT_ALIAS_BASE, text.start, size, MapKind::ReadWrite);
    // A new valid entry replaces an invalid one: no TLB maintenance, only ordering of the
    // table writes before the first access through the alias (Arm ARM D8.13.1).
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
    let result = write(&TextAlias { pages: text.clone() });
    tables.unmap_pages(TEXT_ALIAS_BASE, size);
    barrier::dsb(barrier::ISHST);
    if size <= ALIAS_TLBI_PAGES * PAGE_SIZE {
        let mut page = TEXT_ALIAS_BASE;
        while page < TEXT_ALIAS_BASE + size {
            // SAFETY: invalidating TLB entries for the alias removes a mapping nothing else
            // uses. At EL2 under VHE (E2H and TGE set) VAAE1IS invalidates the EL2&0 regime's
            // entries: the module documentation.
            unsafe {
                core::arch::asm!("tlbi vaae1is, {}", in(reg) page >> 12, options(nostack, preserves_flags))
            };
            page += PAGE_SIZE;
        }
    } else {
        // SAFETY: invalidating every entry of this regime on every CPU only costs refills; at
        // EL2 under VHE VMALLE1IS applies to the EL2&0 regime (as VAAE1IS above).
        unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack, preserves_flags)) };
    }
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    result
}
