//! The processor: the portable names the rest of the kernel uses, and their AArch64 bodies.

#[path = "_arch/aarch64/cpu.rs"]
mod arch_cpu;

pub use arch_cpu::*;

/// The most CPUs the kernel brings up (CONTRACT.md: 1 to 64); the rendezvous names CPUs in a
/// 64-bit mask.
pub const MAX_CPUS: usize = 64;

/// Bytes of boot stack per CPU.
pub const STACK_SIZE: usize = 32 * 1024;
