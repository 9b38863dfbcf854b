// The assembly file of `global_asm_file!`'s doc example: an I-cache invalidation that
// CPUs with DIC (CTR_EL0.DIC: no invalidation needed) replace with NOPs.

.section .text.invalidate_icache_range, "ax"
.global invalidate_icache_range
invalidate_icache_range:
alternative_if_not {CAP_DIC}, {FINGERPRINT}
    ic      ivau, x0
    dsb     ish
alternative_else
    nop
    nop
alternative_endif
    isb
    ret
