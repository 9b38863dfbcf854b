//! The kernel's view of the capabilities: Linux's `cpus_have_cap` and
//! `cpus_have_final_cap`, over the boot CPU's set until the system set is final.

use arm64_caps::caps::{Cap, CapSet, SystemCaps};
use spin::Once;

/// The boot-CPU capabilities, decided before the secondaries start.
static BOOT_CAPS: Once<CapSet> = Once::new();
/// The system capabilities, once final.
static SYSTEM_CAPS: Once<SystemCaps> = Once::new();

/// Records the boot-CPU capabilities.
pub fn set_boot(caps: CapSet) {
    BOOT_CAPS.call_once(|| caps);
}

/// Records the final system capabilities; from here on they never change.
pub fn set_final(caps: SystemCaps) -> &'static SystemCaps {
    SYSTEM_CAPS.call_once(|| caps)
}

/// Whether `cap` is known to be present now: the final set once there is one, the boot-CPU
/// set before that (Linux's `cpus_have_cap`).
pub fn cpus_have_cap(cap: Cap) -> bool {
    match SYSTEM_CAPS.get() {
        Some(system) => system.has(cap),
        None => BOOT_CAPS.get().is_some_and(|boot| boot.contains(cap)),
    }
}

/// Whether the system has `cap`, for code that runs only once the capabilities are final
/// (Linux's `cpus_have_final_cap`): asking earlier is a bug.
pub fn cpus_have_final_cap(cap: Cap) -> bool {
    match SYSTEM_CAPS.get() {
        Some(system) => system.has(cap),
        None => crate::bug!(),
    }
}

/// The final system capabilities, once decided.
pub fn system() -> Option<&'static SystemCaps> {
    SYSTEM_CAPS.get()
}
