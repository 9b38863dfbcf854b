//! Links the kernel with `linker.ld` and rebuilds it when any boot assembly changes.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // `linker.ld` INCLUDEs altpatch-aarch64's fragment, which that crate's build script puts
    // on the link path.
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=boot");
    println!("cargo:rerun-if-changed=tests/stale");
}
