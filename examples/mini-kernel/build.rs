//! Links the mini kernel: aarch64-rt's `image.ld` (on the link path through aarch64-rt's own
//! build script) lays out the image; `mini-kernel.ld` gives it its memory and inserts
//! altpatch-aarch64's `alternatives.ld` (on the link path through altpatch-aarch64's own
//! build script).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-Timage.ld");
    println!("cargo:rustc-link-arg-bins=-T{dir}/mini-kernel.ld");
    println!("cargo:rerun-if-changed=mini-kernel.ld");
}
