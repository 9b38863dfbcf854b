//! `altcheck --kernel KERNEL MODULE` on the REAL module objects (README, "Modules and
//! hotplug"): the good module passes, each bad build is named for its defect before anyone
//! boots it, and `simulate` patches the module's sites by what a CPU model has.
//!
//! The objects are in the directory `ALTPATCH_MODULES` names and the kernel is
//! `ALTPATCH_KERNEL_ELF` (`scripts/test` sets both). Unset, the tests build what is missing
//! themselves (once, into `target/altcheck-kernel`: the kernel with cargo, the module objects
//! with `scripts/build -p lse-crc [--features F]`) and say so; a build that fails fails the
//! tests: they never pass without the objects to check.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The bad builds of `modules/lse-crc`, one feature each.
const BAD_FEATURES: [&str; 5] = ["stale", "unknown-reloc", "undefined-symbol", "bad-callback", "far-branch"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    root().join("target/altcheck-kernel")
}

/// The kernel: `ALTPATCH_KERNEL_ELF`, or one built once per test binary.
fn kernel(test: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("ALTPATCH_KERNEL_ELF") {
        return PathBuf::from(path);
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            eprintln!(
                "{test}: ALTPATCH_KERNEL_ELF is unset: building the kernel into {}",
                target_dir().display()
            );
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .current_dir(root())
                .args(["build", "--release", "-p", "altpatch", "--target", "aarch64-unknown-none-softfloat"])
                .env("CARGO_TARGET_DIR", target_dir())
                .status()
                .unwrap_or_else(|e| panic!("cannot run cargo to build the kernel: {e}"));
            assert!(status.success(), "building the kernel for these tests failed ({status})");
            target_dir().join("aarch64-unknown-none-softfloat/release/altpatch")
        })
        .clone()
}

/// The directory of the module objects: `ALTPATCH_MODULES`, or one built once per test binary.
fn modules(test: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("ALTPATCH_MODULES") {
        return PathBuf::from(path);
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            eprintln!(
                "{test}: ALTPATCH_MODULES is unset: building the modules into {}",
                target_dir().display()
            );
            let features = std::iter::once(None).chain(BAD_FEATURES.map(Some));
            let mut dir = None;
            for feature in features {
                let mut build = Command::new(root().join("scripts/build"));
                build.args(["-p", "lse-crc"]).env("CARGO_TARGET_DIR", target_dir());
                if let Some(feature) = feature {
                    build.args(["--features", feature]);
                }
                let out = build.output().unwrap_or_else(|e| panic!("cannot run scripts/build: {e}"));
                assert!(
                    out.status.success(),
                    "building lse-crc {feature:?} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                let object =
                    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned();
                dir = PathBuf::from(object).parent().map(PathBuf::from);
            }
            dir.expect("scripts/build names the object it built")
        })
        .clone()
}

/// `altcheck ARGS --kernel KERNEL MODULE_DIR/OBJECT`. `Some` always; the `Option` keeps the
/// tests' early-return shape.
fn altcheck(test: &str, args: &[&str], object: &str) -> Option<Output> {
    let module = modules(test).join(object);
    Some(
        Command::new(env!("CARGO_BIN_EXE_altcheck"))
            .args(args)
            .arg("--kernel")
            .arg(kernel(test))
            .arg(&module)
            .output()
            .expect("altcheck runs"),
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn real_module_good_is_accepted() {
    let Some(out) = altcheck("real_module_good_is_accepted", &["verify"], "lse-crc.o") else { return };
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).is_empty());
}

#[test]
fn real_module_stale_is_named_entry_by_entry() {
    let Some(out) = altcheck("real_module_stale", &["verify"], "lse-crc-stale.o") else { return };
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let stale: Vec<&str> =
        text.lines().filter(|l| l.contains("built against another capability list (v0)")).collect();
    assert_eq!(stale.len(), 2, "{text}");
    assert!(text.contains("<lse_crc::sites::fetch_add+0x"), "{text}");
    assert!(text.contains("cap 0 means HAS_LSE_ATOMICS in list v0"), "{text}");
}

#[test]
fn real_module_bad_builds_are_named_for_their_defect() {
    let cases = [
        ("lse-crc-bad-callback.o", "is not one the kernel exports for modules"),
        ("lse-crc-far-branch.o", "R_AARCH64_CONDBR19 at "),
        ("lse-crc-undefined-symbol.o", "undefined symbol altpatch_internal_reset"),
        ("lse-crc-unknown-reloc.o", "unknown relocation R_AARCH64_MOVW_UABS_G0_NC (264)"),
    ];
    for (object, reason) in cases {
        let Some(out) = altcheck("real_module_bad_builds", &["verify"], object) else { return };
        assert_eq!(out.status.code(), Some(1), "{object}: {}", stdout(&out));
        assert!(stdout(&out).contains(reason), "{object}: {}", stdout(&out));
    }
}

#[test]
fn real_module_simulate_follows_the_cpu_model() {
    let Some(a53) = altcheck("real_module_simulate", &["simulate", "--cpu", "cortex-a53"], "lse-crc.o")
    else {
        return;
    };
    let text = stdout(&a53);
    assert!(text.contains("HAS_LSE_ATOMICS at ") && text.contains("not patched"), "{text}");
    assert!(text.ends_with("2 patched, 1 skipped of 3 entries\n"), "{text}");
    let Some(max) = altcheck("real_module_simulate", &["simulate", "--cpu", "max"], "lse-crc.o") else {
        return;
    };
    assert!(stdout(&max).ends_with("3 patched, 0 skipped of 3 entries\n"), "{}", stdout(&max));
}
