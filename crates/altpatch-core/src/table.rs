//! The `.altinstructions` entry format (docs/boot-log.md, "Alternatives entry").
//!
//! Each entry is 16 bytes, little endian, 4-byte aligned. Its two address fields are
//! relative to themselves, so the table is position independent and needs no relocation
//! before the patcher runs; [`Table::entry`] turns them into absolute addresses.

use core::fmt;

/// The size of one entry in bytes.
pub const ENTRY_SIZE: usize = 16;

/// Bit 15 of `cap`: the entry names a callback, not a replacement sequence.
pub const CALLBACK_FLAG: u16 = 1 << 15;

/// Bits 0-14 of `cap`: the capability index.
pub const CAP_INDEX_MASK: u16 = CALLBACK_FLAG - 1;

/// One entry exactly as it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEntry {
    /// Site address minus the address of this field (offset 0).
    pub orig_offset: i32,
    /// Replacement (or callback) address minus the address of this field (offset 4).
    pub alt_offset: i32,
    /// Bits 0-14 the capability index; bit 15 [`CALLBACK_FLAG`].
    pub cap: u16,
    /// Bytes at the site.
    pub orig_len: u8,
    /// Bytes of the replacement; 0 for a callback entry.
    pub alt_len: u8,
    /// The fingerprint of the capability list the entry was built against.
    pub fingerprint: u32,
}

impl RawEntry {
    /// Reads an entry from its 16 bytes.
    pub fn from_bytes(b: &[u8; ENTRY_SIZE]) -> Self {
        RawEntry {
            orig_offset: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            alt_offset: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            cap: u16::from_le_bytes([b[8], b[9]]),
            orig_len: b[10],
            alt_len: b[11],
            fingerprint: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }

    /// The 16 stored bytes of this entry.
    pub fn to_bytes(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0; ENTRY_SIZE];
        b[0..4].copy_from_slice(&self.orig_offset.to_le_bytes());
        b[4..8].copy_from_slice(&self.alt_offset.to_le_bytes());
        b[8..10].copy_from_slice(&self.cap.to_le_bytes());
        b[10] = self.orig_len;
        b[11] = self.alt_len;
        b[12..16].copy_from_slice(&self.fingerprint.to_le_bytes());
        b
    }

    /// The entry that, stored at `entry_addr`, describes `site` and `alt` (replacement or
    /// callback). `None` when either is beyond the reach of an `i32` offset.
    pub fn new(
        entry_addr: u64,
        site: u64,
        alt: u64,
        cap: u16,
        orig_len: u8,
        alt_len: u8,
        fingerprint: u32,
    ) -> Option<Self> {
        let rel = |to: u64, field: u64| i32::try_from(to.wrapping_sub(field) as i64).ok();
        Some(RawEntry {
            orig_offset: rel(site, entry_addr)?,
            alt_offset: rel(alt, entry_addr.wrapping_add(4))?,
            cap,
            orig_len,
            alt_len,
            fingerprint,
        })
    }
}

/// One entry, decoded: absolute addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AltEntry {
    /// Position in the table.
    pub index: usize,
    /// Address of the entry itself.
    pub addr: u64,
    /// The site: the code that is patched.
    pub site: u64,
    /// The replacement sequence, or for a callback entry the callback.
    pub alt: u64,
    /// The stored `cap` field (index and [`CALLBACK_FLAG`]).
    pub cap: u16,
    /// Bytes at the site.
    pub orig_len: u8,
    /// Bytes of the replacement (0 for a callback entry).
    pub alt_len: u8,
    /// The fingerprint of the capability list the entry was built against.
    pub fingerprint: u32,
}

impl AltEntry {
    /// Resolves `raw`, stored at `addr`, the `index`th entry.
    pub fn resolve(index: usize, addr: u64, raw: &RawEntry) -> Self {
        AltEntry {
            index,
            addr,
            site: addr.wrapping_add(raw.orig_offset as i64 as u64),
            alt: addr.wrapping_add(4).wrapping_add(raw.alt_offset as i64 as u64),
            cap: raw.cap,
            orig_len: raw.orig_len,
            alt_len: raw.alt_len,
            fingerprint: raw.fingerprint,
        }
    }

    /// Whether this is a callback entry.
    pub const fn is_callback(&self) -> bool {
        self.cap & CALLBACK_FLAG != 0
    }

    /// The capability index (bits 0-14 of `cap`).
    pub const fn cap_index(&self) -> u16 {
        self.cap & CAP_INDEX_MASK
    }
}

/// The table as it lies in memory: `bytes` are the table's bytes, at address `addr`.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    /// Address of the first entry (`__alt_instructions`).
    pub addr: u64,
    /// The table's bytes (`__alt_instructions..__alt_instructions_end`).
    pub bytes: &'a [u8],
}

impl<'a> Table<'a> {
    /// The number of whole entries.
    pub fn len(&self) -> usize {
        self.bytes.len() / ENTRY_SIZE
    }

    /// Whether the table has no whole entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes after the last whole entry (nonzero: the table is truncated).
    pub fn trailing_bytes(&self) -> usize {
        self.bytes.len() % ENTRY_SIZE
    }

    /// The raw `index`th entry.
    pub fn raw(&self, index: usize) -> Option<RawEntry> {
        let start = index.checked_mul(ENTRY_SIZE)?;
        let b = self.bytes.get(start..start.checked_add(ENTRY_SIZE)?)?;
        Some(RawEntry::from_bytes(b.try_into().ok()?))
    }

    /// The decoded `index`th entry.
    pub fn entry(&self, index: usize) -> Option<AltEntry> {
        let raw = self.raw(index)?;
        Some(AltEntry::resolve(index, self.addr.wrapping_add((index * ENTRY_SIZE) as u64), &raw))
    }

    /// Every whole entry, decoded, in table order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = AltEntry> + use<'a> {
        let addr = self.addr;
        self.bytes.chunks_exact(ENTRY_SIZE).enumerate().map(move |(i, b)| {
            // `chunks_exact` yields exactly ENTRY_SIZE bytes: the conversion cannot fail.
            let raw = RawEntry::from_bytes(b.try_into().unwrap_or(&[0; ENTRY_SIZE]));
            AltEntry::resolve(i, addr.wrapping_add((i * ENTRY_SIZE) as u64), &raw)
        })
    }
}

impl fmt::Display for AltEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {} site {:#x} {} {:#x} cap {}{} orig_len {} alt_len {} fingerprint {:#010x}",
            self.index,
            self.site,
            if self.is_callback() { "callback" } else { "alt" },
            self.alt,
            self.cap_index(),
            if self.is_callback() { " (callback)" } else { "" },
            self.orig_len,
            self.alt_len,
            self.fingerprint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_relative_to_their_own_field() {
        // Hand-made entry at 0x1000: orig_offset -0x100 (site 0x1000 - 0x100 = 0xf00),
        // alt_offset +0x200 from the field at 0x1004 (alt 0x1204), cap 0x8005 (callback 5).
        let bytes: [u8; 16] =
            [0x00, 0xff, 0xff, 0xff, 0x00, 0x02, 0x00, 0x00, 0x05, 0x80, 8, 0, 0x78, 0x56, 0x34, 0x12];
        let t = Table { addr: 0x1000, bytes: &bytes };
        let e = t.entry(0).unwrap();
        assert_eq!(e.site, 0xf00);
        assert_eq!(e.alt, 0x1204);
        assert!(e.is_callback());
        assert_eq!(e.cap_index(), 5);
        assert_eq!((e.orig_len, e.alt_len, e.fingerprint), (8, 0, 0x1234_5678));
        assert_eq!(t.raw(0).unwrap().to_bytes(), bytes);
    }

    #[test]
    fn raw_entry_new_round_trips_through_resolve() {
        let raw = RawEntry::new(0x4000_0010, 0x4000_0000, 0x4008_0000, 3, 8, 8, 7).unwrap();
        let e = AltEntry::resolve(1, 0x4000_0010, &raw);
        assert_eq!((e.site, e.alt), (0x4000_0000, 0x4008_0000));
    }

    #[test]
    fn truncated_table_reports_trailing_bytes() {
        let t = Table { addr: 0, bytes: &[0; 20] };
        assert_eq!((t.len(), t.trailing_bytes()), (1, 4));
    }
}
