// Entry points of the kernel: `_start` for the boot CPU and `secondary_entry` for the CPUs
// that PSCI CPU_ON starts. Both may arrive at EL2 (QEMU `virtualization=on`) or at EL1,
// with the MMU and caches off. Constants come from Rust as `const`/`sym` operands.

.section .text.boot, "ax"

// The boot CPU. x0: the device tree under the Linux boot protocol, 0 for a bare ELF.
.global _start
_start:
    mov     x19, x0                         // keep the DTB pointer across the calls below
    mov     x20, #0                         // the boot CPU is CPU 0
    bl      el2_to_el1
    bl      set_stack                       // sp = top of CPU 0's stack

    // Zero the BSS before any Rust code reads a static.
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16             // the linker script aligns both ends to 16
    b       1b
2:
    bl      set_vectors
    mov     x0, x19
    mov     x1, x21                         // the exception level we were entered at
    b       {kernel_init}

// A secondary CPU. x0: the PSCI context ID, which the boot CPU sets to the CPU index.
.global secondary_entry
secondary_entry:
    mov     x20, x0
    bl      el2_to_el1
    bl      set_vectors

    // Turn the MMU on with the tables and controls the boot CPU published (and cleaned to
    // the point of coherency, since this CPU reads them with its caches off).
    adrp    x1, {mmu_state}
    add     x1, x1, :lo12:{mmu_state}
    ldp     x2, x3, [x1, #{MMU_MAIR_TCR}]
    msr     mair_el1, x2
    msr     tcr_el1, x3
    ldp     x2, x3, [x1, #{MMU_TTBR_SCTLR}]
    msr     ttbr0_el1, x2
    isb
    tlbi    vmalle1                         // nothing stale from before reset may be used
    dsb     nsh
    isb
    msr     sctlr_el1, x3
    isb

    bl      set_stack
    mov     x0, x20
    mov     x1, x21
    b       {secondary_init}

// CPU x20's stacks, in its slot at __stacks_start + x20 * STACK_SLOT: SP_ELx (exceptions
// switch to it) = the exception stack's top; then SPSel = 0, and SP_EL0, which the kernel
// runs on, = the stack's top. Each grows down into a guard page that is never mapped, so an
// overflow faults, and the fault is taken on the other stack. Clobbers x9, x10, x11.
set_stack:
    adrp    x9, __stacks_start
    add     x9, x9, :lo12:__stacks_start
    mov     x11, #{STACK_SLOT}
    madd    x9, x20, x11, x9                // the slot's base
    msr     spsel, #1
    mov     x10, #{EXCEPTION_STACK_TOP}
    add     x10, x9, x10
    mov     sp, x10
    msr     spsel, #0
    mov     x10, #{STACK_TOP}
    add     x10, x9, x10
    mov     sp, x10
    ret

// Exception vectors before the first access that can fault. Clobbers x9.
set_vectors:
    adrp    x9, exception_vectors
    add     x9, x9, :lo12:exception_vectors
    msr     vbar_el1, x9
    isb
    ret

// If entered at EL2, configure EL2 for a plain EL1 kernel and drop to EL1h with every
// exception masked. Returns in x21 the exception level we were entered at (1 or 2).
// Clobbers x9, x10.
el2_to_el1:
    mrs     x9, CurrentEL
    lsr     x21, x9, #2
    cmp     x21, #2
    b.eq    3f
    ret
3:  ldr     x9, ={HCR_EL2_VALUE}              // EL1 is AArch64; nothing trapped to EL2
    msr     hcr_el2, x9
    mov     x9, #{CNTHCTL_EL2_VALUE}          // EL1 reads the physical counter and timer
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    mov     x9, #{CPTR_EL2_VALUE}             // no FP/SIMD or trace traps to EL2
    msr     cptr_el2, x9
    msr     hstr_el2, xzr
    mrs     x9, midr_el1                      // EL1 sees the real MIDR and MPIDR
    msr     vpidr_el2, x9
    mrs     x9, mpidr_el1
    msr     vmpidr_el2, x9
    mrs     x9, id_aa64pfr0_el1               // GICv3 system registers: let EL1 use them
    ubfx    x9, x9, #24, #4
    cbz     x9, 4f
    mov     x9, #{ICC_SRE_EL2_VALUE}
    msr     icc_sre_el2, x9
    isb
4:  ldr     x9, ={SCTLR_EL1_VALUE}            // EL1 starts with its MMU and caches off
    msr     sctlr_el1, x9
    mov     x9, #{SPSR_EL2_VALUE}             // return to EL1h, DAIF masked
    msr     spsr_el2, x9
    msr     elr_el2, x30
    eret
