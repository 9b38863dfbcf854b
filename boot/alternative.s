// Alternatives for assembly: Linux's alternative_if_not / alternative_else /
// alternative_endif. The capability index and the fingerprint of the capability list are
// operands of the Rust global_asm! that includes this file, never numbers written here.
// Each use records a 16-byte `.altinstructions` entry (CONTRACT.md); the replacement goes to
// `.altinstr_replacement`, which is only ever copied, never executed.
//
//   alternative_if_not CAP, FINGERPRINT
//       code for CPUs without the capability      (the site)
//   alternative_else
//       code for CPUs with it, the same length    (the replacement)
//   alternative_endif
//
// Guarded so that several global_asm! blocks of one object may include it.

.ifndef ALTPATCH_ALTERNATIVE_MACROS
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

.endif
