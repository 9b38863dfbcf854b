//! `altcheck --linux` on hostile inputs: each refused (exit 2, the reason on stderr) before
//! time or memory grow with what a header claims, never a panic.

use std::process::{Command, Output};

use altcheck::linux::entry::CallbackMarker;
use altcheck::linux::{elfobj, modules};
use object::write::{Object as WObject, StandardSection};
use object::{Architecture, BinaryFormat, Endianness, SectionKind};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("altcheck-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn altcheck(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_altcheck")).args(["verify", "--linux"]).args(args).output().unwrap()
}

fn refused(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_zboot_header_shorter_than_its_fields_exits_2() {
    let d = dir("zboot");
    let f = d.join("vmlinuz");
    std::fs::write(&f, b"MZ\0\0zimg\x40\0\0\0\xff").unwrap();
    let err = refused(&altcheck(&[f.as_os_str()]));
    assert!(err.contains("EFI zboot header cut short (13 bytes"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_2_gib_sparse_file_is_refused_by_its_size_before_it_is_read() {
    let d = dir("sparse");
    let f = d.join("vmlinuz");
    let file = std::fs::File::create(&f).unwrap();
    file.set_len(2 << 30).unwrap();
    let t = std::time::Instant::now();
    let err = refused(&altcheck(&[f.as_os_str()]));
    assert!(
        err.contains(
            "2147483648 bytes: refused (at most 1073741824 bytes are read for an arm64 kernel image)"
        ),
        "{err}"
    );
    assert!(t.elapsed().as_secs() < 10, "took {:?}", t.elapsed());
    // A sparse module of the same size: refused as well, by its size.
    std::fs::rename(&f, d.join("huge.ko")).unwrap();
    let none = |_: &altcheck::linux::space::Space| Vec::new();
    let e = modules::read_all(&d, CallbackMarker::Bit15, 85, &none).err().expect("refused");
    assert!(e.contains("huge.ko: 2147483648 bytes: refused (at most"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_file_without_a_kernels_magic_is_refused_from_its_first_bytes() {
    let d = dir("magic");
    let f = d.join("vmlinuz");
    std::fs::write(&f, vec![0x42u8; 1 << 20]).unwrap();
    let err = refused(&altcheck(&[f.as_os_str()]));
    assert!(err.contains("not an arm64 kernel image (no known magic in its first bytes)"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// A module with a 64 KiB `.text` and an `.altinstructions` section, then `copies` more
/// section headers naming the same `.text` bytes.
fn module_with_headers(copies: usize) -> Vec<u8> {
    let mut o = WObject::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
    let text = o.section_id(StandardSection::Text);
    o.append_section_data(text, &vec![0x1f; 64 << 10], 4);
    let table = o.add_section(Vec::new(), b".altinstructions".to_vec(), SectionKind::ReadOnlyData);
    o.append_section_data(table, &[0; 12], 4);
    let mut elf = o.write().unwrap();
    let shoff = u64::from_le_bytes(elf[0x28..0x30].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(elf[0x3c..0x3e].try_into().unwrap()) as usize;
    let headers = elf[shoff..shoff + 64 * shnum].to_vec();
    let text_header = (0..shnum)
        .map(|i| &headers[64 * i..64 * (i + 1)])
        .find(|h| u64::from_le_bytes(h[32..40].try_into().unwrap()) == 64 << 10)
        .unwrap()
        .to_vec();
    let new_off = elf.len().next_multiple_of(8);
    elf.resize(new_off, 0);
    elf.extend_from_slice(&headers);
    for _ in 0..copies {
        elf.extend_from_slice(&text_header);
    }
    elf[0x28..0x30].copy_from_slice(&(new_off as u64).to_le_bytes());
    elf[0x3c..0x3e].copy_from_slice(&((shnum + copies) as u16).to_le_bytes());
    elf
}

#[test]
fn a_module_with_thousands_of_section_headers_over_the_same_code_is_refused() {
    let fine = module_with_headers(0);
    assert!(elfobj::module_space("m", &fine, CallbackMarker::Bit15, 85).unwrap().is_some());
    // 20,000 headers over 64 KiB: 1.3 GB of copies, were they made.
    let hostile = module_with_headers(20_000);
    let e = elfobj::module_space("m", &hostile, CallbackMarker::Bit15, 85).err().expect("refused");
    assert!(e.contains("executable sections add up to more than the file's"), "{e}");
}
