//! `altcheck verify --linux` on small hand-built ELF vmlinux images: a clean table passes,
//! each defect kind is named with its entry, exit statuses and both output formats.

mod elf;

use std::path::PathBuf;
use std::process::{Command, Output};

use elf::Section;

const T: u64 = 0xffff_8000_0801_0000;
const TEXT_LEN: u64 = 0x11000;
const RODATA: u64 = T + 0x20000;
const TABLE: u64 = T + 0x21000;
/// Replacements live in the text (Linux puts them in `.subsection 1` of the same section).
const REPL: u64 = T + 0x9000;
const FUNC: u64 = T + 0x100;
const CB: u64 = T + 0x400;
const NOP: u32 = 0xd503_201f;
const LDADD: u32 = 0xf820_0020; // ldadd x0, x0, [x1]
const ADR: u32 = 0x1000_0000; // adr x0, .
const TBZ_7000: u32 = 0x3603_8000; // tbz w0, #0, .+0x7000

const CPUCAPS: &str = "#define ARM64_ALWAYS_BOOT 0\n#define ARM64_ALWAYS_SYSTEM 1\n\
                       #define ARM64_HAS_CRC32 2\n#define ARM64_HAS_LSE_ATOMICS 3\n#define ARM64_NCAPS 4\n";
const CRC32: u16 = 2;
const LSE: u16 = 3;
const CB_BIT: u16 = 0x8000;

/// (site, target, cpufeature, orig_len, alt_len)
type Entry = (u64, u64, u16, u8, u8);

/// The clean table: an LSE replacement, a callback, an 8-byte CRC32 replacement.
fn clean() -> Vec<Entry> {
    vec![(FUNC, REPL, LSE, 4, 4), (FUNC + 4, CB, CB_BIT | 1, 4, 0), (FUNC + 8, REPL + 0x10, CRC32, 8, 8)]
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// An ELF vmlinux with `entries` and the Linux banner of `release`.
fn vmlinux(entries: &[Entry], release: &str) -> Vec<u8> {
    let mut text = words(&vec![NOP; (TEXT_LEN / 4) as usize]);
    let mut put = |at: u64, w: u32| {
        let o = (at - T) as usize;
        text[o..o + 4].copy_from_slice(&w.to_le_bytes());
    };
    put(REPL, LDADD);
    put(REPL + 0x20, ADR);
    put(REPL + 0x30, TBZ_7000);
    let table: Vec<u8> = entries
        .iter()
        .enumerate()
        .flat_map(|(i, &(site, target, f, ol, al))| {
            let at = TABLE + 12 * i as u64;
            let mut b = Vec::new();
            b.extend_from_slice(&(site.wrapping_sub(at) as i32).to_le_bytes());
            b.extend_from_slice(&(target.wrapping_sub(at + 4) as i32).to_le_bytes());
            b.extend_from_slice(&f.to_le_bytes());
            b.extend_from_slice(&[ol, al]);
            b
        })
        .collect();
    let end = TABLE + table.len() as u64;
    let banner = format!("Linux version {release} (test@example) (gcc) #1 SMP\n\0").into_bytes();
    let sections = [
        Section { name: ".text", addr: T, flags: 6, bytes: text },
        Section { name: ".rodata", addr: RODATA, flags: 2, bytes: banner },
        Section { name: ".altinstructions", addr: TABLE, flags: 2, bytes: table },
    ];
    let symbols = [
        ("_stext", T, 0, 1, elf::NOTYPE),
        ("_etext", T + TEXT_LEN, 0, 1, elf::NOTYPE),
        ("func", FUNC, 0x100, 1, elf::FUNC),
        ("the_callback", CB, 0x40, 1, elf::FUNC),
        ("func_with_replacements", REPL - 0x100, 0x200, 1, elf::FUNC),
        ("__alt_instructions", TABLE, 0, 3, elf::NOTYPE),
        ("__alt_instructions_end", end, 0, 3, elf::NOTYPE),
    ];
    elf::build(&sections, &symbols)
}

#[test]
fn a_system_map_names_the_symbols() {
    // A real System.map (nm of vmlinux) holds every symbol, the table's too.
    let map = format!(
        "{T:016x} T _stext\n{:016x} T _etext\n{FUNC:016x} T mapped_func\n{CB:016x} T mapped_cb\n\
         {TABLE:016x} D __alt_instructions\n{:016x} D __alt_instructions_end\n",
        T + TEXT_LEN,
        TABLE + 36
    );
    let mut entries = clean();
    entries[0].2 = 9;
    let o = verify_with("map", &entries, "6.1.0-57-arm64", &[], Some(&map));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).lines().nth(1).unwrap().starts_with("vmlinux entry 0: site mapped_func+0x0, cap 9 (?)"),
        "{}",
        stdout(&o)
    );
    let o = verify_with(
        "map-stub",
        &entries,
        "6.1.0-57-arm64",
        &[],
        Some("ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Debian ships a stub"));
}

/// Runs `altcheck verify --linux` on `entries` (plus `args`); a fresh directory per call.
fn verify(name: &str, entries: &[Entry], release: &str, args: &[&str]) -> Output {
    verify_with(name, entries, release, args, None)
}

/// [`verify`] with a System.map when `map` is given.
fn verify_with(name: &str, entries: &[Entry], release: &str, args: &[&str], map: Option<&str>) -> Output {
    run(name, &["verify"], entries, release, args, map)
}

/// `altcheck COMMAND --linux IMAGE --cpucaps FILE [--system-map FILE] ARGS` on `entries`.
fn run(
    name: &str,
    command: &[&str],
    entries: &[Entry],
    release: &str,
    args: &[&str],
    map: Option<&str>,
) -> Output {
    let dir = std::env::temp_dir().join(format!("altcheck-linux-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image: PathBuf = dir.join("vmlinux");
    let caps = dir.join("cpucaps.h");
    std::fs::write(&image, vmlinux(entries, release)).unwrap();
    std::fs::write(&caps, CPUCAPS).unwrap();
    let map_path = dir.join("System.map");
    let map_args = match map {
        Some(text) => {
            std::fs::write(&map_path, text).unwrap();
            vec!["--system-map", map_path.to_str().unwrap()]
        }
        None => vec![],
    };
    let o = Command::new(env!("CARGO_BIN_EXE_altcheck"))
        .args(command)
        .args(["--linux", image.to_str().unwrap(), "--cpucaps", caps.to_str().unwrap()])
        .args(&map_args)
        .args(args)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The clean table with entry `i` replaced by `e`: exit 1, and a line for entry `i` holding
/// `reason`.
fn assert_named(name: &str, i: usize, e: Entry, reason: &str) {
    let mut entries = clean();
    entries[i] = e;
    let o = verify(name, &entries, "6.1.0-57-arm64", &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{name}: {out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.lines().any(|l| l.starts_with(&format!("vmlinux entry {i}: ")) && l.contains(reason)),
        "{name}: {out}"
    );
}

#[test]
fn a_clean_table_verifies_with_the_bounds_first_and_the_summary_last() {
    let o = verify("clean", &clean(), "6.1.0-57-arm64", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        stdout(&o),
        format!(
            "table {TABLE:#x}..{:#x} (from symbols)\n\
             altcheck: linux 6.1.0-57-arm64: 3 entries (1 callbacks) in the kernel, 0 entries in 0 modules, 0 defects\n",
            TABLE + 36
        )
    );
}

#[test]
fn each_defect_kind_is_named() {
    assert_named(
        "cap",
        0,
        (FUNC, REPL, 9, 4, 4),
        "capability 9 is out of range (ARM64_NCAPS 4): Linux would silently never apply it",
    );
    assert_named("length", 0, (FUNC, REPL, LSE, 4, 8), "alt_len 8 != orig_len 4");
    assert_named("partial", 0, (FUNC, REPL, LSE, 6, 6), "orig_len 6 is not a whole number of instructions");
    assert_named("cb-len", 1, (FUNC + 4, CB, CB_BIT | 1, 4, 4), "a callback entry with alt_len 4");
    assert_named(
        "cb-target",
        1,
        (FUNC + 4, CB + 4, CB_BIT | 1, 4, 0),
        "callback the_callback+0x4 is not the start of a function",
    );
    assert_named("site", 0, (RODATA, REPL, LSE, 4, 4), "the site is not inside the text");
    assert_named("repl", 0, (FUNC, RODATA, LSE, 4, 4), "is not inside the text");
    assert_named(
        "adr",
        0,
        (FUNC, REPL + 0x20, LSE, 4, 4),
        "Linux BUG()s in get_alt_insn() on ADR and literal loads",
    );
    assert_named("reach", 0, (FUNC, REPL + 0x30, LSE, 4, 4), "cannot reach");
    assert_named(
        "gating",
        0,
        (FUNC, REPL, CRC32, 4, 4),
        "needs FEAT_LSE atomics but the entry is gated on HAS_CRC32",
    );
    assert_named("overlap", 2, (FUNC, REPL + 0x10, CRC32, 8, 8), "overlaps entry");
}

#[test]
fn before_6_1_a_callback_is_the_ncaps_sentinel() {
    // Linux 5.x marks a callback with cpufeature == ARM64_NCAPS; 6.1 reads the same entry as
    // capability 4, out of range.
    let entries = vec![(FUNC, REPL, LSE, 4, 4), (FUNC + 4, CB, 4, 4, 0)];
    let old = verify("sentinel-old", &entries, "5.10.0-30-arm64", &[]);
    assert_eq!(old.status.code(), Some(0), "{}", stdout(&old));
    assert!(stdout(&old).contains("2 entries (1 callbacks)"));
    let new = verify("sentinel-new", &entries, "6.1.0-57-arm64", &[]);
    assert_eq!(new.status.code(), Some(1));
    assert!(stdout(&new).contains("capability 4 is out of range"));
}

#[test]
fn json_output_is_one_object_per_defect_then_the_summary() {
    let mut entries = clean();
    entries[0].2 = 9;
    let o = verify("json", &entries, "6.1.0-57-arm64", &["--format", "json"]);
    let lines: Vec<serde_json::Value> =
        stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(o.status.code(), Some(1));
    let (table, lines) = lines.split_first().unwrap();
    assert_eq!((table["type"].as_str(), table["entries"].as_u64()), (Some("table"), Some(3)));
    assert_eq!(table["how"], "from symbols");
    let (last, defects) = lines.split_last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(
        (last["release"].as_str(), last["defects"].as_u64()),
        (Some("6.1.0-57-arm64"), Some(defects.len() as u64))
    );
    assert!(defects.iter().all(|d| d["type"] == "defect" && d["space"] == "vmlinux"));
    assert_eq!((defects[0]["index"].as_u64(), defects[0]["cap"].as_u64()), (Some(0), Some(9)));
}

#[test]
fn unusable_input_exits_2_with_a_message() {
    let o = Command::new(env!("CARGO_BIN_EXE_altcheck"))
        .args(["verify", "--linux", "/nonexistent/vmlinuz"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read /nonexistent/vmlinuz"));
    let dir = std::env::temp_dir().join(format!("altcheck-linux-garbage-{}", std::process::id()));
    std::fs::write(&dir, b"not a kernel at all").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_altcheck"))
        .args(["verify", "--linux", dir.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an arm64 kernel image"));
}

#[test]
fn simulate_patches_the_entries_of_the_capabilities_given() {
    let o = run("sim", &["simulate", "--caps", "HAS_LSE_ATOMICS"], &clean(), "6.1.0-57-arm64", &[], None);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        lines[..4],
        [
            "vmlinux entry 0: HAS_LSE_ATOMICS at func+0x0: patched",
            "vmlinux entry 1: ALWAYS_SYSTEM at func+0x4: not patched",
            "vmlinux entry 2: HAS_CRC32 at func+0x8: not patched",
            "vmlinux: 1 patched, 2 skipped of 3 entries",
        ]
    );
    // Before 6.1 the callback is the NCAPS sentinel and always runs.
    let old = vec![(FUNC, REPL, LSE, 4, 4), (FUNC + 4, CB, 4, 4, 0)];
    let o = run("sim-old", &["simulate", "--caps", "HAS_CRC32"], &old, "5.10.0-30-arm64", &[], None);
    assert!(
        stdout(&o).contains("vmlinux entry 1: #4 at func+0x4: callback the_callback+0x0\n"),
        "{}",
        stdout(&o)
    );
}
