//! A kernel's symbols, from wherever they came (kallsyms, System.map, an ELF symbol table):
//! naming addresses as `symbol+offset` and telling where functions start.

use std::collections::HashMap;

/// One symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sym {
    /// Its address (a link address, or an offset into the image when the base is unknown).
    pub addr: u64,
    /// Its `nm` type letter (`T`, `t`, `D`, ...).
    pub kind: u8,
    /// Its name.
    pub name: String,
}

impl Sym {
    /// Whether the symbol names code (`nm` types T/t and weak W/w).
    pub fn is_text(&self) -> bool {
        matches!(self.kind, b'T' | b't' | b'W' | b'w')
    }
}

/// Symbols sorted by address, with a name index.
#[derive(Default)]
pub struct Symbols {
    syms: Vec<Sym>,
    by_name: HashMap<String, u64>,
}

impl Symbols {
    /// The table of `syms` (any order).
    pub fn new(mut syms: Vec<Sym>) -> Self {
        syms.sort_by_key(|a| (a.addr, !a.is_text()));
        let mut by_name = HashMap::with_capacity(syms.len());
        for s in &syms {
            by_name.entry(s.name.clone()).or_insert(s.addr);
        }
        Symbols { syms, by_name }
    }

    /// Parses a System.map (`ADDR TYPE NAME` lines). Debian's packaged one is a stub
    /// pointing at the -dbg package: refused as such.
    pub fn from_system_map(text: &str) -> Result<Self, String> {
        let mut syms = Vec::new();
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (Some(a), Some(k), Some(n)) = (f.next(), f.next(), f.next()) else { continue };
            let addr = u64::from_str_radix(a, 16).map_err(|_| format!("bad System.map line: {line}"))?;
            syms.push(Sym { addr, kind: k.as_bytes()[0], name: n.to_owned() });
        }
        if syms.len() < 2 {
            return Err(
                "the System.map holds no symbols (Debian ships a stub; the real one is in the -dbg package)"
                    .into(),
            );
        }
        Ok(Symbols::new(syms))
    }

    /// The symbols with every address moved by `delta` (wrapping).
    pub fn rebased(self, delta: u64) -> Self {
        let syms = self.syms.into_iter().map(|s| Sym { addr: s.addr.wrapping_add(delta), ..s }).collect();
        Symbols::new(syms)
    }

    /// Adds `extra` (labels for ranges the layout found, where no symbol names them).
    pub fn add(&mut self, extra: Vec<Sym>) {
        for s in &extra {
            self.by_name.entry(s.name.clone()).or_insert(s.addr);
        }
        self.syms.extend(extra);
        self.syms.sort_by_key(|a| (a.addr, !a.is_text()));
    }

    /// The same symbols but those called one of `names` (what the layout finds without them).
    pub fn without(&self, names: &[&str]) -> Symbols {
        Symbols::new(self.syms.iter().filter(|s| !names.contains(&s.name.as_str())).cloned().collect())
    }

    /// How many symbols there are.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The address of the first symbol called `name`.
    pub fn addr(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).copied()
    }

    /// Whether a text symbol starts exactly at `addr`.
    pub fn is_function_start(&self, addr: u64) -> bool {
        let i = self.syms.partition_point(|s| s.addr < addr);
        self.syms[i..].iter().take_while(|s| s.addr == addr).any(Sym::is_text)
    }

    /// The symbol at or before `addr` (a text one where several share the address).
    pub fn covering(&self, addr: u64) -> Option<&Sym> {
        let i = self.syms.partition_point(|s| s.addr <= addr);
        let last = self.syms[..i].last()?;
        let same = || self.syms[..i].iter().rev().take_while(|s| s.addr == last.addr);
        // KVM's nVHE objects alias kernel functions as `__kvm_nvhe_<name>`: the plain name
        // is the one people know.
        same()
            .find(|s| s.is_text() && !s.name.starts_with("__kvm_nvhe_"))
            .or_else(|| same().find(|s| s.is_text()))
            .or(Some(last))
    }

    /// `addr` as `symbol+0xoff`, or `0x…` when no symbol precedes it.
    pub fn describe(&self, addr: u64) -> String {
        match self.covering(addr) {
            Some(s) => format!("{}+{:#x}", s.name, addr - s.addr),
            None => format!("{addr:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Symbols {
        Symbols::from_system_map("ffff800008010000 T _stext\nffff800008010000 d data_label\nffff800008010040 T foo\nffff800008010080 D bar\n").unwrap()
    }

    #[test]
    fn addresses_are_named_by_the_text_symbol_before_them() {
        let t = table();
        assert_eq!(t.describe(0xffff800008010044), "foo+0x4");
        assert_eq!(t.describe(0xffff800008010000), "_stext+0x0");
        assert_eq!(t.describe(0x1000), "0x1000");
        assert!(t.is_function_start(0xffff800008010040));
        assert!(!t.is_function_start(0xffff800008010044));
        assert!(!t.is_function_start(0xffff800008010080));
    }

    #[test]
    fn debians_stub_system_map_is_refused() {
        let stub = "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n";
        assert!(Symbols::from_system_map(stub).err().unwrap().contains("stub"));
    }
}
