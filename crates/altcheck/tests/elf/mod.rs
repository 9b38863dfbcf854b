//! A minimal AArch64 ELF64 writer for the tests: the sections `altcheck` reads, a symbol
//! table, nothing else (no program headers: `altcheck` works from section headers).

/// One section: name, address, flags (SHF_ALLOC = 2, SHF_EXECINSTR = 4), bytes.
pub struct Section {
    /// Section name.
    pub name: &'static str,
    /// sh_addr.
    pub addr: u64,
    /// sh_flags.
    pub flags: u64,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// STT_NOTYPE: a label, as assembly routines are (ELF gABI, "Symbol Table").
pub const NOTYPE: u8 = 0;
/// STT_FUNC.
pub const FUNC: u8 = 2;

/// Builds the ELF file; `symbols` are (name, address, size, section index from 1, STT_*
/// type), all STB_GLOBAL.
pub fn build(sections: &[Section], symbols: &[(&str, u64, u64, u16, u8)]) -> Vec<u8> {
    let mut shstr = vec![0u8];
    let name_at = |n: &str, tab: &mut Vec<u8>| {
        let at = tab.len() as u32;
        tab.extend_from_slice(n.as_bytes());
        tab.push(0);
        at
    };
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 24];
    for &(name, addr, size, shndx, ty) in symbols {
        let n = name_at(name, &mut strtab);
        symtab.extend_from_slice(&n.to_le_bytes());
        symtab.push(0x10 | ty); // STB_GLOBAL
        symtab.push(0);
        symtab.extend_from_slice(&shndx.to_le_bytes());
        symtab.extend_from_slice(&addr.to_le_bytes());
        symtab.extend_from_slice(&size.to_le_bytes());
    }
    // Section bodies after the 64-byte header; headers at the end.
    let mut body = Vec::new();
    let mut headers: Vec<[u64; 8]> = vec![[0; 8]]; // name,type,flags,addr,offset,size,link,entsize
    let nsec = sections.len() as u64;
    let mut push = |name: &str,
                    ty: u64,
                    flags: u64,
                    addr: u64,
                    data: &[u8],
                    link: u64,
                    entsize: u64,
                    shstr: &mut Vec<u8>| {
        while body.len() % 8 != 0 {
            body.push(0);
        }
        let off = 64 + body.len() as u64;
        body.extend_from_slice(data);
        headers.push([
            u64::from(name_at(name, shstr)),
            ty,
            flags,
            addr,
            off,
            data.len() as u64,
            link,
            entsize,
        ]);
    };
    for s in sections {
        push(s.name, 1, s.flags, s.addr, &s.bytes, 0, 0, &mut shstr);
    }
    push(".symtab", 2, 0, 0, &symtab, nsec + 2, 24, &mut shstr);
    push(".strtab", 3, 0, 0, &strtab, 0, 0, &mut shstr);
    let shstr_name = name_at(".shstrtab", &mut shstr);
    let shstr_copy = shstr.clone();
    while body.len() % 8 != 0 {
        body.push(0);
    }
    let off = 64 + body.len() as u64;
    body.extend_from_slice(&shstr_copy);
    headers.push([u64::from(shstr_name), 3, 0, 0, off, shstr_copy.len() as u64, 0, 0]);
    while body.len() % 8 != 0 {
        body.push(0);
    }
    let shoff = 64 + body.len() as u64;

    let mut f = Vec::new();
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes()); // entry
    f.extend_from_slice(&0u64.to_le_bytes()); // phoff
    f.extend_from_slice(&shoff.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 0, 64, headers.len() as u16, headers.len() as u16 - 1] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    f.extend_from_slice(&body);
    for h in headers {
        f.extend_from_slice(&(h[0] as u32).to_le_bytes());
        f.extend_from_slice(&(h[1] as u32).to_le_bytes());
        f.extend_from_slice(&h[2].to_le_bytes());
        f.extend_from_slice(&h[3].to_le_bytes());
        f.extend_from_slice(&h[4].to_le_bytes());
        f.extend_from_slice(&h[5].to_le_bytes());
        f.extend_from_slice(&(h[6] as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes()); // info
        f.extend_from_slice(&8u64.to_le_bytes()); // addralign
        f.extend_from_slice(&h[7].to_le_bytes());
    }
    f
}
