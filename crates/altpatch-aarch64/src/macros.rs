//! The macros that fill `.altinstructions` from Rust, parameterised by the consumer's own
//! capability list (any type that implements [`CapabilityList`](crate::CapabilityList)).
//!
//! [`alternative_entry!`](crate::alternative_entry) is the one place an entry's 16 bytes
//! are spelled (the layout is [`altpatch_core::table`]'s); every other macro expands to it.
//! Capability numbers reach the assembler only as `const` operands computed from the list
//! by name, so a name the list lacks is a compile error and no number can go stale.

/// The index of capability `IDENT` in list `L`, as a constant: `cap_index!(L, HAS_CRC32)`.
/// For `global_asm!` operands of assembly that uses `alternative_if_not`.
#[macro_export]
macro_rules! cap_index {
    ($list:ty, $cap:ident) => {
        <$list as $crate::CapabilityList>::LIST.const_index_or(
            stringify!($cap),
            concat!("no capability ", stringify!($cap), " in the list ", stringify!($list)),
        )
    };
}

/// The fingerprint of list `L`, as a constant, for `global_asm!` operands.
#[macro_export]
macro_rules! fingerprint {
    ($list:ty) => {
        <$list as $crate::CapabilityList>::LIST.fingerprint
    };
}

/// `ALTERNATIVE(old, new, cap)` (Linux arm64): emits the `old` instructions at the site and
/// records an entry that replaces them with `new` on CPUs with capability `cap` of list
/// `list`. Both sequences must be the same length: the assembler refuses otherwise.
/// Expands to `core::arch::asm!`, so it is used inside `unsafe`; further operands (named or
/// explicit registers, options) follow `cap`.
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
/// #     const LIST: CapList = CapList::new("my-kernel", &["ALWAYS", "HAS_LSE", "HAS_CACHE_DIC"]);
/// # }
/// # #[unsafe(no_mangle)]
/// # extern "C" fn add(counter: &core::sync::atomic::AtomicU64, inc: u64) -> u64 {
/// let out: u64;
/// let tmp: u64;
/// let fail: u32;
/// // SAFETY: both sequences read-modify-write the 8 bytes `counter` owns, and nothing else.
/// unsafe {
///     altpatch_aarch64::alternative!(
///         list: MyCaps,
///         old: ["3: ldaxr {out}, [{ptr}]", "add {tmp}, {out}, {inc}", "stlxr {fail:w}, {tmp}, [{ptr}]", "cbnz {fail:w}, 3b"],
///         new: [".arch_extension lse", "ldaddal {inc}, {out}, [{ptr}]", "nop", "nop", "nop"],
///         cap: HAS_LSE,
///         ptr = in(reg) counter.as_ptr(),
///         inc = in(reg) inc,
///         out = out(reg) out,
///         tmp = out(reg) tmp,
///         fail = out(reg) fail,
///         options(nostack)
///     )
/// }
/// # let _ = (tmp, fail);
/// # out
/// # }
/// ```
#[macro_export]
macro_rules! alternative {
    (list: $list:ty, old: [$($old:literal),+ $(,)?], new: [$($new:literal),+ $(,)?], cap: $cap:ident $(, $($rest:tt)*)?) => {
        $crate::alternative_entry!(
            old: [$($old),+],
            new: [$($new),+],
            cap: $crate::cap_index!($list, $cap),
            fingerprint: $crate::fingerprint!($list)
            $(, $($rest)*)?
        )
    };
}

/// The one place an `asm!` entry is spelled: [`alternative!`](crate::alternative) with the
/// capability index and list fingerprint given as constant expressions, and optionally the
/// table and replacement sections of a region of its own (`table: ".altinstructions.late",
/// replacement: ".altinstr_replacement.late"`). Direct use is for regions with their own
/// tables and for objects deliberately stamped with another list's numbers (a stale-object
/// reproduction).
#[macro_export]
macro_rules! alternative_entry {
    (old: [$($old:literal),+ $(,)?], new: [$($new:literal),+ $(,)?], cap: $cap:expr, fingerprint: $fp:expr $(, $($rest:tt)*)?) => {
        $crate::alternative_entry!(
            table: ".altinstructions", replacement: ".altinstr_replacement",
            old: [$($old),+], new: [$($new),+], cap: $cap, fingerprint: $fp $(, $($rest)*)?
        )
    };
    (table: $table:literal, replacement: $repl:literal, old: [$($old:literal),+ $(,)?], new: [$($new:literal),+ $(,)?], cap: $cap:expr, fingerprint: $fp:expr $(, $($rest:tt)*)?) => {
        core::arch::asm!(
            "661:",
            $($old,)+
            "662:",
            concat!(".pushsection ", $table, ", \"a\""),
            ".balign 4",
            ".word 661b - .",
            ".word 663f - .",
            ".hword {alt_cap}",
            ".byte 662b - 661b",
            ".byte 664f - 663f",
            ".word {alt_fingerprint}",
            ".popsection",
            $crate::alternative_where!(),
            concat!(".pushsection ", $repl, ", \"a\""),
            ".balign 4",
            "663:",
            $($new,)+
            "664:",
            // Named at the user's line (`line!()` is the outermost macro's): without it the
            // assembler's `.org` below says only "invalid .org offset", here.
            ".if (664b - 663b) != (662b - 661b)",
            concat!(".error \"alternative at ", file!(), ":", line!(), ": the replacement is not as long as the original (Linux's alternatives need equal lengths)\""),
            ".endif",
            ".org . - (664b - 663b) + (662b - 661b)",
            ".org . - (662b - 661b) + (664b - 663b)",
            ".popsection",
            alt_cap = const $cap,
            alt_fingerprint = const $fp,
            $($($rest)*)?
        )
    };
}

/// The source record of the entry being emitted: a pair of self-relative words in
/// `.altinstr_where` (the site at label 661, a `"file:line"` string) naming the line that
/// invoked the outermost alternatives macro, for reports that have no symbol table.
#[doc(hidden)]
#[macro_export]
macro_rules! alternative_where {
    () => {
        concat!(
            ".pushsection .altinstr_where, \"a\"\n",
            ".balign 4\n",
            ".word 661b - .\n",
            ".word 667f - .\n",
            ".popsection\n",
            ".pushsection .rodata.altinstr_where, \"a\"\n",
            "667: .asciz \"",
            file!(),
            ":",
            line!(),
            "\"\n",
            ".popsection"
        )
    };
}

/// `ALTERNATIVE_CB(old, cap, callback)` (Linux arm64): emits `old` at the site and records
/// a callback entry: on CPUs with `cap`, `callback` (an [`AltCallback`](crate::AltCallback))
/// computes the site's new instructions from a [`CallbackContext`](crate::CallbackContext).
/// It also declares `callback` in `.altinstr_callbacks`: the validator accepts a callback
/// entry only for a declared callback, so a corrupted target is refused by name.
/// Used inside `unsafe`, like [`alternative!`](crate::alternative).
#[macro_export]
macro_rules! alternative_cb {
    (list: $list:ty, old: [$($old:literal),+ $(,)?], callback: $cb:path, cap: $cap:ident $(, $($rest:tt)*)?) => {{
        const _: $crate::AltCallback = $cb;
        $crate::alternative_cb_entry!(
            declare: [
                ".pushsection .altinstr_callbacks, \"a\"",
                ".balign 4",
                ".word {alt_callback} - .",
                ".popsection",
            ],
            list: $list, old: [$($old),+], callback: $cb, cap: $cap $(, $($rest)*)?
        )
    }};
}

/// The one place a callback entry is spelled: [`alternative_cb!`](crate::alternative_cb)
/// with the lines that declare the callback given (`declare: [...]`), or none for a callback
/// declared elsewhere (a module naming a kernel export, whose export list stands in for the
/// declaration).
#[doc(hidden)]
#[macro_export]
macro_rules! alternative_cb_entry {
    (declare: [$($declare:literal),* $(,)?], list: $list:ty, old: [$($old:literal),+ $(,)?], callback: $cb:path, cap: $cap:ident $(, $($rest:tt)*)?) => {
        core::arch::asm!(
            "661:",
            $($old,)+
            "662:",
            ".pushsection .altinstructions, \"a\"",
            ".balign 4",
            ".word 661b - .",
            ".word {alt_callback} - .",
            ".hword {alt_cap}",
            ".byte 662b - 661b",
            ".byte 0",
            ".word {alt_fingerprint}",
            ".popsection",
            $crate::alternative_where!(),
            $($declare,)*
            alt_cap = const $crate::cap_index!($list, $cap) | $crate::CALLBACK_FLAG,
            alt_fingerprint = const $crate::fingerprint!($list),
            alt_callback = sym $cb,
            $($($rest)*)?
        )
    };
}

/// Whether capability `cap` of `list` is detected, as a static branch (Linux's
/// `alternative_has_cap_unlikely`): the site is a NOP, patched to a branch to the `true`
/// path on CPUs with `cap`; the branch lives in the replacement and is relocated to the
/// site. Before patching it reads `false`.
#[macro_export]
macro_rules! has_cap {
    (list: $list:ty, $cap:ident) => {
        'has_cap: {
            // SAFETY: the site is a NOP or, once patched, a branch to the label block; neither
            // touches memory, the stack or the flags.
            unsafe {
                $crate::alternative!(
                    list: $list,
                    old: ["nop"],
                    new: ["b {yes}"],
                    cap: $cap,
                    yes = label { break 'has_cap true },
                    options(nomem, nostack, preserves_flags)
                )
            }
            false
        }
    };
}

/// The assembler macros `alternative_if_not CAP, FINGERPRINT` / `alternative_else` /
/// `alternative_endif` (Linux's, for assembly files), as a string for the first template
/// argument of `global_asm!`. Pass the numbers as operands:
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
/// #     const LIST: CapList = CapList::new("my-kernel", &["ALWAYS", "HAS_LSE", "HAS_CACHE_DIC"]);
/// # }
/// core::arch::global_asm!(
///     altpatch_aarch64::asm_macros!(),
///     // (usually `include_str!("cache.s")`)
///     ".global invalidate_icache_range",
///     "invalidate_icache_range:",
///     "alternative_if_not {CAP_DIC}, {FINGERPRINT}",
///     "    ic ivau, x0",
///     "    dsb ish",
///     "alternative_else",
///     "    nop",
///     "    nop",
///     "alternative_endif",
///     "    isb",
///     "    ret",
///     CAP_DIC = const altpatch_aarch64::cap_index!(MyCaps, HAS_CACHE_DIC),
///     FINGERPRINT = const altpatch_aarch64::fingerprint!(MyCaps),
/// );
/// ```
///
/// Each use records a 16-byte `.altinstructions` entry; the replacement goes to
/// `.altinstr_replacement`, which is only ever copied, never executed. The text is guarded
/// so that several `global_asm!` blocks of one object may include it.
///
/// Each entry also gets a source record in `.altinstr_where`, as the Rust macros' do, naming
/// it for reports. The assembler has no `__LINE__` (a macro cannot learn the line it is used
/// on), so the record names the `global_asm!` block, by the Rust `file:line` of this
/// `asm_macros!()` (`file!()`, `line!()`), and the entry's number in it, counted by the
/// assembler (and written out digit by digit): the second entry of a block is
/// `src/cache.rs:6 (asm entry 2)`, the second `alternative_if_not` of the `.s` file that
/// block includes. Use `asm_macros!()` first in every `global_asm!` block that has entries:
/// it starts the block's count. For a `.s` file, [`global_asm_file!`](crate::global_asm_file)
/// names each entry by the file's line instead (`src/cache.s:30`).
#[macro_export]
macro_rules! asm_macros {
    () => {
        concat!(
            r#".ifndef ALTPATCH_ALTERNATIVE_MACROS
.set ALTPATCH_ALTERNATIVE_MACROS, 1

.macro alternative_if_not cap, fingerprint
    .pushsection .altinstructions, "a"
    .balign 4
    .word   661f - .                        // orig_offset: the site, relative to this field
    .word   663f - .                        // alt_offset: the replacement
    .hword  \cap
    .byte   662f - 661f                     // orig_len
    .byte   664f - 663f                     // alt_len
    .word   \fingerprint
    .popsection
    altpatch_asm_where
661:
.endm

.macro alternative_else
662:
    .pushsection .altinstr_replacement, "a"
    .balign 4
663:
.endm

.macro alternative_endif
664:
    .org    . - (664b - 663b) + (662b - 661b)   // both sequences the same length, or no build
    .org    . - (662b - 661b) + (664b - 663b)
    .popsection
.endm

// The entry's source record: (site, string) self-relative words, the string what the
// block's `altpatch_asm_name` emits for the entry (numbered in ALTPATCH_ASM_ENTRY).
.macro altpatch_asm_where
    .set    ALTPATCH_ASM_ENTRY, ALTPATCH_ASM_ENTRY + 1
    .pushsection .altinstr_where, "a"
    .balign 4
    .word   661f - .                        // the site
    .word   665f - .                        // its name
    .popsection
    .pushsection .rodata.altinstr_where, "a"
665:
    altpatch_asm_name
    .popsection
.endm

// The block's entry number in decimal, then ")": written digit by digit (the leading ones
// first, by recursion on n / 10) rather than through `.altmacro`'s `%`, whose mode a block
// of the user's may rely on.
.macro altpatch_asm_digits n
    .if \n >= 10
    altpatch_asm_digits (\n / 10)
    .endif
    .byte 0x30 + (\n) % 10
.endm

.macro altpatch_asm_number
    altpatch_asm_digits ALTPATCH_ASM_ENTRY
    .asciz ")"
.endm

.endif

// This block's name for its entries' source records ("file:line (asm entry N)"), and its
// count of entries.
.ifdef ALTPATCH_ASM_BLOCK
.purgem altpatch_asm_name
.endif
.set ALTPATCH_ASM_BLOCK, 1
.set ALTPATCH_ASM_ENTRY, 0
.macro altpatch_asm_name
    .ascii ""#,
            file!(),
            ":",
            line!(),
            r#" (asm entry "
    altpatch_asm_number
.endm
"#
        )
    };
}

/// `global_asm!` over one assembly file, with [`asm_macros!`](crate::asm_macros) first and
/// each entry's source record naming the file's line: `global_asm_file!("src/cache.s",
/// NAME = const ..., ...)`, the path relative to the package's root (its `Cargo.toml`), the
/// operands by name. A report names the entry `src/cache.s:30`, the line of its
/// `alternative_if_not`.
///
/// The assembler cannot learn a line, so the lines are counted in Rust, at compile time, in
/// the file's text: the N-th line that starts with `alternative_if_not` (after blanks) is
/// the N-th entry. If the assembler counts other entries than that (an
/// `alternative_if_not` inside a macro of the file, say), the build stops with an error
/// naming the file; so does a file of more than 16 entries (split it).
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
/// #     const LIST: CapList = CapList::new("my-kernel", &["ALWAYS", "HAS_LSE", "HAS_CACHE_DIC"]);
/// # }
/// // An entry of the file is named "doc/invalidate_icache.s:7".
/// altpatch_aarch64::global_asm_file!(
///     "doc/invalidate_icache.s",
///     CAP_DIC = const altpatch_aarch64::cap_index!(MyCaps, HAS_CACHE_DIC),
///     FINGERPRINT = const altpatch_aarch64::fingerprint!(MyCaps),
/// );
/// ```
#[macro_export]
macro_rules! global_asm_file {
    ($path:literal $(, $($operands:tt)*)?) => {
        core::arch::global_asm!(
            $crate::asm_macros!(),
            // This block's names: the file's line of each entry.
            ".purgem altpatch_asm_name",
            ".macro altpatch_asm_name",
            ".if ALTPATCH_ASM_ENTRY == 1", concat!(".asciz \"", $path, ":{altpatch_line_1}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 2", concat!(".asciz \"", $path, ":{altpatch_line_2}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 3", concat!(".asciz \"", $path, ":{altpatch_line_3}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 4", concat!(".asciz \"", $path, ":{altpatch_line_4}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 5", concat!(".asciz \"", $path, ":{altpatch_line_5}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 6", concat!(".asciz \"", $path, ":{altpatch_line_6}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 7", concat!(".asciz \"", $path, ":{altpatch_line_7}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 8", concat!(".asciz \"", $path, ":{altpatch_line_8}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 9", concat!(".asciz \"", $path, ":{altpatch_line_9}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 10", concat!(".asciz \"", $path, ":{altpatch_line_10}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 11", concat!(".asciz \"", $path, ":{altpatch_line_11}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 12", concat!(".asciz \"", $path, ":{altpatch_line_12}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 13", concat!(".asciz \"", $path, ":{altpatch_line_13}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 14", concat!(".asciz \"", $path, ":{altpatch_line_14}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 15", concat!(".asciz \"", $path, ":{altpatch_line_15}\""),
            ".elseif ALTPATCH_ASM_ENTRY == 16", concat!(".asciz \"", $path, ":{altpatch_line_16}\""),
            ".else",
            concat!(".error \"", $path, ": more than 16 alternatives: split the file\""),
            ".endif",
            ".endm",
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)),
            "",
            ".if ALTPATCH_ASM_ENTRY != {altpatch_entries}",
            concat!(
                ".error \"", $path, ": {altpatch_entries} lines start with alternative_if_not, ",
                "but the assembler made another number of entries: their source records would ",
                "name the wrong lines\""
            ),
            ".endif",
            altpatch_line_1 = const $crate::global_asm_file!(@line $path, 1),
            altpatch_line_2 = const $crate::global_asm_file!(@line $path, 2),
            altpatch_line_3 = const $crate::global_asm_file!(@line $path, 3),
            altpatch_line_4 = const $crate::global_asm_file!(@line $path, 4),
            altpatch_line_5 = const $crate::global_asm_file!(@line $path, 5),
            altpatch_line_6 = const $crate::global_asm_file!(@line $path, 6),
            altpatch_line_7 = const $crate::global_asm_file!(@line $path, 7),
            altpatch_line_8 = const $crate::global_asm_file!(@line $path, 8),
            altpatch_line_9 = const $crate::global_asm_file!(@line $path, 9),
            altpatch_line_10 = const $crate::global_asm_file!(@line $path, 10),
            altpatch_line_11 = const $crate::global_asm_file!(@line $path, 11),
            altpatch_line_12 = const $crate::global_asm_file!(@line $path, 12),
            altpatch_line_13 = const $crate::global_asm_file!(@line $path, 13),
            altpatch_line_14 = const $crate::global_asm_file!(@line $path, 14),
            altpatch_line_15 = const $crate::global_asm_file!(@line $path, 15),
            altpatch_line_16 = const $crate::global_asm_file!(@line $path, 16),
            altpatch_entries = const $crate::asm_entry_lines(
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)),
                0
            ),
            $($($operands)*)?
        );
    };
    (@line $path:literal, $n:literal) => {
        $crate::asm_entry_lines(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)), $n)
    };
}
