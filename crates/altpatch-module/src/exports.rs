//! The kernel's exports, as a module declares them. The kernel's table (src/modules/
//! exports.rs) holds the same names, typed; a module that names anything else is refused.

use altpatch_aarch64::CallbackContext;

unsafe extern "C" {
    /// Prints `len` bytes at `text` as one console line.
    pub fn altpatch_log(text: *const u8, len: usize);
    /// Runs `test` on every online CPU at once; returns how many CPUs it failed on.
    pub fn altpatch_on_each_cpu(test: extern "C" fn(cpu: usize) -> bool) -> usize;
    /// The number of online CPUs.
    pub fn altpatch_online_cpus() -> usize;
    /// Whether every CPU has capability `index` of the kernel's list (final capabilities).
    pub fn altpatch_cpus_have_cap(index: u16) -> bool;
    /// The system's smallest D-cache line, in bytes.
    pub fn altpatch_dcache_line_size() -> u64;
}

unsafe extern "Rust" {
    /// The kernel's callback that encodes the D-cache line size into a `MOVZ` (a callback
    /// the kernel exports for modules).
    pub fn altpatch_cb_dcache_line_size(context: &CallbackContext<'_>, dest: &mut [u32]);
}

/// Prints `text` (UTF-8) as one console line.
#[inline]
pub fn log(text: &[u8]) {
    // SAFETY: the kernel reads `len` bytes at `text`, which the slice owns, and nothing else.
    unsafe { altpatch_log(text.as_ptr(), text.len()) }
}

/// Runs `test` on every online CPU; the number of CPUs it failed on.
#[inline]
pub fn on_each_cpu(test: extern "C" fn(cpu: usize) -> bool) -> usize {
    // SAFETY: the kernel calls `test` on each CPU and waits for every answer before returning.
    unsafe { altpatch_on_each_cpu(test) }
}

/// The number of online CPUs.
#[inline]
pub fn online_cpus() -> usize {
    // SAFETY: a read of the kernel's online set.
    unsafe { altpatch_online_cpus() }
}

/// Whether the system has capability `index` of the kernel's list.
#[inline]
pub fn cpus_have_cap(index: u16) -> bool {
    // SAFETY: a read of the kernel's final capabilities.
    unsafe { altpatch_cpus_have_cap(index) }
}

/// The system's smallest D-cache line, in bytes.
#[inline]
pub fn dcache_line_size() -> u64 {
    // SAFETY: a read of the kernel's sanitised CTR_EL0.
    unsafe { altpatch_dcache_line_size() }
}
