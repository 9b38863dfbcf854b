//! Fuzzes altcheck's whole-ELF reader: any bytes are either refused with a message or read,
//! and a read image is verified and dumped, never a panic, a hang or an allocation larger
//! than the input allows (libFuzzer's `-rss_limit_mb` catches the last).
//!
//! Seed the corpus with a built kernel (`scripts/build`) to start from a real image.

#![no_main]

use arm64_caps::caps;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = altcheck::Image::parse(data) {
        let _ = altcheck::verify(&image, &caps::LIST, caps::history::LISTS);
        let _ = altcheck::dump(&image, &caps::LIST);
    }
});
