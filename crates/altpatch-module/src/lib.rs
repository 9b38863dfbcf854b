//! The interface between the altpatch kernel and a loadable module (README, "Modules and
//! hotplug"): the header a module carries, and the kernel's exports as the module declares
//! them. Only these names resolve when a module loads; any other undefined symbol refuses it.
//!
//! A module is a `no_std` crate built as a relocatable object; it names itself and its init
//! function with [`module!`], and calls the kernel through the functions below.

#![no_std]

mod exports;
mod header;

pub use exports::*;
pub use header::{HEADER_MAGIC, HEADER_SECTION, ModuleHeader, NAME_LEN};

/// A callback site whose callback is a kernel export (Linux's `ALTERNATIVE_CB` in a module):
/// the same entry as `altpatch_aarch64::alternative_cb!`, for a callback the module declares
/// but does not define. The kernel refuses the module unless the callback is one it exports
/// for modules: that list takes the place of the `.altinstr_callbacks` declaration
/// `alternative_cb!` writes, so none is written here. Used inside `unsafe`.
#[macro_export]
macro_rules! alternative_kernel_cb {
    (list: $list:ty, old: [$($old:literal),+ $(,)?], callback: $cb:path, cap: $cap:ident $(, $($rest:tt)*)?) => {
        $crate::alternative_cb_entry!(
            declare: [], list: $list, old: [$($old),+], callback: $cb, cap: $cap $(, $($rest)*)?
        )
    };
}

#[doc(hidden)]
pub use altpatch_aarch64::{CALLBACK_FLAG, alternative_cb_entry, alternative_where, cap_index, fingerprint};
