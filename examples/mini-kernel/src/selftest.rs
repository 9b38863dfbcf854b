//! The patched sites, and the behavioural self-test that runs each of them on every CPU
//! after the system pass.
//!
//! | site                | old                     | new / callback                   | cap           |
//! |---------------------|-------------------------|----------------------------------|---------------|
//! | [`fetch_add`]       | LDAXR/STLXR loop        | LDADDAL (+ NOPs)                 | HAS_LSE       |
//! | [`crc32_byte_hw`]   | `mov done, #0; nop`     | CRC32B; `mov done, #1`           | HAS_CRC32     |
//! | [`speculation_barrier`] | DSB NSH; ISB; `mov 0` | SB; NOP; `mov 1`               | HAS_SB        |
//! | [`dline_movz`]      | `movz x, #0`            | callback: `movz x, #<D-line>`    | ALWAYS_SYSTEM |
//! | [`crc32_asm_patched`] (assembly) | `mov x0, #0` | `mov x0, #1`                   | HAS_CRC32     |
//! | [`has_cap!`] branches | NOP                   | B to the `true` block            | each cap      |

use altpatch_aarch64::{CallbackContext, Image, alternative, alternative_cb, has_cap};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::caps::{self, CapMask, MiniCaps};

/// The shared counter every CPU adds to through [`fetch_add`].
pub static COUNTER: AtomicU64 = AtomicU64::new(0);
/// How many increments each CPU makes.
pub const INCREMENTS_PER_CPU: u64 = 2000;

/// Atomically adds `value` to `target` and returns the previous value (acquire-release): an
/// LL/SC loop (Armv8.0), patched to one LDADDAL on systems with FEAT_LSE.
#[inline(never)]
pub fn fetch_add(target: &AtomicU64, value: u64) -> u64 {
    // SAFETY: both sequences read-modify-write the 8 aligned bytes that `target` owns and
    // touch no other memory.
    unsafe { altpatch_aarch64::fetch_add_lse!(list: MiniCaps, cap: HAS_LSE, target, value) }
}

/// One byte into a CRC-32 (the reflected 0x04C11DB7 polynomial) by the CRC32B instruction,
/// or `None` where the site is unpatched (the system lacks FEAT_CRC32).
#[inline(never)]
pub fn crc32_byte_hw(crc: u32, byte: u8) -> Option<u32> {
    let mut crc = crc;
    let done: u64;
    // SAFETY: both sequences only compute in registers; CRC32B runs only once patched in,
    // which happens only on systems whose every CPU has FEAT_CRC32.
    unsafe {
        alternative!(
            list: MiniCaps,
            old: ["mov {done}, #0", "nop"],
            new: [".arch_extension crc", "crc32b {crc:w}, {crc:w}, {byte:w}", "mov {done}, #1"],
            cap: HAS_CRC32,
            crc = inout(reg) crc,
            byte = in(reg) u32::from(byte),
            done = out(reg) done,
            options(nomem, nostack, preserves_flags)
        );
    }
    (done == 1).then_some(crc)
}

/// CRC-32 of `data` in software: the reflected table of the 0x04C11DB7 polynomial.
pub fn crc32_sw(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |crc, &b| TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8))
}

/// CRC-32 of `data` through [`crc32_byte_hw`], or `None` where the site is unpatched.
pub fn crc32_hw(data: &[u8]) -> Option<u32> {
    let mut crc = !0u32;
    for &b in data {
        crc = crc32_byte_hw(crc, b)?;
    }
    Some(!crc)
}

/// A speculation barrier: DSB NSH + ISB, patched to SB on systems with FEAT_SB. Returns
/// whether the SB form ran.
#[inline(never)]
pub fn speculation_barrier() -> bool {
    let sb: u64;
    // SAFETY: barriers and a register move; SB runs only once patched in, which happens only
    // on systems whose every CPU has FEAT_SB.
    unsafe {
        alternative!(
            list: MiniCaps,
            old: ["dsb nsh", "isb", "mov {sb}, #0"],
            new: [".arch_extension sb", "sb", "nop", "mov {sb}, #1"],
            cap: HAS_SB,
            sb = out(reg) sb,
            options(nostack, preserves_flags)
        );
    }
    sb == 1
}

// An assembly site (Linux's `alternative_if_not` / `alternative_else` / `alternative_endif`):
// the function answers 1 once the HAS_CRC32 entry replaced its first instruction.
core::arch::global_asm!(
    altpatch_aarch64::asm_macros!(),
    ".pushsection .text.mini_crc32_asm_patched, \"ax\"",
    ".global mini_crc32_asm_patched",
    "mini_crc32_asm_patched:",
    "alternative_if_not {CAP_CRC32}, {FINGERPRINT}",
    "    mov x0, #0",
    "alternative_else",
    "    mov x0, #1",
    "alternative_endif",
    "    ret",
    ".popsection",
    CAP_CRC32 = const altpatch_aarch64::cap_index!(MiniCaps, HAS_CRC32),
    FINGERPRINT = const altpatch_aarch64::fingerprint!(MiniCaps),
);

unsafe extern "C" {
    fn mini_crc32_asm_patched() -> u64;
}

/// Whether the assembly site's HAS_CRC32 replacement is in place.
pub fn crc32_asm_patched() -> bool {
    // SAFETY: the function (above) only moves an immediate into x0 and returns.
    unsafe { mini_crc32_asm_patched() == 1 }
}

/// Every entry of `image`'s table (`entries`) has a source record, and the assembly site's
/// names its `global_asm!` block (this file) and its number in the block, as a report would.
pub fn source_records(image: &Image, entries: usize) -> Result<(), alloc::string::String> {
    use alloc::format;
    let records = image.source_records().records.bytes.len() / 8;
    if records != entries {
        return Err(format!("{entries} entries, {records} source records"));
    }
    let site = mini_crc32_asm_patched as *const () as u64;
    match image.symbolize(site).map(|symbol| symbol.name) {
        Some(name) if name.starts_with(file!()) && name.ends_with(" (asm entry 1)") => Ok(()),
        name => Err(format!("the assembly site at {site:#x} is named {name:?}")),
    }
}

/// The system's smallest D-cache line in bytes, as the `alternative_cb!` callback
/// [`encode_dline`] encoded it into a MOVZ at boot; 0 before the system pass.
#[inline(never)]
pub fn dline_movz() -> u64 {
    let dline: u64;
    // SAFETY: the site is one MOVZ into `dline`, before and after patching (the callback
    // keeps the destination register and changes only the immediate).
    unsafe {
        alternative_cb!(
            list: MiniCaps,
            old: ["movz {dline}, #0"],
            callback: encode_dline,
            cap: ALWAYS_SYSTEM,
            dline = out(reg) dline,
            options(nomem, nostack, preserves_flags)
        );
    }
    dline
}

/// The callback of [`dline_movz`]: `MOVZ Xd, #dline` from the sanitised CTR_EL0 the engine
/// hands it, with the site's own destination register. Leaves any other instruction as it is.
pub fn encode_dline(context: &CallbackContext<'_>, dest: &mut [u32]) {
    const MOVZ_X: u32 = 0xd280_0000;
    dest.copy_from_slice(context.original);
    if let Some(&insn) = context.original.first()
        && insn & 0xffe0_0000 == MOVZ_X
        && context.geometry.dline <= 0xffff
    {
        dest[0] = MOVZ_X | (context.geometry.dline as u32) << 5 | (insn & 0x1f);
    }
}

/// The static branches of each capability, as this CPU's patched text answers them.
pub fn static_caps() -> CapMask {
    let mut mask = 0u64;
    let mut set = |index: u16, on: bool| mask |= u64::from(on) << index;
    set(altpatch_aarch64::cap_index!(MiniCaps, ALWAYS_BOOT), has_cap!(list: MiniCaps, ALWAYS_BOOT));
    set(altpatch_aarch64::cap_index!(MiniCaps, ALWAYS_SYSTEM), has_cap!(list: MiniCaps, ALWAYS_SYSTEM));
    set(altpatch_aarch64::cap_index!(MiniCaps, HAS_LSE), has_cap!(list: MiniCaps, HAS_LSE));
    set(altpatch_aarch64::cap_index!(MiniCaps, HAS_CRC32), has_cap!(list: MiniCaps, HAS_CRC32));
    set(altpatch_aarch64::cap_index!(MiniCaps, HAS_SB), has_cap!(list: MiniCaps, HAS_SB));
    CapMask(mask)
}

/// W^X: no text page is writable in the kernel page table, and the alias is gone.
pub fn text_is_never_writable() -> bool {
    let image = crate::mmu::ImageLayout::get();
    let mut ok = true;
    for page in (image.text.0..image.text.1).step_by(4096) {
        if crate::mmu::is_writable(page) || crate::mmu::is_writable(page + crate::mmu::ALIAS_OFFSET) {
            crate::println!("altpatch: self-test failed: text page {page:#x} (or its alias) is writable");
            ok = false;
        }
    }
    ok
}

/// The check value of CRC-32 over "123456789".
const CRC32_CHECK: u32 = 0xCBF4_3926;

/// Runs every site on this CPU against the capabilities `enabled` (boot and system), and
/// adds this CPU's share to [`COUNTER`]. Returns the first failure.
pub fn run_on_this_cpu(enabled: CapMask, system_ctr_el0: u64) -> Result<(), alloc::string::String> {
    use alloc::format;
    let crc = altpatch_aarch64::cap_index!(MiniCaps, HAS_CRC32);
    let sb = altpatch_aarch64::cap_index!(MiniCaps, HAS_SB);

    // The static branches answer exactly the enabled set.
    let branches = static_caps();
    if branches != enabled {
        return Err(format!("has_cap! branches {:#x}, enabled capabilities {:#x}", branches.0, enabled.0));
    }

    // The atomic add: this CPU's increments, through whichever sequence is in place.
    for _ in 0..INCREMENTS_PER_CPU {
        fetch_add(&COUNTER, 1);
    }
    let probe = AtomicU64::new(41);
    if fetch_add(&probe, 1) != 41 || probe.load(Ordering::Relaxed) != 42 {
        return Err(format!("fetch_add: 41 + 1 gave {}", probe.load(Ordering::Relaxed)));
    }

    // CRC-32: the hardware site where patched, always the software table; both give the
    // check value.
    let check = b"123456789";
    if crc32_sw(check) != CRC32_CHECK {
        return Err(format!("software CRC-32 {:#010x}", crc32_sw(check)));
    }
    match crc32_hw(check) {
        Some(v) if !enabled.has(crc) => return Err(format!("CRC32B ran unpatched ({v:#010x})")),
        Some(v) if v != CRC32_CHECK => {
            return Err(format!("CRC32B gave {v:#010x}, expected {CRC32_CHECK:#010x}"));
        }
        None if enabled.has(crc) => return Err("CRC32 site not patched".into()),
        _ => {}
    }
    let buffer: alloc::vec::Vec<u8> =
        (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    if let Some(v) = crc32_hw(&buffer)
        && v != crc32_sw(&buffer)
    {
        return Err(format!("CRC32B over 4 KiB gave {v:#010x}, table {:#010x}", crc32_sw(&buffer)));
    }

    // The assembly site: patched exactly when HAS_CRC32 is enabled.
    if crc32_asm_patched() != enabled.has(crc) {
        return Err(format!(
            "assembly site: patched {}, HAS_CRC32 {}",
            crc32_asm_patched(),
            enabled.has(crc)
        ));
    }

    // SB: the barrier form in place is the one the capabilities call for.
    if speculation_barrier() != enabled.has(sb) {
        return Err(format!("speculation barrier: SB form {}, HAS_SB {}", !enabled.has(sb), enabled.has(sb)));
    }

    // The callback site: the D-line size it encoded is the system's (sanitised) one, and no
    // larger than this CPU's own CTR_EL0, read directly.
    let direct = caps::dline_bytes(caps::read_ctr_el0());
    let system = caps::dline_bytes(system_ctr_el0);
    let encoded = dline_movz();
    if encoded != system || encoded > direct {
        return Err(format!(
            "alternative_cb! D-line {encoded}, system {system}, this CPU's CTR_EL0 {direct}"
        ));
    }
    Ok(())
}
