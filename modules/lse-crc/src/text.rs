//! A console line built without `core::fmt` (whose code a module would have to carry).

/// Up to 160 bytes of text.
pub struct Line {
    bytes: [u8; 160],
    len: usize,
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Self { bytes: [0; 160], len: 0 }
    }

    /// Appends `text` (cut at the line's capacity).
    pub fn push(&mut self, text: &str) {
        for &b in text.as_bytes() {
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    /// Appends `n` in decimal.
    pub fn number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self.push(if d.is_ascii_digit() { digit(d) } else { "?" });
        }
    }

    /// The text so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

fn digit(d: u8) -> &'static str {
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    DIGITS[usize::from(d - b'0') % 10]
}
