//! Linux arm64's `struct alt_instr` (arch/arm64/include/asm/alternative-macros.h): 12 bytes,
//! little endian: `s32 orig_offset`, `s32 alt_offset` (both relative to their own field),
//! `u16 cpufeature`, `u8 orig_len`, `u8 alt_len`. The layout is the same from 4.x to 6.12;
//! what changed is how a callback entry is marked.

/// The size of one entry.
pub const ENTRY_SIZE: usize = 12;
/// Linux 6.1+'s `ARM64_CB_BIT`: bit 15 of `cpufeature` marks a callback.
pub const CB_BIT: u16 = 1 << 15;

/// A kernel version, `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl Version {
    /// The version a release string starts with (`6.1.0-57-arm64` is 6.1).
    pub fn of_release(release: &str) -> Option<Version> {
        let mut it = release.split(|c: char| !c.is_ascii_digit());
        Some(Version(it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    }

    /// How this version marks a callback entry.
    pub fn callback_marker(self) -> CallbackMarker {
        if self >= Version(6, 1) { CallbackMarker::Bit15 } else { CallbackMarker::NcapsSentinel }
    }
}

/// How callbacks are told from replacements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackMarker {
    /// 6.1 and later: `cpufeature` bit 15, the capability in bits 0-14.
    Bit15,
    /// Before 6.1: `cpufeature == ARM64_NCAPS` (the callback always runs).
    NcapsSentinel,
}

/// Where an entry points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loc {
    /// An address in the space being checked.
    Addr(u64),
    /// A symbol the space does not define (a module's reference to the kernel).
    External(String),
}

/// One decoded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alt {
    /// Index in its table.
    pub index: usize,
    /// The site patched.
    pub site: Loc,
    /// The replacement, or the callback function.
    pub target: Loc,
    /// The raw `cpufeature` field.
    pub raw: u16,
    /// The capability number.
    pub cap: u16,
    /// Whether this is a callback entry.
    pub callback: bool,
    /// Bytes at the site.
    pub orig_len: u8,
    /// Bytes of the replacement (0 for a callback).
    pub alt_len: u8,
}

impl Alt {
    /// Decodes the entry `index` at address `at` from its 12 bytes, the offsets resolved
    /// against `at` (a linked image: the PC-relative fields hold final values).
    pub fn decode(index: usize, at: u64, b: &[u8; ENTRY_SIZE], marker: CallbackMarker, ncaps: u16) -> Alt {
        let orig = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let alt = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let site = Loc::Addr(at.wrapping_add_signed(i64::from(orig)));
        let target = Loc::Addr((at + 4).wrapping_add_signed(i64::from(alt)));
        Alt::with_locs(index, site, target, u16::from_le_bytes([b[8], b[9]]), b[10], b[11], marker, ncaps)
    }

    /// An entry whose site and target are already resolved.
    #[allow(clippy::too_many_arguments)]
    pub fn with_locs(
        index: usize,
        site: Loc,
        target: Loc,
        raw: u16,
        orig_len: u8,
        alt_len: u8,
        marker: CallbackMarker,
        ncaps: u16,
    ) -> Alt {
        let (cap, callback) = match marker {
            CallbackMarker::Bit15 => (raw & !CB_BIT, raw & CB_BIT != 0),
            CallbackMarker::NcapsSentinel => (raw, raw == ncaps),
        };
        Alt { index, site, target, raw, cap, callback, orig_len, alt_len }
    }
}

/// Decodes a whole table at `addr`; a trailing partial entry is ignored (and reported by
/// the caller).
pub fn decode_table(addr: u64, bytes: &[u8], marker: CallbackMarker, ncaps: u16) -> Vec<Alt> {
    bytes
        .chunks_exact(ENTRY_SIZE)
        .enumerate()
        .map(|(i, c)| {
            Alt::decode(i, addr + (i * ENTRY_SIZE) as u64, c.try_into().unwrap_or(&[0; 12]), marker, ncaps)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(orig: i32, alt: i32, f: u16, ol: u8, al: u8) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&orig.to_le_bytes());
        b[4..8].copy_from_slice(&alt.to_le_bytes());
        b[8..10].copy_from_slice(&f.to_le_bytes());
        b[10] = ol;
        b[11] = al;
        b
    }

    #[test]
    fn offsets_are_relative_to_their_own_fields() {
        let a = Alt::decode(3, 0x1000, &raw(-0x100, 0x20, 26, 4, 4), CallbackMarker::Bit15, 85);
        assert_eq!((a.site, a.target, a.cap, a.callback), (Loc::Addr(0xf00), Loc::Addr(0x1024), 26, false));
    }

    #[test]
    fn callbacks_are_bit_15_from_6_1_and_the_ncaps_sentinel_before() {
        assert_eq!(Version::of_release("6.1.0-57-arm64"), Some(Version(6, 1)));
        assert_eq!(
            Version::of_release("5.10.0-30-arm64").unwrap().callback_marker(),
            CallbackMarker::NcapsSentinel
        );
        let cb = Alt::decode(0, 0, &raw(0, 0, CB_BIT | 1, 4, 0), CallbackMarker::Bit15, 85);
        assert_eq!((cb.cap, cb.callback), (1, true));
        let old = Alt::decode(0, 0, &raw(0, 0, 70, 4, 0), CallbackMarker::NcapsSentinel, 70);
        assert_eq!((old.cap, old.callback), (70, true));
        let plain = Alt::decode(0, 0, &raw(0, 0, 69, 4, 4), CallbackMarker::NcapsSentinel, 70);
        assert!(!plain.callback);
    }
}
