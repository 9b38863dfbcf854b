//! What the device tree tells the kernel: memory, CPUs, the PSCI conduit, the console UART,
//! the GIC and the command line, read in one pass by [`qemu_virt::fdt`]. Nothing here is
//! assumed; a missing node is an error.

use core::{
    cell::UnsafeCell,
    ops::Range,
    sync::atomic::{AtomicBool, Ordering},
};
use qemu_virt::fdt::{self, FdtError};

/// The boot information the kernel takes from the device tree.
pub struct BootInfo {
    /// The device tree's own location (kept out of the heap).
    pub dtb: Range<u64>,
    /// The machine as the tree describes it, with the boot CPU moved to index 0 of `mpidrs`
    /// (the others keep the tree's order).
    pub machine: fdt::Machine<'static>,
}

/// Why the device tree could not be used.
#[derive(Debug)]
pub enum DtbError {
    /// The tree is malformed or lacks a node.
    Tree(FdtError),
    /// The boot CPU's MPIDR is not in `/cpus`.
    BootCpuNotListed(u64),
}

impl core::fmt::Display for DtbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DtbError::Tree(error) => error.fmt(f),
            DtbError::BootCpuNotListed(m) => write!(f, "boot CPU MPIDR {m:#x} is not in /cpus"),
        }
    }
}

/// Whether `addr` holds a flattened device tree header.
///
/// # Safety
///
/// `addr` is 0 or readable for 4 bytes (with the MMU off: an address in RAM).
pub unsafe fn looks_like_fdt(addr: u64) -> bool {
    // SAFETY: the caller promises `addr` is readable; 0 and misaligned values are not read.
    addr != 0
        && addr.is_multiple_of(8)
        && u32::from_be(unsafe { core::ptr::read_volatile(addr as *const u32) }) == fdt::MAGIC
}

/// Where [`parse`] reads the tree into, in place (4 KiB of MPIDRs: moving a [`BootInfo`]
/// around cost more instructions than reading the tree), and whether it has.
struct Slot {
    info: UnsafeCell<BootInfo>,
    taken: AtomicBool,
}

// SAFETY: `info` is written only by the one `parse` call that wins `taken`, before it hands
// out the shared reference every later reader uses.
unsafe impl Sync for Slot {}

static BOOT_INFO: Slot = Slot {
    info: UnsafeCell::new(BootInfo { dtb: 0..0, machine: fdt::Machine::EMPTY }),
    taken: AtomicBool::new(false),
};

/// Reads the tree at `addr`; `boot_mpidr` is the running CPU's affinity, which becomes CPU 0.
/// Once per boot: the boot information lives for the kernel's life.
///
/// # Panics
///
/// If called a second time.
///
/// # Safety
///
/// `addr` holds a flattened device tree that stays in place, unmodified, for the kernel's life.
pub unsafe fn parse(addr: u64, boot_mpidr: u64) -> Result<&'static BootInfo, DtbError> {
    assert!(!BOOT_INFO.taken.swap(true, Ordering::AcqRel), "the device tree is read once");
    // SAFETY: the flag just taken makes this the only access to the slot, ever, until the
    // shared reference below is handed out.
    let info = unsafe { &mut *BOOT_INFO.info.get() };
    // SAFETY: the caller promises a tree at `addr`: its header is readable.
    let header = unsafe { core::slice::from_raw_parts(addr as *const u8, 40) };
    let size = fdt::total_size(header).map_err(DtbError::Tree)?;
    // SAFETY: the header gives the blob's size; the caller promises it stays for 'static.
    let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(addr as *const u8, size) };
    fdt::read_machine(blob, &mut info.machine).map_err(DtbError::Tree)?;
    info.dtb = addr..addr + size as u64;
    // The boot CPU becomes CPU 0; rotating it to the front keeps the others in tree order.
    let listed = &mut info.machine.mpidrs[..info.machine.cpu_count];
    let boot = listed.iter().position(|&m| m == boot_mpidr).ok_or(DtbError::BootCpuNotListed(boot_mpidr))?;
    listed[..=boot].rotate_right(1);
    Ok(info)
}
