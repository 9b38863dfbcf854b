//! Fault injection (`fault-injection` kernels only): boot arguments that break the kernel
//! on purpose, so the negative boots of the test suite can prove each failure is named and
//! ends with its status. A kernel built without the feature refuses `fault.*` as unknown.

use crate::{alternative::AltRegion, memory, smp::Faults};
use arm64_caps::cmdline::{ArgError, BootArg};

/// Takes a `fault.*` argument into `faults`; `Ok(false)` when `arg` is not one. `cpu` parses
/// the argument's value as a CPU index.
pub fn accept(
    faults: &mut Faults,
    arg: &BootArg<'_>,
    cpu: impl Fn() -> Result<usize, ArgError>,
) -> Result<bool, ArgError> {
    use ArgError::Malformed;
    let flag = |set: &mut bool| {
        if arg.value.is_none() {
            *set = true;
            Ok(())
        } else {
            Err(Malformed("no value"))
        }
    };
    match arg.key {
        "fault.cpu_stall" => faults.stall_cpu = Some(cpu()?),
        "fault.psci_cpu_on" => faults.bad_cpu_on = Some(cpu()?),
        "fault.rendezvous_absent" => faults.rendezvous_absent = Some(cpu()?),
        "fault.bug" => flag(&mut faults.bug)?,
        "fault.late_region_bad" => flag(&mut faults.late_region_bad)?,
        "fault.stop_window_stall" => flag(&mut faults.stop_window_stall)?,
        "fault.callback_output" => flag(&mut faults.callback_output)?,
        "fault.oops_everywhere" => flag(&mut faults.oops_everywhere)?,
        "fault.stack_overflow" => faults.stack_overflow = Some(cpu()?),
        "fault.rendezvous_wedge" => faults.rendezvous_wedge = Some(cpu()?),
        key if key.starts_with("fault.hotplug:") => {
            let inner = BootArg { key: &key["fault.hotplug:".len()..], value: arg.value };
            if !faults.hotplug_overrides.accept(&inner)? {
                return Err(Malformed("fault.hotplug:cpuN:REG.FIELD=VALUE"));
            }
        }
        "fault.corrupt" => {
            let kind = arg.value.ok_or(ArgError::MissingValue)?;
            let known = CORRUPTIONS.iter().find(|&&k| k == kind);
            faults.corrupt = Some(known.ok_or(Malformed(
                "one of cap, length, words, site, align, replacement, callback, callback_undeclared, overlap, fingerprint",
            ))?);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Reports each fault aimed where it cannot act: at the boot CPU (which cannot stall its
/// own bring-up, fail its own CPU_ON or miss its own rendezvous) or at a CPU the machine
/// (`cpus` in the device tree) lacks. Such a fault is ignored, and says so.
pub fn report_misdirected(faults: &Faults, cpus: usize) {
    let aimed = [
        ("fault.cpu_stall", faults.stall_cpu),
        ("fault.psci_cpu_on", faults.bad_cpu_on),
        ("fault.rendezvous_absent", faults.rendezvous_absent),
        ("fault.rendezvous_wedge", faults.rendezvous_wedge),
        ("fault.stack_overflow", faults.stack_overflow.filter(|&cpu| cpu != 0)),
    ];
    for (key, cpu) in aimed {
        match cpu {
            Some(0) => crate::println!("altpatch: boot argument '{key}=0': CPU0 is the boot CPU: ignored"),
            Some(n) if n >= cpus => crate::println!(
                "altpatch: boot argument '{key}={n}': there is no CPU{n} ({cpus} CPUs in the device tree): ignored"
            ),
            _ => {}
        }
    }
}

/// `fault.stack_overflow=N`: CPU N recurses until its stack runs into its guard page; the
/// report must name CPU N, from the exception stack.
pub fn overflow_a_stack(victim: usize) {
    static VICTIM: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(usize::MAX);
    VICTIM.store(victim, core::sync::atomic::Ordering::Relaxed);
    crate::smp::on_each_cpu("stack-overflow", |cpu| {
        if cpu == VICTIM.load(core::sync::atomic::Ordering::Relaxed) {
            recurse(0);
        }
        true
    });
}

/// Uses 512 bytes of stack per level, far past any stack (it would stop at 2^40 levels).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if depth >> 40 != 0 {
        return frame[0];
    }
    recurse(depth + 1) + frame[(depth % 64) as usize]
}

/// `fault.oops_everywhere`: every CPU raises BUG at the same moment; the reports must come
/// out whole, one CPU's after another's, never interleaved or torn.
pub fn oops_everywhere() {
    crate::smp::on_each_cpu("oops-everywhere", |_| -> bool { crate::bug!() });
}

/// `fault.stop_window_stall`: the system pass's work never finishes (called inside the stop
/// window, before any write): the CPUs held in the rendezvous must report it.
pub fn stall_stop_window() {
    if crate::smp::faults().stop_window_stall && crate::cpufeature::system_final() {
        crate::cpu::park();
    }
}

/// `fault.rendezvous_wedge=N`: CPU N checks in to the system pass's rendezvous and then
/// wedges before it leaves: the boot CPU must name it.
pub fn wedge_leaving_cpu() {
    let wedged = crate::smp::faults().rendezvous_wedge;
    if wedged == Some(crate::cpu::cpu_index()) && crate::cpufeature::system_final() {
        crate::cpu::park();
    }
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

/// A copy of `region`'s table with one entry corrupted as `kind` names (see [`CORRUPTIONS`]),
/// for the negative boots: the validator must name it and nothing may be patched.
pub fn corrupted_table(region: &AltRegion, kind: &str) -> Option<&'static [u8]> {
    use altpatch_core::table::{CALLBACK_FLAG, ENTRY_SIZE, RawEntry};
    // SAFETY: the table is read-only data, never written.
    let mut bytes = unsafe { memory::image_bytes(&region.table) }.to_vec();
    let entry = |bytes: &[u8], i: usize| {
        RawEntry::from_bytes(bytes[i * ENTRY_SIZE..][..ENTRY_SIZE].try_into().unwrap_or(&[0; ENTRY_SIZE]))
    };
    let count = bytes.len() / ENTRY_SIZE;
    let is_callback = |e: &RawEntry| e.cap & CALLBACK_FLAG != 0;
    let plain = (0..count).find(|&i| !is_callback(&entry(&bytes, i)))?;
    let (index, mut e) = (plain, entry(&bytes, plain));
    let rodata = memory::kernel_layout().rodata.start;
    let field = region.table.start + (index * ENTRY_SIZE) as u64;
    match kind {
        "cap" => e.cap = arm64_caps::caps::NCAPS + 3,
        "length" => e.alt_len = e.orig_len + 4,
        "words" => (e.orig_len, e.alt_len) = (e.orig_len - 2, e.alt_len - 2),
        "site" => e.orig_offset = (rodata as i64 - field as i64) as i32,
        "align" => e.orig_offset += 2,
        "replacement" => e.alt_offset = (region.text.start as i64 - (field + 4) as i64) as i32,
        "fingerprint" => e.fingerprint ^= 1,
        "callback" | "callback_undeclared" => {
            let index = (0..count).find(|&i| is_callback(&entry(&bytes, i)))?;
            let mut e = entry(&bytes, index);
            let field = region.table.start + (index * ENTRY_SIZE) as u64;
            // Into data, or at `_start` (the first word of text: code, aligned, not a callback).
            let target = if kind == "callback" { rodata } else { region.text.start };
            e.alt_offset = (target as i64 - (field + 4) as i64) as i32;
            bytes[index * ENTRY_SIZE..][..ENTRY_SIZE].copy_from_slice(&e.to_bytes());
            return Some(alloc::boxed::Box::leak(bytes.into_boxed_slice()));
        }
        "overlap" => {
            // The next plain entry's site moves onto this one's.
            let other = (plain + 1..count).find(|&i| !is_callback(&entry(&bytes, i)))?;
            let mut o = entry(&bytes, other);
            let site = field as i64 + i64::from(e.orig_offset);
            let other_field = region.table.start + (other * ENTRY_SIZE) as u64;
            o.orig_offset = (site - other_field as i64) as i32;
            bytes[other * ENTRY_SIZE..][..ENTRY_SIZE].copy_from_slice(&o.to_bytes());
        }
        _ => return None,
    }
    bytes[index * ENTRY_SIZE..][..ENTRY_SIZE].copy_from_slice(&e.to_bytes());
    Some(alloc::boxed::Box::leak(bytes.into_boxed_slice()))
}
