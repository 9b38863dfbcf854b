//! `altcheck --kernel KERNEL MODULE` on the REAL module objects (README, "Modules and
//! hotplug"): the good module passes, each bad build is named for its defect before anyone
//! boots it, and `simulate` patches the module's sites by what a CPU model has.
//!
//! The objects are in the directory `ALTPATCH_MODULES` names and the kernel is
//! `ALTPATCH_KERNEL_ELF` (`scripts/test` sets both). Unset, every test here prints a note and
//! passes vacuously; their names all start `real_module_`.

use std::process::{Command, Output};

/// `altcheck ARGS --kernel KERNEL MODULE_DIR/OBJECT`, or `None` (with a note) when the
/// inputs are not given.
fn altcheck(test: &str, args: &[&str], object: &str) -> Option<Output> {
    let (Some(kernel), Some(modules)) =
        (std::env::var_os("ALTPATCH_KERNEL_ELF"), std::env::var_os("ALTPATCH_MODULES"))
    else {
        eprintln!(
            "{test}: skipped, ALTPATCH_KERNEL_ELF or ALTPATCH_MODULES is unset (scripts/test sets both)"
        );
        return None;
    };
    let module = std::path::Path::new(&modules).join(object);
    Some(
        Command::new(env!("CARGO_BIN_EXE_altcheck"))
            .args(args)
            .arg("--kernel")
            .arg(&kernel)
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
