//! The defect each bad build carries, in code the module really contains (the kernel must
//! refuse it before any of it runs).

/// Keeps the defective code reachable from `init`.
#[inline(never)]
pub fn run() {
    #[cfg(feature = "unknown-reloc")]
    unknown_relocation();
    #[cfg(feature = "undefined-symbol")]
    undefined_symbol();
    #[cfg(feature = "bad-callback")]
    module_callback();
    #[cfg(feature = "far-branch")]
    far_branch();
}

/// `MOVZ Xd, #:abs_g0_nc:COUNTER`: R_AARCH64_MOVW_UABS_G0_NC.
#[cfg(feature = "unknown-reloc")]
fn unknown_relocation() {
    // SAFETY: writes a scratch register only.
    unsafe {
        core::arch::asm!("movz {x}, #:abs_g0_nc:{sym}", x = out(reg) _, sym = sym crate::COUNTER, options(nomem, nostack))
    };
}

#[cfg(feature = "undefined-symbol")]
unsafe extern "C" {
    /// Not a kernel export.
    fn altpatch_internal_reset();
}

/// A call to a function the kernel does not export.
#[cfg(feature = "undefined-symbol")]
fn undefined_symbol() {
    if altpatch_module::online_cpus() == 0 {
        // SAFETY: never reached (there is always a CPU); the module is refused anyway.
        unsafe { altpatch_internal_reset() };
    }
}

/// A callback of the module's own: the kernel runs only the callbacks it exports.
#[cfg(feature = "bad-callback")]
fn own_callback(_context: &altpatch_aarch64::CallbackContext<'_>, dest: &mut [u32]) {
    dest.fill(0xd503_201f);
}

#[cfg(feature = "bad-callback")]
fn module_callback() {
    // SAFETY: a NOP, or (never: refused) NOPs.
    unsafe {
        altpatch_module::alternative_kernel_cb!(
            list: arm64_caps::caps::Arm64,
            old: ["nop"],
            callback: own_callback,
            cap: ALWAYS_SYSTEM,
            options(nomem, nostack, preserves_flags)
        );
    }
}

/// `CBZ` with a nonzero register (never taken) to a kernel function: R_AARCH64_CONDBR19,
/// whose ±1 MiB does not reach the kernel from the module area.
#[cfg(feature = "far-branch")]
fn far_branch() {
    // SAFETY: the branch is never taken (the register holds 1).
    unsafe {
        core::arch::asm!("cbz {x}, {f}", x = in(reg) 1u64, f = sym altpatch_module::altpatch_log, options(nomem, nostack))
    };
}
