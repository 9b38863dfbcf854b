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
//!    `list: MyCaps`), and ready-made ones such as [`fetch_add_lse!`]; [`asm_macros!`] gives assembly files `alternative_if_not CAP, FP` /
//!    `alternative_else` / `alternative_endif`, with the numbers from [`cap_index!`] and
//!    [`fingerprint!`] as `global_asm!` operands.
//!
//! 3. **The linker script.** `INCLUDE alternatives.ld` (this crate's build script puts it on
//!    the link path of every binary that depends on it; with aarch64-rt's `image.ld`, wrap it
//!    in a `SECTIONS` block of your own followed by `INSERT AFTER .got;`, as
//!    `examples/mini-kernel/mini-kernel.ld` does): it places `.altinstructions`, `.altinstr_where` and `.altinstr_replacement` and
//!    brackets them with `__alt_instructions`/`__alt_instructions_end`, ... .
//!
//! 4. **The platform.** Implement [`TextAlias`]: a writable, never-executable view of text
//!    (the executable mapping stays read-only). Take part in an
//!    [`altpatch_rendezvous::Rendezvous`] on every CPU.
//!
//! 5. **The regions.** [`Linked::image`] (or [`Linked::module`] for a loaded module), an
//!    `unsafe` constructor whose contract is stated once, over the regions between the linker's
//!    symbols; lend it for each step rather than keep it, since it borrows the text that the
//!    passes rewrite. Safe code cannot make one, so no safe call reaches an address that
//!    did not come through that contract.
//!
//! 6. **The passes**, as Linux does them: [`Passes`] is the engine (the rendezvous, the
//!    alias, this CPU, a timeout); each of [`Passes::boot_pass`], [`Passes::system_pass`] and
//!    [`Passes::module_pass`] prepares before the stop window, applies inside it and audits
//!    after it, over a [`LinkedText`] that lends the regions per step
//!    (`examples/mini-kernel/src/main.rs` is this, compiled and booted):
//!
//!    ```text
//!    let checked = Image.with_linked(|linked| check::<MyCaps>(linked, &symbolize))?; // every defect named
//!    let passes = Passes { rendezvous: &RENDEZVOUS, alias: &alias, primary: 0, timeout };
//!    // Boot pass: the boot CPU's capabilities, the boot CPU alone in the window.
//!    passes.boot_pass(&Image, &checked, &boot_caps, ctr_el0)?;
//!    // ... secondaries come up and are checked ...
//!    // System pass: the final capabilities, every online CPU held.
//!    passes.system_pass(&Image, &checked, &system_caps, system_ctr_el0, online)?;
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
mod lifecycle;
mod linked;
mod macros;
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
pub use lifecycle::{LinkedText, PassError, Passes};
pub use linked::Linked;
pub use source::SourceRecords;
