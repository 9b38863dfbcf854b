//! The secondary CPUs: started through PSCI CPU_ON (aarch64-rt's `start_core`), each
//! detects its capabilities, goes online, serves the system pass from the rendezvous, runs
//! the self-test and parks.

use aarch64_cpu::registers::{MPIDR_EL1, Readable};
use aarch64_rt::Stack;
use altpatch_aarch64::ArmPlatform;
use altpatch_rendezvous::{Outcome, Participant};
use qemu_virt::fdt::{self, PsciMethod};

use crate::caps::{self, IdRegs};
use crate::cpus::CPUS;
use crate::platform::{ExitStatus, MAX_CPUS, RENDEZVOUS, exit};
use crate::{CPU_TIMEOUT_US, console, mmu, println, selftest};

/// Pages of each secondary CPU's stack.
const SECONDARY_STACK_PAGES: usize = 16;
/// The secondaries' stacks (not loaded, not zeroed: aarch64-rt's `.stack` output section).
#[unsafe(link_section = ".stack.secondary")]
static mut SECONDARY_STACKS: [Stack<SECONDARY_STACK_PAGES>; MAX_CPUS - 1] =
    [const { Stack::new() }; MAX_CPUS - 1];

/// Starts every CPU of the device tree (up to [`MAX_CPUS`]) and waits for each to come
/// online; returns the number online. Exits 4 when a CPU fails to start.
pub fn bring_up(machine: &fdt::Machine<'_>) -> usize {
    let count = machine.cpu_count.min(MAX_CPUS);
    if machine.cpu_count > MAX_CPUS {
        println!("SMP: {} CPUs in the device tree; bringing up the first {MAX_CPUS}", machine.cpu_count);
    }
    let boot_mpidr = MPIDR_EL1.get() & 0xff_00ff_ffff;
    if machine.mpidrs[0] != boot_mpidr {
        println!("SMP: booted on MPIDR {boot_mpidr:#x}, not the device tree's first CPU");
        exit(ExitStatus::Rendezvous);
    }
    for cpu in 1..count {
        let mpidr = machine.mpidrs[cpu];
        if let Err(err) = start(machine.psci, cpu, mpidr) {
            println!("SMP: CPU{cpu} (MPIDR {mpidr:#x}): PSCI CPU_ON failed: {err:?}");
            exit(ExitStatus::Rendezvous);
        }
        if !CPUS.wait_online(cpu, CPU_TIMEOUT_US) {
            println!("SMP: CPU{cpu} (MPIDR {mpidr:#x}) failed to come online");
            exit(ExitStatus::Rendezvous);
        }
    }
    count
}

/// CPU_ON for CPU `cpu` (`mpidr`), through the conduit the device tree names.
fn start(psci: PsciMethod, cpu: usize, mpidr: u64) -> Result<(), smccc::psci::Error> {
    let stack = (&raw mut SECONDARY_STACKS).cast::<Stack<SECONDARY_STACK_PAGES>>().wrapping_add(cpu - 1);
    let entry = move || secondary_main(cpu);
    // SAFETY: each secondary gets its own stack (`cpu` is started once), used by nothing
    // else; it lies in the image's `.stack` section, which both the initial and the kernel
    // page tables map as normal memory.
    unsafe {
        match psci {
            PsciMethod::Hvc => {
                aarch64_rt::start_core::<smccc::Hvc, _, SECONDARY_STACK_PAGES>(mpidr, stack, entry)
            }
            PsciMethod::Smc => {
                aarch64_rt::start_core::<smccc::Smc, _, SECONDARY_STACK_PAGES>(mpidr, stack, entry)
            }
        }
    }
}

/// A secondary CPU: onto the kernel page table, detect, go online, serve the system pass,
/// run the self-test, park.
fn secondary_main(cpu: usize) -> ! {
    mmu::enter_secondary();
    ArmPlatform::enable_event_stream();
    CPUS.arrive(cpu, IdRegs::read().caps(), caps::read_ctr_el0());
    if CPUS.kept_out(cpu) {
        println!("mini-kernel: fault injection: CPU{cpu} stays out of the rendezvous");
        park();
    }
    let mut me = Participant::new(cpu);
    loop {
        // Twice the primary's check-in timeout: a missing CPU is the primary's to name.
        match RENDEZVOUS.participate(&mut me, console::micros_to_ticks(2 * CPU_TIMEOUT_US)) {
            // The boot pass closed before this CPU came: wait for the system pass.
            Outcome::Missed { .. } => continue,
            Outcome::Released { .. } => break,
            Outcome::Aborted { .. } => park(),
            Outcome::WorkerStalled { generation } => {
                println!("alternatives: CPU{cpu}: the stop window of generation {generation} did not close");
                exit(ExitStatus::Rendezvous)
            }
        }
    }
    selftest_this_cpu(cpu);
    park()
}

/// Runs the self-test on this CPU against what the boot CPU published, and records it.
pub fn selftest_this_cpu(cpu: usize) {
    let (enabled, system_ctr) = CPUS.published();
    let result = selftest::run_on_this_cpu(enabled, system_ctr);
    if let Err(why) = &result {
        println!("altpatch: self-test failed on CPU{cpu}: {why}");
    }
    CPUS.selftest_done(cpu, result.is_ok());
}

/// Waits forever.
pub fn park() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}
