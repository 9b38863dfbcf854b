//! What the command line asks of the kernel: Linux's ID-register overrides, `maxcpus=`,
//! `modules.stress=` and `hotplug.cycles=` (README, "Modules and hotplug"), and
//! in a `fault-injection` kernel the `fault.*` arguments. Nothing is dropped in silence: an
//! argument no part of the kernel takes, one that is not UTF-8, one aimed at a CPU the
//! machine lacks, and overrides that contradict each other each get a line.

use crate::{cpu, fault, println};
use arm64_caps::{
    caps::overrides::Overrides,
    cmdline::{self, ArgError, BootArg, Escaped},
};

/// How long the boot CPU waits for every CPU to check in to the rendezvous, and to leave
/// it, in microseconds of generic-timer time.
const RENDEZVOUS_TIMEOUT_US: u64 = 2_000_000;

/// What the command line asks for.
pub struct BootOptions {
    /// ID-register overrides, applied to each CPU's snapshot.
    pub overrides: Overrides,
    /// Injected faults (none in a kernel without `fault-injection`).
    pub faults: fault::Faults,
    /// `maxcpus=N`: CPUs brought up at boot; the rest come late.
    pub max_cpus: Option<usize>,
    /// The rendezvous's check-in and departure timeout.
    pub rendezvous_timeout_us: u64,
    /// `modules.stress=N`: N module loads in a row after boot.
    pub module_stress: Option<usize>,
    /// `hotplug.cycles=N`: every secondary taken offline and back N times after boot.
    pub hotplug_cycles: usize,
}

impl BootOptions {
    /// Hands each argument to its owner; reports every one that none accepts, and every one
    /// that is not UTF-8 (the others still apply).
    pub fn parse(cmdline: &[u8]) -> Self {
        let mut options = BootOptions {
            overrides: Overrides::default(),
            faults: fault::Faults::none(),
            max_cpus: None,
            rendezvous_timeout_us: RENDEZVOUS_TIMEOUT_US,
            module_stress: None,
            hotplug_cycles: 0,
        };
        for arg in cmdline::parse_bytes(cmdline) {
            let arg = match arg {
                Ok(arg) => arg,
                Err(raw) => {
                    println!("altpatch: bad boot argument '{}': not valid UTF-8", Escaped(raw));
                    continue;
                }
            };
            let taken = match options.overrides.accept(&arg) {
                Ok(true) => Ok(()),
                Ok(false) => options.accept(&arg),
                Err(error) => Err(error),
            };
            if let Err(error) = taken {
                println!("altpatch: bad boot argument '{arg}': {error}");
            }
        }
        for contradiction in options.overrides.contradictions() {
            println!("altpatch: boot arguments {contradiction}");
        }
        options
    }

    fn accept(&mut self, arg: &BootArg<'_>) -> Result<(), ArgError> {
        let number = arg.value.map(|v| cmdline::parse_u64(v).ok_or(ArgError::Malformed("a number")));
        if self.faults.accept(arg)? {
            return Ok(());
        }
        match arg.key {
            "maxcpus" => self.max_cpus = Some(max_cpus(number)?),
            "modules.stress" => self.module_stress = Some(count(number, 10_000)?),
            "hotplug.cycles" => self.hotplug_cycles = count(number, 100)?,
            _ => return Err(ArgError::Unknown),
        }
        Ok(())
    }

    /// Reports each argument aimed at a CPU the machine lacks (`cpus` in the device tree),
    /// or that cannot mean what it says: it is then ignored, and says so.
    pub fn report_misdirected(&self, cpus: usize) {
        for (cpu, field, value) in self.overrides.cpus_named() {
            if cpu >= cpus {
                println!(
                    "altpatch: boot argument 'cpu{cpu}:{}.{}={value:#x}': there is no CPU{cpu} ({cpus} CPUs in the device tree): ignored",
                    field.reg.name(),
                    field.name
                );
            }
        }
        match self.max_cpus {
            Some(0) => {
                println!("altpatch: boot argument 'maxcpus=0': the boot CPU always runs: taken as maxcpus=1")
            }
            Some(n) if n > cpus => {
                println!(
                    "altpatch: boot argument 'maxcpus={n}': the device tree lists {cpus} CPUs: all come up at boot"
                )
            }
            _ => {}
        }
        self.faults.report_misdirected(cpus);
    }
}

/// `maxcpus=N`: a count from 0 (the boot CPU alone, as 1) to the kernel's limit.
fn max_cpus(number: Option<Result<u64, ArgError>>) -> Result<usize, ArgError> {
    match number {
        Some(Ok(n)) if n as usize <= cpu::MAX_CPUS => Ok(n as usize),
        Some(Ok(_)) => Err(ArgError::Malformed("a CPU count up to the kernel's limit of 512")),
        Some(Err(e)) => Err(e),
        None => Err(ArgError::MissingValue),
    }
}

/// A count from 0 to `most` (`modules.stress=N`, `hotplug.cycles=N`).
fn count(number: Option<Result<u64, ArgError>>, most: u64) -> Result<usize, ArgError> {
    match number {
        Some(Ok(n)) if n <= most => Ok(n as usize),
        Some(Ok(_)) => Err(ArgError::Malformed("a smaller count")),
        Some(Err(e)) => Err(e),
        None => Err(ArgError::MissingValue),
    }
}
