//! The processor: the portable names the rest of the kernel uses, and their AArch64 bodies.

#[path = "_arch/aarch64/cpu.rs"]
mod arch_cpu;

pub use arch_cpu::*;

/// The most CPUs the kernel brings up: QEMU `virt`'s limit with a GICv3, as many as the
/// rendezvous's `CpuSet` names.
pub const MAX_CPUS: usize = altpatch_rendezvous::MAX_CPUS;

/// Bytes of boot stack per CPU.
pub const STACK_SIZE: usize = 32 * 1024;
