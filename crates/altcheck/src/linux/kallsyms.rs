//! Finding and decoding the kernel's compressed symbol table (kallsyms) in a raw `Image`,
//! where no ELF header says where it is.
//!
//! How the detector works (scripts/kallsyms.c writes the arrays; every label is 8-aligned):
//!
//! 1. **Token index.** `kallsyms_token_index` is 256 `u16`s: 0 first, then strictly
//!    increasing by the length of each token plus its NUL (2..=`MAX_TOKEN` + 1). 512 bytes
//!    that climb like that are rare; each such run is a candidate.
//! 2. **Token table.** `kallsyms_token_table` ends just before the index (at most 7 bytes of
//!    padding): 256 non-empty printable strings, each ending with a NUL exactly where the
//!    index says the next one starts. The candidate is kept only if such a table is found.
//! 3. **Markers.** `kallsyms_markers` comes before the token table: one entry (u32 or u64)
//!    per 256 symbols, the offset of that symbol's name, strictly increasing from 0 (the
//!    second at least 512: 256 names of 2 bytes or more). Between them there is either
//!    nothing or `kallsyms_seqs_of_names`, 3 bytes per symbol (Linux 6.2; Debian's 6.1 has
//!    it backported), so K markers must end exactly where the table (less padding) or a
//!    3N-byte array with (K-1)*256 < N <= K*256 begins. (So a table of 256 symbols or
//!    fewer, one marker, is not recognised: no kernel is that small.)
//! 4. **Names.** `kallsyms_num_syms` (N, with (K-1)*256 < N <= K*256) is followed by
//!    `kallsyms_names`: N length-prefixed token strings (a length byte, or two when its top
//!    bit is set, Linux 6.1's "big symbols"). A candidate N is accepted only when stepping
//!    over the N names lands every 256th name on its marker and ends where the markers begin.
//! 5. **Offsets.** `kallsyms_offsets` (CONFIG_KALLSYMS_BASE_RELATIVE: N u32 offsets from
//!    `kallsyms_relative_base`, ascending because the table is sorted by address) lies just
//!    before `kallsyms_relative_base`, which lies just before `kallsyms_num_syms` (6.1), or
//!    after the token index (later kernels); the order whose offsets ascend is taken.
//!
//! Every read is bounds-checked against the image: a truncated or hostile image yields
//! `None`, never a panic or an allocation sized by a field.

/// The longest token scripts/kallsyms.c makes is far shorter; this bounds the search.
const MAX_TOKEN: usize = 64;
/// How far before the token table the markers may start (names of a few million symbols).
const MAX_SEARCH: usize = 64 << 20;

/// The decoded table.
pub struct Kallsyms {
    /// `(type letter, name, offset from kallsyms_relative_base)` per symbol, in table order.
    pub syms: Vec<(u8, String, u64)>,
    /// File offset of the `kallsyms_relative_base` slot (an absolute address, filled by a
    /// relocation in a relocatable Image).
    pub relative_base_at: usize,
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

/// Finds and decodes kallsyms in `img`.
pub fn find(img: &[u8]) -> Option<Kallsyms> {
    (0..img.len().saturating_sub(512))
        .step_by(8)
        .filter(|&p| looks_like_index(img, p))
        .find_map(|p| decode_at(img, p))
}

/// Step 1: 256 u16s from 0, each step a token length plus one.
fn looks_like_index(img: &[u8], p: usize) -> bool {
    if u16_at(img, p) != Some(0) {
        return false;
    }
    let mut prev = 0u16;
    for i in 1..256 {
        let Some(v) = u16_at(img, p + 2 * i) else { return false };
        let step = v.wrapping_sub(prev) as usize;
        if v <= prev || !(2..=MAX_TOKEN + 1).contains(&step) {
            return false;
        }
        prev = v;
    }
    true
}

/// Steps 2-5 for the token index at `p`.
fn decode_at(img: &[u8], p: usize) -> Option<Kallsyms> {
    let index: Vec<usize> =
        (0..256).map(|i| u16_at(img, p + 2 * i).map(usize::from)).collect::<Option<_>>()?;
    let (table_at, tokens) = token_table(img, p, &index)?;
    let (num_at, n) = [4usize, 8].iter().find_map(|&w| {
        markers_before(img, table_at, w).find_map(|(at, markers, seqs)| {
            let (num_at, n) = num_syms(img, at, &markers)?;
            (seqs == 0 || seqs == (3 * n + 7) & !7).then_some((num_at, n))
        })
    })?;
    let names = decode_names(img, num_at + 8, n, &tokens)?;
    let (offsets, relative_base_at) = offsets(img, num_at, p + 512, n)?;
    let syms = names.into_iter().zip(offsets).map(|((k, name), off)| (k, name, off)).collect();
    Some(Kallsyms { syms, relative_base_at })
}

/// Step 2: the table's start and its 256 tokens.
fn token_table(img: &[u8], p: usize, index: &[usize]) -> Option<(usize, Vec<Vec<u8>>)> {
    let last = index[255];
    let lo = p.checked_sub(last + MAX_TOKEN + 8)?;
    let hi = p.checked_sub(last + 2)?;
    (lo..=hi).rev().filter(|t| t % 4 == 0).find_map(|t| {
        let tokens: Vec<Vec<u8>> = (0..256)
            .map(|i| {
                let start = t + index[i];
                let end = if i < 255 {
                    t + index[i + 1] - 1
                } else {
                    start + img.get(start..p)?.iter().position(|&b| b == 0)?
                };
                let tok = img.get(start..end)?;
                let ok = img.get(end) == Some(&0)
                    && !tok.is_empty()
                    && tok.iter().all(|&b| (0x20..0x7f).contains(&b));
                ok.then(|| tok.to_vec())
            })
            .collect::<Option<_>>()?;
        // The table ends at most 7 bytes of padding before the index.
        let end = t + last + tokens[255].len() + 1;
        (p - end < 8).then_some((t, tokens))
    })
}

/// Step 3: markers (width `w`) ending before `table_at`, either right before it or before
/// `kallsyms_seqs_of_names` (3 bytes per symbol, Linux 6.2, backported to Debian's 6.1):
/// candidates `(start, values, end)` nearest the table first.
fn markers_before(
    img: &[u8],
    table_at: usize,
    w: usize,
) -> impl Iterator<Item = (usize, Vec<u64>, usize)> + '_ {
    let read = move |o: usize| if w == 4 { u32_at(img, o).map(u64::from) } else { u64_at(img, o) };
    let lowest = table_at.saturating_sub(MAX_SEARCH);
    (lowest..table_at).rev().filter(|m| m % 8 == 0).filter_map(move |m| {
        // markers[1] is the length of 256 names: at least 2 bytes each.
        if read(m)? != 0 || !(512..=256 * 0x1_0001).contains(&read(m + w)?) {
            return None;
        }
        let mut values = vec![0];
        let mut at = m + w;
        while at + w <= table_at {
            let v = read(at)?;
            if v <= *values.last()? || values.len() > 1 << 16 {
                break;
            }
            values.push(v);
            at += w;
        }
        // The last value read may belong to what follows: try every prefix, longest first.
        (2..=values.len()).rev().find_map(|k| {
            let end = m + k * w;
            let gap = table_at.checked_sub((end + 7) & !7)?;
            let seqs_fit = (256 * (k - 1) + 1..=256 * k).any(|n| gap == (3 * n + 7) & !7);
            (gap == 0 || seqs_fit).then(|| (m, values[..k].to_vec(), gap))
        })
    })
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

/// Step 4: `kallsyms_num_syms`' offset and value.
fn num_syms(img: &[u8], markers_at: usize, markers: &[u64]) -> Option<(usize, usize)> {
    let k = markers.len();
    let last = usize::try_from(*markers.last()?).ok()?;
    let (lo_n, hi_n) = ((k - 1) * 256 + 1, k * 256);
    // The names end at most 7 bytes before the markers; the last chunk of at most 256 names
    // is at most 256 * (2 + 0xffff) bytes, bounding how far back num_syms can be.
    let top = markers_at.checked_sub(last + 8)?;
    let bottom = top.saturating_sub(256 * 0x1_0001);
    (bottom..=top).rev().filter(|s| s % 4 == 0).find_map(|s| {
        let n = u32_at(img, s)? as usize;
        if !(lo_n..=hi_n).contains(&n) {
            return None;
        }
        let start = s + 8;
        let mut at = start;
        for i in 0..n {
            if i % 256 == 0 && (at - start) as u64 != markers[i / 256] {
                return None;
            }
            let (len, body) = name_len(img, at)?;
            at = body + len;
        }
        (at <= markers_at && markers_at - at < 8).then_some((s, n))
    })
}

/// The `n` names from `at`, expanded: (type letter, name).
fn decode_names(img: &[u8], mut at: usize, n: usize, tokens: &[Vec<u8>]) -> Option<Vec<(u8, String)>> {
    let mut out = Vec::with_capacity(n.min(img.len()));
    let mut buf = Vec::with_capacity(128);
    for _ in 0..n {
        let (len, body) = name_len(img, at)?;
        buf.clear();
        for &t in img.get(body..body + len)? {
            buf.extend_from_slice(&tokens[t as usize]);
        }
        let (&kind, name) = buf.split_first()?;
        out.push((kind, String::from_utf8_lossy(name).into_owned()));
        at = body + len;
    }
    Some(out)
}

/// Step 5: the N offsets (relative to `kallsyms_relative_base`) and the base slot's offset.
fn offsets(img: &[u8], num_at: usize, after_index: usize, n: usize) -> Option<(Vec<u64>, usize)> {
    let bytes = (4 * n + 7) & !7;
    // 6.1: offsets, relative_base, num_syms. Later: token_index, offsets, relative_base.
    let before = num_at.checked_sub(8 + bytes).map(|o| (o, num_at - 8));
    let after = Some((after_index + 7) & !7).map(|o| (o, o + bytes));
    [before, after].into_iter().flatten().find_map(|(at, base_at)| {
        let offs: Vec<u64> = (0..n).map(|i| u32_at(img, at + 4 * i).map(u64::from)).collect::<Option<_>>()?;
        let ascending = offs.windows(2).all(|w| w[0] <= w[1]);
        (ascending && base_at + 8 <= img.len()).then_some((offs, base_at))
    })
}

#[cfg(test)]
mod tests;
