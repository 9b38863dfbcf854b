//! The AArch64 layer of altpatch: what a `no_std` AArch64 kernel adds to take Linux-style
//! alternatives, for its own capability list.
//!
//! # Wiring it into a kernel
//!
//! 1. **A capability list.** Any type implementing [`CapabilityList`]: an ordered list of
//!    identifiers whose fingerprint every entry carries.
//!
//!    ```no_run
//!    # #![no_std]
//!    # #![no_main]
//!    # #[panic_handler]
//!    # fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
//!    # struct NoHeap;
//!    # // SAFETY: never hands out memory, so nothing is ever freed wrongly.
//!    # unsafe impl core::alloc::GlobalAlloc for NoHeap {
//!    #     unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 { core::ptr::null_mut() }
//!    #     unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
//!    # }
//!    # #[global_allocator]
//!    # static HEAP: NoHeap = NoHeap;
//!    use altpatch_aarch64::{CapList, CapabilityList};
//!    pub struct MyCaps;
//!    impl CapabilityList for MyCaps {
//!        const LIST: CapList = CapList::new("my-kernel", &["ALWAYS", "HAS_LSE", "HAS_CRC32"]);
//!    }
//!    ```
//!
//! 2. **Sites.** [`alternative!`], [`alternative_cb!`] and [`has_cap!`] in Rust (each takes
//!    `list: MyCaps`), and ready-made ones such as [`fetch_add_lse!`]; [`asm_macros!`] gives
//!    assembly files `alternative_if_not CAP, FP` / `alternative_else` / `alternative_endif`,
//!    with the numbers from [`cap_index!`] and [`fingerprint!`] as `global_asm!` operands.
//!    [`global_asm_file!`] takes a whole `.s` file. Every entry, Rust or assembly, gets a
//!    source record that names it in reports: `file:line` (for an assembly file, the line of
//!    its `alternative_if_not`; for assembly inline in Rust, the `global_asm!` block's line
//!    and the entry's number in it).
//!
//! 3. **The linker script.** `INCLUDE alternatives.ld` (this crate's build script puts it on
//!    the link path of every binary that depends on it; with aarch64-rt's `image.ld`, wrap it
//!    in a `SECTIONS` block of your own followed by `INSERT AFTER .got;`, as
//!    `examples/mini-kernel/mini-kernel.ld` does): it places `.altinstructions`,
//!    `.altinstr_where`, `.altinstr_replacement` and `.altinstr_callbacks` and brackets them
//!    with symbols that this crate declares itself.
//!
//! 4. **The platform.** Implement [`TextAlias`]: a writable, never-executable view of text
//!    (the executable mapping stays read-only); it is the one part that is the kernel's own
//!    (its page tables). The rendezvous's platform is [`ArmPlatform`] (WFE bounded by the
//!    timer's event stream, SEV, ISB, CNTPCT_EL0): one
//!    `static RENDEZVOUS: Rendezvous<ArmPlatform, CPUS>`, [`ArmPlatform::enable_event_stream`]
//!    on every CPU, and every CPU but the primary waiting in
//!    [`altpatch_rendezvous::Rendezvous::participate`].
//!
//! 5. **The image.** [`Image::new`], an `unsafe` constructor whose contract is stated once,
//!    takes the image's text and read-only data (from the kernel's own linker symbols); the
//!    alternatives regions come from `alternatives.ld`'s symbols. [`Image`] lends them for
//!    each step (it is a [`LinkedText`]), checks the table ([`Image::check`]) and names sites
//!    ([`Image::symbolize`]). Safe code cannot make one, nor the [`Linked`] under it
//!    ([`Linked::image`], [`Linked::module`] for a loaded module), so no safe call reaches
//!    an address that did not come through such a contract.
//!
//! 6. **The passes**, as Linux does them: [`Passes`] is the engine (the rendezvous, the
//!    alias, this CPU, a timeout); each of [`Passes::boot_pass`], [`Passes::system_pass`] and
//!    [`Passes::module_pass`] prepares before the stop window, applies inside it and audits
//!    after it, over a [`LinkedText`] that lends the regions per step; a [`PassError`]
//!    prints itself as Linux-style log lines ([`PassError::report`])
//!    (`examples/mini-kernel/src/main.rs` is this, compiled and booted):
//!
//!    ```text
//!    let mut image = unsafe { Image::new(text, rodata) };    // SAFETY: as Image::new states
//!    let checked = image.check::<MyCaps>()?;                  // every defect named
//!    let passes = Passes { rendezvous: &RENDEZVOUS, alias: &alias, primary: 0, timeout };
//!    // Boot pass: the boot CPU's capabilities, the boot CPU alone in the window.
//!    passes.boot_pass(&mut image, &checked, &boot_caps, ctr_el0)?;
//!    // ... secondaries come up and are checked ...
//!    // System pass: the final capabilities, every online CPU held.
//!    passes.system_pass(&mut image, &checked, &system_caps, system_ctr_el0, online)?;
//!    ```
//!
//!    [`Prepared::apply`] takes the rendezvous's [`Stopped`] proof: it cannot be called
//!    outside a stop-machine. Callbacks run in [`Checked::prepare`], with a
//!    [`CallbackContext`] (cache geometry, capabilities, the site's words), never inside the
//!    window.
//!
//! The portable checks (table format, validation, relocation, planning, maintenance, audit)
//! are `altpatch-core`'s and run on the host too (`altcheck`).

#![no_std]

// The macros emit AArch64 assembly: on another target say so, rather than let the
// assembler reject the first instruction.
#[cfg(not(target_arch = "aarch64"))]
compile_error!(
    "altpatch-aarch64 is AArch64-only: build it for an AArch64 target (aarch64-unknown-none, aarch64-unknown-none-softfloat)"
);

extern crate alloc;

mod apply;
mod cache;
mod image;
mod lifecycle;
mod linked;
mod macros;
mod platform;
mod sites;
mod source;

pub use altpatch_core::plan::{CacheGeometry, Mismatch};
pub use altpatch_core::{
    CapList, CapabilityList,
    table::CALLBACK_FLAG,
    validate::{Defect, Layout, Region, Symbol},
};
pub use altpatch_rendezvous::Stopped;
pub use apply::{AltCallback, Applied, CallbackContext, Checked, MaintenanceOps, Prepared, TextAlias, check};
pub use image::Image;
pub use lifecycle::{LinkedText, PassError, Passes};
pub use linked::Linked;
pub use platform::ArmPlatform;
pub use source::{SourceRecords, asm_entry_lines};
