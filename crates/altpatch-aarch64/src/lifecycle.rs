//! The lifecycle of a table, as Linux's `arch/arm64/kernel/alternative.c` runs it: one
//! engine, three entry points. [`Passes::boot_pass`] (the boot CPU alone, its own
//! capabilities), [`Passes::system_pass`] (every online CPU held, the final capabilities) and
//! [`Passes::module_pass`] (a loaded module's table, checked and applied once). Each pass is
//! prepare before the stop window, apply inside it, audit after it.

use alloc::vec::Vec;
use core::fmt;

use altpatch_core::plan::Mismatch;
use altpatch_core::validate::{Defect, Symbol};
use altpatch_rendezvous::{Completed, CpuSet, Failure, Platform, Rendezvous};

use crate::apply::{Applied, Checked, Prepared, TextAlias, check};
use crate::{CapabilityList, Linked};

/// The regions of one table (the image's or a module's), lent for one step at a time: the
/// passes rewrite the text they borrow, so no [`Linked`] may live across a stop window.
///
/// The passes take the text `&mut`: while one writes it, no [`LinkedText::with_linked`]
/// borrow can be open, and a pass run from inside a `with_linked` closure does not compile.
pub trait LinkedText {
    /// Runs `f` over the regions; the text borrow lives only inside `f`, which writes nothing.
    fn with_linked<R>(&self, f: impl FnOnce(&Linked<'_>) -> R) -> R;
}

/// Why a pass did not apply.
#[derive(Debug)]
pub enum PassError {
    /// The table (or a callback's output) was refused: nothing was written.
    Refused(Vec<Defect>),
    /// The rendezvous failed: a CPU did not check in (nothing was written) or did not
    /// leave in time. (The pass's output is dropped: it would make every error as large as
    /// an [`Applied`].)
    Rendezvous(Failure<()>),
    /// After the window, text at a written site is not what was written.
    Audit(Vec<Mismatch>),
}

impl PassError {
    /// Reports the error in the lines a Linux-style boot log prints, each through `line`
    /// (one call per line: a console that timestamps lines keeps every line timestamped):
    ///
    /// - refused: each defect (`{defect}`), then `alternatives: N bad entries: refusing the
    ///   table; nothing was patched (0 bytes of text written)`;
    /// - rendezvous: `alternatives: rendezvous failed: {failure}`;
    /// - audit: `alternatives: audit: entry I at 0xADDR: expected 0xWORD, found 0xWORD` per site.
    pub fn report(&self, line: &mut dyn FnMut(fmt::Arguments<'_>)) {
        match self {
            PassError::Refused(defects) => {
                for defect in defects {
                    line(format_args!("{defect}"));
                }
                line(format_args!(
                    "alternatives: {} bad entries: refusing the table; nothing was patched (0 bytes of text written)",
                    defects.len()
                ));
            }
            PassError::Rendezvous(failure) => {
                line(format_args!("alternatives: rendezvous failed: {failure}"))
            }
            PassError::Audit(mismatches) => {
                for mismatch in mismatches {
                    line(format_args!("alternatives: audit: {mismatch}"));
                }
            }
        }
    }
}

/// The engine: a rendezvous, the writable alias of text, and this CPU's place in it.
pub struct Passes<'a, P: Platform, A: TextAlias, const CPUS: usize> {
    /// The rendezvous every online CPU takes part in.
    pub rendezvous: &'a Rendezvous<P, CPUS>,
    /// The writable, never-executable view of text.
    pub alias: &'a A,
    /// The CPU running the passes (the stop window's primary).
    pub primary: usize,
    /// Clock ticks to wait for each CPU to check in and to leave.
    pub timeout: u64,
}

impl<P: Platform, A: TextAlias, const CPUS: usize> Passes<'_, P, A, CPUS> {
    /// The boot pass: the entries `enabled` (the boot CPU's boot-scope capabilities) accepts,
    /// with this CPU alone in the stop window.
    pub fn boot_pass(
        &self,
        text: &mut impl LinkedText,
        checked: &Checked,
        enabled: &dyn Fn(u16) -> bool,
        ctr_el0: u64,
    ) -> Result<Completed<Applied>, PassError> {
        let alone = CpuSet::from_mask(1 << self.primary);
        self.pass(text, checked, enabled, ctr_el0, alone)
    }

    /// The system pass: the entries `enabled` (the capabilities every CPU in `online` has)
    /// accepts, with every CPU in `online` held; `ctr_el0` is the sanitised system value.
    pub fn system_pass(
        &self,
        text: &mut impl LinkedText,
        checked: &Checked,
        enabled: &dyn Fn(u16) -> bool,
        ctr_el0: u64,
        online: CpuSet,
    ) -> Result<Completed<Applied>, PassError> {
        self.pass(text, checked, enabled, ctr_el0, online)
    }

    /// A loaded module's table: checked against list `L` (its callbacks only the kernel's
    /// exported ones, by [`Linked::module`]), then applied once with the system's
    /// capabilities, every CPU in `online` held.
    pub fn module_pass<L: CapabilityList>(
        &self,
        module: &mut impl LinkedText,
        symbolize: &dyn Fn(u64) -> Option<Symbol>,
        enabled: &dyn Fn(u16) -> bool,
        ctr_el0: u64,
        online: CpuSet,
    ) -> Result<Completed<Applied>, PassError> {
        let checked =
            module.with_linked(|linked| check::<L>(linked, symbolize)).map_err(PassError::Refused)?;
        self.pass(module, &checked, enabled, ctr_el0, online)
    }

    /// Prepare (before the window), apply (inside it), audit (after it).
    fn pass(
        &self,
        text: &mut impl LinkedText,
        checked: &Checked,
        enabled: &dyn Fn(u16) -> bool,
        ctr_el0: u64,
        cpus: CpuSet,
    ) -> Result<Completed<Applied>, PassError> {
        let prepared = text
            .with_linked(|linked| checked.prepare(linked, enabled, ctr_el0))
            .map_err(PassError::Refused)?;
        self.apply_prepared(text, &prepared, cpus)
    }

    /// The second half of a pass, for a caller that prepares apart (to time it, or to
    /// report a refusal its own way): `prepared`, prepared over `text`, applied with every
    /// CPU in `cpus` held, then audited.
    pub fn apply_prepared(
        &self,
        text: &mut impl LinkedText,
        prepared: &Prepared,
        cpus: CpuSet,
    ) -> Result<Completed<Applied>, PassError> {
        let done = (self.rendezvous)
            .stop_machine(self.primary, cpus, self.timeout, |stopped| prepared.apply(stopped, self.alias))
            .map_err(|failure| PassError::Rendezvous(failure.map_output(drop)))?;
        text.with_linked(|linked| prepared.audit(&linked.layout().text)).map_err(PassError::Audit)?;
        Ok(done)
    }
}
