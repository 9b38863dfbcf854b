//! Synthetic alternatives tables for the benchmarks (`scripts/bench`, figures 1 and 2).
//!
//! A table of `n` entries, its kernel text and its `.altinstr_replacement`, laid out as a
//! linker would: text first, then the replacements, then the table. The shape imitates a
//! kernel's table: most sites are one or two instructions; sites cluster (three in eight
//! follow the previous site within a few words, as several alternatives in one function do,
//! so they share cache lines); the rest are scattered 64 B to 1 KiB apart. One entry in
//! sixteen is a callback. Replacements are real A64 code: plain instructions, and in some
//! sequences a PC-relative one the validator must relocate (`adrp` to the site's page, kept
//! absolute; `cbz` to the end of the sequence, moved with it).
//!
//! Everything is drawn from a fixed-seed generator, so every run benchmarks the same bytes.
//! The site bytes are left zero: validation and planning never read them.

use altpatch_core::table::RawEntry;
use altpatch_core::validate::{Layout, Region};
use arm64_caps::caps;

/// `nop` (Arm ARM C6.2.238).
const NOP: u32 = 0xd503_201f;
/// `isb` (C6.2.126).
const ISB: u32 = 0xd503_3fdf;
/// `dmb ish` (C6.2.81).
const DMB_ISH: u32 = 0xd503_3bbf;
/// `mov x0, x1`, i.e. `orr x0, xzr, x1` (C6.2.204).
const MOV_X0_X1: u32 = 0xaa01_03e0;

/// `cbz x0, .+offset` (C6.2.52): imm19 words at bits [23:5].
fn cbz_x0(offset: i64) -> u32 {
    0xb400_0000 | ((((offset / 4) as u32) & 0x7_ffff) << 5)
}

/// `adrp x16, page` at `pc` (C6.2.12): the page difference, immlo at [30:29], immhi at
/// [23:5].
fn adrp_x16(pc: u64, target: u64) -> u32 {
    let pages = ((target >> 12) as i64 - (pc >> 12) as i64) as u32;
    0x9000_0000 | ((pages & 3) << 29) | (((pages >> 2) & 0x7_ffff) << 5) | 16
}

/// xorshift64* (Vigna): a fixed sequence of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A synthetic image: the three regions a [`Layout`] names.
pub struct Synthetic {
    /// Address of the kernel text.
    pub text_addr: u64,
    /// The kernel text (all zero; only its extent matters).
    pub text: Vec<u8>,
    /// Address of `.altinstr_replacement`.
    pub repl_addr: u64,
    /// The replacement sequences.
    pub replacements: Vec<u8>,
    /// Address of the table.
    pub table_addr: u64,
    /// The table's bytes.
    pub table: Vec<u8>,
    /// Address of the declared callbacks.
    pub callbacks_addr: u64,
    /// The declared callbacks, self-relative words.
    pub callbacks: Vec<u8>,
}

impl Synthetic {
    /// The layout the validator checks.
    pub fn layout(&self) -> Layout<'_> {
        Layout {
            table: Region { addr: self.table_addr, bytes: &self.table },
            text: Region { addr: self.text_addr, bytes: &self.text },
            replacements: Region { addr: self.repl_addr, bytes: &self.replacements },
            callbacks: Region { addr: self.callbacks_addr, bytes: &self.callbacks },
        }
    }
}

/// One entry before it is encoded.
struct Planned {
    site: u64,
    words: u8,
    callback: bool,
    cap: u16,
}

/// Callback bodies at the start of text, each declared once.
const CALLBACK_BODIES: u64 = 64;

/// A valid table of `n` entries against the kernel's capability list.
pub fn generate(n: usize) -> Synthetic {
    const TEXT: u64 = 0x4008_0000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut planned = Vec::with_capacity(n);
    // The first 4 KiB of text hold the callbacks' bodies.
    let mut at = TEXT + 0x1000;
    for _ in 0..n {
        let words = match rng.below(20) {
            0..=10 => 1,
            11..=16 => 2,
            17..=18 => 3,
            _ => 4,
        };
        let gap = if rng.below(8) < 3 { 4 * rng.below(8) } else { 64 + 4 * rng.below(241) };
        at += gap;
        let cap = (rng.below(u64::from(caps::NCAPS))) as u16;
        planned.push(Planned { site: at, words, callback: rng.below(16) == 0, cap });
        at += 4 * u64::from(words);
    }
    let text_len = (at - TEXT + 0xfff) & !0xfff;
    let repl_addr = TEXT + text_len;
    let mut replacements: Vec<u8> = Vec::new();
    let mut alts = Vec::with_capacity(n);
    for p in &planned {
        if p.callback {
            alts.push(TEXT + 4 * rng.below(CALLBACK_BODIES));
            continue;
        }
        let start = repl_addr + replacements.len() as u64;
        let len = i64::from(p.words) * 4;
        let flavour = rng.below(16);
        for i in 0..u64::from(p.words) {
            let pc = start + 4 * i;
            let word = match (flavour, i) {
                (0, 0) => cbz_x0(len),
                (1 | 2, 0) => adrp_x16(pc, p.site),
                _ => [NOP, ISB, DMB_ISH, MOV_X0_X1][rng.below(4) as usize],
            };
            replacements.extend_from_slice(&word.to_le_bytes());
        }
        alts.push(start);
    }
    let table_addr = (repl_addr + replacements.len() as u64 + 0xf) & !0xf;
    let mut table = Vec::with_capacity(16 * n);
    for (i, (p, alt)) in planned.iter().zip(alts).enumerate() {
        let entry_addr = table_addr + 16 * i as u64;
        let len = 4 * p.words;
        let (cap, alt_len) =
            if p.callback { (p.cap | altpatch_core::table::CALLBACK_FLAG, 0) } else { (p.cap, len) };
        let raw = RawEntry::new(entry_addr, p.site, alt, cap, len, alt_len, caps::FINGERPRINT)
            .expect("a synthetic image is far smaller than the reach of an i32 offset");
        table.extend_from_slice(&raw.to_bytes());
    }
    Synthetic {
        text_addr: TEXT,
        text: vec![0; text_len as usize],
        repl_addr,
        replacements,
        table_addr,
        callbacks_addr: table_addr + table.len() as u64,
        callbacks: (0..CALLBACK_BODIES)
            .flat_map(|k| {
                let word = table_addr + table.len() as u64 + 4 * k;
                ((TEXT + 4 * k) as i64 - word as i64).to_le_bytes()[..4].to_vec()
            })
            .collect(),
        table,
    }
}
