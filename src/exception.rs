//! Exceptions: the vectors, recovery of expected faults, and the oops that reports the rest.
//!
//! An unexpected exception prints an oops in Linux's shape and ends the run with status 2.
//! `bug!` is Linux's `BUG()`: a BRK with Linux's BUG immediate, reported as
//! `kernel BUG at <file>:<line>!` followed by the oops.

pub use crate::_arch::exception::probe_store_u32;

use crate::_arch::exception as arch_exception;
use crate::{
    console::{self, print_line},
    semihosting::ExitStatus,
};
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Mutex;

/// Where a `bug!` was raised, for the oops that follows it.
#[derive(Clone, Copy)]
pub struct BugSite {
    /// Source file.
    pub file: &'static str,
    /// Source line.
    pub line: u32,
    /// The exit status the run ends with.
    pub status: ExitStatus,
}

/// Each CPU's pending `bug!`, read by its BRK handler: per CPU, so that CPUs raising BUG at
/// once each report their own site.
static PENDING_BUG: [Mutex<Option<BugSite>>; crate::cpu::MAX_CPUS] =
    [const { Mutex::new(None) }; crate::cpu::MAX_CPUS];

/// Counts oopses, as Linux's `[#N]`.
static OOPS_COUNT: AtomicU32 = AtomicU32::new(0);

/// Raises a BUG at `site`: records it, then traps with BRK so the oops shows the registers
/// of the caller.
#[cold]
#[inline(never)]
pub fn raise_bug(site: BugSite) -> ! {
    *PENDING_BUG[crate::cpu::cpu_index()].lock() = Some(site);
    arch_exception::brk_bug()
}

/// Linux's `BUG()`: `bug!()` stops with exit status 2; `bug!(status)` with another
/// [`ExitStatus`] (the table validator uses [`ExitStatus::InvalidTable`]).
#[macro_export]
macro_rules! bug {
    () => {
        $crate::bug!($crate::semihosting::ExitStatus::Oops)
    };
    ($status:expr) => {
        $crate::exception::raise_bug($crate::exception::BugSite {
            file: file!(),
            line: line!(),
            status: $status,
        })
    };
}

/// An exception nothing recovers: a `bug!` prints `kernel BUG at <file>:<line>!`, a site
/// that must never run unpatched says so, then the oops; the run ends with the `bug!`'s
/// status, or 2. Arch code enters it by the name it declares.
#[unsafe(no_mangle)]
fn altpatch_unexpected_exception(taken: &arch_exception::Taken<'_>) -> ! {
    let comment = taken.esr().brk_comment().filter(|_| taken.is_synchronous());
    let mut status = ExitStatus::Oops;
    // The whole report with this CPU owning the console, and the end of the run too: its
    // lines come out together, and no other CPU starts a line the exit would cut.
    console::urgent(|| {
        let mut what = "Oops";
        if comment == Some(arch_exception::BUG_BRK_IMM) {
            what = "Oops - BUG";
            if let Some(site) = PENDING_BUG[crate::cpu::cpu_index()].lock().take() {
                print_line(format_args!("------------[ cut here ]------------"));
                print_line(format_args!("kernel BUG at {}:{}!", site.file, site.line));
                status = site.status;
            }
        }
        if let Some(cpu) = taken.stack_overflow() {
            print_line(format_args!("Kernel panic - not syncing: stack overflow on CPU {cpu}"));
        }
        if comment == Some(crate::alternative::UNPATCHED_SITE_BRK_IMM) {
            print_line(format_args!(
                "alternatives: reached an always-patched site unpatched: patching silently did nothing"
            ));
        }
        taken.oops(what, OOPS_COUNT.fetch_add(1, Ordering::Relaxed) + 1, print_line);
        crate::semihosting::exit(status)
    });
    unreachable!("the run ended inside the report")
}

/// The hook's definition has the type arch code declares.
const _: fn(&arch_exception::Taken<'_>) -> ! = altpatch_unexpected_exception;
