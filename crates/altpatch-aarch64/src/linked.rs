//! The one way into the engine: the alternatives regions of code that is linked and mapped
//! (the running image, or a module the kernel loaded), vouched for once by an `unsafe`
//! constructor. [`check`](crate::check) calls callbacks named by the table, so the
//! addresses it may call must come from this contract, never from a value safe code made.

use altpatch_core::validate::Layout;

/// The alternatives regions of linked code in memory (see the constructors' contracts).
/// Safe code cannot make one: a `Layout` of made-up regions reaches no callback.
pub struct Linked<'a> {
    layout: Layout<'a>,
    /// For a module: the callbacks the kernel exports, which its entries may name instead
    /// of callbacks of its own.
    exported_callbacks: Option<&'a [u64]>,
}

impl<'a> Linked<'a> {
    /// The running image's regions.
    ///
    /// # Safety
    ///
    /// `layout.text` is the image's mapped code, and `layout.callbacks` its
    /// `.altinstr_callbacks` section as linked (`alternatives.ld`): every word in it, which
    /// only `alternative_cb!` writes, names an [`AltCallback`](crate::AltCallback) of the
    /// image. Both stay mapped for `'a`. (The table and replacements may hold anything:
    /// [`check`](crate::check) validates them.)
    pub unsafe fn image(layout: Layout<'a>) -> Self {
        Linked { layout, exported_callbacks: None }
    }

    /// A loaded module's regions, whose callback entries may name only `exported_callbacks`.
    ///
    /// # Safety
    ///
    /// `layout.text` is the module's mapped code, which stays mapped for `'a`, and every
    /// address in `exported_callbacks` is an [`AltCallback`](crate::AltCallback) of the
    /// kernel (its export table's callbacks).
    pub unsafe fn module(layout: Layout<'a>, exported_callbacks: &'a [u64]) -> Self {
        Linked { layout, exported_callbacks: Some(exported_callbacks) }
    }

    /// The regions, for reading.
    pub fn layout(&self) -> &Layout<'a> {
        &self.layout
    }

    /// The kernel's exported callbacks, for a module.
    pub(crate) fn exported_callbacks(&self) -> Option<&'a [u64]> {
        self.exported_callbacks
    }
}
