//! The names and string values the reader looks for, recognised with as few byte compares
//! as the tree allows: QEMU's `virt` tree has about 60 nodes and 240 properties, and a
//! kernel reads it with its MMU off, where every access is a Device access that must be
//! aligned, so strings are compared byte by byte and each byte counts.

/// The property names the reader keeps (DTSpec 2.3, 3.5, 3.6); every other is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PropName {
    Reg,
    Compatible,
    DeviceType,
    Method,
    AddressCells,
    SizeCells,
    Bootargs,
    StdoutPath,
    Other,
}

/// The name at the start of `strings` (the strings block from the property's name offset).
/// The first byte picks the one candidate to compare, so most properties (`interrupts`,
/// `phandle`, `dma-coherent`, ...) are told apart after a byte or two. A name is only
/// recognised with its terminating NUL: `region` is not `reg`.
pub(super) fn prop_name(strings: &[u8]) -> PropName {
    let is = |name: &[u8]| strings.starts_with(name);
    match strings.first() {
        Some(b'r') if is(b"reg\0") => PropName::Reg,
        Some(b'c') if is(b"compatible\0") => PropName::Compatible,
        Some(b'd') if is(b"device_type\0") => PropName::DeviceType,
        Some(b'm') if is(b"method\0") => PropName::Method,
        Some(b'#') if is(b"#address-cells\0") => PropName::AddressCells,
        Some(b'#') if is(b"#size-cells\0") => PropName::SizeCells,
        Some(b'b') if is(b"bootargs\0") => PropName::Bootargs,
        Some(b's') if is(b"stdout-path\0") => PropName::StdoutPath,
        _ => PropName::Other,
    }
}

/// A node's `device_type` (DTSpec 3.4, 3.7), for the two the reader takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DeviceType {
    Memory,
    Cpu,
    Other,
}

impl DeviceType {
    /// The type a `device_type` value names (a string with its NUL, nothing after it).
    pub(super) fn of(value: &[u8]) -> Self {
        match value {
            b"memory\0" => Self::Memory,
            b"cpu\0" => Self::Cpu,
            _ => Self::Other,
        }
    }
}

/// What a node's `compatible` list makes it, for the three kinds of node the reader takes.
/// When one list names several, the PSCI node wins over a PL011, and a PL011 over a GICv3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Compatible {
    Other,
    GicV3,
    Pl011,
    Psci,
}

impl Compatible {
    /// The kind a `compatible` value (NUL-separated strings, DTSpec 2.3.1) names. Every
    /// string wanted starts with `arm,`: a string that does not is passed over after its
    /// first byte or four.
    pub(super) fn of(list: &[u8]) -> Self {
        let mut kind = Self::Other;
        let mut rest = list;
        while !rest.is_empty() {
            let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            if let Some(vendor) = rest[..len].strip_prefix(b"arm,") {
                kind = kind.max(Self::of_arm(vendor));
            }
            rest = rest.get(len + 1..).unwrap_or(&[]);
        }
        kind
    }

    /// The kind an `arm,` compatible string names, from the part after `arm,`.
    fn of_arm(model: &[u8]) -> Self {
        match model {
            b"psci" | b"psci-0.2" | b"psci-1.0" => Self::Psci,
            b"pl011" => Self::Pl011,
            b"gic-v3" => Self::GicV3,
            _ => Self::Other,
        }
    }
}

/// How many bytes of `block` from `at` come before the next NUL; `None` when none does.
pub(super) fn nul_at(block: &[u8], at: usize) -> Option<usize> {
    block.get(at..)?.iter().position(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_names_are_recognised_with_their_nul_only() {
        assert_eq!(prop_name(b"reg\0interrupts\0"), PropName::Reg);
        assert_eq!(prop_name(b"region\0"), PropName::Other);
        assert_eq!(prop_name(b"reg"), PropName::Other);
        assert_eq!(prop_name(b"#size-cells\0"), PropName::SizeCells);
        assert_eq!(prop_name(b"#address-cells\0"), PropName::AddressCells);
        assert_eq!(prop_name(b"#interrupt-cells\0"), PropName::Other);
        assert_eq!(prop_name(b"dma-coherent\0"), PropName::Other);
        assert_eq!(prop_name(b"device_type\0"), PropName::DeviceType);
        assert_eq!(prop_name(b""), PropName::Other);
    }

    #[test]
    fn a_compatible_list_is_read_string_by_string() {
        assert_eq!(Compatible::of(b"arm,pl011\0arm,primecell\0"), Compatible::Pl011);
        assert_eq!(Compatible::of(b"arm,primecell\0arm,pl011\0"), Compatible::Pl011);
        assert_eq!(Compatible::of(b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0"), Compatible::Psci);
        assert_eq!(Compatible::of(b"arm,gic-v3\0"), Compatible::GicV3);
        // A prefix of a wanted string, or one with more after it, is another string.
        assert_eq!(Compatible::of(b"arm,pl0110\0arm,gic\0arm,psci-0\0"), Compatible::Other);
        assert_eq!(Compatible::of(b"virtio,mmio\0"), Compatible::Other);
        // A last string without its NUL still counts, as DTSpec's lists are read in practice.
        assert_eq!(Compatible::of(b"foo\0arm,pl011"), Compatible::Pl011);
        assert_eq!(Compatible::of(b"arm,pl011\0arm,psci\0"), Compatible::Psci);
    }

    #[test]
    fn device_types_need_their_nul_and_nothing_after() {
        assert_eq!(DeviceType::of(b"memory\0"), DeviceType::Memory);
        assert_eq!(DeviceType::of(b"cpu\0"), DeviceType::Cpu);
        assert_eq!(DeviceType::of(b"cpu"), DeviceType::Other);
        assert_eq!(DeviceType::of(b"cpus\0"), DeviceType::Other);
    }

    #[test]
    fn nul_at_counts_the_bytes_before_the_nul() {
        assert_eq!(nul_at(b"\0\0\0\0cpus\0", 4), Some(4));
        assert_eq!(nul_at(b"cpus", 0), None);
        assert_eq!(nul_at(b"cpus\0", 9), None);
    }
}
