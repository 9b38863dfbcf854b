// The `foreign-object` feature's assembly file: an entry built against the workspace
// kernel's list, which the mini kernel must refuse, named by this file's line.

.section .text.mini_foreign_asm_file, "ax"
mini_foreign_asm_file:
alternative_if_not {CAP_SB}, {FINGERPRINT}
    nop
alternative_else
    nop
alternative_endif
    ret
