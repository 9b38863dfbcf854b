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

/// The PSCI calls the kernel makes. [`Conduit`] makes them of the firmware; the fault
/// module may wrap it (`fault::Firmware`).
pub trait Firmware: Sync {
    /// Starts the CPU with affinity `mpidr` at physical address `entry`, which receives
    /// `context_id` in x0 (CPU_ON, SMC64, DEN 0022D 5.1.4). The kernel passes the CPU's
    /// index as `context_id`.
    fn cpu_on(&self, mpidr: u64, entry: u64, context_id: u64) -> Result<(), PsciError>;

    /// Powers the calling CPU down (CPU_OFF, DEN 0022D 5.1.3): it comes back only through a
    /// later [`Firmware::cpu_on`], at its entry point. Returns only if the firmware refuses,
    /// with the error.
    fn cpu_off(&self) -> PsciError;

    /// Whether the CPU with affinity `mpidr` is off (AFFINITY_INFO, SMC64, at level 0, DEN
    /// 0022D 5.1.5, says OFF). An error (a bad affinity) counts as not off.
    fn is_off(&self, mpidr: u64) -> bool;
}

impl Firmware for Conduit {
    fn cpu_on(&self, mpidr: u64, entry: u64, context_id: u64) -> Result<(), PsciError> {
        match self {
            Conduit::Hvc => psci::cpu_on::<Hvc>(mpidr, entry, context_id),
            Conduit::Smc => psci::cpu_on::<Smc>(mpidr, entry, context_id),
        }
        .map_err(PsciError)
    }

    fn cpu_off(&self) -> PsciError {
        let refused = match self {
            Conduit::Hvc => psci::cpu_off::<Hvc>(),
            Conduit::Smc => psci::cpu_off::<Smc>(),
        };
        // CPU_OFF does not return on success; a firmware that returns 0 anyway did not power
        // the CPU down, which is reported as its generic failure.
        PsciError(refused.err().unwrap_or(psci::Error::InternalFailure))
    }

    fn is_off(&self, mpidr: u64) -> bool {
        let level = psci::LowestAffinityLevel::All;
        let state = match self {
            Conduit::Hvc => psci::affinity_info::<Hvc>(mpidr, level),
            Conduit::Smc => psci::affinity_info::<Smc>(mpidr, level),
        };
        state == Ok(psci::AffinityState::Off)
    }
}
