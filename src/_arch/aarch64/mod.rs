//! The AArch64 bodies below the kernel's portable interfaces (`cpu`, `boot`, `cache`,
//! `sync`, `exception`, `memory`), which re-export what the rest of the kernel may use.
//!
//! Nothing here names a kernel module: what this code needs it defines itself (the stacks'
//! layout, the image's layout, the capability list its alternatives are built against) or
//! takes from crates, and it enters the kernel only through functions the kernel defines
//! under names declared here (`altpatch_kernel_main`, `altpatch_secondary_main`,
//! `altpatch_unexpected_exception`, `altpatch_page_tables_exhausted`), as aarch64-rt's
//! `entry!` does for `__main`. `tests/layering` keeps it so.

pub mod boot;
pub mod cache;
pub mod cpu;
pub mod exception;
pub mod memory;
pub mod stacks;
pub mod sync;

/// The capability list this architecture's alternatives are built against: Linux arm64's
/// (the kernel's `alternative::KernelCaps` is this list).
pub type Caps = arm64_caps::caps::Arm64;
