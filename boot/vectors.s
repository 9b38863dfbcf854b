// The EL1 exception vector table (Arm ARM D1.10.2: 16 entries of 0x80 bytes, 2 KiB aligned).
// Every entry saves the interrupted context as an `ExceptionFrame` (src/exception.rs) and
// calls `{handler}(frame, kind)`. If the handler returns (a recovered fault), the frame,
// which it may have changed (ELR, x0), is restored and the exception returns.

.macro VECTOR kind
.balign 0x80
    sub     sp, sp, #{FRAME_SIZE}
    stp     x0, x1, [sp, #(0 * 16)]
    stp     x2, x3, [sp, #(1 * 16)]
    stp     x4, x5, [sp, #(2 * 16)]
    stp     x6, x7, [sp, #(3 * 16)]
    stp     x8, x9, [sp, #(4 * 16)]
    stp     x10, x11, [sp, #(5 * 16)]
    stp     x12, x13, [sp, #(6 * 16)]
    stp     x14, x15, [sp, #(7 * 16)]
    stp     x16, x17, [sp, #(8 * 16)]
    stp     x18, x19, [sp, #(9 * 16)]
    stp     x20, x21, [sp, #(10 * 16)]
    stp     x22, x23, [sp, #(11 * 16)]
    stp     x24, x25, [sp, #(12 * 16)]
    stp     x26, x27, [sp, #(13 * 16)]
    stp     x28, x29, [sp, #(14 * 16)]
    mov     x0, #\kind
    b       exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    VECTOR 0    // current EL with SP0: synchronous
    VECTOR 1    //                      IRQ
    VECTOR 2    //                      FIQ
    VECTOR 3    //                      SError
    VECTOR 4    // current EL with SPx: synchronous
    VECTOR 5    //                      IRQ
    VECTOR 6    //                      FIQ
    VECTOR 7    //                      SError
    VECTOR 8    // lower EL, AArch64: synchronous
    VECTOR 9    //                      IRQ
    VECTOR 10   //                      FIQ
    VECTOR 11   //                      SError
    VECTOR 12   // lower EL, AArch32: synchronous
    VECTOR 13   //                      IRQ
    VECTOR 14   //                      FIQ
    VECTOR 15   //                      SError

// x0: the vector's kind; x0-x29 are saved.
exception_common:
    mov     x1, x0
    add     x2, sp, #{FRAME_SIZE}               // the interrupted sp, if it was this one (EL1h)
    cmp     x1, #4
    b.hs    1f
    mrs     x2, sp_el0                          // from EL1t: the kernel runs on SP_EL0
1:  stp     x30, x2, [sp, #{FRAME_X30}]
    mrs     x3, elr_el1
    mrs     x4, spsr_el1
    stp     x3, x4, [sp, #{FRAME_ELR}]
    mrs     x3, esr_el1
    mrs     x4, far_el1
    stp     x3, x4, [sp, #{FRAME_ESR}]
    mov     x0, sp
    bl      {handler}
    ldp     x3, x4, [sp, #{FRAME_ELR}]          // the handler may have moved ELR
    msr     elr_el1, x3
    msr     spsr_el1, x4
    ldr     x30, [sp, #{FRAME_X30}]
    ldp     x0, x1, [sp, #(0 * 16)]
    ldp     x2, x3, [sp, #(1 * 16)]
    ldp     x4, x5, [sp, #(2 * 16)]
    ldp     x6, x7, [sp, #(3 * 16)]
    ldp     x8, x9, [sp, #(4 * 16)]
    ldp     x10, x11, [sp, #(5 * 16)]
    ldp     x12, x13, [sp, #(6 * 16)]
    ldp     x14, x15, [sp, #(7 * 16)]
    ldp     x16, x17, [sp, #(8 * 16)]
    ldp     x18, x19, [sp, #(9 * 16)]
    ldp     x20, x21, [sp, #(10 * 16)]
    ldp     x22, x23, [sp, #(11 * 16)]
    ldp     x24, x25, [sp, #(12 * 16)]
    ldp     x26, x27, [sp, #(13 * 16)]
    ldp     x28, x29, [sp, #(14 * 16)]
    add     sp, sp, #{FRAME_SIZE}
    eret

// probe_store_u32(addr: x0, value: w1) -> x0: 0, or the ESR of the fault the store took.
// The store's fault is recovered through the fixup table: the handler resumes at the
// fixup with x0 = ESR.
.section .text.probe, "ax"
.global probe_store_u32
probe_store_u32:
    mov     x2, x0
5:  str     w1, [x2]
    mov     x0, #0
6:  ret
.pushsection .fixup_table, "a"
    .balign 4                                   // entries are read as aligned words
    .word   5b - .                              // the instruction that may fault
    .word   6b - .                              // where to resume, with x0 = ESR
.popsection
