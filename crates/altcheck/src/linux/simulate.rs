//! Which entries Linux would patch on a QEMU CPU model: altpatch's own detection
//! (`arm64_caps::caps`, checked against Linux 6.1 booted on every model by
//! tests/linux-caps) gives the capabilities, mapped to the kernel's numbers by name.

use arm64_caps::caps;

use super::cpucaps::LinuxCaps;

/// Linux capabilities that are the union of altpatch's finer ones (cpufeature.c sets
/// `HAS_ADDRESS_AUTH` when any algorithm is present, likewise generic authentication).
const UNIONS: &[(&str, &[&str])] = &[
    (
        "HAS_ADDRESS_AUTH",
        &["HAS_ADDRESS_AUTH_ARCH_QARMA5", "HAS_ADDRESS_AUTH_ARCH_QARMA3", "HAS_ADDRESS_AUTH_IMP_DEF"],
    ),
    (
        "HAS_GENERIC_AUTH",
        &["HAS_GENERIC_AUTH_ARCH_QARMA5", "HAS_GENERIC_AUTH_ARCH_QARMA3", "HAS_GENERIC_AUTH_IMP_DEF"],
    ),
];

/// 6.12's spellings of capabilities altpatch names as 6.1 does.
const RENAMED: &[(&str, &str)] = &[("HAS_SYSREG_GIC_CPUIF", "HAS_GIC_CPUIF_SYSREGS")];

/// The capabilities present on QEMU model `model`, as Linux numbers in `list`; and the
/// names altpatch detected that the list lacks.
pub fn enabled_on(model: &str, list: &LinuxCaps) -> Result<(Vec<u16>, Vec<&'static str>), String> {
    let system = caps::models::by_name(model).map_err(|e| e.to_string())?.system_caps();
    Ok(numbered(&system, list))
}

/// The capabilities of `system` as Linux numbers in `list`; and the names the list lacks.
pub fn numbered(system: &caps::SystemCaps, list: &LinuxCaps) -> (Vec<u16>, Vec<&'static str>) {
    let idents: Vec<&'static str> = system.caps().iter().map(caps::Cap::ident).collect();
    let mut on = Vec::new();
    let mut missing = Vec::new();
    for id in &idents {
        let renamed = RENAMED.iter().find(|r| r.0 == *id).map(|r| r.1);
        match list.index_of(id).or_else(|| renamed.and_then(|r| list.index_of(r))) {
            Some(n) => on.push(n),
            None => missing.push(*id),
        }
    }
    for (union, parts) in UNIONS {
        if parts.iter().any(|p| idents.contains(p)) {
            on.extend(list.index_of(union));
        }
    }
    on.sort_unstable();
    on.dedup();
    (on, missing)
}

/// The capabilities named in `names` (comma-separated, without `ARM64_`), as numbers.
pub fn enabled_by_name(names: &str, list: &LinuxCaps) -> Result<Vec<u16>, String> {
    names
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|n| list.index_of(n).ok_or_else(|| format!("unknown capability {n} in {}", list.source)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_has_lse_and_a53_does_not_in_linux_6_1_numbers() {
        let l = LinuxCaps::shipped("6.1.0-57-arm64").unwrap();
        let lse = l.index_of("HAS_LSE_ATOMICS").unwrap();
        let (max, _) = enabled_on("max", &l).unwrap();
        let (a53, _) = enabled_on("cortex-a53", &l).unwrap();
        assert!(max.contains(&lse) && !a53.contains(&lse));
        // QEMU max has PAuth (QARMA5): Linux's union capability follows.
        assert!(max.contains(&l.index_of("HAS_ADDRESS_AUTH").unwrap()));
        assert!(enabled_on("cortex-a9000", &l).unwrap_err().contains("unknown CPU model"));
    }
}
