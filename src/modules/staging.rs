//! The staging window: where QEMU places module objects (`-device loader,...,force-raw=on`,
//! from `scripts/run --module PATH`), one per 1 MiB slot. The kernel keeps the window out of
//! its heap and reads each slot that starts with an ELF header; the object's length comes
//! from its own section headers.

use alloc::{format, string::String};
use core::{
    ops::Range,
    sync::atomic::{AtomicBool, Ordering},
};

/// The window: 16 slots of 1 MiB, in RAM above the module area.
pub const STAGING: Range<u64> = 0x4300_0000..0x4400_0000;
/// Bytes per slot: the most a module object may take.
pub const SLOT_SIZE: u64 = 1 << 20;

/// Whether RAM covers the window and the module area (`-m` large enough).
static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// Records whether RAM covers the staging window and the module area.
pub fn set_available(available: bool) {
    AVAILABLE.store(available, Ordering::Relaxed);
}

/// The staging header's magic, after the object's length: `ALTPSTG1`.
const STAGE_MAGIC: [u8; 8] = *b"ALTPSTG1";
/// Bytes of the staging header: the object's length (u64), then [`STAGE_MAGIC`].
const STAGE_HEADER: usize = 16;

/// Every staged object, with its slot number, in slot order: a slot whose first bytes are
/// not all zero holds one (RAM starts zeroed). The object, exactly as many bytes as the
/// staging header gives (never what its own headers claim), or why it cannot be read: each
/// gets a line from its caller, loaded or refused.
pub fn staged() -> impl Iterator<Item = (usize, Result<&'static [u8], String>)> {
    let slots = if AVAILABLE.load(Ordering::Relaxed) { (STAGING.end - STAGING.start) / SLOT_SIZE } else { 0 };
    (0..slots as usize).filter_map(|slot| {
        let start = STAGING.start + slot as u64 * SLOT_SIZE;
        // SAFETY: the window is RAM, identity mapped, that nothing but QEMU's loader writes
        // (the heap excludes it), and it is only read.
        let bytes = unsafe { core::slice::from_raw_parts(start as *const u8, SLOT_SIZE as usize) };
        if bytes[..STAGE_HEADER].iter().all(|&b| b == 0) {
            return None;
        }
        Some((slot, object(bytes)))
    })
}

/// The object in slot bytes `slot`, as long as its staging header says (the loader's parse
/// refuses an object whose own headers claim more).
fn object(slot: &[u8]) -> Result<&[u8], String> {
    let (header, rest) = slot.split_at(STAGE_HEADER);
    if header[8..] != STAGE_MAGIC {
        return Err(String::from("no staging header (stage modules with scripts/run --module)"));
    }
    let len = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
    usize::try_from(len)
        .ok()
        .and_then(|len| rest.get(..len))
        .ok_or_else(|| format!("its staging header claims {len} bytes, more than its slot holds"))
}
