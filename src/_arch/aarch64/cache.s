// sync_icache_range(start: x0, end: x1): makes instructions written to [start, end) through
// the data side visible to instruction fetch on every CPU in the inner shareable domain
// (Arm ARM B2.4.4 "Concurrent modification and execution of instructions"): clean the
// D-cache to the point of unification, invalidate the I-cache, then DSB and ISB. The first
// step is skipped where CTR_EL0.IDC says it is not needed, the second where DIC does, by
// alternatives whose replacements branch past the loops (relocated when copied).

.section .text.cache, "ax"
.global sync_icache_range
sync_icache_range:
    mrs     x3, ctr_el0
alternative_if_not {CAP_IDC}, {FINGERPRINT}
    nop
    nop
alternative_else
    dsb     ishst                       // IDC: order the writes; no clean needed
    b       2f
alternative_endif
    ubfx    x4, x3, #16, #4             // CTR_EL0.DminLine: log2 of words per line
    mov     x5, #4
    lsl     x5, x5, x4                  // D-cache line size in bytes
    sub     x6, x5, #1
    bic     x2, x0, x6                  // first line
1:  dc      cvau, x2
    add     x2, x2, x5
    cmp     x2, x1
    b.lo    1b
    dsb     ish
2:
alternative_if_not {CAP_DIC}, {FINGERPRINT}
    nop
    nop
alternative_else
    isb                                 // DIC: no invalidate needed
    b       4f
alternative_endif
    and     x4, x3, #0xf                // CTR_EL0.IminLine
    mov     x5, #4
    lsl     x5, x5, x4
    sub     x6, x5, #1
    bic     x2, x0, x6
3:  ic      ivau, x2
    add     x2, x2, x5
    cmp     x2, x1
    b.lo    3b
    dsb     ish
    isb
4:  ret
