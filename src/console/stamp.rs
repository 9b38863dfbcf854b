//! The `[%5u.%06u] ` that starts every console line (Linux's printk time), formatted by
//! hand: through `core::fmt` its padding went out a character at a time, and it was a
//! quarter of each short line's instructions.

/// Seconds take at least five digits (right aligned), at most twenty (`u64::MAX` µs).
const LEN: usize = 1 + 20 + 1 + 6 + 2;

/// The stamp's length while the seconds fit its five columns (the first 27 hours).
pub const SHORT: usize = 1 + 5 + 1 + 6 + 2;

/// A formatted timestamp.
pub struct Stamp {
    bytes: [u8; LEN],
    start: usize,
}

/// `[sssss.uuuuuu] ` for `micros` microseconds since reset, while the seconds fit five
/// columns; every byte computed in a register and the array built at once, so that it goes
/// out as stores with no buffer written and read back. `None` from the 100 000th second
/// on: [`Stamp`] pads that one.
pub fn short(micros: u64) -> Option<[u8; SHORT]> {
    let seconds = micros / 1_000_000;
    if seconds >= 100_000 {
        return None;
    }
    // u32 from here: each division by a constant is a multiply and a shift.
    let (s, f) = (seconds as u32, (micros % 1_000_000) as u32);
    let digit = |value: u32, place: u32| b'0' + (value / place % 10) as u8;
    // Leading zeros of the seconds are spaces, as `{:5}` pads; the units digit always shows.
    let column = |place: u32| if s >= place { digit(s, place) } else { b' ' };
    Some([
        b'[',
        column(10_000),
        column(1_000),
        column(100),
        column(10),
        digit(s, 1),
        b'.',
        digit(f, 100_000),
        digit(f, 10_000),
        digit(f, 1_000),
        digit(f, 100),
        digit(f, 10),
        digit(f, 1),
        b']',
        b' ',
    ])
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
