//! What the device tree tells the kernel: memory, CPUs, the PSCI conduit, the console UART,
//! the GIC and the command line. Nothing here is assumed; a missing node is an error.

use crate::{cpu::MAX_CPUS, psci::Conduit};
use core::ops::Range;

/// Most RAM regions and device ranges kept.
const MAX_RANGES: usize = 8;

/// The boot information the kernel takes from the device tree.
pub struct BootInfo {
    /// The device tree's own location.
    pub dtb: Range<u64>,
    /// RAM regions (`/memory`).
    pub ram: heapless_ranges::Ranges,
    /// Each CPU's MPIDR affinity, in `/cpus` order; index 0 is the boot CPU's.
    pub mpidrs: [u64; MAX_CPUS],
    /// How many CPUs `/cpus` lists.
    pub cpu_count: usize,
    /// The PSCI conduit (`/psci` `method`).
    pub psci: Conduit,
    /// The console UART's registers (`/chosen` `stdout-path`, an `arm,pl011`).
    pub uart: Range<u64>,
    /// The GIC's register ranges (`arm,gic-v3` `reg`), if there is a GICv3.
    pub gic: heapless_ranges::Ranges,
    /// Whether the interrupt controller is a GICv3.
    pub gicv3: bool,
    /// `/chosen` `bootargs` (empty when absent).
    pub bootargs: &'static str,
}

/// A small fixed-capacity list of ranges (no heap exists yet when the tree is read).
pub mod heapless_ranges {
    use super::MAX_RANGES;
    use core::ops::Range;

    /// Up to eight address ranges.
    #[derive(Clone, Debug, Default)]
    pub struct Ranges {
        items: [Range<u64>; MAX_RANGES],
        len: usize,
    }

    impl Ranges {
        /// Adds `range`; false when full.
        pub fn push(&mut self, range: Range<u64>) -> bool {
            if self.len == MAX_RANGES {
                return false;
            }
            self.items[self.len] = range;
            self.len += 1;
            true
        }

        /// The ranges.
        pub fn as_slice(&self) -> &[Range<u64>] {
            &self.items[..self.len]
        }
    }
}

/// Why the device tree could not be used.
#[derive(Debug)]
pub enum DtbError {
    /// No flattened device tree at the address.
    BadHeader,
    /// A node or property the kernel needs is missing or malformed.
    Missing(&'static str),
    /// More CPUs than the kernel supports.
    TooManyCpus(usize),
    /// The boot CPU's MPIDR is not in `/cpus`.
    BootCpuNotListed(u64),
}

impl core::fmt::Display for DtbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DtbError::BadHeader => f.write_str("no valid device tree header"),
            DtbError::Missing(what) => write!(f, "device tree lacks {what}"),
            DtbError::TooManyCpus(n) => {
                write!(f, "{n} CPUs in the device tree; at most {MAX_CPUS} are supported")
            }
            DtbError::BootCpuNotListed(m) => write!(f, "boot CPU MPIDR {m:#x} is not in /cpus"),
        }
    }
}

/// The FDT header magic (Devicetree Specification v0.4, 5.2).
const FDT_MAGIC: u32 = 0xd00d_feed;

/// Whether `addr` holds a flattened device tree header.
pub fn looks_like_fdt(addr: u64) -> bool {
    // SAFETY: the caller passes an address in RAM, which is readable with the MMU off.
    addr != 0
        && addr.is_multiple_of(8)
        && u32::from_be(unsafe { core::ptr::read_volatile(addr as *const u32) }) == FDT_MAGIC
}

/// Reads the tree at `addr`; `boot_mpidr` is the running CPU's affinity, which becomes CPU 0.
///
/// # Safety
///
/// `addr` holds a flattened device tree that stays in place, unmodified, for the kernel's life.
pub unsafe fn parse(addr: u64, boot_mpidr: u64) -> Result<BootInfo, DtbError> {
    // SAFETY: the caller promises a tree at `addr` for 'static.
    let fdt = unsafe { fdt::Fdt::from_ptr(addr as *const u8) }.map_err(|_| DtbError::BadHeader)?;
    let mut ram = heapless_ranges::Ranges::default();
    for region in fdt.memory().regions() {
        let start = region.starting_address as u64;
        ram.push(start..start + region.size.ok_or(DtbError::Missing("/memory reg size"))? as u64);
    }
    if ram.as_slice().is_empty() {
        return Err(DtbError::Missing("/memory"));
    }

    let mut mpidrs = [0u64; MAX_CPUS];
    let mut cpu_count = 1;
    let mut boot_listed = false;
    for cpu in fdt.cpus() {
        let mpidr = cpu.ids().first() as u64;
        if mpidr == boot_mpidr {
            boot_listed = true;
            mpidrs[0] = mpidr;
            continue;
        }
        if cpu_count == MAX_CPUS {
            return Err(DtbError::TooManyCpus(fdt.cpus().count()));
        }
        mpidrs[cpu_count] = mpidr;
        cpu_count += 1;
    }
    if !boot_listed {
        return Err(DtbError::BootCpuNotListed(boot_mpidr));
    }

    let psci = fdt.find_node("/psci").ok_or(DtbError::Missing("/psci"))?;
    let psci = match psci.property("method").and_then(|p| p.as_str()) {
        Some("hvc") => Conduit::Hvc,
        Some("smc") => Conduit::Smc,
        _ => return Err(DtbError::Missing("/psci method (hvc or smc)")),
    };

    let uart = fdt
        .chosen()
        .stdout()
        .filter(|node| node.compatible().is_some_and(|c| c.all().any(|c| c == "arm,pl011")))
        .or_else(|| fdt.find_compatible(&["arm,pl011"]))
        .ok_or(DtbError::Missing("a PL011 UART"))?;
    let uart = uart.reg().and_then(|mut r| r.next()).ok_or(DtbError::Missing("UART reg"))?;
    let uart_start = uart.starting_address as u64;
    let uart = uart_start..uart_start + uart.size.unwrap_or(0x1000) as u64;

    let mut gic = heapless_ranges::Ranges::default();
    let gic_node = fdt.find_compatible(&["arm,gic-v3"]);
    if let Some(regs) = gic_node.and_then(|n| n.reg()) {
        for region in regs {
            let start = region.starting_address as u64;
            gic.push(start..start + region.size.unwrap_or(0) as u64);
        }
    }

    Ok(BootInfo {
        dtb: addr..addr + fdt.total_size() as u64,
        ram,
        mpidrs,
        cpu_count,
        psci,
        uart,
        gic,
        gicv3: gic_node.is_some(),
        bootargs: fdt.chosen().bootargs().unwrap_or(""),
    })
}
