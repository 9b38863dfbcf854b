//! Ready-made sites: sequences that more than one consumer patches the same way, spelled
//! once. Each expands to [`alternative_entry!`](crate::alternative_entry) and so, like it,
//! is used inside `unsafe`.

/// `AtomicU64::fetch_add(value, AcqRel)` on `target`, patched by capability: built as an
/// LL/SC loop (LDAXR/STLXR, Armv8.0), replaced on systems with `cap` by one LDADDAL
/// (FEAT_LSE, Arm ARM C6.2 "LDADD, LDADDA, LDADDAL, LDADDL") and three NOPs. Evaluates to
/// the previous value. Linux's `ARM64_LSE_ATOMIC_INSN` makes the same choice.
///
/// `list: L, cap: NAME` takes the capability by name from list `L`; the second form takes
/// the index and fingerprint as constant expressions and names the table and replacement
/// sections, for a region with tables of its own or an object deliberately stamped with
/// another list's numbers.
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
/// # #[unsafe(no_mangle)]
/// # extern "C" fn count(counter: &core::sync::atomic::AtomicU64) -> u64 {
/// // SAFETY: both sequences read-modify-write the 8 bytes `counter` owns, and nothing else.
/// let previous = unsafe { altpatch_aarch64::fetch_add_lse!(list: MyCaps, cap: HAS_LSE, counter, 1) };
/// # previous
/// # }
/// ```
#[macro_export]
macro_rules! fetch_add_lse {
    (list: $list:ty, cap: $cap:ident, $target:expr, $value:expr) => {
        $crate::fetch_add_lse!(
            table: ".altinstructions",
            replacement: ".altinstr_replacement",
            cap: $crate::cap_index!($list, $cap),
            fingerprint: $crate::fingerprint!($list),
            $target,
            $value
        )
    };
    (table: $table:literal, replacement: $repl:literal, cap: $cap:expr, fingerprint: $fp:expr, $target:expr, $value:expr) => {{
        let target: &core::sync::atomic::AtomicU64 = $target;
        let value: u64 = $value;
        let old: u64;
        // `out` registers are never allocated to an input, so the loop cannot clobber `ptr`
        // or `value`; the loop branches only within itself.
        $crate::alternative_entry!(
            table: $table,
            replacement: $repl,
            old: ["3: ldaxr {old}, [{ptr}]", "add {new}, {old}, {value}", "stlxr {fail:w}, {new}, [{ptr}]", "cbnz {fail:w}, 3b"],
            new: [".arch_extension lse", "ldaddal {value}, {old}, [{ptr}]", "nop", "nop", "nop"],
            cap: $cap,
            fingerprint: $fp,
            ptr = in(reg) target.as_ptr(),
            value = in(reg) value,
            old = out(reg) old,
            new = out(reg) _,
            fail = out(reg) _,
            options(nostack)
        );
        old
    }};
}
