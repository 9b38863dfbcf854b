//! The processor: the portable names the rest of the kernel uses; their AArch64 bodies are
//! `_arch/aarch64/cpu.rs` (and the stacks' layout `_arch/aarch64/stacks.rs`).

// The interface: what the rest of the kernel may ask of the processor.
pub use crate::_arch::cpu::{
    context_sync, copy_el2_regs, counter, counter_frequency, cpu_index, current_el, enable_event_stream,
    mask_exceptions, mpidr_affinity, park, read_id_regs, relax, restore_exceptions, send_event,
    set_cpu_index, set_tpidr_el1, thread_id_registers, wait_for_event,
};
pub use crate::_arch::stacks::MAX_CPUS;
