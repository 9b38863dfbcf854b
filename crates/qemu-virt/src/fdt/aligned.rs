//! Bytes of the structure block that start on a 4-byte boundary, read a word at a time.
//!
//! Every token, length and name offset of the structure block is a big-endian u32 on a
//! 4-byte boundary (DTSpec 5.4), and a property's value and a node's name start on one
//! too. A kernel reads the tree with its MMU off, where every access is a Device access
//! and must be aligned: a `u32` assembled from a byte slice is four loads and three ORs,
//! while one from a `&[u32]` is one aligned load. Searching a name for its NUL word by word
//! takes a quarter of the loads and branches a byte loop does.

use super::FdtError;
use zerocopy::FromBytes;

/// A run of bytes starting on a 4-byte boundary, with its whole words as `u32`s.
#[derive(Clone, Copy)]
pub(super) struct Aligned<'a> {
    bytes: &'a [u8],
    /// The whole words of `bytes` (its last `len % 4` bytes are in none).
    words: &'a [u32],
}

/// Flags (bit 7 of a byte) the lowest NUL byte of `word`, byte 0 being the least
/// significant; bytes above the lowest NUL may be flagged wrongly, which no caller reads.
const fn nul_flags(word: u32) -> u32 {
    word.wrapping_sub(0x0101_0101) & !word & 0x8080_8080
}

impl<'a> Aligned<'a> {
    /// `bytes` viewed as words; [`FdtError::Misaligned`] unless it starts on a 4-byte
    /// boundary (DTSpec 5.1 places the blob on an 8-byte boundary, and the structure block
    /// starts on a 4-byte one, DTSpec 5.4).
    pub(super) fn new(bytes: &'a [u8]) -> Result<Self, FdtError> {
        let whole = &bytes[..bytes.len() / 4 * 4];
        let words = <[u32]>::ref_from_bytes(whole).map_err(|_| FdtError::Misaligned)?;
        Ok(Self { bytes, words })
    }

    /// The bytes.
    pub(super) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The big-endian u32 at word `index` (byte `4 * index`).
    pub(super) fn be32(&self, index: usize) -> Result<u32, FdtError> {
        self.words.get(index).map(|&word| u32::from_be(word)).ok_or(FdtError::Truncated)
    }

    /// `len` bytes from word `index`, themselves word-aligned.
    pub(super) fn sub(&self, index: usize, len: usize) -> Result<Self, FdtError> {
        let start = index.checked_mul(4).ok_or(FdtError::Truncated)?;
        let bytes = self.bytes.get(start..start.saturating_add(len)).ok_or(FdtError::Truncated)?;
        let words = self.words.get(index..).unwrap_or(&[]);
        Ok(Self { bytes, words: &words[..(len / 4).min(words.len())] })
    }

    /// Where the first NUL at or after byte `from` is; `None` when none is.
    pub(super) fn nul_from(&self, from: usize) -> Option<usize> {
        let mut index = from / 4;
        // The bytes of the first word before `from` are made 0xff, never a NUL.
        let mut before = !(u32::MAX << ((from % 4) * 8));
        while let Some(&word) = self.words.get(index) {
            let flags = nul_flags(u32::from_le(word) | before);
            if flags != 0 {
                return Some(index * 4 + flags.trailing_zeros() as usize / 8);
            }
            before = 0;
            index += 1;
        }
        let tail = from.max(self.words.len() * 4);
        Some(tail + self.bytes.get(tail..)?.iter().position(|&b| b == 0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// `bytes` copied to a buffer that starts on an 8-byte boundary.
    fn aligned(bytes: &[u8]) -> Vec<u64> {
        let mut buffer = std::vec![0u64; bytes.len().div_ceil(8)];
        <[u64] as zerocopy::IntoBytes>::as_mut_bytes(&mut buffer)[..bytes.len()].copy_from_slice(bytes);
        buffer
    }

    fn view<'a>(buffer: &'a [u64], len: usize) -> Aligned<'a> {
        Aligned::new(&<[u64] as zerocopy::IntoBytes>::as_bytes(buffer)[..len]).unwrap()
    }

    #[test]
    fn a_nul_is_found_in_every_byte_of_a_word_and_in_the_tail() {
        let text = b"abcdefghij\0";
        for at in 0..text.len() {
            let mut bytes = text.to_vec();
            bytes[at] = 0;
            let buffer = aligned(&bytes);
            let block = view(&buffer, bytes.len());
            assert_eq!(block.nul_from(0), Some(at), "NUL at {at}");
            // Searching from the NUL itself, and from past it.
            assert_eq!(block.nul_from(at), Some(at));
            assert_eq!(block.nul_from(at + 1), Some(10).filter(|_| at < 10));
        }
    }

    #[test]
    fn a_byte_of_one_before_a_nul_is_not_taken_for_it() {
        // 0x01 bytes below (before) a NUL are where the borrow trick could go wrong.
        let bytes = [0x01, 0x01, 0x80, 0x00, 0x01, 0x00, 0xff, 0x01];
        let buffer = aligned(&bytes);
        let block = view(&buffer, bytes.len());
        assert_eq!(block.nul_from(0), Some(3));
        assert_eq!(block.nul_from(4), Some(5));
        assert_eq!(block.nul_from(6), None);
    }

    #[test]
    fn without_a_nul_there_is_none_and_a_search_past_the_end_is_none() {
        let buffer = aligned(b"abcdefg");
        assert_eq!(view(&buffer, 7).nul_from(0), None);
        assert_eq!(view(&buffer, 7).nul_from(99), None);
        // The padding NUL after the seventh byte is outside the view.
        assert_eq!(view(&buffer, 7).sub(1, 3).unwrap().nul_from(0), None);
    }

    #[test]
    fn words_are_big_endian_and_bounded() {
        let buffer = aligned(&[0, 0, 0, 3, 0xd0, 0x0d, 0xfe, 0xed, 9]);
        let block = view(&buffer, 9);
        assert_eq!(block.be32(0), Ok(3));
        assert_eq!(block.be32(1), Ok(0xd00d_feed));
        assert_eq!(block.be32(2), Err(FdtError::Truncated));
        assert_eq!(block.sub(1, 5).unwrap().bytes(), &[0xd0, 0x0d, 0xfe, 0xed, 9]);
        assert!(block.sub(1, 6).is_err());
        assert!(block.sub(usize::MAX, 1).is_err());
    }

    #[test]
    fn a_misaligned_start_is_refused() {
        let buffer = aligned(b"abcdefgh");
        let bytes = <[u64] as zerocopy::IntoBytes>::as_bytes(&buffer);
        assert!(matches!(Aligned::new(&bytes[1..]), Err(FdtError::Misaligned)));
    }
}
