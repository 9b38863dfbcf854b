//! AArch64 CPU primitives: each a small named function carrying its own barriers, since
//! register accessors in aarch64-cpu add none.

use super::Caps;
use aarch64_cpu::{asm, asm::barrier, registers::*};
use altpatch_aarch64::ArmPlatform;
use arm64_caps::caps::IdRegs;
use tock_registers::interfaces::{Readable, Writeable};

/// Waits for an event (WFE). Spurious wake-ups are allowed: callers loop on a condition.
#[inline(always)]
pub fn wait_for_event() {
    asm::wfe();
}

/// Signals an event to every CPU (SEV), after a DSB ISH so that the stores the waiters are
/// to observe are visible before they wake (Arm ARM D1.6.1, "the Event Register").
#[inline(always)]
pub fn send_event() {
    barrier::dsb(barrier::ISH);
    asm::sev();
}

/// A context synchronization event (ISB): instructions after it are fetched afresh, so a
/// patched site is seen as written.
#[inline(always)]
pub fn context_sync() {
    barrier::isb(barrier::SY);
}

/// A busy-wait hint in loops that cannot use WFE: YIELD (Arm ARM C6.2, "YIELD"), written
/// out because `core::hint::spin_loop` emits ISB on AArch64. On hardware it is a hint; on
/// single-threaded TCG (and `-icount`) QEMU ends the CPU's time slice at it, so the CPU
/// being waited for runs: with ISB, a boot CPU polling PSCI AFFINITY_INFO for a CPU going
/// offline never let that CPU run.
#[inline(always)]
pub fn relax() {
    // SAFETY: YIELD is a hint with no architectural effect on memory, registers or flags.
    unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// The exception level this CPU runs at (CurrentEL.EL, Arm ARM C5.2.1): 2 when the kernel
/// stays at EL2 with VHE, 1 otherwise.
pub fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// Sets this CPU's index, kept in the running level's thread ID register for [`cpu_index`]:
/// TPIDR_EL1, or TPIDR_EL2 once the boot pass has patched the site on a system that runs at
/// EL2 with VHE (Linux's `set_my_cpu_offset`: TPIDR_EL1 is not redirected under HCR_EL2.E2H,
/// it is absent from the Arm ARM's "Behavior of HCR_EL2.E2H" redirection table, and belongs to
/// a guest's EL1; the host keeps its own in TPIDR_EL2).
#[inline(never)]
pub fn set_cpu_index(index: usize) {
    // SAFETY: writes the thread ID register of the level the kernel runs at (the replacement
    // runs only where HAS_VIRT_HOST_EXTN holds, that is at EL2); no memory is touched.
    unsafe {
        altpatch_aarch64::alternative!(
            list: Caps,
            old: ["msr tpidr_el1, {index}"],
            new: ["msr tpidr_el2, {index}"],
            cap: HAS_VIRT_HOST_EXTN,
            index = in(reg) index as u64,
            options(nomem, nostack, preserves_flags)
        )
    }
}

/// The index of the running CPU (0 is the boot CPU): TPIDR_EL1, or TPIDR_EL2 where the
/// kernel runs at EL2 with VHE (Linux's `__my_cpu_offset`,
/// `ALTERNATIVE("mrs tpidr_el1", "mrs tpidr_el2", ARM64_HAS_VIRT_HOST_EXTN)`).
#[inline(never)]
pub fn cpu_index() -> usize {
    let index: u64;
    // SAFETY: reads the thread ID register of the level the kernel runs at; no memory.
    unsafe {
        altpatch_aarch64::alternative!(
            list: Caps,
            old: ["mrs {index}, tpidr_el1"],
            new: ["mrs {index}, tpidr_el2"],
            cap: HAS_VIRT_HOST_EXTN,
            index = out(reg) index,
            options(nomem, nostack, preserves_flags)
        )
    };
    index as usize
}

/// Linux's `cpu_copy_el2regs`, HAS_VIRT_HOST_EXTN's enable on the boot CPU: before the boot
/// pass patches [`cpu_index`] to read TPIDR_EL2, copy the index the unpatched code kept in
/// TPIDR_EL1 there. Only at EL2 (TPIDR_EL2 is UNDEFINED at EL1).
pub fn copy_el2_regs() {
    if current_el() == 2 {
        TPIDR_EL2.set(TPIDR_EL1.get());
    }
}

/// TPIDR_EL1 and, at EL2, TPIDR_EL2 read directly (not through the patched sequences), for
/// the self-test that the patched ones use the running level's register.
pub fn thread_id_registers() -> (u64, Option<u64>) {
    (TPIDR_EL1.get(), (current_el() == 2).then(|| TPIDR_EL2.get()))
}

/// Writes TPIDR_EL1 directly, for the same self-test. TPIDR_EL1 holds the CPU index only on a
/// system that runs at EL1.
pub fn set_tpidr_el1(value: u64) {
    TPIDR_EL1.set(value);
}

/// This CPU's MPIDR_EL1 affinity fields (Aff3:Aff2:Aff1:Aff0), as the DTB's `reg` lists them.
pub fn mpidr_affinity() -> u64 {
    let mpidr = MPIDR_EL1.extract();
    mpidr.read(MPIDR_EL1::Aff3) << 32
        | mpidr.read(MPIDR_EL1::Aff2) << 16
        | mpidr.read(MPIDR_EL1::Aff1) << 8
        | mpidr.read(MPIDR_EL1::Aff0)
}

/// The physical counter (CNTPCT_EL0), ordered after the instructions before it by an ISB
/// (Arm ARM D12.1.2: counter reads may otherwise be speculated early).
#[inline(always)]
pub fn counter() -> u64 {
    barrier::isb(barrier::SY);
    CNTPCT_EL0.get()
}

/// The counter frequency in Hz (CNTFRQ_EL0, set by firmware or QEMU).
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// Masks IRQ, FIQ, SError and debug exceptions on this CPU (DAIF), and returns the previous
/// mask for [`restore_exceptions`].
#[inline(always)]
pub fn mask_exceptions() -> u64 {
    let daif = DAIF.get();
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
    daif
}

/// Restores a mask saved by [`mask_exceptions`].
#[inline(always)]
pub fn restore_exceptions(daif: u64) {
    DAIF.set(daif);
}

/// Parks the CPU forever with exceptions masked.
pub fn park() -> ! {
    mask_exceptions();
    loop {
        asm::wfe();
    }
}

/// Reads a system register aarch64-cpu does not provide (11.2 lacks these).
macro_rules! read_sysreg {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: reading an ID or cache-type register has no side effects and is permitted
        // at EL1 (Arm ARM D19: REVIDR_EL1, ID_AA64ISAR2/ZFR0/SMFR0_EL1, CTR_EL0).
        unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack, preserves_flags)) };
        value
    }};
}

/// Snapshots this CPU's ID registers for capability detection: through aarch64-cpu where it
/// has the register; the rest by name, or for those the assembler knows only by encoding
/// (ID_AA64ISAR2_EL1, ID_AA64ZFR0_EL1, ID_AA64SMFR0_EL1) by `S3_0_C0_Cx_y` (Arm ARM D19.2):
/// they read as zero on CPUs that predate them.
pub fn read_id_regs() -> IdRegs {
    IdRegs {
        midr: MIDR_EL1.get(),
        revidr: read_sysreg!("revidr_el1"),
        mpidr: MPIDR_EL1.get(),
        id_aa64pfr0: ID_AA64PFR0_EL1.get(),
        id_aa64pfr1: ID_AA64PFR1_EL1.get(),
        id_aa64isar0: ID_AA64ISAR0_EL1.get(),
        id_aa64isar1: ID_AA64ISAR1_EL1.get(),
        id_aa64isar2: read_sysreg!("S3_0_C0_C6_2"),
        id_aa64mmfr0: ID_AA64MMFR0_EL1.get(),
        id_aa64mmfr1: ID_AA64MMFR1_EL1.get(),
        id_aa64mmfr2: ID_AA64MMFR2_EL1.get(),
        id_aa64zfr0: read_sysreg!("S3_0_C0_C4_4"),
        id_aa64smfr0: read_sysreg!("S3_0_C0_C4_5"),
        id_aa64dfr0: ID_AA64DFR0_EL1.get(),
        ctr_el0: ctr_el0(),
        clidr: CLIDR_EL1.get(),
        current_el: CurrentEL.get(),
    }
}

/// CTR_EL0, the cache type register: line sizes and the IDC/DIC coherence bits (Arm ARM
/// D23.2.39); decoded by `altpatch_core::plan::CacheGeometry`.
pub fn ctr_el0() -> u64 {
    read_sysreg!("ctr_el0")
}

/// Turns on the generic timer's event stream on this CPU, as the rendezvous's platform
/// defines it ([`ArmPlatform::enable_event_stream`]): every WFE then returns within a bounded
/// time even if no CPU sends an event (the rendezvous measures its timeout between waits).
pub fn enable_event_stream() {
    ArmPlatform::enable_event_stream();
}
