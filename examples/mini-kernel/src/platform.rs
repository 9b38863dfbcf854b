//! What the rendezvous and the exit path need from the machine: the generic timer, WFE/SEV,
//! ISB, and semihosting's SYS_EXIT_EXTENDED.

use aarch64_cpu::{
    asm::{self, barrier},
    registers::{CNTKCTL_EL1, CNTPCT_EL0, ReadWriteable, Readable},
};
use altpatch_rendezvous::{Platform, Rendezvous};
use core::sync::atomic::AtomicU64;

/// The most CPUs the mini kernel brings up.
pub const MAX_CPUS: usize = 8;

/// The AArch64 side of [`altpatch_rendezvous::Platform`].
pub struct Arm;

impl Platform for Arm {
    type Atomic = AtomicU64;

    fn wait_for_event(&self) {
        // Bounded by the timer event stream that `enable_event_stream` turns on.
        asm::wfe();
    }

    fn send_event(&self) {
        barrier::dsb(barrier::ISH);
        asm::sev();
    }

    fn context_sync(&self) {
        barrier::isb(barrier::SY);
    }

    fn now(&self) -> u64 {
        CNTPCT_EL0.get()
    }
}

/// The one stop-machine rendezvous of the kernel, for both passes.
pub static RENDEZVOUS: Rendezvous<Arm, MAX_CPUS> = Rendezvous::new(Arm);

/// Turns on this CPU's generic-timer event stream (an event every 2^11 ticks, ~33 us at
/// 62.5 MHz), so that every WFE returns within a bounded time.
pub fn enable_event_stream() {
    CNTKCTL_EL1.modify(CNTKCTL_EL1::EVNTI.val(10) + CNTKCTL_EL1::EVNTDIR::CLEAR + CNTKCTL_EL1::EVNTEN::SET);
    barrier::isb(barrier::SY);
}

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
