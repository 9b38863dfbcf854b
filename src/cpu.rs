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

/// Bytes of boot stack per CPU.
pub const STACK_SIZE: usize = 32 * 1024;
