//! AArch64 entry: the exception level (EL2 with VHE, or EL1), stacks, BSS, vectors, and the
//! MMU on the secondaries.
//!
//! Entered at EL2 on a CPU with FEAT_VHE, the kernel stays there as Linux's VHE host does
//! (HCR_EL2 = E2H | TGE | RW): `boot/entry.s` keeps the boot CPU at EL2, and before its MMU
//! is on, [`decide_boot_cpu_level`] reads the command line's overrides (Linux parses them as
//! early, before `finalise_el2`) and drops it to EL1 if `id_aa64mmfr1.vh=0` or
//! `kvm-arm.mode=nvhe` (or `cpu0:id_aa64mmfr1.vh=0`) says so. The boot CPU then publishes,
//! per CPU, whether a secondary may stay at EL2 ([`publish_secondary_levels`]): only if the
//! boot CPU does and no override lowers that CPU's VH; a secondary also needs VH in its own
//! ID_AA64MMFR1. A secondary that stays at EL1 while the boot CPU runs at EL2 lacks
//! `HAS_VIRT_HOST_EXTN` and is refused as Linux refuses it (`verify_local_cpu_caps`).

use super::{
    cpu::current_el,
    memory::mmu,
    stacks::{GUARD_SIZE, MAX_CPUS, STACK_SIZE, STACK_SLOT},
};
use aarch64_cpu::registers::{CNTHCTL_EL2, HCR_EL2, ID_AA64MMFR1_EL1, SPSR_EL2};
use arm64_caps::caps::{IdRegs, fields, overrides::Overrides};
use core::sync::atomic::{AtomicU8, Ordering};
use tock_registers::interfaces::Readable;

/// SCTLR_EL1 on entry to EL1: RES1 bits only (Arm ARM D19.2.118: bits 29, 28, 23, 22, 20, 11),
/// so the MMU, caches and alignment checks start off and EL1 is little endian.
const SCTLR_EL1_RES1: u64 = (1 << 29) | (1 << 28) | (1 << 23) | (1 << 22) | (1 << 20) | (1 << 11);
/// CPTR_EL2 with HCR_EL2.E2H = 0: only the RES1 bits 13, 9 and 7:0, so TFP, TZ (SVE) and TSM
/// (SME) are clear and nothing traps (Arm ARM D19.2.31; Linux's CPTR_NVHE_EL2_RES1).
const CPTR_EL2_NO_TRAPS: u64 = 0x22ff;
/// CPTR_EL2 with HCR_EL2.E2H = 1 has CPACR_EL1's layout (Arm ARM D19.2.31): FPEN = 0b11
/// (bits 21:20), so FP/SIMD does not trap at EL2 or EL0; the rest (ZEN, SMEN, TTA) zero.
const CPACR_EL2_FPEN: u64 = 0b11 << 20;
/// ICC_SRE_EL2: SRE (system register interface at EL2) and Enable (EL1 may use ICC_SRE_EL1)
/// (Arm IHI 0069H 12.7.8).
const ICC_SRE_EL2_SRE_ENABLE: u64 = 0b1001;

core::arch::global_asm!(
    include_str!("../../../boot/entry.s"),
    STACK_SLOT = const STACK_SLOT,
    STACK_TOP = const GUARD_SIZE + STACK_SIZE,
    EXCEPTION_STACK_TOP = const STACK_SLOT,
    // EL1 is AArch64; pointer authentication instructions and keys do not trap (API, APK).
    HCR_EL2_VALUE = const HCR_EL2::RW::EL1IsAarch64.value | HCR_EL2::API::SET.value | HCR_EL2::APK::SET.value,
    // Linux's HCR_HOST_VHE_FLAGS (RW | TGE | E2H), with pointer authentication untrapped.
    HCR_EL2_VHE = const HCR_EL2::RW::EL1IsAarch64.value | HCR_EL2::TGE::EnableTrapGeneralExceptionsToEl2.value
        | HCR_EL2::E2H::EnableOsAtEl2.value
        | HCR_EL2::API::SET.value | HCR_EL2::APK::SET.value,
    CPACR_EL2_VALUE = const CPACR_EL2_FPEN,
    CNTHCTL_EL2_VALUE = const CNTHCTL_EL2::EL1PCEN::SET.value | CNTHCTL_EL2::EL1PCTEN::SET.value,
    CPTR_EL2_VALUE = const CPTR_EL2_NO_TRAPS,
    ICC_SRE_EL2_VALUE = const ICC_SRE_EL2_SRE_ENABLE,
    SCTLR_EL1_VALUE = const SCTLR_EL1_RES1,
    SPSR_EL2_EL1T = const SPSR_EL2::D::Masked.value | SPSR_EL2::A::Masked.value
        | SPSR_EL2::I::Masked.value | SPSR_EL2::F::Masked.value | SPSR_EL2::M::EL1t.value,
    SPSR_EL2_VALUE = const SPSR_EL2::D::Masked.value | SPSR_EL2::A::Masked.value
        | SPSR_EL2::I::Masked.value | SPSR_EL2::F::Masked.value | SPSR_EL2::M::EL1h.value,
    MMU_MAIR_TCR = const mmu::MMU_MAIR_TCR,
    MMU_TTBR_SCTLR = const mmu::MMU_TTBR_SCTLR,
    mmu_state = sym mmu::MMU_STATE,
    el2_stay = sym EL2_STAY,
    kernel_init = sym altpatch_kernel_main,
    secondary_init = sym altpatch_secondary_main,
);

unsafe extern "C" {
    fn secondary_entry();
    fn leave_el2();
    /// The kernel's boot-CPU entry, which the kernel defines under this name (as aarch64-rt's
    /// `entry!` defines `__main`): arch code names no kernel module. Entered from
    /// `boot/entry.s` with the MMU off, BSS zeroed, on CPU 0's stack, the device tree's
    /// address and the entry exception level as arguments; never returns.
    fn altpatch_kernel_main(dtb: u64, entry_el: u64) -> !;
    /// The kernel's secondary-CPU entry, under this name: entered from `boot/entry.s` with
    /// the CPU's MMU on and its stack set, its index and entry exception level as arguments.
    fn altpatch_secondary_main(index: usize, entry_el: u64) -> !;
}

/// Per CPU: 1 if the secondary may stay at EL2 with VHE. Read by `boot/entry.s` with the
/// MMU off, so written before CPU_ON and cleaned to the point of coherency.
static EL2_STAY: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];

/// Whether the command line `bootargs` lets logical CPU `cpu` run the kernel at EL2 with VHE:
/// this CPU's ID_AA64MMFR1_EL1.VH after the overrides (`id_aa64mmfr1.vh=0`,
/// `cpuN:id_aa64mmfr1.vh=0`, `kvm-arm.mode=nvhe`) is still non-zero. Malformed arguments are
/// skipped here: they are reported once the console is up.
fn vhe_allowed(overrides: &Overrides, cpu: usize) -> bool {
    let mut regs = IdRegs { id_aa64mmfr1: ID_AA64MMFR1_EL1.get(), ..IdRegs::default() };
    overrides.apply(cpu, &mut regs);
    fields::id_aa64mmfr1::VH.get(&regs) >= 1
}

fn overrides_of(bootargs: &[u8]) -> Overrides {
    let mut overrides = Overrides::default();
    // Errors are reported once the console exists (`options::BootOptions::parse` reads the
    // same command line); here only the overrides matter.
    for arg in arm64_caps::cmdline::parse_bytes(bootargs).flatten() {
        let _ = overrides.accept(&arg);
    }
    overrides
}

/// The boot CPU's decision, with its MMU off: entry left it at EL2 with VHE where the CPU has
/// it; if the command line's overrides take VHE away, drop to EL1 now (Linux's
/// `finalise_el2` declines VHE on the same overrides). Returns the level it runs at.
///
/// # Safety
///
/// Called once, on the boot CPU, before its MMU is on and before anything was stored in an
/// EL-specific register other than those `boot/entry.s` set (VBAR, which the drop rewrites).
pub unsafe fn decide_boot_cpu_level(bootargs: &[u8]) -> u64 {
    if current_el() == 2 && !vhe_allowed(&overrides_of(bootargs), 0) {
        // SAFETY: at EL2 with the MMU off, on the boot stack: `leave_el2` reprograms EL2 for
        // an EL1 kernel and returns at EL1h on the same stack with EL1's vectors; nothing in
        // EL2's registers is needed afterwards (the caller's promise).
        unsafe { leave_el2() };
    }
    current_el()
}

/// Publishes, for CPUs 1 to `cpus - 1`, whether each may stay at EL2: the boot CPU does, and
/// `overrides` leave that CPU's VH. Must run before the first CPU_ON.
pub fn publish_secondary_levels(overrides: &Overrides, cpus: usize) {
    let boot_at_el2 = current_el() == 2;
    for (cpu, stay) in EL2_STAY.iter().enumerate().take(cpus).skip(1) {
        stay.store(u8::from(boot_at_el2 && vhe_allowed(overrides, cpu)), Ordering::Relaxed);
    }
    // The secondaries read the bytes with their caches off.
    mmu::clean_dcache_to_poc(EL2_STAY.as_ptr() as u64, cpus as u64);
}

/// The physical address PSCI CPU_ON starts secondaries at (the kernel is identity mapped).
pub fn secondary_entry_address() -> u64 {
    secondary_entry as *const () as u64
}
