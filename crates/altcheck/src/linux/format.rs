//! Kernel image containers: a raw arm64 `Image`, a gzip'd one, an EFI zboot PE whose payload
//! is compressed, or an ELF `vmlinux`. Everything is unpacked to the bytes the kernel runs
//! from, with memory bounded by the input's size.

use std::io::Read;

/// The offset of the arm64 `Image` header's magic (`ARM\x64`, Documentation/arch/arm64/booting.rst).
const IMAGE_MAGIC_AT: usize = 0x38;
/// The arm64 `Image` magic.
const IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";
/// A decompressed kernel may be this many times its compressed size at most: kernels
/// compress 2-5x; anything beyond is refused rather than allowed to exhaust memory.
const MAX_RATIO: u64 = 32;
/// And never more than this, whatever the ratio allows.
const MAX_UNPACKED: u64 = 1 << 30;

/// What the file turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// A raw arm64 `Image` (Debian's `vmlinuz`: the EFI stub's PE/COFF header on a raw Image).
    Image,
    /// A gzip stream holding an `Image`.
    Gzip,
    /// An EFI zboot PE (`zimg` at offset 4) whose payload is compressed.
    Zboot,
    /// An ELF `vmlinux`.
    Elf,
}

impl Container {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Container::Image => "arm64 Image",
            Container::Gzip => "gzip'd arm64 Image",
            Container::Zboot => "EFI zboot image",
            Container::Elf => "ELF vmlinux",
        }
    }
}

/// An unpacked kernel: either the bytes of a raw `Image` or of an ELF file.
pub struct Unpacked {
    /// The outermost container the file was in.
    pub container: Container,
    /// The raw `Image` (file offset 0 is `_text`) or, for [`Container::Elf`], the ELF file.
    pub bytes: Vec<u8>,
    /// Whether `bytes` is an ELF file rather than a raw `Image`.
    pub is_elf: bool,
}

/// The largest input read: a Debian kernel is 30-50 MiB, its `-dbg` vmlinux under 1 GiB.
pub const MAX_INPUT: u64 = 1 << 30;

/// Reads the file at `path` when it starts like a kernel image (`head_ok` on its first
/// bytes) and is at most `max` bytes: the magic and the size are checked before the
/// whole file is read (a 2 GiB sparse file is refused by its size, not read).
pub fn read_checked(
    path: &std::path::Path,
    max: u64,
    head_ok: fn(&[u8]) -> bool,
    what: &str,
) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let len = f.metadata().map_err(|e| format!("cannot read {shown}: {e}"))?.len();
    if len > max {
        return Err(format!("{shown}: {len} bytes: refused (at most {max} bytes are read for {what})"));
    }
    let mut head = Vec::with_capacity(64);
    (&mut f).take(64).read_to_end(&mut head).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !head_ok(&head) {
        return Err(format!("{shown}: not {what} (no known magic in its first bytes)"));
    }
    let mut all = head;
    all.reserve(len as usize);
    f.take(max + 1 - all.len() as u64)
        .read_to_end(&mut all)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if all.len() as u64 > max {
        return Err(format!("{shown}: grew past {max} bytes while read: refused"));
    }
    Ok(all)
}

/// Whether `head` (a file's first bytes) starts like a kernel in any container.
pub fn kernel_magic(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
        || head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(b"MZ")
        || is_raw_image(head)
}

/// Whether `b` starts like a raw arm64 `Image`.
pub fn is_raw_image(b: &[u8]) -> bool {
    b.get(IMAGE_MAGIC_AT..IMAGE_MAGIC_AT + 4) == Some(&IMAGE_MAGIC[..])
}

/// Unpacks `file`, whatever its container, down to a raw `Image` or an ELF.
pub fn unpack(file: Vec<u8>) -> Result<Unpacked, String> {
    let cap = cap_for(file.len());
    if file.starts_with(b"\x7fELF") {
        return Ok(Unpacked { container: Container::Elf, bytes: file, is_elf: true });
    }
    if file.starts_with(&[0x1f, 0x8b]) {
        let inner = gunzip(&file, cap)?;
        return inner_image(Container::Gzip, inner);
    }
    if file.starts_with(b"MZ") && file.get(4..8) == Some(b"zimg") {
        let inner = unzboot(&file, cap)?;
        return inner_image(Container::Zboot, inner);
    }
    if is_raw_image(&file) {
        return Ok(Unpacked { container: Container::Image, bytes: file, is_elf: false });
    }
    Err("not an arm64 kernel image: no Image magic (ARM\\x64 at 0x38), gzip, EFI zboot or ELF header".into())
}

/// The decompression limit for an input of `len` bytes.
fn cap_for(len: usize) -> u64 {
    (len as u64).saturating_mul(MAX_RATIO).min(MAX_UNPACKED)
}

/// The decompressed payload must itself be a raw Image (or an ELF).
fn inner_image(container: Container, bytes: Vec<u8>) -> Result<Unpacked, String> {
    if is_raw_image(&bytes) {
        Ok(Unpacked { container, bytes, is_elf: false })
    } else if bytes.starts_with(b"\x7fELF") {
        Ok(Unpacked { container, bytes, is_elf: true })
    } else {
        Err(format!("the {} holds no arm64 Image (no ARM\\x64 magic at 0x38)", container.name()))
    }
}

/// Reads all of `r`, failing once more than `cap` bytes come out.
fn read_capped(r: impl Read, cap: u64, what: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    r.take(cap + 1).read_to_end(&mut out).map_err(|e| format!("{what}: {e}"))?;
    if out.len() as u64 > cap {
        return Err(format!("{what}: decompresses to more than {cap} bytes: refused"));
    }
    Ok(out)
}

/// Decompresses a gzip stream, at most `cap` bytes.
pub fn gunzip(data: &[u8], cap: u64) -> Result<Vec<u8>, String> {
    read_capped(flate2::read::GzDecoder::new(data), cap, "gzip")
}

/// Decompresses an xz stream, at most `cap` bytes (`lzma-rust2`: pure Rust, as fast as
/// liblzma here, where xz decoding is most of the time a kernel with `.ko.xz` modules takes).
pub fn unxz(data: &[u8], cap: u64) -> Result<Vec<u8>, String> {
    read_capped(lzma_rust2::XzReader::new(data, false), cap, "xz")
}

/// The payload of an EFI zboot image (drivers/firmware/efi/libstub/zboot-header.S: payload
/// offset and size at 8 and 12, the compression's name at 24).
fn unzboot(file: &[u8], cap: u64) -> Result<Vec<u8>, String> {
    if file.len() < 0x40 {
        return Err(format!("EFI zboot header cut short ({} bytes, its fields need 64)", file.len()));
    }
    let u32_at = |o: usize| file.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let (off, size) = (u32_at(8).unwrap_or(0), u32_at(12).unwrap_or(0));
    let payload = off
        .checked_add(size)
        .and_then(|end| file.get(off..end))
        .ok_or_else(|| format!("zboot payload {off:#x}+{size:#x} lies outside the file"))?;
    let name_bytes = file.get(24..file.len().min(24 + 32)).unwrap_or(&[]);
    let name: String = name_bytes.iter().take_while(|&&b| b != 0).map(|&b| b as char).collect();
    match name.as_str() {
        "gzip" => gunzip(payload, cap),
        "xz" => unxz(payload, cap),
        other => Err(format!("zboot payload compressed with '{other}': only gzip and xz are supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn raw_image() -> Vec<u8> {
        let mut b = vec![0u8; 0x100];
        b[IMAGE_MAGIC_AT..IMAGE_MAGIC_AT + 4].copy_from_slice(IMAGE_MAGIC);
        b
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn raw_gzip_and_zboot_images_unpack_to_the_same_bytes() {
        let img = raw_image();
        assert_eq!(unpack(img.clone()).unwrap().container, Container::Image);
        let gz = unpack(gzip(&img)).unwrap();
        assert_eq!((gz.container, gz.bytes == img), (Container::Gzip, true));
        let payload = gzip(&img);
        let mut z = vec![0u8; 0x40];
        z[0..2].copy_from_slice(b"MZ");
        z[4..8].copy_from_slice(b"zimg");
        z[8..12].copy_from_slice(&0x40u32.to_le_bytes());
        z[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        z[24..28].copy_from_slice(b"gzip");
        z.extend_from_slice(&payload);
        let zb = unpack(z).unwrap();
        assert_eq!((zb.container, zb.bytes == img), (Container::Zboot, true));
    }

    #[test]
    fn a_zboot_payload_outside_the_file_and_garbage_are_refused() {
        let mut z = vec![0u8; 0x40];
        z[0..2].copy_from_slice(b"MZ");
        z[4..8].copy_from_slice(b"zimg");
        z[8..12].copy_from_slice(&0x40u32.to_le_bytes());
        z[12..16].copy_from_slice(&0x1000_0000u32.to_le_bytes());
        assert!(unpack(z).err().unwrap().contains("outside the file"));
        assert!(unpack(b"hello".to_vec()).err().unwrap().contains("not an arm64 kernel image"));
    }

    #[test]
    fn a_zboot_header_shorter_than_its_fields_is_refused_not_a_panic() {
        for len in [8, 12, 20, 24, 30, 63] {
            let mut z = vec![0u8; len];
            z[0..2].copy_from_slice(b"MZ");
            z[4..8].copy_from_slice(b"zimg");
            let e = unpack(z).err().unwrap();
            assert!(e.starts_with("EFI zboot header cut short"), "{len}: {e}");
        }
    }

    #[test]
    fn decompression_beyond_the_cap_is_refused() {
        let zeros = gzip(&vec![0u8; 1 << 20]);
        assert!(gunzip(&zeros, 1000).err().unwrap().contains("more than 1000 bytes"));
        assert_eq!(gunzip(&zeros, 1 << 20).unwrap().len(), 1 << 20);
    }
}
