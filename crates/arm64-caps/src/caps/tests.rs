//! Detection tests: per-model expected sets, rules, sanitising, late CPUs, the list itself.

use super::fields::{self, ctr_el0, id_aa64isar0, id_aa64pfr0};
use super::models::{MODELS, by_name};
use super::*;
use altpatch_core::fingerprint::of_list;
use std::vec::Vec;

const GICV3: Platform = Platform { gicv3: true, firmware_reports_unaffected: false };

/// The expected set of a model: `tests/expected-caps/<model>.txt`.
fn expected(model: &str) -> Vec<&'static str> {
    let text = match model {
        "cortex-a35" => include_str!("../../expected-caps/cortex-a35.txt"),
        "cortex-a53" => include_str!("../../expected-caps/cortex-a53.txt"),
        "cortex-a57" => include_str!("../../expected-caps/cortex-a57.txt"),
        "cortex-a72" => include_str!("../../expected-caps/cortex-a72.txt"),
        "cortex-a76" => include_str!("../../expected-caps/cortex-a76.txt"),
        "neoverse-n1" => include_str!("../../expected-caps/neoverse-n1.txt"),
        "a64fx" => include_str!("../../expected-caps/a64fx.txt"),
        "max" => include_str!("../../expected-caps/max.txt"),
        // Entered at EL2 (`virtualization=on`): Linux stays there with VHE where it can.
        "cortex-a35-el2" => include_str!("../../expected-caps/cortex-a35-el2.txt"),
        "cortex-a53-el2" => include_str!("../../expected-caps/cortex-a53-el2.txt"),
        "cortex-a57-el2" => include_str!("../../expected-caps/cortex-a57-el2.txt"),
        "cortex-a72-el2" => include_str!("../../expected-caps/cortex-a72-el2.txt"),
        "cortex-a76-el2" => include_str!("../../expected-caps/cortex-a76-el2.txt"),
        "neoverse-n1-el2" => include_str!("../../expected-caps/neoverse-n1-el2.txt"),
        "a64fx-el2" => include_str!("../../expected-caps/a64fx-el2.txt"),
        "max-el2" => include_str!("../../expected-caps/max-el2.txt"),
        other => panic!("no expected set for {other}"),
    };
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

/// Detection on `n` identical CPUs of `regs`.
fn detect(regs: &IdRegs, n: usize) -> SystemCaps {
    let mut f = CpuFeatures::new(regs, &GICV3);
    for _ in 1..n {
        f.add_cpu(regs);
    }
    f.finalise()
}

/// The identifiers of the reported capabilities of `set` (the ALWAYS_* pseudo-capabilities
/// are never printed, as in Linux).
fn idents(set: &CapSet) -> Vec<&'static str> {
    set.iter().filter(|c| c.reported()).map(Cap::ident).collect()
}

#[test]
fn every_model_detects_exactly_its_expected_set() {
    for model in MODELS {
        let want = expected(model.name);
        // Every expected identifier is a row, and the file is in capability order.
        let caps: Vec<Cap> =
            want.iter().map(|i| Cap::from_ident(i).unwrap_or_else(|| panic!("{i}"))).collect();
        assert!(caps.windows(2).all(|w| w[0] < w[1]), "{}: not in cap order", model.name);
        let got = detect(&model.regs, 4);
        assert_eq!(idents(got.caps()), want, "model {}", model.name);
    }
}

#[test]
fn every_model_at_el2_detects_exactly_linux_s_set_there() {
    for model in MODELS {
        let name = std::format!("{}-el2", model.name);
        let want = expected(&name);
        let caps: Vec<Cap> =
            want.iter().map(|i| Cap::from_ident(i).unwrap_or_else(|| panic!("{i}"))).collect();
        assert!(caps.windows(2).all(|w| w[0] < w[1]), "{name}: not in cap order");
        // A model without FEAT_VHE drops to EL1: its snapshot is taken there.
        let regs = if fields::id_aa64mmfr1::VH.get(&model.regs) >= 1 { model.at_el2() } else { model.regs };
        assert_eq!(idents(detect(&regs, 4).caps()), want, "{name}");
    }
}

#[test]
fn every_model_has_an_expected_file() {
    assert_eq!(MODELS.len(), 8);
    for m in MODELS {
        assert!(!expected(m.name).is_empty());
    }
}

#[test]
fn required_rows_exist() {
    for ident in [
        "HAS_LSE_ATOMICS",
        "HAS_CRC32",
        "HAS_SB",
        "HAS_LDAPR",
        "HAS_CACHE_IDC",
        "HAS_CACHE_DIC",
        "WORKAROUND_DEVICE_LOAD_ACQUIRE",
    ] {
        assert!(Cap::from_ident(ident).is_some(), "{ident}");
    }
    assert_eq!(Cap::HAS_LSE_ATOMICS.description(), "LSE atomic instructions");
    assert_eq!(Cap::HAS_LSE_ATOMICS.ident(), "HAS_LSE_ATOMICS");
    assert_eq!(Cap::WORKAROUND_DEVICE_LOAD_ACQUIRE.description(), "ARM erratum 832075");
}

#[test]
fn tables_are_consistent_and_identifiers_unique() {
    assert_eq!(usize::from(NCAPS), IDENTS.len());
    assert_eq!(LIST.ncaps(), NCAPS);
    for c in Cap::all() {
        assert_eq!(Cap::from_ident(c.ident()), Some(c));
        assert_eq!(c.row().ident, c.ident());
        assert_eq!(Cap::from_index(c.index()), Some(c));
        // Only the always-true pseudo-capabilities go unreported.
        assert_eq!(c.reported(), !c.ident().starts_with("ALWAYS_"), "{}", c.ident());
    }
    assert_eq!(Cap::from_index(NCAPS), None);
}

#[test]
fn fingerprint_is_of_the_ordered_identifiers() {
    assert_eq!(FINGERPRINT, of_list(&IDENTS));
    assert_eq!(LIST.fingerprint, FINGERPRINT);
}

#[test]
fn reordering_adding_or_removing_a_row_changes_the_fingerprint() {
    let mut swapped = IDENTS;
    swapped.swap(0, 1);
    assert_ne!(of_list(&swapped), FINGERPRINT);
    assert_ne!(of_list(&IDENTS[..IDENTS.len() - 1]), FINGERPRINT);
    let mut added: Vec<&str> = IDENTS.to_vec();
    added.push("HAS_NEW_THING");
    assert_ne!(of_list(&added), FINGERPRINT);
}

#[test]
fn capset_iterates_in_index_order() {
    let mut s = CapSet::new();
    assert!(s.is_empty());
    s.insert(Cap::SPECTRE_BHB);
    s.insert(Cap::HAS_SYSREG_GIC_CPUIF);
    s.insert(Cap::HAS_LSE_ATOMICS);
    assert_eq!(
        idents(&s),
        ["HAS_SYSREG_GIC_CPUIF", "HAS_LSE_ATOMICS", "SPECTRE_BHB"],
        "index order, not insertion order"
    );
    assert_eq!(s.len(), 3);
    s.remove(Cap::HAS_LSE_ATOMICS);
    assert!(!s.contains(Cap::HAS_LSE_ATOMICS));
}

#[test]
fn gic_cpu_interface_needs_the_platform_too() {
    let a57 = by_name("cortex-a57").unwrap().regs;
    let f = CpuFeatures::new(&a57, &Platform::default());
    assert!(!f.boot_cpu_caps().contains(Cap::HAS_SYSREG_GIC_CPUIF));
    let f = CpuFeatures::new(&a57, &GICV3);
    assert!(f.boot_cpu_caps().contains(Cap::HAS_SYSREG_GIC_CPUIF));
}

#[test]
fn boot_cpu_caps_are_only_boot_scope() {
    let max = by_name("max").unwrap().regs;
    let boot = CpuFeatures::new(&max, &GICV3).boot_cpu_caps();
    assert_eq!(idents(&boot), ["HAS_SYSREG_GIC_CPUIF", "HAS_ADDRESS_AUTH_ARCH_QARMA5", "BTI"]);
}

#[test]
fn system_cap_needs_every_cpu_and_lower_safe_takes_the_minimum() {
    let max = by_name("max").unwrap().regs;
    let mut no_lse = max;
    id_aa64isar0::ATOMIC.set(&mut no_lse, 0);
    let mut f = CpuFeatures::new(&max, &GICV3);
    f.add_cpu(&max);
    f.add_cpu(&no_lse);
    let sys = f.finalise();
    assert!(!sys.has(Cap::HAS_LSE_ATOMICS));
    assert_eq!(id_aa64isar0::ATOMIC.get(sys.sanitised()), 0);
    assert!(sys.has(Cap::HAS_CRC32));
}

#[test]
fn signed_fp_field_not_implemented_sanitises_to_absent() {
    let max = by_name("max").unwrap().regs;
    let mut no_fp = max;
    id_aa64pfr0::FP.set(&mut no_fp, -1); // 0xF
    let mut f = CpuFeatures::new(&max, &GICV3);
    f.add_cpu(&no_fp);
    assert_eq!(id_aa64pfr0::FP.get(f.finalise().sanitised()), -1);
}

#[test]
fn ctr_sanitising_gives_the_smallest_lines_and_largest_writeback_granule() {
    let a57 = by_name("cortex-a57").unwrap().regs; // CTR 0x8444c004: 64-byte lines
    let mut odd = a57;
    odd.ctr_el0 = ctr_el0::DMINLINE.insert(odd.ctr_el0, 3); // 32-byte D lines
    odd.ctr_el0 = ctr_el0::CWG.insert(odd.ctr_el0, 6);
    // A57's L1Ip is 0b11 (PIPT); 0b01 (VPIPT) on the other CPU: mismatch.
    odd.ctr_el0 = ctr_el0::L1IP.insert(odd.ctr_el0, 0b01);
    let mut f = CpuFeatures::new(&a57, &GICV3);
    f.add_cpu(&odd);
    let sys = f.finalise();
    assert_eq!(sys.dcache_line_size(), 32);
    assert_eq!(sys.icache_line_size(), 64);
    assert_eq!(ctr_el0::CWG.get(sys.sanitised()), 6);
    assert_eq!(ctr_el0::L1IP.get(sys.sanitised()), 0b10, "mismatch -> VIPT");
    assert_eq!(sys.ctr_el0(), sys.sanitised().ctr_el0);
}

#[test]
fn effective_idc_comes_from_clidr() {
    let a76 = by_name("cortex-a76").unwrap().regs;
    assert_eq!(ctr_el0::IDC.extract(a76.ctr_el0), 0);
    assert_eq!(ctr_el0::IDC.extract(effective_ctr(&a76)), 1);
    let a57 = by_name("cortex-a57").unwrap().regs; // LoUU = LoUIS = 1
    assert_eq!(effective_ctr(&a57), a57.ctr_el0);
    // One CPU without effective IDC removes the system capability.
    let mut f = CpuFeatures::new(&a76, &GICV3);
    f.add_cpu(&IdRegs { clidr: a57.clidr, ..a76 });
    assert!(!f.finalise().has(Cap::HAS_CACHE_IDC));
}

#[test]
fn cache_dic_follows_ctr_dic() {
    let mut regs = by_name("cortex-a76").unwrap().regs;
    assert!(!detect(&regs, 1).has(Cap::HAS_CACHE_DIC));
    regs.ctr_el0 |= 1 << 29;
    assert!(detect(&regs, 2).has(Cap::HAS_CACHE_DIC));
}

#[test]
fn neoverse_n1_with_dic_needs_erratum_1542419() {
    let mut n1 = by_name("neoverse-n1").unwrap().regs;
    assert!(!detect(&n1, 1).has(Cap::WORKAROUND_1542419));
    n1.ctr_el0 |= 1 << 29;
    assert!(detect(&n1, 1).has(Cap::WORKAROUND_1542419));
}

#[test]
fn an_erratum_on_any_one_cpu_is_a_system_cap() {
    let a72 = by_name("cortex-a72").unwrap().regs;
    let a57 = by_name("cortex-a57").unwrap().regs;
    let mut f = CpuFeatures::new(&a72, &GICV3);
    f.add_cpu(&a57);
    let sys = f.finalise();
    assert!(sys.has(Cap::WORKAROUND_DEVICE_LOAD_ACQUIRE));
    assert!(sys.has(Cap::WORKAROUND_834220));
}

#[test]
fn erratum_832075_stops_after_r1p2() {
    let a57 = by_name("cortex-a57").unwrap().regs;
    let at = |variant: u64, rev: u64| IdRegs { midr: 0x410f_d070 | variant << 20 | rev, ..a57 };
    assert!(detect(&at(1, 2), 1).has(Cap::WORKAROUND_DEVICE_LOAD_ACQUIRE));
    assert!(!detect(&at(1, 3), 1).has(Cap::WORKAROUND_DEVICE_LOAD_ACQUIRE));
    assert!(detect(&at(0, 0), 1).has(Cap::WORKAROUND_DEVICE_LOAD_ACQUIRE));
    // 1742098 starts at r0p1.
    assert!(!detect(&at(0, 0), 1).has(Cap::WORKAROUND_1742098));
    assert!(detect(&at(0, 1), 1).has(Cap::WORKAROUND_1742098));
}

#[test]
fn a53_r0p4_with_revidr_bit_8_does_not_need_843419() {
    let a53 = by_name("cortex-a53").unwrap().regs;
    assert!(detect(&a53, 1).has(Cap::WORKAROUND_843419));
    let fixed = IdRegs { revidr: 1 << 8, ..a53 };
    let sys = detect(&fixed, 1);
    assert!(!sys.has(Cap::WORKAROUND_843419));
    assert!(sys.has(Cap::WORKAROUND_845719), "845719 has no REVIDR fix");
    let r0p2 = IdRegs { midr: 0x410f_d032, ..a53 };
    assert!(detect(&r0p2, 1).has(Cap::WORKAROUND_CLEAN_CACHE));
}

#[test]
fn firmware_saying_unaffected_removes_spectre_v2_but_not_ssbs_mitigated_v4() {
    let fw = Platform { gicv3: true, firmware_reports_unaffected: true };
    let a57 = by_name("cortex-a57").unwrap().regs;
    let sys = CpuFeatures::new(&a57, &fw).finalise();
    assert!(!sys.has(Cap::SPECTRE_V2));
    assert!(!sys.has(Cap::SPECTRE_V4));
    assert!(sys.has(Cap::SPECTRE_V3A), "v3a is by MIDR only");
    let a76 = by_name("cortex-a76").unwrap().regs;
    assert!(CpuFeatures::new(&a76, &fw).finalise().has(Cap::SPECTRE_V4));
}

#[test]
fn csv2_3_or_clearbhb_decide_spectre_bhb() {
    let mut a76 = by_name("cortex-a76").unwrap().regs;
    id_aa64pfr0::CSV2.set(&mut a76, 3);
    assert!(!detect(&a76, 1).has(Cap::SPECTRE_BHB));
    let mut max = by_name("max").unwrap().regs;
    max.id_aa64isar2 = fields::id_aa64isar2::BC.insert(0, 1);
    assert!(detect(&max, 1).has(Cap::SPECTRE_BHB));
}

#[test]
fn late_cpu_without_lse_is_refused_by_name() {
    let max = by_name("max").unwrap().regs;
    let sys = detect(&max, 4);
    assert_eq!(sys.check_late_cpu(&max), Ok(()));
    let mut late = max;
    id_aa64isar0::ATOMIC.set(&mut late, 0);
    let refusal = sys.check_late_cpu(&late).unwrap_err();
    assert_eq!(idents(&refusal.missing), ["HAS_LSE_ATOMICS"]);
    assert!(refusal.needed.is_empty());
    let text = std::format!("{refusal}");
    assert!(text.contains("HAS_LSE_ATOMICS (LSE atomic instructions)"), "{text}");
}

#[test]
fn late_cpu_needing_an_unenabled_erratum_is_refused() {
    let a72 = by_name("cortex-a72").unwrap().regs;
    let sys = detect(&a72, 2);
    let a57 = by_name("cortex-a57").unwrap().regs;
    let refusal = sys.check_late_cpu(&a57).unwrap_err();
    assert_eq!(idents(&refusal.needed), ["WORKAROUND_DEVICE_LOAD_ACQUIRE", "WORKAROUND_834220"]);
    assert!(std::format!("{refusal}").contains("ARM erratum 832075"));
}

#[test]
fn late_cpu_with_extra_features_is_accepted() {
    let a53 = by_name("cortex-a53").unwrap().regs;
    let sys = detect(&a53, 1);
    // A CPU with more features than the system, needing no new workaround (a53 r0p4
    // again, with LSE): accepted.
    let mut richer = a53;
    id_aa64isar0::ATOMIC.set(&mut richer, 2);
    assert_eq!(sys.check_late_cpu(&richer), Ok(()));
}

#[test]
fn per_cpu_override_makes_that_cpu_refused_late() {
    let mut o = overrides::Overrides::default();
    let arg = crate::cmdline::parse("cpu3:id_aa64isar0.atomic=0").next().unwrap();
    assert_eq!(o.accept(&arg), Ok(true));
    let max = by_name("max").unwrap().regs;
    let mut f = CpuFeatures::new(&max, &GICV3);
    for cpu in 1..3 {
        let mut r = max;
        o.apply(cpu, &mut r);
        f.add_cpu(&r);
    }
    let sys = f.finalise();
    assert!(sys.has(Cap::HAS_LSE_ATOMICS));
    let mut cpu3 = max;
    o.apply(3, &mut cpu3);
    assert_eq!(idents(&sys.check_late_cpu(&cpu3).unwrap_err().missing), ["HAS_LSE_ATOMICS"]);
}

#[test]
fn global_override_falls_back_on_max() {
    let mut o = overrides::Overrides::default();
    let arg = crate::cmdline::parse("arm64.nolse").next().unwrap();
    assert_eq!(o.accept(&arg), Ok(true));
    let mut max = by_name("max").unwrap().regs;
    o.apply(0, &mut max);
    let sys = detect(&max, 4);
    assert!(!sys.has(Cap::HAS_LSE_ATOMICS));
    assert!(sys.has(Cap::HAS_CRC32));
}

/// The models whose ID_AA64MMFR1_EL1.VH says FEAT_VHE (Armv8.1 and later cores).
const VHE_MODELS: [&str; 4] = ["cortex-a76", "neoverse-n1", "a64fx", "max"];

#[test]
fn vhe_is_detected_only_at_el2_on_cpus_with_vh() {
    for model in MODELS {
        let at_el1 = detect(&model.regs, 4);
        assert!(!at_el1.has(Cap::HAS_VIRT_HOST_EXTN), "{}: at EL1", model.name);
        let at_el2 = detect(&model.at_el2(), 4);
        let vh = VHE_MODELS.contains(&model.name);
        assert_eq!(at_el2.has(Cap::HAS_VIRT_HOST_EXTN), vh, "{}: at EL2", model.name);
        // Nothing else changes with the exception level.
        let mut others = *at_el2.caps();
        others.remove(Cap::HAS_VIRT_HOST_EXTN);
        assert_eq!(&others, at_el1.caps(), "{}", model.name);
    }
}

#[test]
fn vhe_is_a_boot_cpu_capability_in_linux_s_place() {
    assert_eq!(Cap::HAS_VIRT_HOST_EXTN.row().scope, Scope::BootCpu);
    assert_eq!(Cap::HAS_VIRT_HOST_EXTN.description(), "Virtualization Host Extensions");
    // arm64_features[] in Linux 6.1: ... LSE atomics, (no-HW-prefetch), VHE, 32-bit EL0 ...
    assert_eq!(Cap::HAS_VIRT_HOST_EXTN.index(), Cap::HAS_LSE_ATOMICS.index() + 1);
    assert_eq!(Cap::HAS_32BIT_EL0_DO_NOT_USE.index(), Cap::HAS_VIRT_HOST_EXTN.index() + 1);
    let max = by_name("max").unwrap();
    let f = CpuFeatures::new(&max.at_el2(), &GICV3);
    assert!(f.boot_cpu_caps().contains(Cap::HAS_VIRT_HOST_EXTN));
}

#[test]
fn vh_override_or_kvm_arm_mode_nvhe_removes_vhe_at_el2() {
    for cmdline in ["id_aa64mmfr1.vh=0", "kvm-arm.mode=nvhe"] {
        let mut o = overrides::Overrides::default();
        let arg = crate::cmdline::parse(cmdline).next().unwrap();
        assert_eq!(o.accept(&arg), Ok(true));
        let mut regs = by_name("max").unwrap().at_el2();
        o.apply(0, &mut regs);
        assert!(!detect(&regs, 2).has(Cap::HAS_VIRT_HOST_EXTN), "{cmdline}");
    }
}

#[test]
fn a_cpu_at_el1_lacks_vhe_when_the_boot_cpu_has_it() {
    let max = by_name("max").unwrap();
    let boot = CpuFeatures::new(&max.at_el2(), &GICV3).boot_cpu_caps();
    assert!(boot.contains(Cap::HAS_VIRT_HOST_EXTN));
    // The per-CPU override that makes QEMU's CPU 1 lack VHE: it stays at EL1.
    let mut o = overrides::Overrides::default();
    assert_eq!(o.accept(&crate::cmdline::parse("cpu1:id_aa64mmfr1.vh=0").next().unwrap()), Ok(true));
    let mut cpu1 = max.at_el2();
    o.apply(1, &mut cpu1);
    assert!(!Cap::HAS_VIRT_HOST_EXTN.row().rule.matches_cpu(&cpu1, &GICV3));
    let at_el1 = IdRegs { current_el: 1 << 2, ..max.at_el2() };
    assert!(!Cap::HAS_VIRT_HOST_EXTN.row().rule.matches_cpu(&at_el1, &GICV3));
    // Arriving late, it is refused by name.
    let sys = detect(&max.at_el2(), 2);
    assert_eq!(idents(&sys.check_late_cpu(&at_el1).unwrap_err().missing), ["HAS_VIRT_HOST_EXTN"]);
}

#[test]
fn a_cpu_like_the_boot_cpu_changes_nothing_after_any_other() {
    // `add_cpu` passes over a CPU identical to the boot CPU; the fold it skips must have been
    // a no-op: each field as the policies combine it, boot, other, boot again.
    for boot in MODELS {
        for other in MODELS {
            let mut f = CpuFeatures::new(&boot.regs, &GICV3);
            f.add_cpu(&other.regs);
            let before = f.clone().finalise();
            f.add_cpu(&boot.regs);
            let after = f.finalise();
            assert_eq!(before, after, "{} then {}", boot.name, other.name);
            let (b, o) = (effective(&boot.regs), effective(&other.regs));
            for field in fields::ALL {
                let folded = field.combine(field.combine(field.get(&b), field.get(&o)), field.get(&b));
                assert_eq!(field.get(after.sanitised()), folded, "{} {}", field.reg.name(), field.name);
            }
        }
    }
}

fn effective(regs: &IdRegs) -> IdRegs {
    IdRegs { ctr_el0: effective_ctr(regs), ..*regs }
}

#[test]
fn no_rule_reads_the_mpidr() {
    // `IdRegs::same_features` leaves MPIDR_EL1 out: a CPU's capabilities must not depend on it.
    for model in MODELS {
        let other = IdRegs { mpidr: 0x8000_0103, ..model.regs };
        assert!(other.same_features(&model.regs));
        for cap in Cap::all() {
            let rule = cap.row().rule;
            assert_eq!(
                rule.matches_cpu(&model.regs, &GICV3),
                rule.matches_cpu(&other, &GICV3),
                "{}",
                model.name
            );
        }
        let mut f = CpuFeatures::new(&model.regs, &GICV3);
        let alone = f.clone().finalise();
        f.add_cpu(&other);
        assert_eq!(f.finalise(), alone);
    }
    let max = by_name("max").unwrap().regs;
    assert!(!IdRegs { midr: max.midr + 1, ..max }.same_features(&max));
}

#[test]
fn a_secondary_lacks_the_boot_caps_its_own_registers_fail_and_a_twin_lacks_none() {
    for boot in MODELS {
        for regs in [boot.regs, boot.at_el2()] {
            let f = CpuFeatures::new(&regs, &GICV3);
            let twin = IdRegs { mpidr: 0x8000_0001, ..regs };
            assert!(f.boot_caps_lacking(&twin).is_empty(), "{}", boot.name);
            for other in MODELS {
                let rule_by_rule: CapSet = (f.boot_cpu_caps().iter())
                    .filter(|c| !c.row().rule.matches_cpu(&other.regs, &GICV3))
                    .collect();
                assert_eq!(
                    f.boot_caps_lacking(&other.regs),
                    rule_by_rule,
                    "{} then {}",
                    boot.name,
                    other.name
                );
            }
        }
    }
    // The boot CPU at EL2 with VHE, a secondary at EL1: it lacks exactly VHE.
    let max = by_name("max").unwrap();
    let f = CpuFeatures::new(&max.at_el2(), &GICV3);
    assert_eq!(idents(&f.boot_caps_lacking(&max.regs)), ["HAS_VIRT_HOST_EXTN"]);
}
