//! AArch64 entry: EL2 to EL1, stacks, BSS, vectors, and the MMU on the secondaries.

use crate::{
    cpu::{GUARD_SIZE, STACK_SIZE, STACK_SLOT},
    memory::mmu,
};
use aarch64_cpu::registers::{CNTHCTL_EL2, HCR_EL2, SPSR_EL2};

/// SCTLR_EL1 on entry to EL1: RES1 bits only (Arm ARM D19.2.118: bits 29, 28, 23, 22, 20, 11),
/// so the MMU, caches and alignment checks start off and EL1 is little endian.
const SCTLR_EL1_RES1: u64 = (1 << 29) | (1 << 28) | (1 << 23) | (1 << 22) | (1 << 20) | (1 << 11);
/// CPTR_EL2 with HCR_EL2.E2H = 0: only the RES1 bits 13, 9 and 7:0, so TFP, TZ (SVE) and TSM
/// (SME) are clear and nothing traps (Arm ARM D19.2.31; Linux's CPTR_NVHE_EL2_RES1).
const CPTR_EL2_NO_TRAPS: u64 = 0x22ff;
/// ICC_SRE_EL2: SRE (system register interface at EL2) and Enable (EL1 may use ICC_SRE_EL1)
/// (Arm IHI 0069H 12.7.8).
const ICC_SRE_EL2_SRE_ENABLE: u64 = 0b1001;

#[repr(C, align(4096))]
struct Stacks([u8; STACK_SLOT * crate::cpu::MAX_CPUS]);

/// Every CPU's stacks and guard pages (see [`STACK_SLOT`]); `boot/entry.s` finds CPU n's
/// slot at `__stacks_start + n * STACK_SLOT`.
#[unsafe(link_section = ".stacks")]
#[used]
static STACKS: Stacks = Stacks([0; STACK_SLOT * crate::cpu::MAX_CPUS]);

core::arch::global_asm!(
    include_str!("../../../boot/entry.s"),
    STACK_SLOT = const STACK_SLOT,
    STACK_TOP = const GUARD_SIZE + STACK_SIZE,
    EXCEPTION_STACK_TOP = const STACK_SLOT,
    // EL1 is AArch64; pointer authentication instructions and keys do not trap (API, APK).
    HCR_EL2_VALUE = const HCR_EL2::RW::EL1IsAarch64.value | HCR_EL2::API::SET.value | HCR_EL2::APK::SET.value,
    CNTHCTL_EL2_VALUE = const CNTHCTL_EL2::EL1PCEN::SET.value | CNTHCTL_EL2::EL1PCTEN::SET.value,
    CPTR_EL2_VALUE = const CPTR_EL2_NO_TRAPS,
    ICC_SRE_EL2_VALUE = const ICC_SRE_EL2_SRE_ENABLE,
    SCTLR_EL1_VALUE = const SCTLR_EL1_RES1,
    SPSR_EL2_VALUE = const SPSR_EL2::D::Masked.value | SPSR_EL2::A::Masked.value
        | SPSR_EL2::I::Masked.value | SPSR_EL2::F::Masked.value | SPSR_EL2::M::EL1h.value,
    MMU_MAIR_TCR = const mmu::MMU_MAIR_TCR,
    MMU_TTBR_SCTLR = const mmu::MMU_TTBR_SCTLR,
    mmu_state = sym mmu::MMU_STATE,
    kernel_init = sym crate::kernel_init,
    secondary_init = sym crate::smp::secondary_init,
);

unsafe extern "C" {
    fn secondary_entry();
}

/// The physical address PSCI CPU_ON starts secondaries at (the kernel is identity mapped).
pub fn secondary_entry_address() -> u64 {
    secondary_entry as *const () as u64
}
