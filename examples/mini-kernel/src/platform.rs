//! The rendezvous both passes share, and the exit path (semihosting's SYS_EXIT_EXTENDED).

use aarch64_cpu::asm;
use altpatch_aarch64::ArmPlatform;
use altpatch_rendezvous::Rendezvous;

/// The most CPUs the mini kernel brings up.
pub const MAX_CPUS: usize = 8;

/// The one stop-machine rendezvous of the kernel, for both passes (altpatch-aarch64's
/// AArch64 platform: WFE bounded by the event stream, SEV, ISB, CNTPCT_EL0).
pub static RENDEZVOUS: Rendezvous<ArmPlatform, MAX_CPUS> = Rendezvous::new(ArmPlatform);

/// Exit statuses (the main kernel's, where they apply).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum ExitStatus {
    /// Everything patched, every self-test passed.
    Success = 0,
    /// A self-test failed.
    SelfTestFailed = 1,
    /// A panic or an unexpected exception.
    Panic = 2,
    /// The alternatives table is invalid: nothing was patched.
    InvalidTable = 3,
    /// A CPU did not come up, or the rendezvous failed.
    Rendezvous = 4,
}

/// Ends the run: semihosting SYS_EXIT_EXTENDED (op 0x20) with the parameter block
/// `[ADP_Stopped_ApplicationExit (0x20026), status]`; QEMU exits with `status`.
pub fn exit(status: ExitStatus) -> ! {
    let block: [u64; 2] = [0x20026, status as u64];
    // SAFETY: the semihosting call reads the two words of `block`, which live on this stack
    // until the call returns (it does not: QEMU exits).
    unsafe {
        core::arch::asm!("hlt #0xf000", in("x0") 0x20u64, in("x1") block.as_ptr(), options(nostack));
    }
    loop {
        asm::wfe();
    }
}
