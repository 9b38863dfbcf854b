//! The Arm Power State Coordination Interface (DEN 0022D), the calls the kernel makes.

use core::fmt;

/// How PSCI calls reach the firmware: the device tree's `/psci` `method` (HVC to firmware at
/// EL2, here QEMU; SMC to firmware at EL3, QEMU with `virtualization=on`).
pub use qemu_virt::fdt::PsciMethod as Conduit;

/// CPU_ON, SMC64 calling convention (DEN 0022D 5.1.4).
const CPU_ON: u64 = 0xc400_0003;

/// CPU_OFF (DEN 0022D 5.1.3): the calling CPU powers down; it does not return on success.
const CPU_OFF: u64 = 0x8400_0002;
/// AFFINITY_INFO, SMC64 (DEN 0022D 5.1.5).
const AFFINITY_INFO: u64 = 0xc400_0004;

/// A PSCI error return (DEN 0022D 5.2.2, table 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsciError(pub i64);

impl fmt::Display for PsciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            -1 => "NOT_SUPPORTED",
            -2 => "INVALID_PARAMETERS",
            -3 => "DENIED",
            -4 => "ALREADY_ON",
            -5 => "ON_PENDING",
            -6 => "INTERNAL_FAILURE",
            -7 => "NOT_PRESENT",
            -8 => "DISABLED",
            -9 => "INVALID_ADDRESS",
            _ => "unknown error",
        };
        write!(f, "{} ({})", self.0, name)
    }
}

/// One SMCCC call through `$insn` (`"hvc #0"` or `"smc #0"`): arguments in x0-x3, the
/// result in x0; SMCCC 1.1 (DEN 0028) lets the callee clobber x0-x17.
macro_rules! smccc_call {
    ($insn:literal, $function:expr, $a1:expr, $a2:expr, $a3:expr) => {{
        let ret: u64;
        // SAFETY: the firmware reads the arguments and writes the result in x0; every
        // register the calling convention lets it clobber is declared clobbered.
        unsafe {
            core::arch::asm!($insn, inout("x0") $function => ret, inout("x1") $a1 => _,
                inout("x2") $a2 => _, inout("x3") $a3 => _, out("x4") _, out("x5") _,
                out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _,
                out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _,
                out("x16") _, out("x17") _, options(nostack))
        };
        ret
    }};
}

fn call(conduit: Conduit, function: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret = match conduit {
        Conduit::Hvc => smccc_call!("hvc #0", function, a1, a2, a3),
        Conduit::Smc => smccc_call!("smc #0", function, a1, a2, a3),
    };
    ret as i64
}

/// Starts the CPU with affinity `mpidr` at physical address `entry`, which receives
/// `context_id` in x0.
pub fn cpu_on(conduit: Conduit, mpidr: u64, entry: u64, context_id: u64) -> Result<(), PsciError> {
    match call(conduit, CPU_ON, mpidr, entry, context_id) {
        0 => Ok(()),
        err => Err(PsciError(err)),
    }
}

/// Powers the calling CPU down (it comes back only through a later [`cpu_on`], at its
/// entry point); the error if the firmware refuses.
pub fn cpu_off(conduit: Conduit) -> PsciError {
    PsciError(call(conduit, CPU_OFF, 0, 0, 0))
}

/// Whether the CPU with affinity `mpidr` is off (AFFINITY_INFO at level 0 says OFF, 1).
pub fn is_off(conduit: Conduit, mpidr: u64) -> bool {
    call(conduit, AFFINITY_INFO, mpidr, 0, 0) == 1
}
