//! The `[%5u.%06u] ` that starts every console line (Linux's printk time), formatted by
//! hand: through `core::fmt` its padding went out a character at a time, and it was a
//! quarter of each short line's instructions.

/// Seconds take at least five digits (right aligned), at most twenty (`u64::MAX` µs).
const LEN: usize = 1 + 20 + 1 + 6 + 2;

/// A formatted timestamp.
pub struct Stamp {
    bytes: [u8; LEN],
    start: usize,
}

impl Stamp {
    /// `[sssss.uuuuuu] ` for `micros` microseconds since reset.
    pub fn new(micros: u64) -> Self {
        let mut bytes = [b' '; LEN];
        bytes[LEN - 2] = b']';
        let mut at = LEN - 2;
        let mut fraction = micros % 1_000_000;
        for _ in 0..6 {
            at -= 1;
            bytes[at] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        at -= 1;
        bytes[at] = b'.';
        let mut seconds = micros / 1_000_000;
        loop {
            at -= 1;
            bytes[at] = b'0' + (seconds % 10) as u8;
            seconds /= 10;
            if seconds == 0 {
                break;
            }
        }
        // Padded with the spaces already there to five digits, as `{:5}` does.
        let start = at.min(LEN - 2 - 7 - 5) - 1;
        bytes[start] = b'[';
        Self { bytes, start }
    }

    /// The text, ready to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}
