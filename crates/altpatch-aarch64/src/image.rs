//! The running image's alternatives, as `alternatives.ld` lays them out. This crate owns that
//! script, so it declares the symbols the script defines: a kernel names only its text and
//! read-only data, once, in [`Image::new`], and gets the [`LinkedText`] the passes take and
//! the symbolizer its reports use.

use core::ops::Range;
use core::sync::atomic::{AtomicBool, Ordering};

use altpatch_core::validate::{Layout, Region, Symbol};

use crate::{CapabilityList, Checked, Linked, LinkedText, PassError, SourceRecords, check};

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
    /// alternatives.ld: the words naming each declared callback.
    static __altinstr_callbacks: u8;
    static __altinstr_callbacks_end: u8;
}

/// The running image's alternatives regions: the sections `alternatives.ld` brackets, the
/// image's text, and the read-only data the source records' strings lie in. Only
/// [`Image::new`] makes one, whose contract is stated once there.
///
/// It lends the regions for one step at a time ([`LinkedText`]): the passes rewrite the text
/// it borrows, so they take it `&mut` (no lent [`Linked`] can be open while they write), and
/// there is at most one at a time: it is neither `Clone` nor `Copy`, and [`Image::new`]
/// panics while another lives (no second one lends the same text meanwhile).
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # #[panic_handler]
/// # fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
/// # struct NoHeap;
/// # // SAFETY: never hands out memory, so nothing is ever freed wrongly.
/// # unsafe impl core::alloc::GlobalAlloc for NoHeap {
/// #     unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 { core::ptr::null_mut() }
/// #     unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
/// # }
/// # #[global_allocator]
/// # static HEAP: NoHeap = NoHeap;
/// # use altpatch_aarch64::{CapList, CapabilityList};
/// # struct MyCaps;
/// # impl CapabilityList for MyCaps {
/// #     const LIST: CapList = CapList::new("my-kernel", &["ALWAYS", "HAS_LSE"]);
/// # }
/// use altpatch_aarch64::Image;
///
/// unsafe extern "C" {
///     // The kernel's own linker script (aarch64-rt's image.ld names these).
///     static text_begin: u8;
///     static rodata_begin: u8;
///     static data_begin: u8;
/// }
///
/// # fn boot() {
/// let (text, rodata, data) =
///     (&raw const text_begin as usize, &raw const rodata_begin as usize, &raw const data_begin as usize);
/// // SAFETY: the image is linked with alternatives.ld inside its read-only data; text..rodata
/// // is its code and rodata..data its read-only data, both mapped for good, and the text is
/// // written only by the passes.
/// let image = unsafe { Image::new(text..rodata, rodata..data) };
/// let checked = image.check::<MyCaps>();
/// # }
/// ```
#[derive(Debug)]
pub struct Image {
    /// The image's code: `start..end`.
    text: (usize, usize),
    /// The image's read-only data, where `.rodata.altinstr_where` lies.
    rodata: (usize, usize),
}

impl Image {
    /// The running image, its code being `text` and its read-only data `rodata`.
    ///
    /// # Safety
    ///
    /// - The image is linked with this crate's `alternatives.ld`, placed in its read-only
    ///   data: the symbols the script defines bracket the sections it places (nothing else
    ///   defines them), which stay mapped readable and are never written. Then every word of
    ///   `.altinstr_callbacks`, which only [`alternative_cb!`](crate::alternative_cb) writes,
    ///   names an [`AltCallback`](crate::AltCallback) of the image.
    /// - `text` is the image's code, mapped readable for the rest of the kernel's life and
    ///   written only by the passes of this crate, inside a stop window; no [`LinkedText`] of
    ///   the caller's own lends it meanwhile. (The passes take this `Image` `&mut`, so the
    ///   borrow checker keeps its [`LinkedText::with_linked`] borrows out of them, and a
    ///   second `Image` cannot be made while this one lives.)
    /// - `rodata` is mapped readable for the rest of the kernel's life and never written
    ///   (the image's read-only data, where the records' `"file:line"` strings lie).
    ///
    /// # Panics
    ///
    /// While another `Image` lives.
    pub unsafe fn new(text: Range<usize>, rodata: Range<usize>) -> Image {
        assert!(
            !IMAGE_LIVES.swap(true, Ordering::AcqRel),
            "a second altpatch_aarch64::Image while one lives"
        );
        Image { text: (text.start, text.end), rodata: (rodata.start, rodata.end) }
    }

    /// The image's code, as given to [`Image::new`].
    pub fn text(&self) -> Range<usize> {
        self.text.0..self.text.1
    }

    /// Checks the whole table once against list `L`, every defect named by
    /// [`Image::symbolize`]: `Err(PassError::Refused)` holds every defect of every entry,
    /// and nothing was written. The [`Checked`] table serves every pass.
    pub fn check<L: CapabilityList>(&self) -> Result<Checked, PassError> {
        self.with_linked(|linked| check::<L>(linked, &|site| self.symbolize(site)))
            .map_err(PassError::Refused)
    }

    /// The image's source records: `.altinstr_where` and the strings it points to.
    pub fn source_records(&self) -> SourceRecords<'static> {
        // SAFETY: alternatives.ld brackets `.altinstr_where` with these symbols, in read-only
        // data mapped for good and never written, and `rodata` is read-only data mapped for
        // good and never written (`Image::new`'s contract).
        unsafe {
            SourceRecords {
                records: region(
                    &raw const __altinstr_where as usize,
                    &raw const __altinstr_where_end as usize,
                ),
                strings: region(self.rodata.0, self.rodata.1),
            }
        }
    }

    /// Names `site` by the `file:line` its macro recorded in `.altinstr_where`, for reports:
    /// a Rust macro's line, an assembly file's line of its `alternative_if_not`
    /// ([`global_asm_file!`](crate::global_asm_file)), or for assembly inline in Rust its
    /// `global_asm!` block's line and its number in the block (`... (asm entry 2)`).
    pub fn symbolize(&self, site: u64) -> Option<Symbol> {
        self.source_records().symbolize(site)
    }
}

/// Whether an [`Image`] lives: there is one running image, so at most one lends its text.
static IMAGE_LIVES: AtomicBool = AtomicBool::new(false);

impl Drop for Image {
    fn drop(&mut self) {
        IMAGE_LIVES.store(false, Ordering::Release);
    }
}

impl LinkedText for Image {
    /// The text borrow lives only inside `f`, which writes nothing: text changes only in
    /// [`Prepared::apply`](crate::Prepared::apply), inside a pass, which takes this `Image`
    /// `&mut` and so cannot run while `f` holds it (and no other `Image` lives to lend the
    /// same text: [`Image::new`]).
    fn with_linked<R>(&self, f: impl FnOnce(&Linked<'_>) -> R) -> R {
        // SAFETY: the table, replacements and declared callbacks lie between the symbols
        // alternatives.ld defines, read-only and never written; the text is mapped for good
        // and not written while `f` runs (no pass can take `self` `&mut` meanwhile, no other
        // `Image` lives, and nothing else of the caller's lends it: `Image::new`).
        let layout = unsafe {
            Layout {
                table: region(
                    &raw const __alt_instructions as usize,
                    &raw const __alt_instructions_end as usize,
                ),
                text: region(self.text.0, self.text.1),
                replacements: region(
                    &raw const __altinstr_replacement as usize,
                    &raw const __altinstr_replacement_end as usize,
                ),
                callbacks: region(
                    &raw const __altinstr_callbacks as usize,
                    &raw const __altinstr_callbacks_end as usize,
                ),
            }
        };
        // SAFETY: `layout.text` is the image's mapped code and `layout.callbacks` its
        // `.altinstr_callbacks` as alternatives.ld links it, both mapped for the borrow
        // (`Image::new`'s contract): `Linked::image`'s contract.
        let linked = unsafe { Linked::image(layout) };
        f(&linked)
    }
}

/// The bytes `start..end` (none if `end` is below `start`), as a region at `start`.
///
/// # Safety
///
/// The bytes are mapped readable and nothing writes them while the region is alive.
unsafe fn region<'a>(start: usize, end: usize) -> Region<'a> {
    let len = end.saturating_sub(start);
    // SAFETY: the caller's promise, for `len` bytes from `start`.
    let bytes = unsafe { core::slice::from_raw_parts(start as *const u8, len) };
    Region { addr: start as u64, bytes }
}
