//! The bounds' methods on small images laid out as vmlinux.lds.S and alternative.c lay out
//! Linux's, with the A64 encodings of ADRP and ADD written from the Arm ARM (C6.2.10, C6.2.4).

use super::*;
use crate::linux::symbols::Sym;

const BASE: u64 = 0xffff_8000_0800_0000;
const FUNC: u64 = BASE + 0x1000;
const STRUCT: u64 = BASE + 0x2000;
const EINITTEXT: u64 = BASE + 0x3000;
const START: u64 = BASE + 0x3100;
const ENTRIES: u64 = 5;
const END: u64 = START + 12 * ENTRIES;
const INITDATA: u64 = BASE + 0x4000;

fn adrp(rd: u32, pc: u64, target: u64) -> u32 {
    let imm = ((target >> 12) as i64 - (pc >> 12) as i64) as u32;
    0x9000_0000 | (imm & 3) << 29 | ((imm >> 2) & 0x7_ffff) << 5 | rd
}

fn add(rd: u32, rn: u32, imm: u64) -> u32 {
    0x9100_0000 | (imm as u32) << 10 | rn << 5 | rd
}

/// Linux 6.1's `apply_boot_alternatives()`: `kernel_alternatives`, a struct of two
/// pointers, passed in x0; or (`direct`) 5.10's, the two addresses built on the stack.
fn image(direct: bool, last_entry: [u8; 12]) -> Vec<u8> {
    let mut img = vec![0u8; 0x5000];
    let mut put = |at: u64, w: u32| {
        let o = (at - BASE) as usize;
        img[o..o + 4].copy_from_slice(&w.to_le_bytes());
    };
    let code = if direct {
        vec![
            adrp(1, FUNC, START),
            add(1, 1, START & 0xfff),
            adrp(2, FUNC + 8, END),
            add(2, 2, END & 0xfff),
            0xd65f_03c0,
        ]
    } else {
        vec![0xd503_233f, adrp(0, FUNC + 4, STRUCT), add(0, 0, STRUCT & 0xfff), 0x9400_0000, 0xd65f_03c0]
    };
    for (i, w) in code.into_iter().enumerate() {
        put(FUNC + 4 * i as u64, w);
    }
    for i in 0..ENTRIES {
        let o = (START - BASE + 12 * i) as usize;
        img[o..o + 12].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 4, 4]);
    }
    let o = (END - BASE) as usize - 12;
    img[o..o + 12].copy_from_slice(&last_entry);
    // Something nonzero before the table (exit text), nothing after it.
    img[(START - BASE) as usize - 4] = 0xc0;
    img
}

/// The struct's pointers are relocated (zero in the image).
fn relocs() -> Relocs {
    Relocs { entries: vec![(STRUCT, START), (STRUCT + 8, END)], kinds: ".rela.dyn" }
}

fn symbols(extra: &[(&str, u64)]) -> Symbols {
    let mut s = vec![
        Sym { addr: FUNC, kind: b't', name: "apply_boot_alternatives".into() },
        Sym { addr: EINITTEXT, kind: b'T', name: "_einittext".into() },
    ];
    s.extend(extra.iter().map(|&(n, a)| Sym { addr: a, kind: b'D', name: n.into() }));
    Symbols::new(s)
}

fn bounds(img: &[u8], syms: &Symbols, initdata: bool) -> Result<Table, String> {
    let r = relocs();
    find(&Sources {
        img,
        base: BASE,
        symbols: syms,
        relocs: &r,
        initdata: initdata.then_some((INITDATA, "PE .data section")),
    })
}

const GOOD_LAST: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 1, 0x80, 4, 0];

#[test]
fn without_symbols_the_alt_region_and_the_padding_bound_the_table() {
    for direct in [false, true] {
        let t = bounds(&image(direct, GOOD_LAST), &symbols(&[]), true).unwrap();
        assert_eq!((t.start, t.end), (START, END), "direct {direct}");
        assert_eq!(
            t.how,
            "from layout: the alt_region apply_boot_alternatives() passes (the padding before __initdata_begin agrees)"
        );
    }
}

#[test]
fn symbols_are_used_and_every_other_method_must_agree() {
    let syms = symbols(&[("__alt_instructions", START), ("__alt_instructions_end", END)]);
    let t = bounds(&image(false, GOOD_LAST), &syms, true).unwrap();
    assert_eq!((t.start, t.end, t.how.as_str()), (START, END, "from symbols"));
    assert_eq!(t.agreed.len(), 2);
    // A symbol one entry short: both other methods say otherwise.
    let short = symbols(&[("__alt_instructions", START), ("__alt_instructions_end", END - 12)]);
    let e = bounds(&image(false, GOOD_LAST), &short, true).unwrap_err();
    assert!(e.starts_with("the table's bounds disagree: the symbols say"), "{e}");
}

#[test]
fn the_padding_disagreeing_with_the_alt_region_is_refused() {
    // A nonzero word after the table, before __initdata_begin: not padding.
    let mut img = image(false, GOOD_LAST);
    img[(END - BASE) as usize + 0x40] = 1;
    let e = bounds(&img, &symbols(&[]), true).unwrap_err();
    assert!(e.contains("the padding before __initdata_begin"), "{e}");
    // Without __initdata_begin the alt_region alone bounds it.
    let t = bounds(&img, &symbols(&[]), false).unwrap();
    assert_eq!((t.start, t.end), (START, END));
}

#[test]
fn a_last_entry_ending_in_zero_bytes_still_agrees_with_the_padding() {
    let last = [1, 2, 3, 4, 5, 6, 7, 8, 2, 0, 0, 0];
    let t = bounds(&image(false, last), &symbols(&[]), true).unwrap();
    assert_eq!((t.start, t.end), (START, END));
}

#[test]
fn no_method_at_all_is_named() {
    let syms = Symbols::new(vec![Sym { addr: EINITTEXT, kind: b'T', name: "_einittext".into() }]);
    let e = bounds(&image(false, GOOD_LAST), &syms, true).unwrap_err();
    assert!(e.starts_with("cannot bound the alternatives table: no __alt_instructions"), "{e}");
    let half = symbols(&[("__alt_instructions", START)]);
    assert!(bounds(&image(false, GOOD_LAST), &half, true).unwrap_err().contains("only one of"));
}
