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

/// The properties of the node being read that matter here.
#[derive(Clone, Copy, Default)]
struct NodeProps<'a> {
    name: &'a str,
    reg: Option<&'a [u8]>,
    compatible: Option<&'a [u8]>,
    device_type: Option<&'a [u8]>,
    method: Option<&'a [u8]>,
    /// Cells of this node's children's `reg` (DTSpec 2.3.5 defaults: 2 and 1).
    child_cells: (u32, u32),
}

fn has_string(list: Option<&[u8]>, want: &str) -> bool {
    list.is_some_and(|l| l.split(|&b| b == 0).any(|s| s == want.as_bytes()))
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

fn as_str(bytes: &[u8]) -> &str {
    core::str::from_utf8(until_nul(bytes)).unwrap_or("")
}

/// The bytes of a string property before its terminating NUL.
fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.split(|&b| b == 0).next().unwrap_or(&[])
}

/// Reads `blob` in one pass.
pub fn machine(blob: &[u8]) -> Result<Machine<'_>, FdtError> {
    let size = total_size(blob)?;
    let blob = blob.get(..size).ok_or(FdtError::Truncated)?;
    let (off_struct, off_strings) = (be32(blob, 8)? as usize, be32(blob, 12)? as usize);
    let (size_strings, size_struct) = (be32(blob, 32)? as usize, be32(blob, 36)? as usize);
    if size < HEADER_SIZE {
        return Err(FdtError::Truncated);
    }
    let structure = blob.get(off_struct..off_struct + size_struct).ok_or(FdtError::Truncated)?;
    let strings = blob.get(off_strings..off_strings + size_strings).ok_or(FdtError::Truncated)?;

    let mut machine = Machine {
        ram: Ranges::default(),
        mpidrs: [0; MAX_CPUS],
        cpu_count: 0,
        psci: PsciMethod::Hvc,
        uart: 0..0,
        gic: Ranges::default(),
        gicv3: false,
        bootargs: &[],
    };
    let mut psci = None;
    let mut stdout_path = "";
    let mut uarts: [(Range<u64>, &str); 4] = core::array::from_fn(|_| (0..0, ""));
    let mut uart_count = 0;
    let mut stack = [NodeProps::default(); MAX_DEPTH];
    let mut depth = 0usize; // nodes open
    let mut at = 0usize;
    loop {
        let token = be32(structure, at)?;
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                let len = structure.get(at..).ok_or(FdtError::Truncated)?.iter().position(|&b| b == 0);
                let len = len.ok_or(FdtError::Truncated)?;
                let name = core::str::from_utf8(&structure[at..at + len]).unwrap_or("");
                at = (at + len + 1).next_multiple_of(4);
                if depth == MAX_DEPTH {
                    return Err(FdtError::TooDeep);
                }
                stack[depth] = NodeProps { name, child_cells: (2, 1), ..NodeProps::default() };
                depth += 1;
            }
            FDT_PROP => {
                let len = be32(structure, at)? as usize;
                let name_off = be32(structure, at + 4)? as usize;
                let value = structure.get(at + 8..at + 8 + len).ok_or(FdtError::Truncated)?;
                at = (at + 8 + len).next_multiple_of(4);
                // Matched as bytes: the names wanted are ASCII, and skipping the UTF-8 check of
                // every property's name (hundreds in QEMU's tree) shortens the pass.
                let name = strings.get(name_off..).map(until_nul).ok_or(FdtError::Truncated)?;
                let Some(node) = depth.checked_sub(1).map(|d| &mut stack[d]) else {
                    return Err(FdtError::BadToken(at));
                };
                match name {
                    b"reg" => node.reg = Some(value),
                    b"compatible" => node.compatible = Some(value),
                    b"device_type" => node.device_type = Some(value),
                    b"method" => node.method = Some(value),
                    b"#address-cells" => node.child_cells.0 = be32(value, 0)?,
                    b"#size-cells" => node.child_cells.1 = be32(value, 0)?,
                    b"bootargs" if depth == 2 && node.name == "chosen" => machine.bootargs = until_nul(value),
                    b"stdout-path" if depth == 2 && node.name == "chosen" => stdout_path = as_str(value),
                    _ => {}
                }
            }
            FDT_END_NODE => {
                let Some(d) = depth.checked_sub(1) else { return Err(FdtError::BadToken(at - 4)) };
                let node = stack[d];
                let parent_cells = if d == 0 { (2, 1) } else { stack[d - 1].child_cells };
                let regs = || reg_entries(node.reg.unwrap_or(&[]), parent_cells);
                if node.device_type == Some(b"memory\0") {
                    for (addr, size) in regs() {
                        let end = addr.checked_add(size).ok_or(FdtError::Truncated)?;
                        if !machine.ram.push(addr..end) {
                            return Err(FdtError::TooManyRanges);
                        }
                    }
                } else if node.device_type == Some(b"cpu\0") {
                    let mpidr = regs().next().ok_or(FdtError::Missing("a CPU's reg"))?.0;
                    *machine.mpidrs.get_mut(machine.cpu_count).ok_or(FdtError::TooManyCpus)? = mpidr;
                    machine.cpu_count += 1;
                } else if has_string(node.compatible, "arm,psci-1.0")
                    || has_string(node.compatible, "arm,psci-0.2")
                    || has_string(node.compatible, "arm,psci")
                {
                    psci = match node.method {
                        Some(b"hvc\0") => Some(PsciMethod::Hvc),
                        Some(b"smc\0") => Some(PsciMethod::Smc),
                        _ => return Err(FdtError::Missing("/psci method (hvc or smc)")),
                    };
                } else if has_string(node.compatible, "arm,pl011") && uart_count < uarts.len() {
                    if let Some((addr, size)) = regs().next() {
                        uarts[uart_count] =
                            (addr..addr.checked_add(size).ok_or(FdtError::Truncated)?, node.name);
                        uart_count += 1;
                    }
                } else if has_string(node.compatible, "arm,gic-v3") {
                    machine.gicv3 = true;
                    for (addr, size) in regs() {
                        let end = addr.checked_add(size).ok_or(FdtError::Truncated)?;
                        if !machine.gic.push(addr..end) {
                            return Err(FdtError::TooManyRanges);
                        }
                    }
                }
                depth = d;
            }
            FDT_NOP => {}
            FDT_END if depth == 0 => break,
            FDT_END => return Err(FdtError::BadToken(at - 4)),
            _ => return Err(FdtError::BadToken(at - 4)),
        }
    }

    // stdout-path names a node by path, optionally with ":options": match its last component.
    let wanted = stdout_path.split(':').next().unwrap_or("").rsplit('/').next().unwrap_or("");
    let uarts = &uarts[..uart_count];
    machine.uart = uarts
        .iter()
        .find(|(_, name)| !wanted.is_empty() && *name == wanted)
        .or(uarts.first())
        .ok_or(FdtError::Missing("an arm,pl011 UART"))?
        .0
        .clone();
    machine.psci = psci.ok_or(FdtError::Missing("/psci"))?;
    if machine.ram.as_slice().is_empty() {
        return Err(FdtError::Missing("memory"));
    }
    if machine.cpu_count == 0 {
        return Err(FdtError::Missing("CPUs"));
    }
    Ok(machine)
}

#[cfg(test)]
mod tests;
