//! `altcheck verify --linux` on a small hand-built raw arm64 `Image` laid out as Linux's:
//! the Image header, text, the banner, kallsyms (6.1's order), `.rela.dyn` (absolute
//! pointers read as zero, `--no-apply-dynamic-relocs`) and an alternatives table found by
//! scanning. The whole raw-Image path without the network. The layout is written here from
//! scripts/kallsyms.c's and the linker's rules, independently of the detector.

use std::process::{Command, Output};

const BASE: u64 = 0xffff_8000_0800_0000;
const STEXT: usize = 0x1000;
const ETEXT: usize = 0x5000;
const FUNC: usize = 0x1100;
const CB: usize = 0x1400;
const REPL: usize = 0x3000;
const TABLE: usize = 0x30000;
const LDADD: u32 = 0xf820_0020;
const NOP: u32 = 0xd503_201f;
const NCAPS: u16 = 4;
const CPUCAPS: &str = "#define ARM64_ALWAYS_BOOT 0\n#define ARM64_ALWAYS_SYSTEM 1\n\
                       #define ARM64_HAS_CRC32 2\n#define ARM64_HAS_LSE_ATOMICS 3\n#define ARM64_NCAPS 4\n";

fn put(img: &mut [u8], at: usize, bytes: &[u8]) {
    img[at..at + bytes.len()].copy_from_slice(bytes);
}

fn align8(v: &mut Vec<u8>) {
    v.resize(v.len().next_multiple_of(8), 0);
}

/// kallsyms for `syms` (name with its type letter first, offset from `_stext`): offsets,
/// relative_base (zero: relocated), num_syms, names, markers, token table, token index.
/// Tokens are single characters (the token for byte `b` is `b`), which the format allows.
/// Returns the bytes and the relative_base slot's offset within them.
fn kallsyms(syms: &[(String, u32)]) -> (Vec<u8>, usize) {
    let mut v = Vec::new();
    for (_, off) in syms {
        v.extend_from_slice(&off.to_le_bytes());
    }
    align8(&mut v);
    let base_slot = v.len();
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&(syms.len() as u32).to_le_bytes());
    align8(&mut v);
    let names = v.len();
    let mut markers = Vec::new();
    for (i, (name, _)) in syms.iter().enumerate() {
        if i % 256 == 0 {
            markers.push((v.len() - names) as u32);
        }
        v.push(name.len() as u8);
        v.extend_from_slice(name.as_bytes());
    }
    align8(&mut v);
    markers.iter().for_each(|m| v.extend_from_slice(&m.to_le_bytes()));
    align8(&mut v);
    let table = v.len();
    let mut index = Vec::new();
    for b in 0..=255u8 {
        index.push((v.len() - table) as u16);
        // Non-printable bytes get a two-character token no name uses.
        if (0x21..0x7f).contains(&b) {
            v.push(b)
        } else {
            v.extend_from_slice(&[b'~', b'0' + b % 10])
        }
        v.push(0);
    }
    align8(&mut v);
    index.iter().for_each(|i| v.extend_from_slice(&i.to_le_bytes()));
    (v, base_slot)
}

/// The image with `entries` (site, target, cpufeature, orig_len, alt_len) as image offsets.
fn image(entries: &[(usize, usize, u16, u8, u8)]) -> Vec<u8> {
    let mut img = vec![0u8; 0x40000];
    put(&mut img, 0x38, b"ARM\x64");
    for at in (STEXT..ETEXT).step_by(4) {
        put(&mut img, at, &NOP.to_le_bytes());
    }
    put(&mut img, REPL, &LDADD.to_le_bytes());
    put(&mut img, 0x6000, b"Linux version 6.1.0-99-arm64 (test@example) (gcc) #1 SMP\n\0");
    let mut syms = vec![
        ("T_stext".to_string(), 0),
        ("Tfunc".into(), (FUNC - STEXT) as u32),
        ("Tthe_callback".into(), (CB - STEXT) as u32),
    ];
    // Real tables have thousands of symbols; the markers need more than 256.
    syms.extend((0..300).map(|i| (format!("tfiller_{i}"), (0x2000 + 4 * i) as u32)));
    syms.push(("D_etext".into(), (ETEXT - STEXT) as u32));
    let (ks, slot) = kallsyms(&syms);
    let ks_at = 0x8000;
    put(&mut img, ks_at, &ks);
    // .rela.dyn: kallsyms_relative_base = _stext, and 20 more pointers in a zeroed area.
    let mut rela = Vec::new();
    let mut reloc = |at: u64, value: u64| {
        rela.extend_from_slice(&at.to_le_bytes());
        rela.extend_from_slice(&1027u64.to_le_bytes());
        rela.extend_from_slice(&value.to_le_bytes());
    };
    reloc(BASE + (ks_at + slot) as u64, BASE + STEXT as u64);
    (0..20).for_each(|i| reloc(BASE + 0x2_8000 + 8 * i, BASE + STEXT as u64));
    put(&mut img, 0x2_0000, &rela);
    for (i, &(site, target, f, ol, al)) in entries.iter().enumerate() {
        let at = TABLE + 12 * i;
        put(&mut img, at, &((site as i64 - at as i64) as i32).to_le_bytes());
        put(&mut img, at + 4, &((target as i64 - at as i64 - 4) as i32).to_le_bytes());
        put(&mut img, at + 8, &f.to_le_bytes());
        put(&mut img, at + 10, &[ol, al]);
    }
    img
}

fn verify(name: &str, entries: &[(usize, usize, u16, u8, u8)]) -> Output {
    let dir = std::env::temp_dir().join(format!("altcheck-raw-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Image"), image(entries)).unwrap();
    std::fs::write(dir.join("cpucaps.h"), CPUCAPS).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_altcheck"))
        .args(["verify", "--linux"])
        .arg(dir.join("Image"))
        .arg("--cpucaps")
        .arg(dir.join("cpucaps.h"))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    o
}

fn clean() -> Vec<(usize, usize, u16, u8, u8)> {
    vec![(FUNC, REPL, 3, 4, 4), (FUNC + 4, CB, 0x8000 | 1, 4, 0), (FUNC + 8, REPL + 8, 2, 4, 4)]
}

#[test]
fn a_raw_image_is_read_through_its_kallsyms_relocations_and_scanned_table() {
    let o = verify("clean", &clean());
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(
        out,
        "altcheck: linux 6.1.0-99-arm64: 3 entries (1 callbacks) in the kernel, 0 entries in 0 modules, 0 defects\n"
    );
    assert!(err.contains("arm64 Image, symbols from kallsyms"), "{err}");
    assert!(
        err.contains(&format!(
            "table {:#x}..{:#x} (found by scan)",
            BASE + TABLE as u64,
            BASE + TABLE as u64 + 36
        )),
        "{err}"
    );
}

#[test]
fn defects_in_a_raw_image_are_named_by_kallsyms() {
    let mut entries = clean();
    entries[0].2 = NCAPS + 1;
    entries[1].1 = CB + 4;
    let o = verify("defects", &entries);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(
            "vmlinux entry 0: site func+0x0, cap 5 (?), orig_len 4, alt_len 4: capability 5 is out of range"
        ),
        "{out}"
    );
    assert!(
        lines[1].starts_with("vmlinux entry 1: site func+0x4, cap 1 (ALWAYS_SYSTEM)")
            && lines[1].contains("the_callback+0x4 is not the start"),
        "{out}"
    );
    assert!(lines[2].ends_with(", 2 defects"), "{out}");
}
