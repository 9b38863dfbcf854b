//! `altcheck` on the REAL kernel image (issue 4): every defect kind, made by corrupting one
//! entry of the built kernel's `.altinstructions`, is named by `altcheck verify`; `simulate`
//! patches what each QEMU model's capabilities say.
//!
//! The image is the ELF named by `ALTPATCH_KERNEL_ELF` (`scripts/test` sets it to the
//! output of `scripts/build`). Unset, the tests build the kernel themselves (once, into
//! `target/altcheck-kernel`, with cargo for the bare-metal target) and say so; a build that
//! fails fails the tests: they never pass without an image to check.
//!
//! The tests read the table with their own decoder (docs/boot-log.md, "Alternatives entry") and
//! name functions from the ELF symbol table themselves, so that the expectations do not come
//! from the code under test.

use std::path::PathBuf;
use std::process::{Command, Output};

use arm64_caps::caps;
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

const ENV: &str = "ALTPATCH_KERNEL_ELF";

/// The kernel image: `ALTPATCH_KERNEL_ELF`, or one this test binary builds. `Some` always;
/// the `Option` keeps the tests' early-return shape.
fn kernel(test: &str) -> Option<Vec<u8>> {
    let path = match std::env::var_os(ENV) {
        Some(path) => PathBuf::from(path),
        None => built_kernel(test).clone(),
    };
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{ENV}={path:?}: {e}")))
}

/// Builds the kernel once per test binary, in a target directory of its own (so it never
/// waits on the cargo running these tests), and returns its path.
fn built_kernel(test: &str) -> &'static PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target_dir = root.join("target/altcheck-kernel");
        eprintln!("{test}: {ENV} is unset: building the kernel into {}", target_dir.display());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--release", "-p", "altpatch", "--target", "aarch64-unknown-none-softfloat"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo to build the kernel: {e}"));
        assert!(status.success(), "building the kernel for these tests failed ({status})");
        target_dir.join("aarch64-unknown-none-softfloat/release/altpatch")
    })
}

/// One decoded entry, as docs/boot-log.md lays it out (16 bytes, little endian).
#[derive(Clone, Copy, Debug)]
struct Entry {
    index: usize,
    /// File offset of the entry.
    offset: usize,
    /// Address of the entry.
    addr: u64,
    site: u64,
    alt: u64,
    cap: u16,
    orig_len: u8,
    alt_len: u8,
    fingerprint: u32,
}

impl Entry {
    const CALLBACK: u16 = 1 << 15;

    fn is_callback(&self) -> bool {
        self.cap & Self::CALLBACK != 0
    }

    fn cap_index(&self) -> u16 {
        self.cap & !Self::CALLBACK
    }

    /// The entry at `at`'s place (index, file offset, address) in the file bytes.
    fn load(elf: &[u8], at: &Entry) -> Self {
        let b = &elf[at.offset..at.offset + 16];
        let le32 = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        Entry {
            site: at.addr.wrapping_add_signed(i64::from(le32(0) as i32)),
            alt: (at.addr + 4).wrapping_add_signed(i64::from(le32(4) as i32)),
            cap: u16::from_le_bytes([b[8], b[9]]),
            orig_len: b[10],
            alt_len: b[11],
            fingerprint: le32(12),
            ..*at
        }
    }

    /// Writes the entry back into the file bytes at its own offset.
    fn store(&self, elf: &mut [u8]) {
        let rel = |target: u64, field: u64| i32::try_from(target.wrapping_sub(field) as i64).unwrap();
        let b = &mut elf[self.offset..self.offset + 16];
        b[0..4].copy_from_slice(&rel(self.site, self.addr).to_le_bytes());
        b[4..8].copy_from_slice(&rel(self.alt, self.addr + 4).to_le_bytes());
        b[8..10].copy_from_slice(&self.cap.to_le_bytes());
        b[10] = self.orig_len;
        b[11] = self.alt_len;
        b[12..16].copy_from_slice(&self.fingerprint.to_le_bytes());
    }
}

/// What the tests know about the image.
struct Kernel {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// `.text`: [start, end).
    text: (u64, u64),
    /// `.altinstr_replacement`: [start, end) and its file offset.
    repl: (u64, u64, usize),
    /// Sized functions: (address, size, demangled name without hash).
    functions: Vec<(u64, u64, String)>,
}

impl Kernel {
    fn read(bytes: Vec<u8>) -> Self {
        let file = object::File::parse(&*bytes).unwrap();
        let sec = |name: &str| file.section_by_name(name).unwrap_or_else(|| panic!("no {name}"));
        let table = sec(".altinstructions");
        let (tab_off, tab_size) = table.file_range().unwrap();
        assert_eq!(tab_size % 16, 0, "table of whole entries");
        let entries = (0..tab_size as usize / 16)
            .map(|index| {
                let at = Entry {
                    index,
                    offset: tab_off as usize + 16 * index,
                    addr: table.address() + 16 * index as u64,
                    site: 0,
                    alt: 0,
                    cap: 0,
                    orig_len: 0,
                    alt_len: 0,
                    fingerprint: 0,
                };
                Entry::load(&bytes, &at)
            })
            .collect();
        let text = sec(".text");
        let repl = sec(".altinstr_replacement");
        let functions = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.size() != 0)
            .map(|s| (s.address(), s.size(), format!("{:#}", rustc_demangle::demangle(s.name().unwrap()))))
            .collect();
        Kernel {
            entries,
            text: (text.address(), text.address() + text.size()),
            repl: (repl.address(), repl.address() + repl.size(), repl.file_range().unwrap().0 as usize),
            functions,
            bytes,
        }
    }

    /// `name+0xoff` of the function containing `addr`.
    fn function_at(&self, addr: u64) -> String {
        let (start, _, name) = self
            .functions
            .iter()
            .find(|f| (f.0..f.0 + f.1).contains(&addr))
            .unwrap_or_else(|| panic!("no function at {addr:#x}"));
        format!("{name}+{:#x}", addr - start)
    }

    /// Entries whose capability is `ident`.
    fn with_cap(&self, ident: &str) -> Vec<Entry> {
        let cap = caps::LIST.index_of(ident).unwrap();
        self.entries.iter().filter(|e| e.cap_index() == cap).copied().collect()
    }

    /// Replacement (not callback) entries.
    fn replacements(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| !e.is_callback())
    }

    /// True when no site other than `e`'s meets `[lo, hi)`.
    fn no_other_site_in(&self, e: &Entry, lo: u64, hi: u64) -> bool {
        self.entries
            .iter()
            .all(|o| o.index == e.index || o.site + u64::from(o.orig_len) <= lo || o.site >= hi)
    }
}

/// Runs the real `altcheck` binary on `bytes` (written to a file of its own).
fn altcheck(name: &str, args: &[&str], bytes: &[u8]) -> Output {
    let path: PathBuf = std::env::temp_dir().join(format!("altcheck-{}-{name}.elf", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_altcheck")).args(args).arg(&path).output().expect("altcheck runs");
    std::fs::remove_file(&path).unwrap();
    out
}

/// The `alternatives: bad entry N` lines of a report: (N, reasons), the reasons being the
/// text after the fingerprints (`... (kernel 0x........): `).
fn bad_entries(stdout: &str) -> Vec<(usize, String, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("alternatives: bad entry ")?;
            let (n, _) = rest.split_once(':')?;
            let after_fp = &l[l.find("(kernel 0x").expect("both fingerprints named")..];
            let (_, reasons) = after_fp.split_once("): ").expect("reasons follow the fingerprints");
            Some((n.parse().unwrap(), reasons.to_owned(), l.to_owned()))
        })
        .collect()
}

/// Corrupts a copy of the image with `corrupt`, runs `altcheck verify` and checks that it
/// exits 1 with exactly one report line, for entry `index`, whose reasons `check` accepts.
fn assert_only_entry_named(
    k: &Kernel,
    name: &str,
    index: usize,
    corrupt: impl FnOnce(&mut Vec<u8>),
    check: impl FnOnce(&str),
) {
    let mut bytes = k.bytes.clone();
    corrupt(&mut bytes);
    let out = altcheck(name, &["verify"], &bytes);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{name}: {stdout}");
    let bad = bad_entries(&stdout);
    assert_eq!(bad.len(), 1, "{name}: exactly one bad entry expected:\n{stdout}");
    assert_eq!(bad[0].0, index, "{name}: {stdout}");
    let site = Entry::load(&bytes, &k.entries[index]).site;
    assert!(bad[0].2.contains(&format!(": site {site:#x}")), "{name}: {stdout}");
    check(&bad[0].1);
}

/// As [`assert_only_entry_named`], with `entry` rewritten by `change` and exactly `reason`.
fn assert_named(k: &Kernel, name: &str, entry: Entry, change: impl FnOnce(&mut Entry), reason: &str) {
    let mut e = entry;
    change(&mut e);
    assert_only_entry_named(k, name, entry.index, |b| e.store(b), |r| assert_eq!(r, reason, "{name}"));
}

macro_rules! real_kernel {
    ($test:ident) => {{
        let Some(bytes) = kernel(stringify!($test)) else { return };
        Kernel::read(bytes)
    }};
}

#[test]
fn real_kernel_unmodified_image_verifies_clean() {
    let k = real_kernel!(real_kernel_unmodified_image_verifies_clean);
    assert!(!k.entries.is_empty());
    let out = altcheck("clean", &["verify"], &k.bytes);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty());
}

#[test]
fn real_kernel_entry_with_cap_out_of_range_is_named() {
    let k = real_kernel!(real_kernel_entry_with_cap_out_of_range_is_named);
    let n = caps::LIST.ncaps(); // the first index that names nothing
    let e = *k.replacements().next().unwrap();
    let reason = format!("capability {n} is out of range (NCAPS {n})");
    assert_named(&k, "cap", e, |e| e.cap = n, &reason);
}

#[test]
fn real_kernel_entry_with_orig_len_unlike_alt_len_is_named() {
    let k = real_kernel!(real_kernel_entry_with_orig_len_unlike_alt_len_is_named);
    // Shrinking alt_len keeps the replacement inside its section.
    let e = *k.replacements().find(|e| e.orig_len >= 8).expect("an entry of two or more instructions");
    assert_named(&k, "lenmismatch", e, |e| e.alt_len -= 4, "orig_len differs from alt_len");
}

#[test]
fn real_kernel_entry_with_length_not_whole_instructions_is_named() {
    let k = real_kernel!(real_kernel_entry_with_length_not_whole_instructions_is_named);
    let e = *k.replacements().next().unwrap();
    let shorten = |e: &mut Entry| {
        e.orig_len -= 2;
        e.alt_len -= 2;
    };
    assert_named(&k, "lenwords", e, shorten, "length is not a multiple of 4");
}

#[test]
fn real_kernel_entry_with_zero_length_is_named() {
    let k = real_kernel!(real_kernel_entry_with_zero_length_is_named);
    let e = *k.replacements().next().unwrap();
    let zero = |e: &mut Entry| {
        e.orig_len = 0;
        e.alt_len = 0;
    };
    assert_named(&k, "lenzero", e, zero, "orig_len is 0");
}

#[test]
fn real_kernel_entry_with_site_outside_text_is_named() {
    let k = real_kernel!(real_kernel_entry_with_site_outside_text_is_named);
    let e = *k.replacements().next().unwrap();
    // The first byte after .text (in .rodata): aligned, overlapping nothing.
    let end = k.text.1;
    assert_named(&k, "siteoutside", e, |e| e.site = end, "site is outside the kernel text");
}

#[test]
fn real_kernel_entry_with_misaligned_site_is_named() {
    let k = real_kernel!(real_kernel_entry_with_misaligned_site_is_named);
    let e = *k
        .replacements()
        .find(|e| k.no_other_site_in(e, e.site, e.site + u64::from(e.orig_len) + 2))
        .expect("a site with room after it");
    let mut moved = e;
    moved.site += 2;
    // A branch in the replacement then also fails to relocate (its offset from a misaligned
    // site is not a multiple of 4), a second reason after the first.
    let check = |r: &str| {
        assert!(
            r == "site is not 4-byte aligned"
                || r.starts_with("site is not 4-byte aligned; cannot move replacement: "),
            "{r}"
        );
    };
    assert_only_entry_named(&k, "sitealign", e.index, |b| moved.store(b), check);
}

#[test]
fn real_kernel_entry_with_replacement_outside_its_section_is_named() {
    let k = real_kernel!(real_kernel_entry_with_replacement_outside_its_section_is_named);
    let e = *k.replacements().next().unwrap();
    let end = k.repl.1; // the first byte after .altinstr_replacement
    assert_eq!(end % 4, 0, "section end is word aligned, so only the range is wrong");
    assert_named(&k, "repl", e, |e| e.alt = end, "replacement is outside .altinstr_replacement");
}

#[test]
fn real_kernel_entry_with_misaligned_replacement_is_named() {
    let k = real_kernel!(real_kernel_entry_with_misaligned_replacement_is_named);
    let e = *k.replacements().find(|e| e.alt + u64::from(e.alt_len) + 2 <= k.repl.1).unwrap();
    assert_named(&k, "replalign", e, |e| e.alt += 2, "replacement is not 4-byte aligned");
}

#[test]
fn real_kernel_callback_outside_text_is_named() {
    let k = real_kernel!(real_kernel_callback_outside_text_is_named);
    let e = *k.entries.iter().find(|e| e.is_callback()).expect("the kernel has a callback entry");
    let end = k.text.1;
    let reason = format!(
        "callback is outside the kernel text; callback {end:#x} is not a declared callback (.altinstr_callbacks)"
    );
    assert_named(&k, "cb", e, |e| e.alt = end, &reason);
}

#[test]
fn real_kernel_misaligned_callback_is_named() {
    let k = real_kernel!(real_kernel_misaligned_callback_is_named);
    let e = *k.entries.iter().find(|e| e.is_callback()).expect("the kernel has a callback entry");
    let moved = e.alt + 2;
    let reason = format!(
        "callback is not 4-byte aligned; callback {moved:#x} is not a declared callback (.altinstr_callbacks)"
    );
    assert_named(&k, "cbalign", e, |e| e.alt += 2, &reason);
}

#[test]
fn real_kernel_callback_at_an_undeclared_function_is_named() {
    // At the kernel's first instruction (`_start`): code, aligned, in text, but no callback.
    let k = real_kernel!(real_kernel_callback_at_an_undeclared_function_is_named);
    let e = *k.entries.iter().find(|e| e.is_callback()).expect("the kernel has a callback entry");
    let start = k.text.0;
    let reason = format!("callback {start:#x} is not a declared callback (.altinstr_callbacks)");
    assert_named(&k, "cbundeclared", e, |e| e.alt = start, &reason);
}

#[test]
fn real_kernel_callback_with_alt_len_is_named() {
    let k = real_kernel!(real_kernel_callback_with_alt_len_is_named);
    let e = *k.entries.iter().find(|e| e.is_callback()).expect("the kernel has a callback entry");
    assert_named(&k, "cblen", e, |e| e.alt_len = 4, "callback entry with nonzero alt_len");
}

#[test]
fn real_kernel_overlapping_sites_name_each_other() {
    let k = real_kernel!(real_kernel_overlapping_sites_name_each_other);
    // Entry `b` (one instruction) moved onto the second instruction of `a`'s site.
    let a = *k.replacements().find(|e| e.orig_len >= 8).unwrap();
    let mut b = *k.replacements().find(|e| e.orig_len == 4 && e.index != a.index).unwrap();
    b.site = a.site + 4;
    let mut bytes = k.bytes.clone();
    b.store(&mut bytes);
    let out = altcheck("overlap", &["verify"], &bytes);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let mut bad = bad_entries(&stdout);
    bad.sort();
    let mut want = vec![
        (a.index, format!("site overlaps the site of entry {} at {:#x}", b.index, b.site)),
        (b.index, format!("site overlaps the site of entry {} at {:#x}", a.index, a.site)),
    ];
    want.sort();
    let got: Vec<(usize, String)> = bad.into_iter().map(|b| (b.0, b.1)).collect();
    assert_eq!(got, want, "{stdout}");
}

#[test]
fn real_kernel_stale_fingerprint_of_an_older_list_is_explained() {
    let k = real_kernel!(real_kernel_stale_fingerprint_of_an_older_list_is_explained);
    // The seed's failure: the LSE site's code built against v0, where HAS_LSE_ATOMICS was
    // cap 0 (caps::history); its number now means something else.
    let e = k.with_cap("HAS_LSE_ATOMICS")[0];
    let v0 = &caps::history::LISTS[0];
    let site = k.function_at(e.site);
    assert!(site.starts_with("altpatch::_arch::sync::fetch_add+"), "{site}");
    let c = e.cap_index();
    let mut stale = e;
    stale.fingerprint = v0.fingerprint;
    assert_only_entry_named(
        &k,
        "stale",
        e.index,
        |b| stale.store(b),
        |r| {
            let head = format!(
                "stale object: the entry's code was built against another capability list (v0): cap {c} means "
            );
            assert!(r.starts_with(&head), "{r}");
            assert!(r.contains(", HAS_LSE_ATOMICS here"), "{r}");
            assert!(r.ends_with(&format!("; fix: a clean rebuild of the object holding {site}")), "{r}");
        },
    );
}

#[test]
fn real_kernel_stale_fingerprint_of_an_unknown_list_is_named() {
    let k = real_kernel!(real_kernel_stale_fingerprint_of_an_unknown_list_is_named);
    let e = k.with_cap("HAS_CRC32")[0];
    let site = k.function_at(e.site);
    let reason = format!(
        "stale object: the entry's code was built against another capability list (not a known list); \
         fix: a clean rebuild of the object holding {site}"
    );
    assert_named(&k, "staleunknown", e, |e| e.fingerprint ^= 0x8000_0001, &reason);
}

/// Replaces the first instruction of `e`'s replacement with `word`.
fn with_replacement_word(k: &Kernel, e: &Entry, word: u32) -> impl FnOnce(&mut Vec<u8>) {
    assert!(
        k.replacements()
            .all(|o| o.index == e.index || o.alt + u64::from(o.alt_len) <= e.alt || o.alt >= e.alt + 4),
        "entry {}'s replacement is its own",
        e.index
    );
    let at = k.repl.2 + (e.alt - k.repl.0) as usize;
    move |b: &mut Vec<u8>| b[at..at + 4].copy_from_slice(&word.to_le_bytes())
}

#[test]
fn real_kernel_replacement_whose_branch_cannot_reach_is_named() {
    let k = real_kernel!(real_kernel_replacement_whose_branch_cannot_reach_is_named);
    // TBZ w0, #0, .+0x1000 (Arm ARM C6.2.375: b5 0, op 0b011011, b40 0, imm14 0x400, Rt 0):
    // its target lies outside the sequence, so it keeps its absolute address, and TBZ
    // reaches only ±32 KiB; pick a site further than that from the target.
    const TBZ: u32 = 0x3600_0000 | 0x400 << 5;
    let e = *k
        .replacements()
        .find(|e| (e.alt + 0x1000).abs_diff(e.site) > 0x8000)
        .expect("a site over 32 KiB from its replacement");
    let target = e.alt + 0x1000;
    assert_only_entry_named(&k, "reach", e.index, with_replacement_word(&k, &e, TBZ), |r| {
        assert!(r.starts_with("cannot move replacement: "), "{r}");
        assert!(r.contains(&format!("{TBZ:#010x}")) && r.contains(&format!("{target:#x}")), "{r}");
    });
}

#[test]
fn real_kernel_replacement_with_unmovable_instruction_is_named() {
    let k = real_kernel!(real_kernel_replacement_with_unmovable_instruction_is_named);
    // RETAASPPC (FEAT_PAuth_LR; Arm ARM C6.2: 0b01010101000 imm16 0b11111): its offset
    // names the signing instruction, so it means nothing once moved.
    const RETAASPPC: u32 = 0x5500_001f;
    let e = *k.replacements().next().unwrap();
    assert_only_entry_named(&k, "unmovable", e.index, with_replacement_word(&k, &e, RETAASPPC), |r| {
        assert!(r.starts_with("cannot move replacement: "), "{r}");
        assert!(r.contains(&format!("{RETAASPPC:#010x}")), "{r}");
    });
}

/// One `simulate` block: the header line and its `before:`/`after:` instruction lines.
#[derive(Debug, Default)]
struct Block {
    header: String,
    before: Vec<String>,
    after: Vec<String>,
}

impl Block {
    fn patched(&self) -> bool {
        self.header.ends_with(": patched")
    }
}

/// Runs `simulate` with `args` and splits its output into one block per entry.
fn simulate(k: &Kernel, name: &str, args: &[&str]) -> Vec<Block> {
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    let out = altcheck(name, &all, &k.bytes);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let mut blocks: Vec<Block> = Vec::new();
    let mut section = 0;
    for line in stdout.lines() {
        if line.starts_with("entry ") {
            let i: usize = line["entry ".len()..line.find(':').unwrap()].parse().unwrap();
            assert_eq!(i, blocks.len(), "one block per entry, in table order:\n{stdout}");
            blocks.push(Block { header: line.to_owned(), ..Block::default() });
            section = 0;
        } else if let Some(rest) = line.strip_prefix("    ") {
            let b = blocks.last_mut().expect("a block before its lines");
            if let Some(r) = rest.strip_prefix("before: ") {
                section = 1;
                b.before.push(r.trim().to_owned());
            } else if let Some(r) = rest.strip_prefix("after:  ") {
                section = 2;
                b.after.push(r.trim().to_owned());
            } else {
                let r = rest.trim().to_owned();
                match section {
                    1 => b.before.push(r),
                    2 => b.after.push(r),
                    _ => panic!("instruction line outside before/after: {line}"),
                }
            }
        } else {
            assert!(line.ends_with(&format!("of {} entries", k.entries.len())), "{line}");
        }
    }
    assert_eq!(blocks.len(), k.entries.len(), "{stdout}");
    blocks
}

/// The indices of the entries whose capability is one of `idents`.
fn indices(k: &Kernel, idents: &[&str]) -> Vec<usize> {
    idents.iter().flat_map(|id| k.with_cap(id)).map(|e| e.index).collect()
}

#[test]
fn real_kernel_simulate_patches_what_each_model_has() {
    let k = real_kernel!(real_kernel_simulate_patches_what_each_model_has);
    let a53 = simulate(&k, "a53", &["--cpu", "cortex-a53"]);
    let max = simulate(&k, "max", &["--cpu", "max"]);

    // Every block names its entry, capability and site (symbol+offset from the ELF).
    for (blocks, model) in [(&a53, "cortex-a53"), (&max, "max")] {
        for (b, e) in blocks.iter().zip(&k.entries) {
            let cap = caps::LIST.ident(e.cap_index()).unwrap();
            let head = format!("entry {}: {cap} at {:#x} ", e.index, e.site);
            assert!(b.header.starts_with(&head), "{model}: {}", b.header);
            if b.patched() {
                let words = usize::from(e.orig_len / 4);
                assert_eq!((b.before.len(), b.after.len()), (words, words), "{model}: {b:?}");
                assert!(b.before[0].starts_with(&format!("{:#x}  ", e.site)), "{b:?}");
            }
        }
    }

    // QEMU's cortex-a53 has no LSE (ID_AA64ISAR0_EL1.Atomic 0), no SB, no LRCPC; `max` has
    // all three (target/arm/cpu64.c, aarch64_a53_initfn and aarch64_max_tcg_initfn).
    let lse = indices(&k, &["HAS_LSE_ATOMICS"]);
    assert!(!lse.is_empty());
    for &i in &lse {
        let site = k.function_at(k.entries[i].site);
        assert!(site.starts_with("altpatch::_arch::sync::fetch_add+"), "{site}");
        assert!(max[i].header.contains(&format!("<{site}>")), "{}", max[i].header);
        assert!(max[i].patched(), "{}", max[i].header);
        // The LSE form of fetch-and-add with acquire-release semantics (Arm ARM C6.2.120).
        assert!(max[i].after[0].contains("ldaddal"), "{:?}", max[i].after);
        assert!(!a53[i].patched(), "{}", a53[i].header);
        assert!(a53[i].after.is_empty() && a53[i].header.ends_with(": not patched"), "{:?}", a53[i]);
    }
    for i in indices(&k, &["HAS_SB", "HAS_LDAPR"]) {
        assert!(max[i].patched() && !a53[i].patched(), "{}\n{}", max[i].header, a53[i].header);
    }
    for i in indices(&k, &["HAS_LDAPR"]) {
        assert!(max[i].after.iter().any(|l| l.contains("ldapr")), "{:?}", max[i].after);
    }
    for i in indices(&k, &["HAS_SB"]) {
        assert!(max[i].after.iter().any(|l| l.ends_with("  sb")), "{:?}", max[i].after);
    }
    // Both have CRC32 (ID_AA64ISAR0_EL1.CRC32 1 on the A53: 0x00011120).
    let crc = indices(&k, &["HAS_CRC32"]);
    assert!(!crc.is_empty());
    for i in crc {
        assert!(max[i].patched() && a53[i].patched(), "{}\n{}", max[i].header, a53[i].header);
    }
    // The A53's CTR_EL0 (0x84448004) has neither IDC (bit 28) nor DIC (bit 29).
    for i in indices(&k, &["HAS_CACHE_IDC", "HAS_CACHE_DIC"]) {
        assert!(!a53[i].patched(), "{}", a53[i].header);
    }
}

#[test]
fn real_kernel_simulate_with_only_lse_patches_exactly_the_lse_sites() {
    let k = real_kernel!(real_kernel_simulate_with_only_lse_patches_exactly_the_lse_sites);
    let blocks = simulate(&k, "lse", &["--caps", "HAS_LSE_ATOMICS"]);
    let patched: Vec<usize> = (0..blocks.len()).filter(|&i| blocks[i].patched()).collect();
    assert_eq!(patched, indices(&k, &["HAS_LSE_ATOMICS"]));
    for (b, e) in blocks.iter().zip(&k.entries) {
        if !b.patched() {
            assert!(b.header.ends_with(": not patched"), "entry {}: {}", e.index, b.header);
        }
    }
}
