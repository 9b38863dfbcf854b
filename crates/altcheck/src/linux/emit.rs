//! The kernel text as Linux leaves it after boot and system-wide alternatives
//! (arch/arm64/kernel/alternative.c, `__apply_alternatives`): the entries whose capability is
//! on are applied in table order, a replacement word by word through `get_alt_insn`
//! (insnfix.rs), a callback as callbacks.rs models it or, where its result depends on more
//! than the image, the model and the command line, left as the original bytes and said so.
//! Only the kernel's own table: the vDSO's sites live in a copy mapped to user space.

use super::callbacks::{self, Callback};
use super::entry::{Alt, Loc};
use super::insnfix;
use super::kernel::Kernel;
use super::space::Space;

/// What happened at one entry's site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// The entry's index in the kernel's table.
    pub index: usize,
    /// Its capability number.
    pub cap: u16,
    /// Whether Linux applies it (capability on).
    pub applied: bool,
    /// Why (or why not).
    pub why: String,
    /// A callback whose result this tool cannot know; the bytes stay the original's.
    pub runtime_dependent: bool,
    /// A callback this tool models.
    pub modelled: bool,
    /// The site's offset in the raw Image.
    pub offset: usize,
    /// Its link address.
    pub addr: u64,
    /// The bytes before.
    pub before: Vec<u8>,
    /// The bytes after this entry (the original's unless applied and known).
    pub after: Vec<u8>,
}

/// The image with every applicable entry of `space` (the kernel's) applied, and one `Site`
/// per entry. `on(cap)`: whether the capability is on.
pub fn emit(k: &Kernel, space: &Space, on: &dyn Fn(u16) -> bool) -> Result<(Vec<u8>, Vec<Site>), String> {
    let mut out = k.image.clone();
    let mut sites = Vec::with_capacity(space.entries.len());
    for e in &space.entries {
        sites.push(apply(k, space, e, on(e.cap), &mut out)?);
    }
    Ok((out, sites))
}

/// One entry applied to `out`.
fn apply(k: &Kernel, space: &Space, e: &Alt, on: bool, out: &mut [u8]) -> Result<Site, String> {
    let Loc::Addr(addr) = e.site else { return Err(format!("entry {}: site outside the image", e.index)) };
    let len = usize::from(e.orig_len);
    let offset = usize::try_from(addr.checked_sub(k.base).ok_or("site below the image")?)
        .map_err(|_| "site offset too large")?;
    let range = offset..offset.checked_add(len).ok_or("site length overflows")?;
    let before =
        k.image.get(range.clone()).ok_or(format!("entry {}: site past the image", e.index))?.to_vec();
    let mut site = Site {
        index: e.index,
        cap: e.cap,
        applied: on,
        why: String::new(),
        runtime_dependent: false,
        modelled: false,
        offset,
        addr,
        after: before.clone(),
        before,
    };
    if !on {
        site.why = "capability off on this model and command line".into();
    } else if e.callback {
        let name = space.describe(&e.target);
        match callbacks::model(&name, len) {
            Callback::Bytes(b) => {
                site.modelled = true;
                site.why = format!("callback {name}: modelled");
                site.after = b;
            }
            Callback::Runtime(reason) => {
                site.runtime_dependent = true;
                site.why = format!("callback {name}: runtime-dependent: {reason}");
            }
        }
    } else {
        match replacement(k, e, addr) {
            Ok(b) => {
                site.why = "capability on: replacement applied".into();
                site.after = b;
            }
            Err(reason) => site.why = format!("Linux would stop here: {reason}"),
        }
    }
    out[range].copy_from_slice(&site.after);
    Ok(site)
}

/// `patch_alternative`: the replacement's words, each fixed up for the site.
fn replacement(k: &Kernel, e: &Alt, site: u64) -> Result<Vec<u8>, String> {
    let Loc::Addr(repl) = e.target else { return Err("replacement outside the image".into()) };
    if e.alt_len != e.orig_len {
        return Err(format!("alt_len {} != orig_len {} (BUG_ON)", e.alt_len, e.orig_len));
    }
    let bytes = k.bytes(repl, usize::from(e.alt_len)).ok_or("replacement past the image")?;
    let mut out = Vec::with_capacity(bytes.len());
    for (i, w) in bytes.chunks_exact(4).enumerate() {
        let at = 4 * i as u64;
        let insn = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let moved = insnfix::moved(insn, repl + at, site + at, repl, u64::from(e.alt_len))?;
        out.extend_from_slice(&moved.to_le_bytes());
    }
    Ok(out)
}
