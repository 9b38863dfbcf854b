//! Puts `alternatives.ld` on the link path of every binary that depends on this crate (as
//! aarch64-rt does for its `image.ld`): a kernel's linker script says `INCLUDE
//! alternatives.ld` inside its read-only output section, or, with aarch64-rt's `image.ld`,
//! wraps it in a section of its own and `INSERT AFTER .got;` (README, "Adopt it").

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("alternatives.ld", out.join("alternatives.ld")).expect("alternatives.ld is part of the crate");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=alternatives.ld");
}
