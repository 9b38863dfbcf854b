//! The processor: the portable names the rest of the kernel uses, and their AArch64 bodies.

#[path = "_arch/aarch64/cpu.rs"]
mod arch_cpu;

// The interface: what the rest of the kernel may ask of the processor.
pub use arch_cpu::{
    context_sync, copy_el2_regs, counter, counter_frequency, cpu_index, ctr_el0, current_el,
    enable_event_stream, mask_exceptions, mpidr_affinity, park, read_id_regs, relax, restore_exceptions,
    send_event, set_cpu_index, set_tpidr_el1, thread_id_registers, wait_for_event,
};

/// The most CPUs the kernel brings up: QEMU `virt`'s limit with a GICv3, as many as the
/// rendezvous's `CpuSet` names.
pub const MAX_CPUS: usize = altpatch_rendezvous::MAX_CPUS;

/// Bytes of a CPU's stack.
pub const STACK_SIZE: usize = 32 * 1024;

/// Bytes of a CPU's exception stack: exceptions switch to it (SP_ELx), so an overflow of
/// the stack the CPU runs on (SP_EL0) is still reported.
pub const EXCEPTION_STACK_SIZE: usize = 16 * 1024;

/// Bytes of an unmapped guard page.
pub const GUARD_SIZE: usize = 4096;

/// One CPU's slot in the stacks block, from low to high addresses: a guard page, the
/// stack, a guard page, the exception stack. Each stack grows down into its guard page.
pub const STACK_SLOT: usize = GUARD_SIZE + STACK_SIZE + GUARD_SIZE + EXCEPTION_STACK_SIZE;

/// The CPU whose guard page holds `addr`, in the stacks block at `stacks` (the kernel's
/// layout): an access there is that CPU's stack overflowing.
pub fn stack_guard_owner(stacks: &core::ops::Range<u64>, addr: u64) -> Option<usize> {
    if !stacks.contains(&addr) {
        return None;
    }
    let offset = (addr - stacks.start) as usize;
    let in_slot = offset % STACK_SLOT;
    let guard =
        in_slot < GUARD_SIZE || (GUARD_SIZE + STACK_SIZE..2 * GUARD_SIZE + STACK_SIZE).contains(&in_slot);
    guard.then_some(offset / STACK_SLOT)
}
