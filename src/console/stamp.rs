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
/// columns; built as one array, so that it goes out as stores from registers with no
/// buffer to walk. `None` from the 100 000th second on: [`Stamp`] pads that one.
pub fn short(micros: u64) -> Option<[u8; SHORT]> {
    let seconds = micros / 1_000_000;
    if seconds >= 100_000 {
        return None;
    }
    let mut bytes = [b' '; SHORT];
    bytes[0] = b'[';
    // u32 from here: the division by ten is a multiply and a shift.
    digits(&mut bytes[7..13], (micros % 1_000_000) as u32, 6);
    bytes[6] = b'.';
    let width = decimal_width(seconds as u32);
    digits(&mut bytes[6 - width..6], seconds as u32, width);
    bytes[13] = b']';
    Some(bytes)
}

/// The last `count` decimal digits of `value` into `out`, most significant first.
fn digits(out: &mut [u8], mut value: u32, count: usize) {
    for at in (0..count).rev() {
        out[at] = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Digits in `value` (at least one).
fn decimal_width(value: u32) -> usize {
    match value {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1_000..=9_999 => 4,
        _ => 5,
    }
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
