//! The alternatives region of the image, as altpatch-aarch64 sees it: the table, text and
//! replacements between the linker's symbols (alternatives.ld and aarch64-rt's image.ld), and
//! the source records of `.altinstr_where` that name each site in a report.

use altpatch_aarch64::{Layout, Linked, LinkedText, Region, SourceRecords, Symbol};

use crate::mmu::ImageLayout;

unsafe extern "C" {
    /// alternatives.ld: the table.
    static __alt_instructions: u8;
    static __alt_instructions_end: u8;
    /// alternatives.ld: the source records, (site, "file:line") self-relative word pairs.
    static __altinstr_where: u8;
    static __altinstr_where_end: u8;
    /// alternatives.ld: the replacement sequences.
    static __altinstr_replacement: u8;
    static __altinstr_replacement_end: u8;
    static __altinstr_callbacks: u8;
    static __altinstr_callbacks_end: u8;
}

/// The read-only bytes between two linker symbols, for as long as the caller's borrow.
///
/// # Safety
///
/// Nothing writes the bytes while the region is alive.
unsafe fn region<'a>(start: *const u8, end: *const u8) -> Region<'a> {
    let len = (end as usize).saturating_sub(start as usize);
    // SAFETY: both symbols bracket one output section of the image, which stays mapped
    // readable for the kernel's whole life; the caller promises no write meanwhile.
    let bytes = unsafe { core::slice::from_raw_parts(start, len) };
    Region { addr: start as u64, bytes }
}

/// The image's alternatives regions, lent for one step at a time.
pub struct Image;

impl LinkedText for Image {
    /// The text borrow lives only inside `f`, which writes nothing: text changes only in
    /// `Prepared::apply`, inside a stop window, never while `f` runs.
    fn with_linked<R>(&self, f: impl FnOnce(&Linked<'_>) -> R) -> R {
        let image = ImageLayout::get();
        // SAFETY: the table, replacements and declared callbacks are read-only data never
        // written; the text is not written while `f` runs (above). The text is the image's
        // code and `.altinstr_callbacks` as linked (alternatives.ld), each word written by
        // `alternative_cb!` beside a use of an `AltCallback`: `Linked::image`'s contract.
        let linked = unsafe {
            Linked::image(Layout {
                table: region(&raw const __alt_instructions, &raw const __alt_instructions_end),
                text: region(image.text.0 as *const u8, image.text.1 as *const u8),
                replacements: region(
                    &raw const __altinstr_replacement,
                    &raw const __altinstr_replacement_end,
                ),
                callbacks: region(&raw const __altinstr_callbacks, &raw const __altinstr_callbacks_end),
            })
        };
        f(&linked)
    }
}

/// Names `site` by the `file:line` of the macro that emitted it, from `.altinstr_where`.
pub fn symbolize(site: u64) -> Option<Symbol> {
    let image = ImageLayout::get();
    // SAFETY: `.altinstr_where` and the read-only data are never written.
    let (records, strings) = unsafe {
        (
            region(&raw const __altinstr_where, &raw const __altinstr_where_end),
            region(image.rodata.0 as *const u8, image.rodata.1 as *const u8),
        )
    };
    SourceRecords { records, strings }.symbolize(site)
}
