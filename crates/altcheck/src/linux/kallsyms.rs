//! Finding and decoding the kernel's compressed symbol table (kallsyms) in a raw `Image`,
//! where no ELF header says where it is.
//!
//! How the detector works (scripts/kallsyms.c writes the arrays; labels are 8-aligned up to
//! 6.x and 4-aligned in 7.x):
//!
//! 1. **Token index.** `kallsyms_token_index` is 256 `u16`s: 0 first, then strictly
//!    increasing by the length of each token plus its NUL (2..=`MAX_TOKEN` + 1). 512 bytes
//!    that climb like that are rare; each such run is a candidate. Two candidates cannot
//!    overlap (the second would need a 0 inside the first's climb), so the scan is linear.
//! 2. **Token table.** `kallsyms_token_table` ends just before the index (at most 7 bytes of
//!    padding): 256 non-empty printable strings, each ending with a NUL exactly where the
//!    index says the next one starts. The candidate is kept only if such a table is found.
//! 3. **Markers.** `kallsyms_markers` comes before the token table: one entry (u32, or u64
//!    before 5.x's "reduce size a little on 64-bit") per 256 symbols, the offset of that
//!    symbol's name, strictly increasing from 0. Between them there is either nothing or
//!    `kallsyms_seqs_of_names`, 3 bytes per symbol (6.2; Debian's 6.1 has it backported),
//!    so K markers end where the table (less padding) or a 3N-byte array with
//!    (K-1)*256 < N <= K*256 begins. Each maximal increasing run is walked once.
//! 4. **Names.** `kallsyms_num_syms` (N) is followed (4- or 8-aligned) by `kallsyms_names`:
//!    N length-prefixed token strings (a length byte, or two when its top bit is set, 6.1's
//!    "big symbols"). A candidate N is accepted only when stepping over the N names lands
//!    every 256th name on its marker and ends where the markers begin.
//! 5. **Offsets.** `kallsyms_offsets`, N `u32`s, ascending by address, in one of three
//!    layouts: before `kallsyms_relative_base` before `kallsyms_num_syms` (5.10, 6.1);
//!    after the token index, then `kallsyms_relative_base` (6.2 to 6.x); after the token
//!    index, each offset relative to its own position and no `kallsyms_relative_base` at all
//!    (7.x, where the first offset, `_text`'s, is negative: it points back to the Image's
//!    start).
//!
//! Every read is bounds-checked against the image: a truncated or hostile image yields an
//! error, never a panic or an allocation sized by a field. The whole search spends at most
//! [`BUDGET`] steps, so a crafted image cannot keep it running.

/// The longest token scripts/kallsyms.c makes is far shorter; this bounds the search.
const MAX_TOKEN: usize = 64;
/// How far before the token table the markers may start (names of a few million symbols).
const MAX_SEARCH: usize = 64 << 20;
/// The most work the search does (reads, roughly): a real image needs a few million; a
/// crafted one is refused after this many, in about a second.
pub const BUDGET: u64 = 400_000_000;

/// How each symbol's address is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `kallsyms_relative_base + offset` (5.10 to 6.x): the file offset of the
    /// `kallsyms_relative_base` slot, an absolute pointer (relocated in a relocatable Image).
    RelativeBase {
        /// File offset of the slot.
        slot: usize,
    },
    /// 7.x: each offset is relative to its own position; the values are image offsets.
    SelfRelative,
}

/// The decoded table.
pub struct Kallsyms {
    /// `(type letter, name, value)` per symbol, in table order; the value is the offset
    /// from `kallsyms_relative_base` or the image offset, as [`Placement`] says.
    pub syms: Vec<(u8, String, u64)>,
    /// How to place the values.
    pub placement: Placement,
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o.checked_add(8)?)?.try_into().ok()?))
}

/// Work left for the search.
struct Budget(u64);

/// The search ran out of work.
struct Exhausted;

impl Budget {
    fn spend(&mut self, n: usize) -> Result<(), Exhausted> {
        self.0 = self.0.checked_sub(n as u64).ok_or(Exhausted)?;
        Ok(())
    }
}

/// How far the search got, for the message when it fails.
#[derive(Default)]
struct Progress {
    indexes: usize,
    tables: usize,
    markers: usize,
    names: usize,
}

/// Finds and decodes kallsyms in `img`; the error says what was not found.
pub fn find(img: &[u8]) -> Result<Kallsyms, String> {
    find_with(img, BUDGET)
}

/// [`find`] with a given budget.
pub fn find_with(img: &[u8], budget: u64) -> Result<Kallsyms, String> {
    let mut b = Budget(budget);
    let mut progress = Progress::default();
    match search(img, &mut b, &mut progress) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(missing(&progress)),
        Err(Exhausted) => Err(format!(
            "the kallsyms search gave up after {budget} steps ({} token-index candidates, {} with a token table): not a kernel's kallsyms",
            progress.indexes, progress.tables
        )),
    }
}

/// What the search did not find, exactly.
fn missing(p: &Progress) -> String {
    let what = if p.indexes == 0 {
        "no kallsyms_token_index (256 u16s climbing from 0 by token lengths)"
    } else if p.tables == 0 {
        "no kallsyms_token_table before any candidate kallsyms_token_index"
    } else if p.markers == 0 {
        "no kallsyms_markers (increasing from 0) before the kallsyms_token_table"
    } else if p.names == 0 {
        "no kallsyms_num_syms and kallsyms_names matching the kallsyms_markers"
    } else {
        "no kallsyms_offsets (ascending) beside the names"
    };
    format!("no kallsyms in the image: {what}")
}

/// Steps 1-5 over every candidate.
fn search(img: &[u8], b: &mut Budget, p: &mut Progress) -> Result<Option<Kallsyms>, Exhausted> {
    let mut at = 0usize;
    while at + 512 <= img.len() {
        let climb = index_climb(img, at);
        b.spend(climb.max(1))?;
        if climb == 256 {
            p.indexes += 1;
            if let Some(k) = decode_at(img, at, b, p)? {
                return Ok(Some(k));
            }
        }
        // A candidate cannot start inside another's climb (its first u16 would be 0).
        at += 4 * (climb / 2).max(1);
    }
    Ok(None)
}

/// How many u16s from `p` climb like a token index (256: all of them).
fn index_climb(img: &[u8], p: usize) -> usize {
    if u16_at(img, p) != Some(0) {
        return 0;
    }
    let mut prev = 0u16;
    for i in 1..256 {
        let Some(v) = u16_at(img, p + 2 * i) else { return i };
        let step = v.wrapping_sub(prev) as usize;
        if v <= prev || !(2..=MAX_TOKEN + 1).contains(&step) {
            return i;
        }
        prev = v;
    }
    256
}

/// Steps 2-5 for the token index at `p`.
fn decode_at(img: &[u8], p: usize, b: &mut Budget, pr: &mut Progress) -> Result<Option<Kallsyms>, Exhausted> {
    let index: Vec<usize> = (0..256).filter_map(|i| u16_at(img, p + 2 * i).map(usize::from)).collect();
    let Some((table_at, tokens)) = token_table(img, p, &index, b)? else { return Ok(None) };
    pr.tables += 1;
    for w in [4usize, 8] {
        for (m, markers) in marker_runs(img, table_at, w, b)? {
            pr.markers += 1;
            let Some((num_at, names_at, n)) = num_syms(img, m, &markers, b)? else { continue };
            pr.names += 1;
            b.spend(n)?;
            let Some(names) = decode_names(img, names_at, n, &tokens) else { continue };
            if let Some((offsets, placement)) = offsets(img, num_at, p + 512, n) {
                let syms = names.into_iter().zip(offsets).map(|((k, name), off)| (k, name, off)).collect();
                return Ok(Some(Kallsyms { syms, placement }));
            }
        }
    }
    Ok(None)
}

/// The token table's offset and its 256 tokens.
type Tokens = (usize, Vec<Vec<u8>>);

/// Step 2: the table's start and its 256 tokens.
fn token_table(img: &[u8], p: usize, index: &[usize], b: &mut Budget) -> Result<Option<Tokens>, Exhausted> {
    let last = index[255];
    let (Some(lo), Some(hi)) = (p.checked_sub(last + MAX_TOKEN + 8), p.checked_sub(last + 2)) else {
        return Ok(None);
    };
    for t in (lo..=hi).rev().filter(|t| t % 4 == 0) {
        b.spend(last)?;
        let tokens: Option<Vec<Vec<u8>>> = (0..256)
            .map(|i| {
                let start = t + index[i];
                let end = if i < 255 {
                    t + index[i + 1] - 1
                } else {
                    start + img.get(start..p)?.iter().position(|&c| c == 0)?
                };
                let tok = img.get(start..end)?;
                let ok = img.get(end) == Some(&0)
                    && !tok.is_empty()
                    && tok.iter().all(|&c| (0x20..0x7f).contains(&c));
                ok.then(|| tok.to_vec())
            })
            .collect();
        // The table ends at most 7 bytes of padding before the index.
        if let Some(tokens) = tokens
            && p - (t + last + tokens[255].len() + 1) < 8
        {
            return Ok(Some((t, tokens)));
        }
    }
    Ok(None)
}

/// Step 3: markers of width `w` ending before `table_at`, right before it or before
/// `kallsyms_seqs_of_names`: `(start, values)`, nearest the table first. Walks back over
/// maximal increasing runs, each once.
fn marker_runs(
    img: &[u8],
    table_at: usize,
    w: usize,
    b: &mut Budget,
) -> Result<Vec<(usize, Vec<u64>)>, Exhausted> {
    let read = |o: usize| if w == 4 { u32_at(img, o).map(u64::from) } else { u64_at(img, o) };
    let lowest = table_at.saturating_sub(MAX_SEARCH);
    let mut out = Vec::new();
    // `j` is one past the last slot of the run being looked at.
    let mut j = table_at - table_at % w;
    while j >= lowest + w {
        // The maximal increasing run ending at slot j - w.
        let mut s = j - w;
        while s >= lowest + w && matches!((read(s - w), read(s)), (Some(a), Some(c)) if a < c) {
            s -= w;
        }
        b.spend((j - s) / w)?;
        if read(s) == Some(0) {
            // markers[1] is the length of 256 names: at least 2 bytes each.
            let values: Vec<u64> = (s..j).step_by(w).filter_map(read).collect();
            if values.get(1).is_some_and(|&v| (512..=256 * 0x1_0001).contains(&v)) {
                for k in (2..=values.len()).rev() {
                    let end = s + k * w;
                    if ends_before_table(table_at, end, k) {
                        out.push((s, values[..k].to_vec()));
                    }
                }
            }
        }
        j = s;
    }
    Ok(out)
}

/// Whether K markers ending at `end` end where the token table (less padding) or a
/// `kallsyms_seqs_of_names` of a matching N begins.
fn ends_before_table(table_at: usize, end: usize, k: usize) -> bool {
    let Some(gap) = table_at.checked_sub(end) else { return false };
    if gap < 8 {
        return true;
    }
    // 3N bytes, padded to 4 or 8, with (K-1)*256 < N <= K*256.
    let (lo, hi) = (3 * (256 * (k - 1) + 1), 3 * 256 * k + 7);
    (lo..=hi).contains(&gap) && gap % 4 == 0
}

/// The length of the name record at `at` and where its tokens start.
fn name_len(img: &[u8], at: usize) -> Option<(usize, usize)> {
    let b0 = *img.get(at)? as usize;
    if b0 & 0x80 == 0 {
        Some((b0, at + 1))
    } else {
        Some(((b0 & 0x7f) | (*img.get(at + 1)? as usize) << 7, at + 2))
    }
}

/// Step 4: where `kallsyms_num_syms` is, where the names start and how many there are.
fn num_syms(
    img: &[u8],
    markers_at: usize,
    markers: &[u64],
    b: &mut Budget,
) -> Result<Option<(usize, usize, usize)>, Exhausted> {
    let k = markers.len();
    let Some(last) = markers.last().and_then(|&l| usize::try_from(l).ok()) else { return Ok(None) };
    let (lo_n, hi_n) = ((k - 1) * 256 + 1, k * 256);
    // The names end at most 7 bytes before the markers; the last chunk of at most 256
    // names is at most 256 * (2 + 0xffff) bytes, bounding how far back they can start.
    let Some(top) = markers_at.checked_sub(last + 2) else { return Ok(None) };
    let bottom = top.saturating_sub(256 * 0x1_0001);
    for start in (bottom..=top).rev().filter(|s| s % 4 == 0) {
        b.spend(1)?;
        // num_syms is a u32 right before the names, or before 4 bytes of padding.
        for d in [4usize, 8] {
            let Some(num_at) = start.checked_sub(d) else { continue };
            let Some(n) = u32_at(img, num_at).map(|v| v as usize).filter(|n| (lo_n..=hi_n).contains(n))
            else {
                continue;
            };
            if names_match(img, start, n, markers, markers_at, b)? {
                return Ok(Some((num_at, start, n)));
            }
        }
    }
    Ok(None)
}

/// Whether `n` names from `start` put every 256th name on its marker and end before the
/// markers.
fn names_match(
    img: &[u8],
    start: usize,
    n: usize,
    markers: &[u64],
    markers_at: usize,
    b: &mut Budget,
) -> Result<bool, Exhausted> {
    let mut at = start;
    for i in 0..n {
        if i % 256 == 0 {
            b.spend(256)?;
            if (at - start) as u64 != markers[i / 256] {
                return Ok(false);
            }
        }
        let Some((len, body)) = name_len(img, at) else { return Ok(false) };
        at = body + len;
    }
    Ok(at <= markers_at && markers_at - at < 8)
}

/// The `n` names from `at`, expanded: (type letter, name).
fn decode_names(img: &[u8], mut at: usize, n: usize, tokens: &[Vec<u8>]) -> Option<Vec<(u8, String)>> {
    let mut out = Vec::with_capacity(n.min(img.len()));
    let mut buf = Vec::with_capacity(128);
    for _ in 0..n {
        let (len, body) = name_len(img, at)?;
        buf.clear();
        for &t in img.get(body..body.checked_add(len)?)? {
            buf.extend_from_slice(&tokens[t as usize]);
        }
        let (&kind, name) = buf.split_first()?;
        out.push((kind, String::from_utf8_lossy(name).into_owned()));
        at = body + len;
    }
    Some(out)
}

/// Step 5: the N offsets and how to place them.
fn offsets(img: &[u8], num_at: usize, after_index: usize, n: usize) -> Option<(Vec<u64>, Placement)> {
    let read =
        |at: usize| -> Option<Vec<u32>> { (0..n).map(|i| u32_at(img, at.checked_add(4 * i)?)).collect() };
    let after = after_index.next_multiple_of(4);
    // 7.x: relative to their own positions; `_text`'s (the first) points back to offset 0.
    if let Some(v) = read(after)
        && v.first().is_some_and(|&f| (f as i32) < 0)
    {
        let addrs: Option<Vec<u64>> = v
            .iter()
            .enumerate()
            .map(|(i, &o)| u64::try_from((after + 4 * i) as i64 + i64::from(o as i32)).ok())
            .collect();
        if let Some(a) = addrs.filter(|a| sorted(a)) {
            return Some((a, Placement::SelfRelative));
        }
    }
    let bytes = (4 * n).next_multiple_of(8);
    // 5.10, 6.1: offsets, relative_base, num_syms. 6.2 to 6.x: token_index, offsets, relative_base.
    let before = num_at.checked_sub(8 + bytes).map(|o| (o, num_at - 8));
    let after = Some((after_index.next_multiple_of(8), after_index.next_multiple_of(8) + bytes));
    [before, after].into_iter().flatten().find_map(|(at, slot)| {
        let v: Vec<u64> = read(at)?.into_iter().map(u64::from).collect();
        (sorted(&v) && slot + 8 <= img.len()).then_some((v, Placement::RelativeBase { slot }))
    })
}

/// Whether `v` ascends like symbol addresses: never down, and mostly up (aliases share an
/// address; a run of equal words, padding or zeros, is not a table).
fn sorted(v: &[u64]) -> bool {
    let equal = v.windows(2).filter(|w| w[0] == w[1]).count();
    v.windows(2).all(|w| w[0] <= w[1]) && equal < v.len() / 2
}

#[cfg(test)]
mod tests;
