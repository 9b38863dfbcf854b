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

/// Capabilities later Linux lists that altpatch's detection (6.1's set) does not have, with
/// their 6.12 cpufeature.c rule on `model`: `HAS_FPSIMD` (ID_AA64PFR0_EL1.FP not 0xf),
/// `HAS_DIT` (ID_AA64PFR0_EL1.DIT >= 1), `HAS_VA52` (CONFIG_ARM64_VA_BITS_52 with 4 KiB
/// pages, as Debian's 6.12: ID_AA64MMFR0_EL1.TGRAN4 == 1, FEAT_LPA2), `HAS_LPA2`, `HAS_HCX`
/// (ID_AA64MMFR1_EL1.HCX >= 1). A kernel whose list lacks a name gets nothing from it.
pub fn linux_only(model: &str) -> Result<Vec<&'static str>, String> {
    let m = caps::models::by_name(model).map_err(|e| e.to_string())?;
    let field = |reg: u64, shift: u32| (reg >> shift) & 0xf;
    let mut out = Vec::new();
    if field(m.regs.id_aa64pfr0, 16) != 0xf {
        out.push("HAS_FPSIMD");
    }
    if field(m.regs.id_aa64pfr0, 48) >= 1 {
        out.push("HAS_DIT");
    }
    let (tgran4, tgran4_2) = (field(m.regs.id_aa64mmfr0, 28), field(m.regs.id_aa64mmfr0, 40));
    if tgran4 == 1 {
        out.push("HAS_VA52");
    }
    // has_lpa2(): at stage 1 and at stage 2 (TGRAN4_2 3, or 1: as stage 1).
    if tgran4 == 1 && (tgran4_2 == 3 || tgran4_2 == 1) {
        out.push("HAS_LPA2");
    }
    if field(m.regs.id_aa64mmfr1, 40) >= 1 {
        out.push("HAS_HCX");
    }
    Ok(out)
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
