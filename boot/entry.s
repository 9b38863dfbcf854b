// Entry points of the kernel: `_start` for the boot CPU and `secondary_entry` for the CPUs
// that PSCI CPU_ON starts. Both may arrive at EL2 (QEMU `virtualization=on`) or at EL1,
// with the MMU and caches off. Constants come from Rust as `const`/`sym` operands.

.section .text.boot, "ax"

// The boot CPU. x0: the device tree under the Linux boot protocol, 0 for a bare ELF.
.global _start
_start:
    mov     x19, x0                         // keep the DTB pointer across the calls below
    mov     x20, #0                         // the boot CPU is CPU 0
    mov     x22, #1                         // it may stay at EL2 (Rust decides on the overrides)
    bl      el2_setup
    bl      set_stack                       // sp = top of CPU 0's stack

    // Zero the BSS before any Rust code reads a static.
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
    // 64 bytes an iteration while they fit (the BSS is mostly the 512 CPUs' per-CPU
    // state: a quarter of the loop's instructions, ~20 us under -icount), then 16.
    sub     x3, x2, #64
3:  cmp     x1, x3
    b.hi    1f
    stp     xzr, xzr, [x1]
    stp     xzr, xzr, [x1, #16]
    stp     xzr, xzr, [x1, #32]
    stp     xzr, xzr, [x1, #48]
    add     x1, x1, #64
    b       3b
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
    // Whether the boot CPU lets this CPU stay at EL2 with VHE: it runs there itself and no
    // override lowers ID_AA64MMFR1.VH for this CPU. Published before CPU_ON and cleaned to
    // the point of coherency: read here with the MMU and caches off.
    adrp    x9, {el2_stay}
    add     x9, x9, :lo12:{el2_stay}
    ldrb    w22, [x9, x20]
    bl      el2_setup
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
    // Nothing stale from before reset may be used. At EL2 with HCR_EL2.E2H and TGE both 1
    // TLBI VMALLE1 operates on the EL2&0 regime (Arm ARM C5.5, TLBI VMALLE1), the one the
    // redirected names above configure.
    tlbi    vmalle1
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

// The exception level the kernel runs at. Entered at EL1: nothing to do. Entered at EL2
// with x22 != 0 on a CPU with FEAT_VHE (ID_AA64MMFR1_EL1.VH != 0): stay at EL2 as Linux's
// VHE host does, HCR_EL2 = E2H|TGE|RW. Otherwise configure EL2 for a plain EL1 kernel and
// drop to EL1h. Returns in x21 the exception level we were entered at (1 or 2), at the
// level the kernel runs at, with every exception masked. Clobbers x9, x10.
//
// With HCR_EL2.E2H = 1 the EL1 names of the registers the kernel uses at its own level
// (SCTLR, TCR, TTBR0, MAIR, VBAR, ESR, FAR, ELR, SPSR, CPACR, CNTKCTL, ...) access their EL2
// counterparts when used at EL2 (Arm ARM DDI 0487, "Behavior of HCR_EL2.E2H": the table of
// registers redirected at EL2; each register's accessibility pseudocode in D19), so
// the same code runs the kernel at EL1 and at EL2. TPIDR_EL1 is not redirected: the kernel
// keeps its CPU index in TPIDR_EL2 at EL2 (cpu.rs, an alternative on HAS_VIRT_HOST_EXTN).
el2_setup:
    mrs     x9, CurrentEL
    lsr     x21, x9, #2
    cmp     x21, #2
    b.eq    3f
    ret
3:  cbz     x22, el2_to_el1
    mrs     x9, id_aa64mmfr1_el1
    ubfx    x9, x9, #8, #4                    // VH
    cbz     x9, el2_to_el1
    ldr     x9, ={HCR_EL2_VHE}                // E2H, TGE: the EL2&0 regime is the kernel's
    msr     hcr_el2, x9
    isb                                       // the redirection applies from here on
    ldr     x9, ={SCTLR_EL1_VALUE}            // SCTLR_EL2 in EL1's layout: MMU, caches off
    msr     sctlr_el1, x9
    mov     x9, #{CPACR_EL2_VALUE}            // CPTR_EL2 in CPACR_EL1's layout: FP not trapped
    msr     cpacr_el1, x9
    msr     cntvoff_el2, xzr
    msr     hstr_el2, xzr
    mrs     x9, id_aa64pfr0_el1               // GICv3 system registers at EL2
    ubfx    x9, x9, #24, #4
    cbz     x9, 4f
    mov     x9, #{ICC_SRE_EL2_VALUE}
    msr     icc_sre_el2, x9
4:  isb
    ret

// Configures EL2 for a plain EL1 kernel. Clobbers x9.
.macro EL2_FOR_EL1
    ldr     x9, ={HCR_EL2_VALUE}              // EL1 is AArch64; nothing trapped to EL2
    msr     hcr_el2, x9
    isb                                       // E2H is clear: no redirection from here on
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
    cbz     x9, 5f
    mov     x9, #{ICC_SRE_EL2_VALUE}
    msr     icc_sre_el2, x9
    isb
5:  ldr     x9, ={SCTLR_EL1_VALUE}            // EL1 starts with its MMU and caches off
    msr     sctlr_el1, x9
    adrp    x9, exception_vectors             // EL1's own VBAR (a no-op before set_vectors)
    add     x9, x9, :lo12:exception_vectors
    msr     vbar_el1, x9
.endm

// Entry: configure EL2 for a plain EL1 kernel and drop to EL1h with every exception
// masked, on the current stack (set_stack follows); returns to x30 at EL1. Clobbers x9.
el2_to_el1:
    EL2_FOR_EL1
    mov     x9, sp                            // EL1h runs on SP_EL1: the same stack
    msr     sp_el1, x9
    mov     x9, #{SPSR_EL2_VALUE}             // return to EL1h, DAIF masked
    msr     spsr_el2, x9
    msr     elr_el2, x30
    eret

// leave_el2(): the boot CPU, at EL2 with VHE and its MMU off, when the command line says
// not to stay there (`id_aa64mmfr1.vh=0`, `kvm-arm.mode=nvhe`): drop to EL1 as if entry had
// done it, and return there. set_stack has run: the kernel runs on SP_EL0, which EL1t keeps
// using, and SP_EL2 holds the exception stack, which becomes SP_EL1. Clobbers x9.
.global leave_el2
leave_el2:
    EL2_FOR_EL1
    msr     spsel, #1
    mov     x9, sp                            // SP_EL2: this CPU's exception stack
    msr     spsel, #0
    msr     sp_el1, x9
    mov     x9, #{SPSR_EL2_EL1T}              // return to EL1t, DAIF masked
    msr     spsr_el2, x9
    msr     elr_el2, x30
    eret
