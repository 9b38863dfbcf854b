//! The wrappers a `fault-injection` kernel puts around the traits the kernel runs on: the
//! PSCI firmware, the rendezvous's platform and the text alias. Each does what the wrapped
//! one does, except where an armed fault says otherwise.

use super::args::faults;
use crate::{cpu, cpufeature, psci};
use altpatch_aarch64::Stopped;
use core::ops::Range;

/// The PSCI firmware `F`, except towards the CPUs two faults name: CPU_ON for
/// `fault.psci_cpu_on=N`'s CPU names an MPIDR no CPU has (Aff3 = 0xff), which the firmware
/// refuses; `fault.cpu_stall=N`'s CPU starts at a loop that waits forever, so it never
/// reports online. The kernel passes a CPU's index as CPU_ON's context ID.
pub struct Firmware<F>(F);

/// `inner`, wrapped.
pub const fn firmware<F>(inner: F) -> Firmware<F> {
    Firmware(inner)
}

impl<F: psci::Firmware> psci::Firmware for Firmware<F> {
    fn cpu_on(&self, mpidr: u64, entry: u64, context_id: u64) -> Result<(), psci::PsciError> {
        let (cpu, faults) = (Some(context_id as usize), faults());
        if faults.bad_cpu_on == cpu {
            self.0.cpu_on(mpidr | 0xff << 32, entry, context_id)
        } else if faults.stall_cpu == cpu {
            self.0.cpu_on(mpidr, stalled_entry_address(), context_id)
        } else {
            self.0.cpu_on(mpidr, entry, context_id)
        }
    }

    fn cpu_off(&self) -> psci::PsciError {
        self.0.cpu_off()
    }

    fn is_off(&self, mpidr: u64) -> bool {
        self.0.is_off(mpidr)
    }
}

// Where `fault.cpu_stall=N`'s CPU starts: WFE forever, MMU off, every exception masked (as
// PSCI starts a CPU).
core::arch::global_asm!(
    ".pushsection .text.fault_stalled_entry, \"ax\"",
    ".balign 4",
    ".global fault_stalled_entry",
    "fault_stalled_entry:",
    "1: wfe",
    "b 1b",
    ".popsection",
);

unsafe extern "C" {
    fn fault_stalled_entry();
}

/// The physical address of `fault_stalled_entry` (the kernel is identity mapped).
fn stalled_entry_address() -> u64 {
    fault_stalled_entry as *const () as u64
}

/// The rendezvous's platform `P`, with `fault.rendezvous_wedge=N`: CPU N wedges at the
/// context synchronization that ends its wait in the system pass's rendezvous, checked in
/// and never leaving; the boot CPU must name it.
pub struct Platform<P>(P);

/// `inner`, wrapped.
pub const fn platform<P>(inner: P) -> Platform<P> {
    Platform(inner)
}

impl<P: altpatch_rendezvous::Platform> altpatch_rendezvous::Platform for Platform<P> {
    type Atomic = P::Atomic;

    fn wait_for_event(&self) {
        self.0.wait_for_event();
    }

    fn send_event(&self) {
        self.0.send_event();
    }

    fn context_sync(&self) {
        let wedged = faults().rendezvous_wedge;
        if wedged == Some(cpu::cpu_index()) && cpufeature::system().is_some() {
            cpu::park();
        }
        self.0.context_sync();
    }

    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// The text alias `A`, with `fault.stop_window_stall`: the system pass's work never
/// finishes (it parks inside the stop window, before any write); the CPUs held in the
/// rendezvous must report it.
pub struct TextAlias<A>(A);

/// `inner`, wrapped.
pub const fn text_alias<A>(inner: A) -> TextAlias<A> {
    TextAlias(inner)
}

// SAFETY: the writes go through `A`'s alias, whose promises hold unchanged: the wrapper
// only parks before them, or passes `A` the same arguments.
unsafe impl<A: altpatch_aarch64::TextAlias> altpatch_aarch64::TextAlias for TextAlias<A> {
    fn with_writable(&self, stopped: &Stopped<'_>, text: Range<u64>, write: &mut dyn FnMut(&mut [u8])) {
        if faults().stop_window_stall && cpufeature::system().is_some() {
            cpu::park();
        }
        self.0.with_writable(stopped, text, write);
    }
}
