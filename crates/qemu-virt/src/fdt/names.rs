//! The names and string values the reader looks for, recognised with as few byte compares
//! as the tree allows: QEMU's `virt` tree has about 60 nodes and 240 properties, and a
//! kernel reads it with its MMU off, where every access is a Device access that must be
//! aligned, so strings are compared byte by byte and each byte counts.

use super::Aligned;

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

impl PropName {
    /// Each kept name with its terminating NUL, in declaration order.
    const NAMES: [&'static [u8]; 8] = [
        b"reg\0",
        b"compatible\0",
        b"device_type\0",
        b"method\0",
        b"#address-cells\0",
        b"#size-cells\0",
        b"bootargs\0",
        b"stdout-path\0",
    ];

    /// The one kept name a name starting `first`, `second` could be.
    fn candidate(first: u8, second: u8) -> Self {
        match (first, second) {
            (b'r', _) => Self::Reg,
            (b'c', _) => Self::Compatible,
            (b'd', _) => Self::DeviceType,
            (b'm', _) => Self::Method,
            (b'#', b'a') => Self::AddressCells,
            (b'#', b's') => Self::SizeCells,
            (b'b', _) => Self::Bootargs,
            (b's', _) => Self::StdoutPath,
            _ => Self::Other,
        }
    }
}

/// Recognises property names, remembering where in the strings block each kept name was
/// found: a tree's properties share their names' strings (QEMU's holds each name once), so
/// a name is compared in full once, and every later property with it costs one compare of
/// offsets. Every answer, kept name or not, is also remembered by its offset in a small
/// direct-mapped cache: most of QEMU's 240 properties repeat a few dozen names, and a hit
/// costs one load and compare instead of two bounds-checked byte loads and a dispatch.
pub(super) struct PropNames {
    /// The strings-block offset each kept name was last found at; `usize::MAX` for none.
    found_at: [usize; PropName::NAMES.len()],
    /// Per cache slot: the offset answered there, plus one (0: none yet), and the answer.
    cached: [(u32, PropName); CACHE_SLOTS],
}

/// Slots of [`PropNames`]' cache; two offsets with the same slot evict each other, which
/// costs a full answer again, never a wrong one.
const CACHE_SLOTS: usize = 64;

impl PropNames {
    /// No name found yet.
    pub(super) const fn new() -> Self {
        Self { found_at: [usize::MAX; PropName::NAMES.len()], cached: [(0, PropName::Other); CACHE_SLOTS] }
    }

    /// [`Self::resolve`], answered from the cache when `offset` was asked before.
    pub(super) fn name_at(&mut self, strings: &[u8], offset: usize) -> PropName {
        // Names are a few to twenty bytes apart: their offsets' low bits spread them.
        let slot = &mut self.cached[offset % CACHE_SLOTS];
        let tag = u32::try_from(offset).map_or(0, |offset| offset.wrapping_add(1));
        if tag != 0 && slot.0 == tag {
            return slot.1;
        }
        let name = self.resolve(strings, offset);
        self.cached[offset % CACHE_SLOTS] = (tag, name);
        name
    }

    /// The name at `offset` of `strings` (the strings block). The first bytes pick the one
    /// candidate to check, so most properties (`interrupts`, `phandle`, `dma-coherent`, ...)
    /// are told apart after a byte or two. A name is only recognised with its terminating
    /// NUL: `region` is not `reg`.
    fn resolve(&mut self, strings: &[u8], offset: usize) -> PropName {
        let byte = |at: usize| strings.get(at).copied().unwrap_or(0);
        let candidate = PropName::candidate(byte(offset), byte(offset.wrapping_add(1)));
        let Some(found_at) = self.found_at.get_mut(candidate as usize) else { return PropName::Other };
        if *found_at == offset {
            return candidate;
        }
        let rest = strings.get(offset..).unwrap_or(&[]);
        if !rest.starts_with(PropName::NAMES[candidate as usize]) {
            return PropName::Other;
        }
        *found_at = offset;
        candidate
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
    /// first byte or four, and its end found a word at a time.
    pub(super) fn of(list: Aligned<'_>) -> Self {
        let bytes = list.bytes();
        let mut kind = Self::Other;
        let mut start = 0;
        while start < bytes.len() {
            let end = list.nul_from(start).unwrap_or(bytes.len());
            if let Some(vendor) = bytes[start..end].strip_prefix(b"arm,") {
                kind = kind.max(Self::of_arm(vendor));
            }
            start = end + 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The kind `list` names, read from a word-aligned copy.
    fn compatible(list: &[u8]) -> Compatible {
        let mut buffer: Vec<u32> = std::vec![0; list.len().div_ceil(4)];
        zerocopy::IntoBytes::as_mut_bytes(buffer.as_mut_slice())[..list.len()].copy_from_slice(list);
        let bytes = &zerocopy::IntoBytes::as_bytes(buffer.as_slice())[..list.len()];
        Compatible::of(Aligned::new(bytes).expect("a Vec<u32> is word-aligned"))
    }

    fn name_of(strings: &[u8]) -> PropName {
        PropNames::new().name_at(strings, 0)
    }

    #[test]
    fn property_names_are_recognised_with_their_nul_only() {
        let cases: [(&[u8], PropName); 10] = [
            (b"reg\0interrupts\0", PropName::Reg),
            (b"region\0", PropName::Other),
            (b"reg", PropName::Other),
            (b"#size-cells\0", PropName::SizeCells),
            (b"#address-cells\0", PropName::AddressCells),
            (b"#interrupt-cells\0", PropName::Other),
            (b"dma-coherent\0", PropName::Other),
            (b"device_type\0", PropName::DeviceType),
            (b"stdout-path\0", PropName::StdoutPath),
            (b"", PropName::Other),
        ];
        for (strings, name) in cases {
            assert_eq!(name_of(strings), name, "{:?}", std::string::String::from_utf8_lossy(strings));
        }
    }

    #[test]
    fn a_remembered_offset_still_answers_for_its_own_string_only() {
        // Two copies of "reg", one "region" (a tree need not share its strings).
        let strings = b"reg\0region\0reg\0";
        let mut names = PropNames::new();
        assert_eq!(names.name_at(strings, 0), PropName::Reg);
        assert_eq!(names.name_at(strings, 4), PropName::Other);
        assert_eq!(names.name_at(strings, 11), PropName::Reg);
        assert_eq!(names.name_at(strings, 0), PropName::Reg);
        // A suffix of a longer string is a name too ("cells" of "#size-cells" is not kept).
        assert_eq!(names.name_at(b"#size-cells\0", 6), PropName::Other);
        assert_eq!(names.name_at(strings, 99), PropName::Other);
    }

    #[test]
    fn offsets_sharing_a_cache_slot_each_keep_their_own_answer() {
        // "reg" at 0 and "region" at CACHE_SLOTS share slot 0; "phandle" at 2 * CACHE_SLOTS too.
        let mut strings = std::vec![b'x'; 3 * CACHE_SLOTS];
        strings[..4].copy_from_slice(b"reg\0");
        strings[CACHE_SLOTS..CACHE_SLOTS + 7].copy_from_slice(b"region\0");
        strings[2 * CACHE_SLOTS..2 * CACHE_SLOTS + 8].copy_from_slice(b"phandle\0");
        let mut names = PropNames::new();
        for _ in 0..2 {
            assert_eq!(names.name_at(&strings, 0), PropName::Reg);
            assert_eq!(names.name_at(&strings, 0), PropName::Reg);
            assert_eq!(names.name_at(&strings, CACHE_SLOTS), PropName::Other);
            assert_eq!(names.name_at(&strings, 2 * CACHE_SLOTS), PropName::Other);
            assert_eq!(names.name_at(&strings, 0), PropName::Reg);
        }
        // An offset too large for a tag is answered, uncached, all the same.
        assert_eq!(names.name_at(&strings, usize::MAX), PropName::Other);
        assert_eq!(names.name_at(&strings, 0), PropName::Reg);
    }

    #[test]
    fn a_compatible_list_is_read_string_by_string() {
        let cases: [(&[u8], Compatible); 8] = [
            (b"arm,pl011\0arm,primecell\0", Compatible::Pl011),
            (b"arm,primecell\0arm,pl011\0", Compatible::Pl011),
            (b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0", Compatible::Psci),
            (b"arm,gic-v3\0", Compatible::GicV3),
            // A prefix of a wanted string, or one with more after it, is another string.
            (b"arm,pl0110\0arm,gic\0arm,psci-0\0", Compatible::Other),
            (b"virtio,mmio\0", Compatible::Other),
            // A last string without its NUL still counts, as DTSpec's lists are read in practice.
            (b"foo\0arm,pl011", Compatible::Pl011),
            (b"arm,pl011\0arm,psci\0", Compatible::Psci),
        ];
        for (list, kind) in cases {
            assert_eq!(compatible(list), kind, "{:?}", std::string::String::from_utf8_lossy(list));
        }
    }

    #[test]
    fn device_types_need_their_nul_and_nothing_after() {
        assert_eq!(DeviceType::of(b"memory\0"), DeviceType::Memory);
        assert_eq!(DeviceType::of(b"cpu\0"), DeviceType::Cpu);
        assert_eq!(DeviceType::of(b"cpu"), DeviceType::Other);
        assert_eq!(DeviceType::of(b"cpus\0"), DeviceType::Other);
    }
}
