//! The Arm Power State Coordination Interface (DEN 0022D), the calls the kernel makes,
//! through the `smccc` crate's SMCCC conduits.

use core::fmt;
use smccc::{Hvc, Smc, psci};

/// How PSCI calls reach the firmware: the device tree's `/psci` `method` (HVC to firmware at
/// EL2, here QEMU; SMC to firmware at EL3, QEMU with `virtualization=on`).
pub use qemu_virt::fdt::PsciMethod as Conduit;

/// A PSCI error return (DEN 0022D 5.2.2, table 6), printed with its number and name as
/// the boot log reports it (`-2 (INVALID_PARAMETERS)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsciError(pub psci::Error);

impl fmt::Display for PsciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            psci::Error::NotSupported => "NOT_SUPPORTED",
            psci::Error::InvalidParameters => "INVALID_PARAMETERS",
            psci::Error::Denied => "DENIED",
            psci::Error::AlreadyOn => "ALREADY_ON",
            psci::Error::OnPending => "ON_PENDING",
            psci::Error::InternalFailure => "INTERNAL_FAILURE",
            psci::Error::NotPresent => "NOT_PRESENT",
            psci::Error::Disabled => "DISABLED",
            psci::Error::InvalidAddress => "INVALID_ADDRESS",
            psci::Error::Unknown(_) => "unknown error",
        };
        write!(f, "{} ({name})", i64::from(self.0))
    }
}

/// Starts the CPU with affinity `mpidr` at physical address `entry`, which receives
/// `context_id` in x0 (CPU_ON, SMC64, DEN 0022D 5.1.4).
pub fn cpu_on(conduit: Conduit, mpidr: u64, entry: u64, context_id: u64) -> Result<(), PsciError> {
    match conduit {
        Conduit::Hvc => psci::cpu_on::<Hvc>(mpidr, entry, context_id),
        Conduit::Smc => psci::cpu_on::<Smc>(mpidr, entry, context_id),
    }
    .map_err(PsciError)
}
