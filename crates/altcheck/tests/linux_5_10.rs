//! Linux 5.10's semantics, on small ELF vmlinux images whose code is what 5.10's macros emit
//! (the Linux sources each rule comes from are named at each test): no false defect on
//! valid 5.10 code, the defect still found where the code is really wrong.

mod elf;

use std::process::{Command, Output};

use elf::Section;

const T: u64 = 0xffff_8000_1001_0000;
const TEXT_LEN: u64 = 0x2000;
const SITE: u64 = T + 0x100;
const REPL: u64 = T + 0x1000;
const RODATA: u64 = T + 0x2000;
const TABLE: u64 = T + 0x2100;
const NOP: u32 = 0xd503_201f;
const MSR_PAN_1: u32 = 0xd500_419f; // msr pan, #1 (SET_PSTATE_PAN(1))
const DSB_ISH: u32 = 0xd503_3b9f;
const TLBI_RVAE1IS: u32 = 0xd508_8220; // tlbi rvae1is, x0 (FEAT_TLBIRANGE)

/// 5.10's hand-written arch/arm64/include/asm/cpucaps.h (Debian's linux-headers-5.10.0-32-common).
const CPUCAPS: &str = "#define ARM64_WORKAROUND_CLEAN_CACHE 0\n#define ARM64_WORKAROUND_DEVICE_LOAD_ACQUIRE 1\n\
    #define ARM64_WORKAROUND_845719 2\n#define ARM64_HAS_SYSREG_GIC_CPUIF 3\n\
    #define ARM64_HAS_PAN 4\n#define ARM64_HAS_LSE_ATOMICS 5\n\
    #define ARM64_WORKAROUND_CAVIUM_23154 6\n#define ARM64_WORKAROUND_834220 7\n\
    #define ARM64_HAS_NO_HW_PREFETCH 8\n#define ARM64_HAS_UAO 9\n#define ARM64_ALT_PAN_NOT_UAO 10\n\
    #define ARM64_HAS_VIRT_HOST_EXTN 11\n#define ARM64_WORKAROUND_CAVIUM_27456 12\n\
    #define ARM64_HAS_32BIT_EL0 13\n#define ARM64_HARDEN_EL2_VECTORS 14\n#define ARM64_HAS_CNP 15\n\
    #define ARM64_HAS_NO_FPSIMD 16\n#define ARM64_WORKAROUND_REPEAT_TLBI 17\n\
    #define ARM64_WORKAROUND_QCOM_FALKOR_E1003 18\n#define ARM64_WORKAROUND_858921 19\n\
    #define ARM64_WORKAROUND_CAVIUM_30115 20\n#define ARM64_HAS_DCPOP 21\n#define ARM64_SVE 22\n\
    #define ARM64_UNMAP_KERNEL_AT_EL0 23\n#define ARM64_SPECTRE_V2 24\n\
    #define ARM64_HAS_RAS_EXTN 25\n#define ARM64_WORKAROUND_843419 26\n\
    #define ARM64_HAS_CACHE_IDC 27\n#define ARM64_HAS_CACHE_DIC 28\n#define ARM64_HW_DBM 29\n\
    #define ARM64_SPECTRE_V4 30\n#define ARM64_MISMATCHED_CACHE_TYPE 31\n\
    #define ARM64_HAS_STAGE2_FWB 32\n#define ARM64_HAS_CRC32 33\n#define ARM64_SSBS 34\n\
    #define ARM64_WORKAROUND_1418040 35\n#define ARM64_HAS_SB 36\n\
    #define ARM64_WORKAROUND_SPECULATIVE_AT 37\n#define ARM64_HAS_ADDRESS_AUTH_ARCH 38\n\
    #define ARM64_HAS_ADDRESS_AUTH_IMP_DEF 39\n#define ARM64_HAS_GENERIC_AUTH_ARCH 40\n\
    #define ARM64_HAS_GENERIC_AUTH_IMP_DEF 41\n#define ARM64_HAS_IRQ_PRIO_MASKING 42\n\
    #define ARM64_HAS_DCPODP 43\n#define ARM64_WORKAROUND_1463225 44\n\
    #define ARM64_WORKAROUND_CAVIUM_TX2_219_TVM 45\n\
    #define ARM64_WORKAROUND_CAVIUM_TX2_219_PRFM 46\n#define ARM64_WORKAROUND_1542419 47\n\
    #define ARM64_HAS_E0PD 48\n#define ARM64_HAS_RNG 49\n#define ARM64_HAS_AMU_EXTN 50\n\
    #define ARM64_HAS_ADDRESS_AUTH 51\n#define ARM64_HAS_GENERIC_AUTH 52\n\
    #define ARM64_HAS_32BIT_EL1 53\n#define ARM64_BTI 54\n#define ARM64_HAS_ARMv8_4_TTL 55\n\
    #define ARM64_HAS_TLB_RANGE 56\n#define ARM64_MTE 57\n#define ARM64_WORKAROUND_1508412 58\n\
    #define ARM64_SPECTRE_BHB 59\n#define ARM64_WORKAROUND_2457168 60\n\
    #define ARM64_WORKAROUND_1742098 61\n#define ARM64_NCAPS 62\n";

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A 5.10 vmlinux: `before` right before the site, a 2-instruction site of NOPs, the
/// replacement `repl`, and one entry (cpufeature `cap`).
fn vmlinux(before: u32, repl: &[u32], cap: u16) -> Vec<u8> {
    let mut text = words(&vec![NOP; (TEXT_LEN / 4) as usize]);
    let mut put = |at: u64, w: u32| {
        let o = (at - T) as usize;
        text[o..o + 4].copy_from_slice(&w.to_le_bytes());
    };
    put(SITE - 4, before);
    for (i, &w) in repl.iter().enumerate() {
        put(REPL + 4 * i as u64, w);
    }
    let len = 4 * repl.len() as u8;
    let mut table = Vec::new();
    table.extend_from_slice(&(SITE.wrapping_sub(TABLE) as i32).to_le_bytes());
    table.extend_from_slice(&(REPL.wrapping_sub(TABLE + 4) as i32).to_le_bytes());
    table.extend_from_slice(&cap.to_le_bytes());
    table.extend_from_slice(&[len, len]);
    let banner = b"Linux version 5.10.0-32-arm64 (test@example) (gcc-10) #1 SMP\n\0".to_vec();
    let sections = [
        Section { name: ".text", addr: T, flags: 6, bytes: text },
        Section { name: ".rodata", addr: RODATA, flags: 2, bytes: banner },
        Section { name: ".altinstructions", addr: TABLE, flags: 2, bytes: table },
    ];
    let symbols = [
        ("_stext", T, 0, 1, elf::NOTYPE),
        ("_etext", T + TEXT_LEN, 0, 1, elf::NOTYPE),
        ("flush_tlb_range", SITE - 0x40, 0x100, 1, elf::FUNC),
        ("__alt_instructions", TABLE, 0, 3, elf::NOTYPE),
        ("__alt_instructions_end", TABLE + 12, 0, 3, elf::NOTYPE),
    ];
    elf::build(&sections, &symbols)
}

fn verify(name: &str, elf: &[u8]) -> Output {
    let dir = std::env::temp_dir().join(format!("altcheck-5.10-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vmlinux"), elf).unwrap();
    std::fs::write(dir.join("cpucaps.h"), CPUCAPS).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_altcheck"))
        .args(["verify", "--linux"])
        .arg(dir.join("vmlinux"))
        .arg("--cpucaps")
        .arg(dir.join("cpucaps.h"))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    o
}

fn verdict(name: &str, elf: &[u8]) -> (i32, String) {
    let o = verify(name, elf);
    let err = String::from_utf8_lossy(&o.stderr);
    (o.status.code().unwrap_or(-1), format!("{}{err}", String::from_utf8_lossy(&o.stdout)))
}

/// arch/arm64/include/asm/uaccess.h (5.10), `__uaccess_disable(ARM64_ALT_PAN_NOT_UAO)`:
/// `ALTERNATIVE("nop", SET_PSTATE_PAN(1), alt)`; cpufeature.c's `cpufeature_pan_not_uao()`
/// sets ALT_PAN_NOT_UAO only where HAS_PAN is set.
#[test]
fn msr_pan_under_alt_pan_not_uao_is_gated_right_and_under_crc32_is_not() {
    let (code, out) = verdict("pan", &vmlinux(NOP, &[MSR_PAN_1, NOP], 10));
    assert_eq!(code, 0, "{out}");
    let (code, out) = verdict("pan-crc", &vmlinux(NOP, &[MSR_PAN_1, NOP], 33));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs FEAT_PAN (PSTATE.PAN) but the entry is gated on HAS_CRC32"), "{out}");
}

/// arch/arm64/include/asm/tlbflush.h (5.10), `__TLBI_1`: `tlbi op, x` then
/// `ALTERNATIVE("nop; nop", "dsb ish; tlbi op, x", ARM64_WORKAROUND_REPEAT_TLBI)`; the
/// range TLBI is repeated, not introduced, by the workaround.
#[test]
fn a_repeated_range_tlbi_under_repeat_tlbi_is_not_a_defect_unless_it_is_new() {
    let repl = [DSB_ISH, TLBI_RVAE1IS];
    let (code, out) = verdict("tlbi", &vmlinux(TLBI_RVAE1IS, &repl, 17));
    assert_eq!(code, 0, "{out}");
    // The same replacement after something else: it introduces FEAT_TLBIRANGE.
    let (code, out) = verdict("tlbi-new", &vmlinux(NOP, &repl, 17));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs FEAT_TLBIRANGE but the entry is gated on WORKAROUND_REPEAT_TLBI"), "{out}");
}

/// arch/arm64/kernel/alternative.c (5.10), `__apply_alternatives()`: `test_bit(cpufeature,
/// feature_mask)`, then `cpufeature < ARM64_CB_PATCH && !cpus_have_cap()` skips; a
/// cpufeature past ARM64_NCAPS (= ARM64_CB_PATCH, the callback marker) is not bounded.
#[test]
fn an_out_of_range_capability_in_5_10_says_what_5_10_does() {
    let (code, out) = verdict("range", &vmlinux(NOP, &[NOP, NOP], 70));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("capability 70 is out of range (ARM64_NCAPS 62): Linux 5.x does not bound it"),
        "{out}"
    );
}
