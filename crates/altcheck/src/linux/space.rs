//! One alternatives table with the code it patches: the kernel's, the vDSO's or a module's.

use super::entry::{Alt, Loc};
use super::symbols::Symbols;

/// A stretch of code: its address and bytes.
pub struct Region {
    /// Its first byte's address.
    pub addr: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Region {
    /// The bytes `[addr, addr + len)` when all lie in this region.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let off = usize::try_from(addr.checked_sub(self.addr)?).ok()?;
        self.bytes.get(off..off.checked_add(len)?)
    }
}

/// A table and where it may point.
pub struct Space {
    /// `vmlinux`, `vdso`, or the module's name.
    pub name: String,
    /// The code sites and replacements must lie in (the kernel's text and init text; a
    /// module's executable sections; the vDSO's text).
    pub text: Vec<Region>,
    /// Symbols naming addresses of the space.
    pub symbols: Symbols,
    /// The table, decoded.
    pub entries: Vec<Alt>,
    /// Whether the distance between two text regions is final (a linked image) or chosen
    /// when loading (a module's sections): branch reach is checked across regions only then.
    pub linked: bool,
}

impl Space {
    /// The text region holding all of `[addr, addr + len)` and its bytes there.
    pub fn code(&self, addr: u64, len: usize) -> Option<(usize, &[u8])> {
        self.text.iter().enumerate().find_map(|(i, r)| r.read(addr, len).map(|b| (i, b)))
    }

    /// `loc` for a report: `symbol+0xoff` where a symbol covers it.
    pub fn describe(&self, loc: &Loc) -> String {
        match loc {
            Loc::Addr(a) => self.symbols.describe(*a),
            Loc::External(name) => name.clone(),
        }
    }
}
