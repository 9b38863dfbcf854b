//! `altcheck verify --linux` on a small hand-built raw arm64 `Image` laid out as Linux 6.1's
//! (arch/arm64/kernel/vmlinux.lds.S, efi-header.S, alternative.c): the EFI stub's PE header
//! whose `.data` section starts at `__initdata_begin`, text, `.rodata.text` code pages before
//! the (zero) page tables, init text, exit text, the alternatives table followed by the
//! zero padding up to `__initdata_begin`, the banner, kallsyms (6.1's order, without
//! `__alt_instructions`: no CONFIG_KALLSYMS_ALL), `apply_boot_alternatives()` passing the
//! static `kernel_alternatives` whose two pointers `.rela.dyn` relocates (absolute pointers
//! read as zero, `--no-apply-dynamic-relocs`). The whole raw-Image path without the network;
//! the layout is written here from those files' rules, independently of the checker.

use std::process::{Command, Output};

const BASE: u64 = 0xffff_8000_0800_0000;
const STEXT: usize = 0x1000;
const ETEXT: usize = 0x5000;
const FUNC: usize = 0x1100;
const CB: usize = 0x1400;
const APPLY: usize = 0x1800;
const REPL: usize = 0x3000;
const KERNEL_ALTERNATIVES: usize = 0x6100;
/// `.rodata.text`: one page of code (the trampoline's, hibernate's, kexec's), then the page
/// tables (zeros) up to the init text.
const RODATA_TEXT: usize = 0x2a000;
const SINITTEXT: usize = 0x2c000;
const EINITTEXT: usize = 0x2e000;
const TABLE: usize = 0x2e100;
const INITDATA: usize = 0x30000;
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

/// kallsyms for `syms` (name with its type letter first, offset from `_text`): offsets,
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

/// The EFI stub's header (efi-header.S): `MZ`, `e_lfanew` at 0x3c, the PE signature and two
/// sections, `.text` and `.data` (virtual address `__initdata_begin - _head`).
fn pe_header(img: &mut [u8]) {
    put(img, 0, b"MZ");
    put(img, 0x3c, &0x40u32.to_le_bytes());
    put(img, 0x40, b"PE\0\0");
    put(img, 0x46, &2u16.to_le_bytes());
    put(img, 0x54, &0xa0u16.to_le_bytes());
    let t = 0x40 + 24 + 0xa0;
    put(img, t, b".text\0\0\0");
    put(img, t + 12, &(STEXT as u32).to_le_bytes());
    put(img, t + 40, b".data\0\0\0");
    put(img, t + 52, &(INITDATA as u32).to_le_bytes());
}

/// ADRP Xd, target; ADD Xd, Xd, :lo12:target at `pc` (Arm ARM C6.2.10, C6.2.4).
fn adrp_add(img: &mut [u8], pc: usize, rd: u32, target: usize) {
    let pages = ((BASE as usize + target) >> 12) as i64 - ((BASE as usize + pc) >> 12) as i64;
    let imm = pages as u32;
    let adrp = 0x9000_0000 | (imm & 3) << 29 | ((imm >> 2) & 0x7_ffff) << 5 | rd;
    let add = 0x9100_0000 | ((target & 0xfff) as u32) << 10 | rd << 5 | rd;
    put(img, pc, &adrp.to_le_bytes());
    put(img, pc + 4, &add.to_le_bytes());
}

/// An entry (site, target, cpufeature, orig_len, alt_len), image offsets.
type Entry = (usize, usize, u16, u8, u8);

/// The image with `entries`.
fn image(entries: &[Entry]) -> Vec<u8> {
    let mut img = vec![0u8; 0x40000];
    pe_header(&mut img);
    put(&mut img, 0x38, b"ARM\x64");
    for at in (STEXT..ETEXT).step_by(4) {
        put(&mut img, at, &NOP.to_le_bytes());
    }
    put(&mut img, REPL, &LDADD.to_le_bytes());
    // apply_boot_alternatives(): __apply_alternatives(&kernel_alternatives, ...).
    adrp_add(&mut img, APPLY + 4, 0, KERNEL_ALTERNATIVES);
    put(&mut img, APPLY + 12, &0xd65f_03c0u32.to_le_bytes());
    put(&mut img, 0x6000, b"Linux version 6.1.0-99-arm64 (test@example) (gcc) #1 SMP\n\0");
    // .rodata.text: a page of code; what precedes it is data (the rodata above).
    for at in (RODATA_TEXT..RODATA_TEXT + 0x100).step_by(4) {
        put(&mut img, at, &NOP.to_le_bytes());
    }
    put(&mut img, RODATA_TEXT - 0x100, &b"some read-only data, strings ".repeat(8));
    for at in (SINITTEXT..EINITTEXT + 0x40).step_by(4) {
        put(&mut img, at, &NOP.to_le_bytes());
    }
    let mut syms = vec![
        ("T_text".to_string(), 0),
        ("T_stext".to_string(), STEXT as u32),
        ("Tfunc".into(), FUNC as u32),
        ("Tthe_callback".into(), CB as u32),
        ("tapply_boot_alternatives".into(), APPLY as u32),
    ];
    // Real tables have thousands of symbols; the markers need more than 256.
    syms.extend((0..300).map(|i| (format!("tfiller_{i}"), (0x2000 + 4 * i) as u32)));
    syms.push(("D_etext".into(), ETEXT as u32));
    syms.push(("T_sinittext".into(), SINITTEXT as u32));
    syms.push(("T_einittext".into(), EINITTEXT as u32));
    let (ks, slot) = kallsyms(&syms);
    let ks_at = 0x8000;
    put(&mut img, ks_at, &ks);
    // .rela.dyn: kallsyms_relative_base = _text, kernel_alternatives' two pointers, and
    // 20 more pointers in a zeroed area.
    let table_end = TABLE + 12 * entries.len();
    let mut rela = Vec::new();
    let mut reloc = |at: usize, value: usize| {
        rela.extend_from_slice(&(BASE + at as u64).to_le_bytes());
        rela.extend_from_slice(&1027u64.to_le_bytes());
        rela.extend_from_slice(&(BASE + value as u64).to_le_bytes());
    };
    reloc(ks_at + slot, 0);
    reloc(KERNEL_ALTERNATIVES, TABLE);
    reloc(KERNEL_ALTERNATIVES + 8, table_end);
    (0..20).for_each(|i| reloc(0x2_8000 + 8 * i, STEXT));
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

fn verify(name: &str, img: &[u8]) -> Output {
    let dir = std::env::temp_dir().join(format!("altcheck-raw-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Image"), img).unwrap();
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

/// Seven entries: an LSE replacement, a callback, a CRC32 one, one in `.rodata.text`, and
/// three more.
fn clean() -> Vec<Entry> {
    vec![
        (FUNC, REPL, 3, 4, 4),
        (FUNC + 4, CB, 0x8000 | 1, 4, 0),
        (FUNC + 8, REPL + 8, 2, 4, 4),
        (RODATA_TEXT + 0x10, RODATA_TEXT + 0x80, 2, 4, 4),
        (FUNC + 12, REPL + 8, 2, 4, 4),
        (FUNC + 16, CB, 0x8000 | 1, 4, 0),
        (SINITTEXT + 8, CB, 0x8000 | 1, 4, 0),
    ]
}

fn table_line(n: usize) -> String {
    format!(
        "table {:#x}..{:#x} (from layout: the alt_region apply_boot_alternatives() passes (the padding before __initdata_begin agrees))",
        BASE + TABLE as u64,
        BASE + (TABLE + 12 * n) as u64
    )
}

#[test]
fn a_raw_image_is_bounded_by_its_layout_and_read_through_kallsyms_and_relocations() {
    let o = verify("clean", &image(&clean()));
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(
        out,
        format!(
            "{}\naltcheck: linux 6.1.0-99-arm64: 7 entries (3 callbacks) in the kernel, 0 entries in 0 modules, 0 defects\n",
            table_line(7)
        )
    );
    assert!(err.contains("arm64 Image, symbols from kallsyms, relocations from .rela.dyn"), "{err}");
    assert!(
        err.contains(&format!(
            "{:#x}..{:#x} .rodata.text (layout: the code pages before the page tables)",
            BASE + RODATA_TEXT as u64,
            BASE + RODATA_TEXT as u64 + 0x100
        )),
        "{err}"
    );
}

#[test]
fn defects_in_a_raw_image_are_named_by_kallsyms() {
    let mut entries = clean();
    entries[0].2 = NCAPS + 1;
    entries[1].1 = CB + 4;
    let o = verify("defects", &image(&entries));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], table_line(7));
    assert!(
        lines[1].starts_with(
            "vmlinux entry 0: site func+0x0, cap 5 (?), orig_len 4, alt_len 4: capability 5 is out of range"
        ),
        "{out}"
    );
    assert!(
        lines[2].starts_with("vmlinux entry 1: site func+0x4, cap 1 (ALWAYS_SYSTEM)")
            && lines[2].contains("the_callback+0x4 is not the start"),
        "{out}"
    );
    assert!(
        lines[3].ends_with("7 entries (3 callbacks) in the kernel, 0 entries in 0 modules, 2 defects"),
        "{out}"
    );
}

#[test]
fn a_site_moved_out_of_the_text_is_named_by_its_index_and_the_table_keeps_its_size() {
    for (i, to) in [(0, 0x6000), (3, 0x6040), (4, RODATA_TEXT - 0x80), (6, 0x3_8000)] {
        let mut entries = clean();
        entries[i].0 = to;
        let o = verify(&format!("moved-{i}"), &image(&entries));
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], table_line(7), "entry {i}");
        assert!(
            lines[1].starts_with(&format!("vmlinux entry {i}: "))
                && lines[1]
                    .ends_with("the site is not inside the text: Linux would patch whatever lies there"),
            "{out}"
        );
        assert!(lines.last().unwrap().contains(": 7 entries (3 callbacks) in the kernel"), "{out}");
    }
}

#[test]
fn an_entry_in_the_rodata_text_code_pages_is_code_and_one_beside_them_is_not() {
    // The replacement moved from the .rodata.text page to the zeros after it.
    let mut entries = clean();
    entries[3].1 = RODATA_TEXT + 0x1000;
    let o = verify("rodata-text", &image(&entries));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("vmlinux entry 3: "), "{out}");
    assert!(out.contains("is not inside the text"), "{out}");
}

#[test]
fn data_between_the_table_and_initdata_contradicts_the_alt_region() {
    let mut img = image(&clean());
    put(&mut img, INITDATA - 0x20, b"not padding");
    let o = verify("padding", &img);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("the table's bounds disagree"), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// The raw image with bytes overwritten anywhere (headers, kallsyms, relocations, the
    /// table, the alt_region) and cut anywhere is refused with a message or checked: never a
    /// panic, whatever the mutation reaches.
    #[test]
    fn mutated_raw_images_are_refused_or_checked_never_a_panic(
        writes in proptest::collection::vec((0usize..0x40000, proptest::prelude::any::<u64>()), 1..6),
        cut in 0x100usize..0x40000,
    ) {
        use altcheck::linux::analysis::{self, Inputs};
        let mut img = image(&clean());
        for (at, value) in writes {
            let end = (at + 8).min(img.len());
            img[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        img.truncate(cut);
        let dir = std::env::temp_dir().join(format!("altcheck-raw-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Image"), &img).unwrap();
        std::fs::write(dir.join("cpucaps.h"), CPUCAPS).unwrap();
        let inputs = Inputs { image: dir.join("Image"), cpucaps: Some(dir.join("cpucaps.h")), ..Inputs::default() };
        if let Ok(a) = analysis::load(&inputs) {
            let d = a.defects();
            let _ = a.summary(d.len());
        }
    }
}
