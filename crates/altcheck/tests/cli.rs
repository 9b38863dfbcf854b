//! The `altcheck` binary's usage errors: exit status 2 and a message saying what is wrong
//! (docs/boot-log.md reserves 1 for "the table has bad entries").

use std::process::{Command, Output};

fn altcheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_altcheck")).args(args).output().expect("altcheck runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn verify_of_a_missing_file_exits_2_naming_the_file() {
    let path = std::env::temp_dir().join("altcheck-no-such-file.elf");
    let path = path.to_str().unwrap();
    let o = altcheck(&["verify", path]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with(&format!("altcheck: cannot read {path}: ")), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}

#[test]
fn verify_of_a_non_elf_file_exits_2_saying_so() {
    let path = std::env::temp_dir().join(format!("altcheck-not-elf-{}.txt", std::process::id()));
    std::fs::write(&path, b"this is not an ELF image\n").unwrap();
    let o = altcheck(&["verify", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not an ELF file"), "{}", stderr(&o));
}

#[test]
fn simulate_with_an_unknown_cpu_exits_2_listing_the_models() {
    let o = altcheck(&["simulate", "--cpu", "cortex-a9000", "kernel.elf"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("unknown CPU model cortex-a9000"), "{e}");
    // QEMU's `-cpu` spellings of the models the boot matrix uses.
    for model in ["cortex-a53", "cortex-a57", "max"] {
        assert!(e.contains(model), "{e}");
    }
}

#[test]
fn simulate_with_an_unknown_capability_exits_2_listing_the_capabilities() {
    let o = altcheck(&["simulate", "--caps", "HAS_LSE_ATOMICS,HAS_WARP_DRIVE", "kernel.elf"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("unknown capability HAS_WARP_DRIVE"), "{e}");
    // Linux arm64 cpucap names without `ARM64_`.
    for cap in ["HAS_LSE_ATOMICS", "HAS_CRC32", "HAS_SB", "HAS_LDAPR"] {
        assert!(e.contains(cap), "{e}");
    }
}

#[test]
fn a_malformed_command_line_exits_2_with_the_usage() {
    for args in [&[][..], &["verify"], &["frobnicate", "x"], &["simulate", "--fast", "x", "y"]] {
        let o = altcheck(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("usage: altcheck"), "{args:?}: {}", stderr(&o));
    }
}
