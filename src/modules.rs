//! Loadable modules (README, "Modules and hotplug"): relocatable AArch64 ELF objects that
//! QEMU places in the staging window, loaded after boot into the module area with their own
//! page permissions, relocated against the kernel's export table, their alternatives checked
//! with the kernel's own checks and applied under a new rendezvous generation, then their
//! init run. A refused module leaves nothing mapped or allocated; the kernel goes on.

mod area;
mod exports;
mod load;
mod staging;
mod stress;

pub use load::{load, unload};
pub use staging::{STAGING, set_available, staged};
pub use stress::stress;

use alloc::vec::Vec;
use arm64_caps::caps::SystemCaps;

/// The modules loaded at boot: they stay mapped for the kernel's life.
static LOADED: spin::Mutex<Vec<load::Loaded>> = spin::Mutex::new(Vec::new());

/// Loads every staged module, in slot order; each loaded module stays loaded.
pub fn load_all(system: &SystemCaps, timeout_us: u64) {
    let staged: Vec<_> = staged().collect();
    if staged.is_empty() {
        return;
    }
    for (slot, object) in &staged {
        let object = match object {
            Ok(object) => object,
            Err(reason) => {
                crate::println!("modules: slot{slot} refused: {reason}");
                continue;
            }
        };
        let before = area::snapshot();
        match load(object, *slot, system, timeout_us, false) {
            Ok(module) => LOADED.lock().push(module),
            // The canary of every refused load: the module area's bitmap (kernel data a
            // misplaced section would land on) exactly as it was, every page given back, and
            // the guard words on either side of it untouched.
            Err(_) if !area::neighbours_intact() => {
                crate::println!(
                    "modules: slot{slot}: a refused load wrote over the module area bitmap's neighbours"
                );
                crate::semihosting::exit(crate::semihosting::ExitStatus::SelfTestFailed);
            }
            Err(_) if area::snapshot() != before => {
                crate::println!(
                    "modules: slot{slot}: a refused load changed the module area's bitmap ({} -> {} pages in use)",
                    before.iter().map(|w| w.count_ones()).sum::<u32>(),
                    area::pages_in_use()
                );
                crate::semihosting::exit(crate::semihosting::ExitStatus::SelfTestFailed);
            }
            Err(_) => {}
        }
    }
    let loaded = LOADED.lock();
    let mut names: Vec<&str> = loaded.iter().map(|m| m.name.as_str()).collect();
    if names.is_empty() {
        names.push("none");
    }
    crate::println!(
        "modules: {} of {} staged modules loaded ({}); {} pages of the module area in use",
        loaded.len(),
        staged.len(),
        names.join(", "),
        area::pages_in_use()
    );
}

/// Runs every loaded module's self-test again (after CPU hotplug); whether all passed.
pub fn retest_loaded() -> bool {
    LOADED.lock().iter().all(|module| module.retest())
}
