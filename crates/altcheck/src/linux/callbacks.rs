//! Alternative callbacks (`alternative_cb`): what each writes, where that follows from the
//! image, the CPU model and the command line alone; else why it cannot be known here.

/// A callback's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Callback {
    /// The bytes it writes over the whole site.
    Bytes(Vec<u8>),
    /// Its result depends on something outside the image and the model: the reason.
    Runtime(&'static str),
}

/// AArch64 NOP.
const NOP: u32 = 0xd503_201f;

/// Known callbacks Linux 6.1/6.12 has that this tool does not model, and why.
const RUNTIME: &[(&str, &str)] = &[
    (
        "kvm_update_va_mask",
        "the hyp VA tag comes from the RAM layout and a random value (arch/arm64/kvm/va_layout.c)",
    ),
    ("kvm_get_kimage_voffset", "kimage_voffset: where the loader put the kernel in physical memory"),
    ("kvm_patch_vector_branch", "the hyp vectors' address, from kimage_voffset (arch/arm64/kvm/va_layout.c)"),
    ("kvm_compute_final_ctr_el0", "the system's sanitised CTR_EL0 (not modelled yet)"),
    ("spectre_v4_patch_fw_mitigation_conduit", "the SMCCC conduit: a firmware answer (PSCI node)"),
    ("smccc_patch_fw_mitigation_conduit", "the SMCCC conduit (smc or hvc): a firmware answer (PSCI node)"),
    (
        "spectre_bhb_patch_loop_mitigation_enable",
        "the BHB mitigation state chosen at runtime (not modelled yet)",
    ),
    (
        "spectre_v4_patch_fw_mitigation_enable",
        "whether firmware implements ARCH_WORKAROUND_2: a firmware answer",
    ),
    (
        "spectre_bhb_patch_loop_iter",
        "the BHB loop count from the CPU list in proton-pack.c (not modelled yet)",
    ),
    ("spectre_bhb_patch_wa3", "whether firmware implements ARCH_WORKAROUND_3: a firmware answer"),
    ("spectre_bhb_patch_clearbhb", "the BHB mitigation state chosen at runtime (not modelled yet)"),
];

/// What the callback `name` (`symbol` or `symbol+0x0`) writes over a `len`-byte site.
pub fn model(name: &str, len: usize) -> Callback {
    let base = name.strip_suffix("+0x0").unwrap_or(name);
    if base == "alt_cb_patch_nops" {
        // arch/arm64/kernel/alternative.c: every instruction of the site becomes a NOP.
        return Callback::Bytes(NOP.to_le_bytes().iter().copied().cycle().take(len).collect());
    }
    match RUNTIME.iter().find(|r| r.0 == base) {
        Some((_, why)) => Callback::Runtime(why),
        None => Callback::Runtime("a callback this tool does not know"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_nops_writes_a_nop_per_instruction_and_firmware_answers_are_runtime() {
        assert_eq!(
            model("alt_cb_patch_nops", 8),
            Callback::Bytes(vec![0x1f, 0x20, 0x03, 0xd5, 0x1f, 0x20, 0x03, 0xd5])
        );
        assert!(
            matches!(model("spectre_v4_patch_fw_mitigation_conduit", 4), Callback::Runtime(r) if r.contains("firmware"))
        );
        assert!(matches!(model("some_new_cb", 4), Callback::Runtime(_)));
    }
}
