//! Every module under a directory (`.ko`, `.ko.xz`, `.ko.gz`), read on all cores.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::checks::Defect;
use super::elfobj;
use super::entry::CallbackMarker;
use super::format;
use super::space::Space;

/// A module's decompressed size may be this many times its file's, at most (test_bpf.ko
/// in Debian 6.12 is 65x: mostly zero-filled test vectors).
const MAX_RATIO: u64 = 256;

/// The modules read.
pub struct Modules {
    /// Modules with an alternatives table, as spaces (without their code), sorted by name.
    pub spaces: Vec<Space>,
    /// Their defects, in the same order.
    pub defects: Vec<Defect>,
    /// How many module files were read.
    pub files: usize,
}

/// What checks a module's table.
pub type Check<'a> = &'a (dyn Fn(&Space) -> Vec<Defect> + Sync);

/// The module files under `dir`, sorted.
fn module_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))? {
            let p = e.map_err(|e| format!("{}: {e}", d.display()))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() {
                todo.push(p);
            } else if [".ko", ".ko.xz", ".ko.gz"].iter().any(|s| name.ends_with(s)) {
                out.push(p);
            } else if name.ends_with(".ko.zst") {
                return Err(format!(
                    "{}: zstd-compressed modules are not supported (gzip and xz are)",
                    p.display()
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The largest module file read (Debian's largest `.ko` is a few tens of MiB).
const MAX_MODULE: u64 = 256 << 20;

/// Whether `head` starts like a module: an ELF, xz or gzip stream.
fn module_magic(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF") || head.starts_with(b"\xfd7zXZ\0") || head.starts_with(&[0x1f, 0x8b])
}

/// The module's name (its file name without `.ko[.xz|.gz]`) and its ELF bytes.
fn read_module(path: &Path) -> Result<(String, Vec<u8>), String> {
    let raw = format::read_checked(path, MAX_MODULE, module_magic, "a kernel module (.ko, .ko.xz, .ko.gz)")?;
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let name = file.split(".ko").next().unwrap_or(file).to_owned();
    let cap = (raw.len() as u64).saturating_mul(MAX_RATIO).min(format::MAX_INPUT);
    let elf = if file.ends_with(".xz") {
        format::unxz(&raw, cap)
    } else if file.ends_with(".gz") {
        format::gunzip(&raw, cap)
    } else {
        Ok(raw)
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((name, elf))
}

/// Reads and checks (`check`) every module under `dir`, on all cores: each thread takes
/// the next file from a shared counter (a few large modules must not leave one core with
/// most of the work), decompresses it, checks it and keeps its entries and defects; its
/// code is dropped there (memory stays a few modules' worth per core).
pub fn read_all(dir: &Path, marker: CallbackMarker, ncaps: u16, check: Check<'_>) -> Result<Modules, String> {
    let files = module_files(dir)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let next = AtomicUsize::new(0);
    type Done = Vec<(Space, Vec<Defect>)>;
    let results: Vec<Result<Done, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    while let Some(p) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let (name, elf) = read_module(p)?;
                        let space = elfobj::module_space(&name, &elf, marker, ncaps)
                            .map_err(|e| format!("{}: {e}", p.display()))?;
                        if let Some(mut space) = space {
                            let defects = check(&space);
                            space.text = Vec::new();
                            out.push((space, defects));
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a module reader panicked".into())))
            .collect()
    });
    let mut done = Vec::new();
    for r in results {
        done.extend(r?);
    }
    done.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let (spaces, defects): (Vec<Space>, Vec<Vec<Defect>>) = done.into_iter().unzip();
    Ok(Modules { spaces, defects: defects.into_iter().flatten().collect(), files: files.len() })
}
