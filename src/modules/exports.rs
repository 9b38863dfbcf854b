//! The kernel's export table: the only names a module's undefined symbols resolve to, each
//! with its kind. Callbacks are listed apart: a module's callback entry may name only those.
//! The module side's declarations are `altpatch_module`'s (crates/altpatch-module).

use crate::{cpufeature, println, smp};
use altpatch_aarch64::CallbackContext;
use arm64_caps::caps::Cap;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What an export is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// A function a module calls.
    Function,
    /// An alternatives callback (an `AltCallback`) a module's callback entry may name.
    Callback,
}

/// One export: its name, kind and address.
#[derive(Clone, Copy, Debug)]
pub struct Export {
    /// The symbol name a module uses.
    pub name: &'static str,
    /// Function or callback.
    pub kind: ExportKind,
    /// Its address in kernel text.
    pub addr: u64,
}

unsafe extern "C" {
    // compiler_builtins' memory routines, which the compiler calls for copies and fills.
    fn memset(dest: *mut u8, byte: i32, len: usize) -> *mut u8;
    fn memcpy(dest: *mut u8, src: *const u8, len: usize) -> *mut u8;
    fn memmove(dest: *mut u8, src: *const u8, len: usize) -> *mut u8;
    fn memcmp(a: *const u8, b: *const u8, len: usize) -> i32;
}

/// The table.
pub fn table() -> [Export; 10] {
    use ExportKind::{Callback, Function};
    let export = |name, kind, addr: usize| Export { name, kind, addr: addr as u64 };
    [
        export("altpatch_log", Function, altpatch_log as extern "C" fn(*const u8, usize) as usize),
        export(
            "altpatch_on_each_cpu",
            Function,
            altpatch_on_each_cpu as extern "C" fn(extern "C" fn(usize) -> bool) -> usize as usize,
        ),
        export("altpatch_online_cpus", Function, altpatch_online_cpus as extern "C" fn() -> usize as usize),
        export(
            "altpatch_cpus_have_cap",
            Function,
            altpatch_cpus_have_cap as extern "C" fn(u16) -> bool as usize,
        ),
        export(
            "altpatch_dcache_line_size",
            Function,
            altpatch_dcache_line_size as extern "C" fn() -> u64 as usize,
        ),
        export("memset", Function, memset as unsafe extern "C" fn(*mut u8, i32, usize) -> *mut u8 as usize),
        export(
            "memcpy",
            Function,
            memcpy as unsafe extern "C" fn(*mut u8, *const u8, usize) -> *mut u8 as usize,
        ),
        export(
            "memmove",
            Function,
            memmove as unsafe extern "C" fn(*mut u8, *const u8, usize) -> *mut u8 as usize,
        ),
        export(
            "memcmp",
            Function,
            memcmp as unsafe extern "C" fn(*const u8, *const u8, usize) -> i32 as usize,
        ),
        export(
            "altpatch_cb_dcache_line_size",
            Callback,
            altpatch_cb_dcache_line_size as fn(&CallbackContext<'_>, &mut [u32]) as usize,
        ),
    ]
}

/// The address of export `name`, for the relocator: only names of the shared export list
/// (`altpatch_modload::KERNEL_EXPORTS`, which `altcheck` resolves by too).
pub fn resolve(name: &str) -> Option<u64> {
    if !altpatch_modload::KERNEL_EXPORTS.contains(&name) {
        return None;
    }
    table().iter().find(|e| e.name == name).map(|e| e.addr)
}

/// The callbacks a module's callback entries may name.
pub fn callbacks() -> alloc::vec::Vec<u64> {
    table().iter().filter(|e| e.kind == ExportKind::Callback).map(|e| e.addr).collect()
}

// The exports are symbols of the same names in the kernel ELF (`no_mangle`), so that
// `altcheck --kernel ELF MODULE` resolves a module against the kernel before it boots.

/// The kernel's D-cache line callback ([`crate::cache::encode_dcache_line_size`]), for modules.
#[unsafe(no_mangle)]
fn altpatch_cb_dcache_line_size(context: &CallbackContext<'_>, dest: &mut [u32]) {
    crate::cache::encode_dcache_line_size(context, dest)
}

/// Whether module console output is held back (the stress loop's loads).
static QUIET: AtomicBool = AtomicBool::new(false);

/// Holds back (or lets through) module console output.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

#[unsafe(no_mangle)]
extern "C" fn altpatch_log(text: *const u8, len: usize) {
    // SAFETY: the module passes a slice it owns (`altpatch_module::log`).
    let bytes = unsafe { core::slice::from_raw_parts(text, len) };
    if !QUIET.load(Ordering::Relaxed) {
        println!("{}", core::str::from_utf8(bytes).unwrap_or("(a module logged bytes that are not UTF-8)"));
    }
}

/// The running module's test, for [`module_test`]: one module runs at a time (the loader
/// runs on the boot CPU only).
static MODULE_TEST: AtomicUsize = AtomicUsize::new(0);

fn module_test(cpu: usize) -> bool {
    let test = MODULE_TEST.load(Ordering::Acquire);
    if test == 0 {
        return false;
    }
    // SAFETY: `test` was stored from an `extern "C" fn(usize) -> bool` of the module being
    // initialised, whose text stays mapped until its init returns.
    let test = unsafe { core::mem::transmute::<usize, extern "C" fn(usize) -> bool>(test) };
    test(cpu)
}

#[unsafe(no_mangle)]
extern "C" fn altpatch_on_each_cpu(test: extern "C" fn(usize) -> bool) -> usize {
    MODULE_TEST.store(test as usize, Ordering::Release);
    let failed = smp::on_each_cpu("module", module_test);
    MODULE_TEST.store(0, Ordering::Release);
    failed.len()
}

#[unsafe(no_mangle)]
extern "C" fn altpatch_online_cpus() -> usize {
    smp::online().len()
}

#[unsafe(no_mangle)]
extern "C" fn altpatch_cpus_have_cap(index: u16) -> bool {
    Cap::from_index(index).is_some_and(cpufeature::cpus_have_final_cap)
}

#[unsafe(no_mangle)]
extern "C" fn altpatch_dcache_line_size() -> u64 {
    cpufeature::system().map_or(0, |system| system.dcache_line_size() as u64)
}
