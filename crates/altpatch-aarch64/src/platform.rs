//! What the rendezvous needs from an AArch64 machine, the same on every such kernel: WFE
//! bounded by the generic timer's event stream, DSB + SEV, ISB, and the physical counter.

use aarch64_cpu::{
    asm::{self, barrier},
    registers::{CNTKCTL_EL1, CNTPCT_EL0, ReadWriteable, Readable},
};
use altpatch_rendezvous::Platform;
use core::sync::atomic::AtomicU64;

/// [`altpatch_rendezvous::Platform`] for AArch64 at EL1 (or EL2 with VHE): the clock is
/// CNTPCT_EL0, common to every CPU; a wait is WFE, which returns within a bounded time once
/// [`ArmPlatform::enable_event_stream`] ran on the CPU.
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # #[panic_handler]
/// # fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
/// # struct NoHeap;
/// # // SAFETY: never hands out memory, so nothing is ever freed wrongly.
/// # unsafe impl core::alloc::GlobalAlloc for NoHeap {
/// #     unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 { core::ptr::null_mut() }
/// #     unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
/// # }
/// # #[global_allocator]
/// # static HEAP: NoHeap = NoHeap;
/// use altpatch_aarch64::ArmPlatform;
/// use altpatch_rendezvous::Rendezvous;
///
/// /// One rendezvous for every pass, for up to 8 CPUs.
/// static RENDEZVOUS: Rendezvous<ArmPlatform, 8> = Rendezvous::new(ArmPlatform);
///
/// # fn each_cpu() {
/// // First thing on every CPU, before it takes part in the rendezvous:
/// ArmPlatform::enable_event_stream();
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ArmPlatform;

impl ArmPlatform {
    /// Turns on this CPU's generic-timer event stream: an event every 2^11 counter ticks
    /// (CNTKCTL_EL1.EVNTI = 10; ~33 us at 62.5 MHz, ~20 us at 100 MHz), so that every WFE
    /// returns within a bounded time. Run it on every CPU that waits in the rendezvous.
    ///
    /// At EL2 with HCR_EL2.E2H = 1 the name CNTKCTL_EL1 accesses CNTHCTL_EL2, which then has
    /// EVNTEN, EVNTDIR and EVNTI where CNTKCTL_EL1 has them (Arm ARM D12.2.3, CNTHCTL_EL2
    /// "When FEAT_VHE is implemented and HCR_EL2.E2H == 1"): the same call gives an EL2 kernel
    /// its event stream. The other fields are kept (a read-modify-write), as the boot code or
    /// firmware set them.
    pub fn enable_event_stream() {
        CNTKCTL_EL1
            .modify(CNTKCTL_EL1::EVNTI.val(10) + CNTKCTL_EL1::EVNTDIR::CLEAR + CNTKCTL_EL1::EVNTEN::SET);
        barrier::isb(barrier::SY);
    }
}

impl Platform for ArmPlatform {
    type Atomic = AtomicU64;

    #[inline]
    fn wait_for_event(&self) {
        // Bounded by the event stream `enable_event_stream` turns on.
        asm::wfe();
    }

    #[inline]
    fn send_event(&self) {
        // The stores another CPU waits on are visible before it wakes.
        barrier::dsb(barrier::ISH);
        asm::sev();
    }

    #[inline]
    fn context_sync(&self) {
        barrier::isb(barrier::SY);
    }

    #[inline]
    fn now(&self) -> u64 {
        // The counter read is not ordered after earlier instructions without an ISB (Arm
        // ARM D12.1.2): without it a deadline could be measured from a stale value.
        barrier::isb(barrier::SY);
        CNTPCT_EL0.get()
    }
}
