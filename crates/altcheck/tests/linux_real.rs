//! The layout methods against the symbols on a real image: Debian's 6.12 has
//! CONFIG_KALLSYMS_ALL, so `__alt_instructions`, `__alt_instructions_end` and the
//! `.rodata.text` symbols exist; with them hidden, the layout (what 6.1 images, without
//! them, depend on) must find exactly the same table and code.
//!
//! `#[ignore]`d: the image is downloaded by `tests/linux-altcheck`, which runs these with
//! `ALTCHECK_LINUX_612` set to it and `--include-ignored`; run that way without the variable,
//! they fail.

use altcheck::linux::{bounds, kernel, layout, text};

/// Every symbol the layout methods stand in for.
const HIDDEN: &[&str] = &[
    "__alt_instructions",
    "__alt_instructions_end",
    "__initdata_begin",
    "__exittext_begin",
    "__exittext_end",
    "__entry_tramp_text_start",
    "__entry_tramp_text_end",
    "__hibernate_exit_text_start",
    "__hibernate_exit_text_end",
    "__relocate_new_kernel_start",
    "__relocate_new_kernel_end",
    "__idmap_text_start",
    "__idmap_text_end",
];

#[test]
#[ignore = "needs Debian's 6.12 image: tests/linux-altcheck runs it"]
fn real_6_12_the_layout_finds_exactly_what_the_symbols_say() {
    let path = std::env::var("ALTCHECK_LINUX_612").expect("ALTCHECK_LINUX_612 names Debian's 6.12 vmlinuz");
    let k = kernel::load(std::fs::read(&path).unwrap(), None).unwrap();
    assert_eq!(k.table.how, "from symbols", "6.12 names its table");
    assert_eq!(k.table.agreed.len(), 2, "both layout methods agree: {:?}", k.table.agreed);
    let hidden = k.symbols.without(HIDDEN);
    let initdata = layout::initdata_begin(&k.image).map(|o| (k.base + o as u64, "PE .data section"));
    assert_eq!(initdata.map(|i| i.0), k.symbols.addr("__initdata_begin"), "PE .data is __initdata_begin");
    let s = bounds::Sources { img: &k.image, base: k.base, symbols: &hidden, relocs: &k.relocs, initdata };
    let t = bounds::find(&s).unwrap();
    assert!(t.how.starts_with("from layout"), "{}", t.how);
    assert_eq!((t.start, t.end), (k.table.start, k.table.end));
    // The code: .rodata.text from the layout spans the symbols' parts, first to last.
    let by_layout = text::ranges(&s, &t).unwrap();
    let rodata = |r: &[text::CodeRange]| -> Vec<(u64, u64)> {
        r.iter().filter(|c| c.what.starts_with(".rodata.text")).map(|c| (c.start, c.end)).collect()
    };
    let named = rodata(&k.text);
    let hull = (named.iter().map(|r| r.0).min().unwrap(), named.iter().map(|r| r.1).max().unwrap());
    assert_eq!(rodata(&by_layout), vec![hull]);
    let exit =
        |r: &[text::CodeRange]| r.iter().find(|c| c.what.starts_with("exit")).map(|c| (c.start, c.end));
    assert_eq!(exit(&by_layout), exit(&k.text));
}
