//! CPU hotplug after boot: a secondary taken offline with PSCI CPU_OFF and brought back
//! with CPU_ON, checked against the final capabilities before it runs patched code (Linux's
//! `verify_local_cpu_capabilities`); the online set shrinks and grows with it.

use super::{
    CALL_GENERATION, CPUS, FIRMWARE, Life, ONLINE_TIMEOUT_US, SYSTEM_CPUS, admit_late_cpu, firmware, online,
    wait_online,
};
use crate::{
    boot, cpu,
    dtb::BootInfo,
    psci::Firmware as _,
    time::{Instant, micros_to_ticks},
};
use arm64_caps::caps::SystemCaps;
use core::sync::atomic::Ordering;

/// This CPU leaves (the boot CPU took it out of the online set first): it marks itself
/// offline and powers down with PSCI CPU_OFF.
pub(super) fn go_offline(index: usize) -> ! {
    cpu::mask_exceptions();
    CPUS[index].set_life(Life::Offline);
    cpu::send_event();
    match FIRMWARE.get() {
        Some(firmware) => {
            let error = firmware.cpu_off();
            crate::println!("SMP: CPU{index}: PSCI CPU_OFF failed: {error}; parked");
        }
        None => crate::println!("SMP: CPU{index}: no PSCI conduit for CPU_OFF; parked"),
    }
    cpu::park()
}

/// Takes secondary `cpu` offline: out of the online set (no rendezvous or call counts it),
/// then CPU_OFF from its own service loop; waits until PSCI reports it off.
fn cpu_down(info: &BootInfo, cpu: usize) -> bool {
    let mpidr = info.machine.mpidrs[cpu];
    SYSTEM_CPUS.remove(cpu);
    CPUS[cpu].offline_request.store(true, Ordering::Release);
    cpu::send_event();
    let deadline = Instant::now().0 + micros_to_ticks(ONLINE_TIMEOUT_US);
    while CPUS[cpu].life() != Life::Offline || !firmware(info).is_off(mpidr) {
        if Instant::now().0 >= deadline {
            crate::println!("CPU{cpu}: did not go offline within {} ms", ONLINE_TIMEOUT_US / 1000);
            return false;
        }
        cpu::relax();
    }
    crate::println!("CPU{cpu}: offline");
    true
}

/// Brings `cpu` back with CPU_ON and checks it against the final capabilities (Linux's
/// `verify_local_cpu_capabilities`) before it runs any patched code: it joins the online
/// set, or is refused, named and parked.
fn cpu_up(info: &BootInfo, system: &SystemCaps, cpu: usize) -> bool {
    let mpidr = info.machine.mpidrs[cpu];
    CPUS[cpu].returning.store(true, Ordering::Release);
    *CPUS[cpu].returned_regs.lock() = None;
    if let Err(error) = firmware(info).cpu_on(mpidr, boot::secondary_entry_address(), cpu as u64) {
        crate::println!("CPU{cpu}: PSCI CPU_ON failed: {error}");
        return false;
    }
    let deadline = Instant::now().0 + micros_to_ticks(ONLINE_TIMEOUT_US);
    let regs = wait_online(cpu, deadline).then(|| *CPUS[cpu].returned_regs.lock()).flatten();
    let Some(regs) = regs else {
        crate::println!("CPU{cpu}: failed to come back online");
        return false;
    };
    // No call is in flight (this CPU runs them): the CPU owes none made before now, should
    // it join the CPUs that calls wait for.
    CPUS[cpu].answered.store(CALL_GENERATION.load(Ordering::Acquire), Ordering::Release);
    let verdict = admit_late_cpu(cpu, &regs, system);
    match &verdict {
        Ok(()) => crate::println!("CPU{cpu}: online, has every system capability"),
        Err(refusal) => crate::println!("CPU{cpu}: refused and parked: {refusal}"),
    }
    cpu::send_event();
    verdict.is_ok()
}

/// `hotplug.cycles=N`: N times, every online secondary offline and back, one at a time.
/// A CPU that does not go offline ends the cycles with a summary that says so; the caller
/// ends the run. Whether every cycle completed.
pub fn hotplug_cycles(info: &BootInfo, system: &SystemCaps, cycles: usize) -> bool {
    let (mut cycled, mut refused) = (0, 0);
    for _ in 0..cycles {
        for cpu in online().iter().filter(|&cpu| cpu != 0) {
            if !cpu_down(info, cpu) {
                crate::println!(
                    "hotplug: FAILED: CPU{cpu} did not go offline; {cycled} CPUs had cycled, {refused} refused; {} CPUs online",
                    online().len()
                );
                return false;
            }
            cycled += 1;
            if !cpu_up(info, system, cpu) {
                refused += 1;
            }
        }
    }
    crate::println!(
        "hotplug: {cycles} cycles: {cycled} CPUs taken offline and brought back, {refused} refused; {} CPUs online",
        online().len()
    );
    true
}
