//! A single-pass reader of the flattened device tree (Devicetree Specification v0.4,
//! chapter 5), and the machine description the kernel takes from it.
//!
//! One walk of the structure block collects everything the kernel needs: RAM, the CPUs'
//! MPIDRs, the PSCI conduit, the console UART, the GIC and the command line. Bounds are
//! checked everywhere; a malformed tree is an error, never a panic.

use core::ops::Range;

/// The header magic (DTSpec 5.2).
pub const MAGIC: u32 = 0xd00d_feed;
/// Header size in bytes (DTSpec 5.2: ten big-endian u32 fields).
const HEADER_SIZE: usize = 40;
/// Structure block tokens (DTSpec 5.4.1).
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/// Deepest nesting followed; QEMU's trees are 4 deep.
const MAX_DEPTH: usize = 16;
/// Most CPUs recorded: QEMU `virt`'s limit with a GICv3.
pub const MAX_CPUS: usize = 512;
/// Most RAM or GIC ranges recorded.
pub const MAX_RANGES: usize = 8;

/// Why a tree could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdtError {
    /// No FDT magic at the start.
    BadMagic,
    /// A header offset or size points outside the blob, or a token runs past its block.
    Truncated,
    /// An unknown token at this offset of the structure block.
    BadToken(usize),
    /// Nodes nest deeper than the reader follows.
    TooDeep,
    /// More CPUs than [`MAX_CPUS`].
    TooManyCpus,
    /// More memory or GIC ranges than [`MAX_RANGES`].
    TooManyRanges,
    /// A node the kernel needs is missing.
    Missing(&'static str),
    /// The structure block does not start on a 4-byte boundary (DTSpec 5.4).
    Misaligned,
}

impl core::fmt::Display for FdtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FdtError::BadMagic => f.write_str("no device tree magic"),
            FdtError::Truncated => f.write_str("device tree truncated"),
            FdtError::BadToken(at) => write!(f, "bad device tree token at {at:#x}"),
            FdtError::TooDeep => f.write_str("device tree nests too deep"),
            FdtError::TooManyCpus => write!(f, "more than {MAX_CPUS} CPUs"),
            FdtError::TooManyRanges => write!(f, "more than {MAX_RANGES} memory or GIC ranges"),
            FdtError::Missing(what) => write!(f, "device tree lacks {what}"),
            FdtError::Misaligned => f.write_str("device tree structure block not 4-byte aligned"),
        }
    }
}

fn be32(data: &[u8], at: usize) -> Result<u32, FdtError> {
    let bytes = data.get(at..at + 4).ok_or(FdtError::Truncated)?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The size the header claims for the whole blob: read it first to know how much to map.
pub fn total_size(header: &[u8]) -> Result<usize, FdtError> {
    if be32(header, 0)? != MAGIC {
        return Err(FdtError::BadMagic);
    }
    Ok(be32(header, 4)? as usize)
}

/// A fixed-capacity list of address ranges (the kernel reads the tree before it has a heap).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranges {
    items: [Range<u64>; MAX_RANGES],
    len: usize,
}

impl Ranges {
    /// No ranges.
    pub const EMPTY: Self = Self { items: [const { 0..0 }; MAX_RANGES], len: 0 };

    /// Adds `range`; false when full.
    pub fn push(&mut self, range: Range<u64>) -> bool {
        if self.len == MAX_RANGES {
            return false;
        }
        self.items[self.len] = range;
        self.len += 1;
        true
    }

    /// The ranges, in tree order.
    pub fn as_slice(&self) -> &[Range<u64>] {
        &self.items[..self.len]
    }
}

/// How PSCI calls reach the firmware (`/psci` `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// HVC #0.
    Hvc,
    /// SMC #0.
    Smc,
}

/// What the kernel takes from the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine<'a> {
    /// RAM (`device_type = "memory"` nodes' `reg`).
    pub ram: Ranges,
    /// Each CPU's MPIDR affinity (`device_type = "cpu"` nodes' `reg`), in tree order.
    pub mpidrs: [u64; MAX_CPUS],
    /// How many CPUs the tree lists.
    pub cpu_count: usize,
    /// The PSCI conduit.
    pub psci: PsciMethod,
    /// The console: the `arm,pl011` that `/chosen` `stdout-path` names, or the first one.
    pub uart: Range<u64>,
    /// The GICv3's register ranges (`arm,gic-v3` `reg`); empty without one.
    pub gic: Ranges,
    /// Whether there is a GICv3.
    pub gicv3: bool,
    /// `/chosen` `bootargs` up to its NUL, as bytes (empty when absent): whether they are
    /// text is for the command-line parser to say, argument by argument.
    pub bootargs: &'a [u8],
}

impl Machine<'_> {
    /// Nothing read yet: no RAM, no CPUs, no UART.
    pub const EMPTY: Self = Self {
        ram: Ranges::EMPTY,
        mpidrs: [0; MAX_CPUS],
        cpu_count: 0,
        psci: PsciMethod::Hvc,
        uart: 0..0,
        gic: Ranges::EMPTY,
        gicv3: false,
        bootargs: &[],
    };
}

/// What the reader keeps of the node being read, classified as its properties arrive so
/// that closing the node compares no strings.
#[derive(Clone, Copy)]
struct NodeProps<'a> {
    /// The unit name, as bytes (matched against `stdout-path`, and for `/chosen`).
    name: &'a [u8],
    reg: &'a [u8],
    device_type: DeviceType,
    compatible: Compatible,
    method: Option<&'a [u8]>,
    /// Cells of this node's children's `reg` (DTSpec 2.3.5 defaults: 2 and 1).
    child_cells: (u32, u32),
}

impl NodeProps<'_> {
    const EMPTY: Self = Self {
        name: &[],
        reg: &[],
        device_type: DeviceType::Other,
        compatible: Compatible::Other,
        method: None,
        child_cells: (2, 1),
    };
}

fn read_cells(bytes: &[u8], cells: u32) -> Option<u64> {
    if cells == 0 || cells > 2 || bytes.len() < cells as usize * 4 {
        return (cells == 0).then_some(0);
    }
    let mut value = 0u64;
    for word in bytes[..cells as usize * 4].chunks_exact(4) {
        value = value << 32 | u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    Some(value)
}

/// The `(address, size)` pairs of a `reg` value.
fn reg_entries(reg: &[u8], (addr_cells, size_cells): (u32, u32)) -> impl Iterator<Item = (u64, u64)> + '_ {
    let stride = ((addr_cells + size_cells) * 4).max(4) as usize;
    reg.chunks_exact(stride).filter_map(move |entry| {
        let addr = read_cells(entry, addr_cells)?;
        let size = read_cells(&entry[addr_cells as usize * 4..], size_cells)?;
        Some((addr, size))
    })
}

/// The bytes of a string property before its terminating NUL.
fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.split(|&b| b == 0).next().unwrap_or(&[])
}

/// The blocks of a tree, from its header (DTSpec 5.2).
struct Blocks<'a> {
    structure: Aligned<'a>,
    strings: &'a [u8],
}

fn blocks(blob: &[u8]) -> Result<Blocks<'_>, FdtError> {
    let size = total_size(blob)?;
    let blob = blob.get(..size).ok_or(FdtError::Truncated)?;
    let (off_struct, off_strings) = (be32(blob, 8)? as usize, be32(blob, 12)? as usize);
    let (size_strings, size_struct) = (be32(blob, 32)? as usize, be32(blob, 36)? as usize);
    if size < HEADER_SIZE {
        return Err(FdtError::Truncated);
    }
    let structure =
        blob.get(off_struct..off_struct.saturating_add(size_struct)).ok_or(FdtError::Truncated)?;
    let strings =
        blob.get(off_strings..off_strings.saturating_add(size_strings)).ok_or(FdtError::Truncated)?;
    Ok(Blocks { structure: Aligned::new(structure)?, strings })
}

/// Reads `blob` in one pass.
pub fn machine(blob: &[u8]) -> Result<Machine<'_>, FdtError> {
    let mut machine = Machine::EMPTY;
    read_machine(blob, &mut machine)?;
    Ok(machine)
}

/// Reads `blob` in one pass into `machine`, in place: a kernel keeps its [`Machine`] (4 KiB
/// of MPIDRs) in a static, and moving one costs more instructions than reading the tree.
/// Every field is overwritten; on an error `machine` holds part of the tree.
pub fn read_machine<'a>(blob: &'a [u8], machine: &mut Machine<'a>) -> Result<(), FdtError> {
    let Blocks { structure, strings } = blocks(blob)?;
    machine.ram = Ranges::EMPTY;
    machine.cpu_count = 0;
    machine.gic = Ranges::EMPTY;
    machine.gicv3 = false;
    machine.bootargs = &[];
    let mut found = Found::default();
    let mut names = PropNames::new();
    let mut stack = [NodeProps::EMPTY; MAX_DEPTH];
    let mut depth = 0usize; // nodes open
    let mut at = 0usize; // in words
    loop {
        let token = structure.be32(at)?;
        at += 1;
        match token {
            FDT_BEGIN_NODE => {
                let len = structure.nul_from(at * 4).ok_or(FdtError::Truncated)? - at * 4;
                let node = stack.get_mut(depth).ok_or(FdtError::TooDeep)?;
                *node = NodeProps { name: structure.sub(at, len)?.bytes(), ..NodeProps::EMPTY };
                // The name, its NUL and the padding to the next word.
                at += len / 4 + 1;
                depth += 1;
            }
            FDT_PROP => {
                let len = structure.be32(at)? as usize;
                let name_off = structure.be32(at + 1)? as usize;
                let value = structure.sub(at + 2, len)?;
                at += 2 + len.div_ceil(4);
                if name_off > strings.len() {
                    return Err(FdtError::Truncated);
                }
                let name = names.name_at(strings, name_off);
                let Some(node) = depth.checked_sub(1).map(|d| &mut stack[d]) else {
                    return Err(FdtError::BadToken(at * 4));
                };
                let chosen = || depth == 2 && node.name == b"chosen";
                match name {
                    PropName::Reg => node.reg = value.bytes(),
                    PropName::Compatible => node.compatible = Compatible::of(value),
                    PropName::DeviceType => node.device_type = DeviceType::of(value.bytes()),
                    PropName::Method => node.method = Some(value.bytes()),
                    PropName::AddressCells => node.child_cells.0 = value.be32(0)?,
                    PropName::SizeCells => node.child_cells.1 = value.be32(0)?,
                    PropName::Bootargs if chosen() => machine.bootargs = until_nul(value.bytes()),
                    PropName::StdoutPath if chosen() => found.stdout_path = until_nul(value.bytes()),
                    _ => {}
                }
            }
            FDT_END_NODE => {
                let Some(d) = depth.checked_sub(1) else { return Err(FdtError::BadToken(at * 4 - 4)) };
                let parent_cells = if d == 0 { (2, 1) } else { stack[d - 1].child_cells };
                close_node(&stack[d], parent_cells, machine, &mut found)?;
                depth = d;
            }
            FDT_NOP => {}
            FDT_END if depth == 0 => break,
            _ => return Err(FdtError::BadToken(at * 4 - 4)),
        }
    }
    found.finish(machine)
}

/// What the walk found besides the fields it fills in directly.
#[derive(Default)]
struct Found<'a> {
    psci: Option<PsciMethod>,
    stdout_path: &'a [u8],
    uarts: [(Range<u64>, &'a [u8]); 4],
    uart_count: usize,
}

impl<'a> Found<'a> {
    /// The console, the conduit, and the checks that the tree had what the kernel needs.
    fn finish(self, machine: &mut Machine<'a>) -> Result<(), FdtError> {
        // stdout-path names a node by path, optionally with ":options": match its last component.
        let path = self.stdout_path.split(|&b| b == b':').next().unwrap_or(&[]);
        let wanted = path.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
        let uarts = &self.uarts[..self.uart_count];
        machine.uart = uarts
            .iter()
            .find(|(_, name)| !wanted.is_empty() && *name == wanted)
            .or(uarts.first())
            .ok_or(FdtError::Missing("an arm,pl011 UART"))?
            .0
            .clone();
        machine.psci = self.psci.ok_or(FdtError::Missing("/psci"))?;
        if machine.ram.as_slice().is_empty() {
            return Err(FdtError::Missing("memory"));
        }
        if machine.cpu_count == 0 {
            return Err(FdtError::Missing("CPUs"));
        }
        Ok(())
    }
}

/// Takes what the kernel needs from a node as it closes; `parent_cells` size its `reg`.
fn close_node<'a>(
    node: &NodeProps<'a>,
    parent_cells: (u32, u32),
    machine: &mut Machine<'a>,
    found: &mut Found<'a>,
) -> Result<(), FdtError> {
    let regs = || reg_entries(node.reg, parent_cells);
    let range =
        |(addr, size): (u64, u64)| addr.checked_add(size).map(|end| addr..end).ok_or(FdtError::Truncated);
    match (node.device_type, node.compatible) {
        (DeviceType::Memory, _) => {
            for entry in regs() {
                if !machine.ram.push(range(entry)?) {
                    return Err(FdtError::TooManyRanges);
                }
            }
        }
        (DeviceType::Cpu, _) => {
            let mpidr = regs().next().ok_or(FdtError::Missing("a CPU's reg"))?.0;
            *machine.mpidrs.get_mut(machine.cpu_count).ok_or(FdtError::TooManyCpus)? = mpidr;
            machine.cpu_count += 1;
        }
        (_, Compatible::Psci) => {
            found.psci = match node.method {
                Some(b"hvc\0") => Some(PsciMethod::Hvc),
                Some(b"smc\0") => Some(PsciMethod::Smc),
                _ => return Err(FdtError::Missing("/psci method (hvc or smc)")),
            };
        }
        (_, Compatible::Pl011) if found.uart_count < found.uarts.len() => {
            if let Some(entry) = regs().next() {
                found.uarts[found.uart_count] = (range(entry)?, node.name);
                found.uart_count += 1;
            }
        }
        (_, Compatible::GicV3) => {
            machine.gicv3 = true;
            for entry in regs() {
                if !machine.gic.push(range(entry)?) {
                    return Err(FdtError::TooManyRanges);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

mod aligned;
mod names;
use aligned::Aligned;
use names::{Compatible, DeviceType, PropName, PropNames};

#[cfg(test)]
mod tests;
