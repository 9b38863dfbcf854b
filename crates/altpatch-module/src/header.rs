//! The module header: how the kernel finds a module's name and init function.

// The format's constants are the loader's, which reads the header (altpatch-modload).
pub use altpatch_modload::header::{HEADER_MAGIC, HEADER_SECTION, HEADER_SIZE, NAME_LEN};

/// What a module tells the kernel about itself, in section [`HEADER_SECTION`].
#[repr(C)]
pub struct ModuleHeader {
    /// [`HEADER_MAGIC`].
    pub magic: [u8; 8],
    /// The module's name, NUL padded.
    pub name: [u8; NAME_LEN],
    /// Runs once the module's alternatives are applied; whether the module's self-test
    /// passed. Called on the boot CPU with the others serving calls.
    pub init: extern "C" fn() -> bool,
}

// The loader reads exactly this layout.
const _: () = assert!(core::mem::size_of::<ModuleHeader>() == HEADER_SIZE);

impl ModuleHeader {
    /// A header for `name` (at most [`NAME_LEN`] bytes) and `init`.
    pub const fn new(name: &str, init: extern "C" fn() -> bool) -> Self {
        let mut bytes = [0u8; NAME_LEN];
        let src = name.as_bytes();
        assert!(src.len() <= NAME_LEN, "module name too long");
        let mut i = 0;
        while i < src.len() {
            bytes[i] = src[i];
            i += 1;
        }
        Self { magic: HEADER_MAGIC, name: bytes, init }
    }
}

/// Declares the module: `altpatch_module::module!(name: "lse_crc", init: init);` places its
/// [`ModuleHeader`] in [`HEADER_SECTION`] and a panic handler that reports and fails.
#[macro_export]
macro_rules! module {
    (name: $name:literal, init: $init:path) => {
        #[unsafe(link_section = ".altpatch.module")]
        #[used]
        static ALTPATCH_MODULE_HEADER: $crate::ModuleHeader = $crate::ModuleHeader::new($name, $init);
    };
}
