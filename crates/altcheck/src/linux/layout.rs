//! What the image's own structure says, without symbols: where `__initdata_begin` is (the
//! EFI stub's PE `.data` section), where the padding before it begins, and which pages
//! before the init text are code (`.rodata.text`).
//!
//! arch/arm64/kernel/vmlinux.lds.S (5.10 to 7.x) lays out the init segment as
//! `INIT_TEXT_SECTION`, `.exit.text`, `.altinstructions` (bracketed by
//! `__alt_instructions` and `__alt_instructions_end`), `. = ALIGN(SEGMENT_ALIGN)`,
//! `__initdata_begin`; the padding is zeros. And arch/arm64/kernel/efi-header.S (the same
//! releases) gives the PE `.data` section the virtual address `__initdata_begin - _head`.
//! From 6.0 on, `.rodata.text` (the entry trampoline, hibernate's and kexec's text, and in
//! 6.12 the idmap text: "code sections that are never executed via the kernel mapping")
//! ends the read-only data, followed by the page tables (`idmap_pg_dir` ...: zero pages)
//! up to `__inittext_begin`.

use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o.checked_add(4)?)?.try_into().ok()?))
}

/// The pages of the Linux arm64 kernel (4K; `.rodata.text`'s alignment is `PAGE_SIZE`,
/// at least 4K).
const PAGE: usize = 0x1000;

/// The image offset of the PE section named `name` (the EFI stub's header, at the offset
/// the DOS header's `e_lfanew` gives), when the Image has one.
pub fn pe_section(img: &[u8], name: &[u8]) -> Option<usize> {
    if img.get(0..2) != Some(b"MZ") {
        return None;
    }
    let pe = u32_at(img, 0x3c)? as usize;
    if img.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let sections = usize::from(u16_at(img, pe + 6)?);
    let table = pe + 24 + usize::from(u16_at(img, pe + 20)?);
    (0..sections.min(96)).find_map(|i| {
        let s = table + 40 * i;
        let n = img.get(s..s + 8)?;
        let len = n.iter().position(|&c| c == 0).unwrap_or(8);
        (&n[..len] == name).then(|| u32_at(img, s + 12).map(|va| va as usize)).flatten()
    })
}

/// `__initdata_begin` as an image offset: the PE `.data` section's virtual address.
pub fn initdata_begin(img: &[u8]) -> Option<usize> {
    pe_section(img, b".data").filter(|&o| o > 0 && o <= img.len())
}

/// Where the nonzero bytes before `end` (an image offset) stop, rounded up to a whole
/// instruction: the end of what precedes a zero padding. `None` when all is zero.
pub fn before_padding(img: &[u8], end: usize) -> Option<usize> {
    let end = end.min(img.len());
    let last = img[..end].iter().rposition(|&b| b != 0)?;
    Some((last + 1).next_multiple_of(4).min(end))
}

/// Whether the word is code or a word code pages hold: zero (padding, `.space`), a
/// permanently undefined `UDF #imm` (a small constant), or an instruction the A64
/// decoder knows.
fn code_word(w: u32) -> bool {
    if w >> 16 == 0 {
        return true;
    }
    InstDecoder::default().decode(&mut U8Reader::new(&w.to_le_bytes())).is_ok()
}

/// `.rodata.text` from the layout: the pages before `end` (the image offset where the
/// page tables' zeros before the init text begin) that hold nothing but code, from the
/// page after the last one that holds data (a word no A64 encoding decodes). Slots a
/// relocation fills (`skip`) are data by definition and not judged. `(start, end)`, image
/// offsets; `None` when the page before the zeros is not code (5.10: no `.rodata.text`).
pub fn code_pages_before(img: &[u8], end: usize, skip: &dyn Fn(usize) -> bool) -> Option<(usize, usize)> {
    let end = end.min(img.len());
    let mut start = end - end % PAGE;
    if start == end {
        start = start.checked_sub(PAGE)?;
    }
    loop {
        let page_end = (start + PAGE).min(end);
        let code = (start..page_end)
            .step_by(4)
            .all(|o| skip(o) || skip(o.wrapping_sub(4)) || u32_at(img, o).is_none_or(code_word));
        if !code {
            start += PAGE;
            break;
        }
        match start.checked_sub(PAGE) {
            Some(s) => start = s,
            None => break,
        }
    }
    // Leading zero pages (alignment) are not code.
    while start < end && img[start..(start + PAGE).min(end)].iter().all(|&b| b == 0) {
        start += PAGE;
    }
    (start < end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOP: [u8; 4] = 0xd503_201fu32.to_le_bytes();

    /// A PE header as efi-header.S writes it: `.text` then `.data`.
    fn pe_image(data_va: u32) -> Vec<u8> {
        let mut img = vec![0u8; 0x400];
        img[0..2].copy_from_slice(b"MZ");
        img[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        img[0x40..0x44].copy_from_slice(b"PE\0\0");
        img[0x46..0x48].copy_from_slice(&2u16.to_le_bytes());
        img[0x54..0x56].copy_from_slice(&0xa0u16.to_le_bytes());
        let t = 0x40 + 24 + 0xa0;
        img[t..t + 5].copy_from_slice(b".text");
        img[t + 12..t + 16].copy_from_slice(&0x1000u32.to_le_bytes());
        img[t + 40..t + 45].copy_from_slice(b".data");
        img[t + 52..t + 56].copy_from_slice(&data_va.to_le_bytes());
        img.resize(0x8000, 0);
        img
    }

    #[test]
    fn initdata_begin_is_the_pe_data_sections_address() {
        let img = pe_image(0x6000);
        assert_eq!(initdata_begin(&img), Some(0x6000));
        assert_eq!(pe_section(&img, b".text"), Some(0x1000));
        // Outside the file, or no PE header: unknown.
        assert_eq!(initdata_begin(&pe_image(0x9000)), None);
        assert_eq!(initdata_begin(&img[0x100..]), None);
    }

    #[test]
    fn a_pe_header_cut_short_is_no_header() {
        let img = pe_image(0x6000);
        for cut in [2, 0x3e, 0x43, 0x47, 0x100, 0x130] {
            assert_eq!(initdata_begin(&img[..cut]), None, "cut at {cut:#x}");
        }
    }

    #[test]
    fn the_padding_starts_after_the_last_nonzero_byte_rounded_to_a_word() {
        let mut img = vec![0u8; 0x100];
        img[0x41] = 1;
        assert_eq!(before_padding(&img, 0x100), Some(0x44));
        assert_eq!(before_padding(&img, 0x40), None);
    }

    #[test]
    fn code_pages_stop_at_the_first_page_with_data() {
        // Page 0: text (data words); pages 1-2: code; page 3 starts with code then zeros.
        let mut img = vec![0u8; 4 * PAGE];
        img[..PAGE].copy_from_slice(&b"a string of text".repeat(PAGE / 16));
        for o in (PAGE..3 * PAGE + 0x80).step_by(4) {
            img[o..o + 4].copy_from_slice(&NOP);
        }
        let end = before_padding(&img, img.len()).unwrap();
        assert_eq!(end, 3 * PAGE + 0x80);
        assert_eq!(code_pages_before(&img, end, &|_| false), Some((PAGE, end)));
        // A data word in page 2 moves the start to page 3.
        img[2 * PAGE + 8..2 * PAGE + 12].copy_from_slice(b"text");
        assert_eq!(code_pages_before(&img, end, &|_| false), Some((3 * PAGE, end)));
        // Unless a relocation fills that slot.
        let slot = 2 * PAGE + 8;
        assert_eq!(code_pages_before(&img, end, &|o| o == slot), Some((PAGE, end)));
        // Data right before the zeros: no code pages.
        img[3 * PAGE + 0x7c..3 * PAGE + 0x80].copy_from_slice(b"data");
        assert_eq!(code_pages_before(&img, end, &|_| false), None);
    }
}
