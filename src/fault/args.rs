//! The faults a `fault-injection` kernel takes from its command line, and where they are
//! kept for the wrappers and points that act on them.

use crate::cpu::MAX_CPUS;
use arm64_caps::{
    caps::overrides::Overrides,
    cmdline::{self, ArgError, BootArg},
};
use spin::Once;

/// Faults a tester can inject through boot arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// `fault.cpu_stall=N`: CPU N starts but never reports online.
    pub stall_cpu: Option<usize>,
    /// `fault.psci_cpu_on=N`: CPU_ON for CPU N names an MPIDR no CPU has, so PSCI refuses it.
    pub bad_cpu_on: Option<usize>,
    /// `fault.bug`: the boot CPU raises `bug!()` before bringing up the others.
    pub bug: bool,
    /// `fault.rendezvous_absent=N`: CPU N comes online but never enters the rendezvous.
    pub rendezvous_absent: Option<usize>,
    /// `fault.late_region_bad`: also apply the defective late region, which must be refused.
    pub late_region_bad: bool,
    /// `fault.stop_window_stall`: the system pass's work never finishes.
    pub stop_window_stall: bool,
    /// `fault.rendezvous_wedge=N`: CPU N checks in and then wedges before leaving.
    pub rendezvous_wedge: Option<usize>,
    /// `fault.stack_overflow=N`: CPU N recurses until its stack overflows, after boot.
    pub stack_overflow: Option<usize>,
    /// `fault.oops_everywhere`: every CPU raises BUG at once, after boot.
    pub oops_everywhere: bool,
    /// `fault.callback_output`: the D-line callback writes a branch out of the kernel text.
    pub callback_output: bool,
    /// `fault.hotplug:cpuN:REG.FIELD=VALUE`: overrides a CPU's registers when it comes back
    /// from CPU_OFF, so that it lacks a capability the system has.
    pub hotplug_overrides: Overrides,
    /// `fault.corrupt=KIND`: validate a copy of the kernel table with one entry corrupted.
    pub corrupt: Option<&'static str>,
}

/// Defects `fault.corrupt=KIND` can plant in a copy of the kernel's table, one entry each.
pub const CORRUPTIONS: &[&str] = &[
    "cap",
    "length",
    "words",
    "site",
    "align",
    "replacement",
    "callback",
    "callback_undeclared",
    "overlap",
    "fingerprint",
];

/// The prefix of `fault.hotplug:cpuN:REG.FIELD=VALUE`.
const HOTPLUG: &str = "fault.hotplug:";

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Takes a `fault.*` argument; `Ok(false)` when `arg` is not one.
    pub fn accept(&mut self, arg: &BootArg<'_>) -> Result<bool, ArgError> {
        if let Some(cpu) = self.cpu_fault(arg.key) {
            *cpu = Some(cpu_index(arg.value)?);
        } else if let Some(flag) = self.flag(arg.key) {
            if arg.value.is_some() {
                return Err(ArgError::Malformed("no value"));
            }
            *flag = true;
        } else if let Some(key) = arg.key.strip_prefix(HOTPLUG) {
            let inner = BootArg { key, value: arg.value };
            if !self.hotplug_overrides.accept(&inner)? {
                return Err(ArgError::Malformed("fault.hotplug:cpuN:REG.FIELD=VALUE"));
            }
        } else if arg.key == "fault.corrupt" {
            self.corrupt = Some(corruption(arg.value)?);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// The field of a fault aimed at one CPU (`fault.KEY=N`).
    fn cpu_fault(&mut self, key: &str) -> Option<&mut Option<usize>> {
        Some(match key {
            "fault.cpu_stall" => &mut self.stall_cpu,
            "fault.psci_cpu_on" => &mut self.bad_cpu_on,
            "fault.rendezvous_absent" => &mut self.rendezvous_absent,
            "fault.stack_overflow" => &mut self.stack_overflow,
            "fault.rendezvous_wedge" => &mut self.rendezvous_wedge,
            _ => return None,
        })
    }

    /// The field of a fault that takes no value (`fault.KEY`).
    fn flag(&mut self, key: &str) -> Option<&mut bool> {
        Some(match key {
            "fault.bug" => &mut self.bug,
            "fault.late_region_bad" => &mut self.late_region_bad,
            "fault.stop_window_stall" => &mut self.stop_window_stall,
            "fault.callback_output" => &mut self.callback_output,
            "fault.oops_everywhere" => &mut self.oops_everywhere,
            _ => return None,
        })
    }

    /// Reports each fault aimed where it cannot act: at the boot CPU (which cannot stall
    /// its own bring-up, fail its own CPU_ON or miss its own rendezvous) or at a CPU the
    /// machine (`cpus` in the device tree) lacks. Such a fault is ignored, and says so.
    pub fn report_misdirected(&self, cpus: usize) {
        let aimed = [
            ("fault.cpu_stall", self.stall_cpu),
            ("fault.psci_cpu_on", self.bad_cpu_on),
            ("fault.rendezvous_absent", self.rendezvous_absent),
            ("fault.rendezvous_wedge", self.rendezvous_wedge),
            ("fault.stack_overflow", self.stack_overflow.filter(|&cpu| cpu != 0)),
        ];
        for (key, cpu) in aimed {
            match cpu {
                Some(0) => {
                    crate::println!("altpatch: boot argument '{key}=0': CPU0 is the boot CPU: ignored")
                }
                Some(n) if n >= cpus => crate::println!(
                    "altpatch: boot argument '{key}={n}': there is no CPU{n} ({cpus} CPUs in the device tree): ignored"
                ),
                _ => {}
            }
        }
    }
}

/// A CPU index below the kernel's limit.
fn cpu_index(value: Option<&str>) -> Result<usize, ArgError> {
    let value = value.ok_or(ArgError::MissingValue)?;
    match cmdline::parse_u64(value).ok_or(ArgError::Malformed("a number"))? {
        n if (n as usize) < MAX_CPUS => Ok(n as usize),
        _ => Err(ArgError::Malformed("a CPU index below the kernel's limit of 512")),
    }
}

/// One of [`CORRUPTIONS`].
fn corruption(value: Option<&str>) -> Result<&'static str, ArgError> {
    let kind = value.ok_or(ArgError::MissingValue)?;
    CORRUPTIONS.iter().copied().find(|&k| k == kind).ok_or(ArgError::Malformed(
        "one of cap, length, words, site, align, replacement, callback, callback_undeclared, overlap, fingerprint",
    ))
}

/// The faults armed, for the wrappers and points.
static FAULTS: Once<Faults> = Once::new();

/// The faults armed (none before [`arm`]).
pub fn faults() -> Faults {
    FAULTS.get().copied().unwrap_or_default()
}

/// Arms `faults` for the wrappers and points that act on them. `fault.bug` acts at once:
/// the boot CPU raises BUG before it brings up the others.
pub fn arm(faults: Faults) {
    FAULTS.call_once(|| faults);
    if faults.bug {
        crate::bug!();
    }
}
