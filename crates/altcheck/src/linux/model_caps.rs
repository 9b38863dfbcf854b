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
}
