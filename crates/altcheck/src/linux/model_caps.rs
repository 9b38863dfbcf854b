//! A QEMU model's system capabilities as Linux finds them with a given command line and
//! exception level: altpatch's detection (arm64-caps, checked against Linux on every model by
//! tests/linux-caps) after the command line's ID-register overrides (`arm64.nopauth`,
//! `arm64.nobti`, `id_aa64mmfr1.vh=0`, ...: arch/arm64/kernel/idreg-override.c).

use arm64_caps::caps::{self, CpuFeatures, Platform, SystemCaps};
use arm64_caps::cmdline;

/// The system capabilities of `ncpus` CPUs of `model` on `virt,gic-version=3`, started at
/// EL2 when `el2`, booted with `append`.
pub fn system_caps(model: &str, el2: bool, append: &str, ncpus: usize) -> Result<SystemCaps, String> {
    let m = caps::models::by_name(model).map_err(|e| e.to_string())?;
    let mut o = caps::overrides::Overrides::default();
    for arg in cmdline::parse(append) {
        o.accept(&arg).map_err(|e| format!("--append: {e:?}"))?;
    }
    let platform = Platform { gicv3: true, ..Platform::default() };
    let regs = |cpu: usize| {
        let mut r = if el2 { m.at_el2() } else { m.regs };
        o.apply(cpu, &mut r);
        r
    };
    let mut f = CpuFeatures::new(&regs(0), &platform);
    for cpu in 1..ncpus.max(1) {
        f.add_cpu(&regs(cpu));
    }
    Ok(f.finalise())
}

/// Arm's CPUs on Linux's `kpti_safe_list` (arch/arm64/kernel/cpufeature.c,
/// `unmap_kernel_at_el0`): implementer 0x41, these part numbers (A35, A53, A55, A57, A72, A73).
const KPTI_SAFE_ARM_PARTS: &[u64] = &[0xd04, 0xd03, 0xd05, 0xd07, 0xd08, 0xd09];

/// Whether Linux 6.1/6.12 turns `UNMAP_KERNEL_AT_EL0` (KPTI) on for `model` with `append`:
/// a kernel policy, not a CPU feature, so altpatch's detection leaves it out. With `nokaslr`
/// (KASLR would force it), on when a CPU is not on the safe list and lacks FEAT_CSV3, unless
/// `kpti=0`; `kpti=1` forces it.
pub fn kpti(model: &str, append: &str) -> Result<bool, String> {
    let m = caps::models::by_name(model).map_err(|e| e.to_string())?;
    for arg in append.split_ascii_whitespace() {
        match arg {
            "kpti=0" | "kpti=off" => return Ok(false),
            "kpti=1" | "kpti=on" => return Ok(true),
            _ => {}
        }
    }
    if !append.split_ascii_whitespace().any(|a| a == "nokaslr") {
        return Err("KPTI without nokaslr depends on KASLR's seed: give --append nokaslr".into());
    }
    let midr = m.regs.midr;
    let safe = midr >> 24 == 0x41 && KPTI_SAFE_ARM_PARTS.contains(&((midr >> 4) & 0xfff));
    let csv3 = (m.regs.id_aa64pfr0 >> 60) & 0xf != 0;
    Ok(!safe && !csv3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nopauth_and_nobti_remove_them_on_max_and_el2_adds_vhe() {
        let plain = system_caps("max", false, "", 2).unwrap();
        let off = system_caps("max", false, "nokaslr arm64.nopauth arm64.nobti", 2).unwrap();
        let has = |s: &SystemCaps, id: &str| s.caps().iter().any(|c| c.ident() == id);
        assert!(has(&plain, "BTI") && !has(&off, "BTI"));
        assert!(plain.caps().iter().any(|c| c.ident().starts_with("HAS_ADDRESS_AUTH")));
        assert!(!off.caps().iter().any(|c| c.ident().starts_with("HAS_ADDRESS_AUTH")));
        assert!(has(&system_caps("max", true, "", 2).unwrap(), "HAS_VIRT_HOST_EXTN"));
    }

    #[test]
    fn kpti_is_on_for_a64fx_only_as_linux_6_1_detected_it_on_qemu() {
        // Linux 6.1 booted by tests/linux-oracle with nokaslr: only a64fx prints "Kernel page table isolation (KPTI)".
        for m in ["cortex-a35", "cortex-a53", "cortex-a57", "cortex-a72", "cortex-a76", "neoverse-n1", "max"]
        {
            assert!(!kpti(m, "nokaslr").unwrap(), "{m}");
        }
        assert!(kpti("a64fx", "nokaslr").unwrap());
        assert!(!kpti("a64fx", "kpti=0").unwrap());
        assert!(kpti("max", "").is_err());
    }
}
