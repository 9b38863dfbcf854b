//! `altcheck ... --linux`: loads the image, its capability list and its modules, and checks
//! every table.

use std::path::PathBuf;

use super::checks::{self, Context, Defect};
use super::cpucaps::LinuxCaps;
use super::crosscheck::{self, CrossCheck};
use super::elfobj;
use super::entry::{self, Version};
use super::format;
use super::kernel::{self, Kernel};
use super::modules;
use super::space::Space;

/// What the command line names.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The kernel image.
    pub image: PathBuf,
    /// The headers' `cpucaps.h` / `cpucap-defs.h`.
    pub cpucaps: Option<PathBuf>,
    /// A System.map.
    pub system_map: Option<PathBuf>,
    /// The modules' directory.
    pub modules: Option<PathBuf>,
}

/// Everything loaded.
pub struct Analysis {
    /// The kernel (its symbols are in the first space's).
    pub kernel: Kernel,
    /// Its capability list.
    pub caps: LinuxCaps,
    /// What the image said about the list.
    pub cross: CrossCheck,
    /// The kernel's table, then the vDSO's, then one per module with a table.
    pub spaces: Vec<Space>,
    /// How many of `spaces` belong to the kernel image (vmlinux and its vDSOs).
    pub kernel_spaces: usize,
    /// Module files read.
    pub module_files: usize,
    /// How the kernel marks callbacks (its version's convention).
    pub marker: entry::CallbackMarker,
    /// The modules' defects, found as each module was read (its code is not kept).
    module_defects: Vec<Defect>,
}

/// The counts of the summary line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The kernel release.
    pub release: String,
    /// Entries in the kernel image (its own table and the vDSO's).
    pub kernel_entries: usize,
    /// Of which callbacks.
    pub kernel_callbacks: usize,
    /// Entries in modules.
    pub module_entries: usize,
    /// Modules with a table.
    pub modules: usize,
    /// Defects found.
    pub defects: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "altcheck: linux {}: {} entries ({} callbacks) in the kernel, {} entries in {} modules, {} defects",
            self.release,
            self.kernel_entries,
            self.kernel_callbacks,
            self.module_entries,
            self.modules,
            self.defects
        )
    }
}

/// The largest capability list or System.map read (Debian's System.map is ~10 MiB).
const MAX_TEXT: u64 = 256 << 20;

/// A text input (capability list, System.map), its size checked before it is read.
fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    format::read_checked(path, MAX_TEXT, |_| true, "text file")
}

/// The kernel at `path`: an ELF is read in part (its loaded sections and symbols), any
/// other container whole, after its size and magic are checked.
fn load_kernel(path: &std::path::Path, map: Option<&str>) -> Result<Kernel, String> {
    let mut head = [0u8; 4];
    let is_elf = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|()| &head == b"\x7fELF");
    if is_elf {
        return kernel::load_elf_file(path, map);
    }
    kernel::load(
        format::read_checked(path, format::MAX_INPUT, format::kernel_magic, "an arm64 kernel image")?,
        map,
    )
}

/// Loads everything `inputs` names. `Err` is unusable input.
pub fn load(inputs: &Inputs) -> Result<Analysis, String> {
    let map = inputs.system_map.as_deref().map(read).transpose()?;
    let map = map.as_deref().map(String::from_utf8_lossy);
    let image = inputs.image.display().to_string();
    let mut kernel = load_kernel(&inputs.image, map.as_deref()).map_err(|e| format!("{image}: {e}"))?;
    let (caps, cross) = capability_list(&kernel, inputs)?;
    let version = Version::of_release(&kernel.release)
        .ok_or_else(|| format!("{image}: release {} has no version", kernel.release))?;
    let marker = version.callback_marker();
    let vmlinux = kernel_space(&mut kernel, marker, caps.ncaps)?;
    let mut spaces = vec![vmlinux];
    spaces.extend(elfobj::vdsos(&kernel.image, marker, caps.ncaps));
    let kernel_spaces = spaces.len();
    let (mut module_files, mut module_defects) = (0, Vec::new());
    if let Some(dir) = &inputs.modules {
        let m = {
            let cx = Context { caps: &caps, kernel: &spaces[0].symbols, marker };
            modules::read_all(dir, marker, caps.ncaps, &|s: &Space| checks::check(s, &cx))?
        };
        module_files = m.files;
        module_defects = m.defects;
        spaces.extend(m.spaces);
    }
    Ok(Analysis { kernel, caps, cross, spaces, kernel_spaces, module_files, marker, module_defects })
}

/// The kernel's own table as a space; its symbols move there (modules' callbacks are looked
/// up in them).
fn kernel_space(kernel: &mut Kernel, marker: entry::CallbackMarker, ncaps: u16) -> Result<Space, String> {
    let (lo, hi) = (kernel.table.start, kernel.table.end);
    let len = (hi - lo) as usize;
    if !len.is_multiple_of(entry::ENTRY_SIZE) {
        return Err(format!(
            "the alternatives table's {len} bytes are not a whole number of {}-byte entries: not this entry format",
            entry::ENTRY_SIZE
        ));
    }
    let table = kernel.bytes(lo, len).ok_or("the alternatives table lies outside the image")?;
    let entries = entry::decode_table(lo, table, marker, ncaps);
    Ok(Space {
        name: "vmlinux".into(),
        text: kernel.text_regions(),
        symbols: std::mem::take(&mut kernel.symbols),
        entries,
        linked: true,
    })
}

/// The list to use, and the image's word on it: `--cpucaps`, else the shipped list for
/// this release. A list the image contradicts is refused, named as another ABI's.
fn capability_list(kernel: &Kernel, inputs: &Inputs) -> Result<(LinuxCaps, CrossCheck), String> {
    let caps = match &inputs.cpucaps {
        Some(p) => LinuxCaps::parse(&String::from_utf8_lossy(&read(p)?), &p.display().to_string())?,
        None => LinuxCaps::shipped(&kernel.release).ok_or_else(|| {
            format!(
                "no capability list shipped for Linux {}: pass --cpucaps (arch/arm64/include/generated/asm/cpucaps.h or cpucap-defs.h of linux-headers-{})",
                kernel.release, kernel.release
            )
        })?,
    };
    let found = crosscheck::descriptors(&kernel.image, kernel.base, &kernel.relocs);
    let ncaps = crosscheck::image_ncaps(&kernel.image, kernel.base, &kernel.symbols);
    let cross = crosscheck::compare(&caps, &found, ncaps);
    if let Some(why) = cross.refusal() {
        return Err(format!(
            "{} is not Linux {}'s capability list (a list from another ABI, or edited): {why}",
            caps.source, kernel.release
        ));
    }
    Ok((caps, cross))
}

impl Analysis {
    /// Every defect of every table: the kernel's, then the modules' (in name order).
    pub fn defects(&self) -> Vec<Defect> {
        let cx = Context { caps: &self.caps, kernel: &self.spaces[0].symbols, marker: self.marker };
        let kernel = self.spaces[..self.kernel_spaces].iter().flat_map(|s| checks::check(s, &cx));
        kernel.chain(self.module_defects.iter().cloned()).collect()
    }

    /// The counts for `defects` defects.
    pub fn summary(&self, defects: usize) -> Summary {
        let (kernel, modules) = self.spaces.split_at(self.kernel_spaces);
        Summary {
            release: self.kernel.release.clone(),
            kernel_entries: kernel.iter().map(|s| s.entries.len()).sum(),
            kernel_callbacks: kernel.iter().flat_map(|s| &s.entries).filter(|e| e.callback).count(),
            module_entries: modules.iter().map(|s| s.entries.len()).sum(),
            modules: modules.len(),
            defects,
        }
    }
}
