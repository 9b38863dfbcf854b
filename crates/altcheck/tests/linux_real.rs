//! The table scanner against the symbols on a real image: Debian's 6.12 has
//! CONFIG_KALLSYMS_ALL, so `__alt_instructions` and `__alt_instructions_end` are symbols, and
//! the scan (which 6.1 images, without them, depend on) must find exactly that range.
//!
//! `#[ignore]`d: the image is downloaded by `tests/linux-altcheck`, which runs these with
//! `ALTCHECK_LINUX_612` set to it and `--include-ignored`; run that way without the variable,
//! they fail.

use altcheck::linux::kernel;

#[test]
#[ignore = "needs Debian's 6.12 image: tests/linux-altcheck runs it"]
fn real_6_12_the_scan_finds_exactly_the_symbols_table() {
    let path = std::env::var("ALTCHECK_LINUX_612").expect("ALTCHECK_LINUX_612 names Debian's 6.12 vmlinuz");
    let k = kernel::load(std::fs::read(&path).unwrap(), None).unwrap();
    assert_eq!(k.table.2, "symbols", "6.12 names its table");
    let (at, n) = kernel::scan_table(&k.image, k.base, &k.text).expect("the scan finds a table");
    assert_eq!((k.base + at as u64, k.base + (at + 12 * n) as u64), (k.table.0, k.table.1));
}
