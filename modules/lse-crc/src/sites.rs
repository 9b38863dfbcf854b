//! The module's alternatives sites. The stale build stamps the LSE and CRC32 sites with
//! capability list v0's numbers and fingerprint (`arm64_caps::caps::history`).

use altpatch_aarch64::{CapList, CapabilityList};
use core::sync::atomic::AtomicU64;

/// The list the module's own sites are built against: the kernel's.
#[cfg(not(feature = "stale"))]
type SiteList = arm64_caps::caps::Arm64;

/// The list the stale module's sites are built against: v0, retired.
#[cfg(feature = "stale")]
type SiteList = V0;

/// Capability list v0, as a type the macros take.
#[cfg_attr(not(feature = "stale"), allow(dead_code))]
pub struct V0;

impl CapabilityList for V0 {
    const LIST: CapList = arm64_caps::caps::history::LISTS[0];
}

/// HAS_LSE_ATOMICS in the kernel's list, to ask the kernel about it.
pub const KERNEL_LSE: u16 = altpatch_aarch64::cap_index!(arm64_caps::caps::Arm64, HAS_LSE_ATOMICS);
/// HAS_CRC32 in the kernel's list.
pub const KERNEL_CRC32: u16 = altpatch_aarch64::cap_index!(arm64_caps::caps::Arm64, HAS_CRC32);

/// Atomically adds `value` to `target`: an LL/SC loop, patched to LDADDAL with LSE.
#[inline(never)]
pub fn fetch_add(target: &AtomicU64, value: u64) -> u64 {
    // SAFETY: both sequences read-modify-write the 8 aligned bytes `target` owns and nothing
    // else.
    unsafe { altpatch_aarch64::fetch_add_lse!(list: SiteList, cap: HAS_LSE_ATOMICS, target, value) }
}

/// One CRC32X step on a CPU with CRC32 (the site, once patched); `None` before, or without.
#[inline(never)]
fn crc32_word(crc: u32, word: u64) -> Option<u32> {
    let mut out = crc;
    let hardware: u64;
    // SAFETY: both sequences write registers only: a flag, and with CRC32 the new CRC.
    unsafe {
        altpatch_aarch64::alternative!(
            list: SiteList,
            old: ["mov {hw}, #0", "nop"],
            new: [".arch_extension crc", "crc32x {crc:w}, {crc:w}, {word}", "mov {hw}, #1"],
            cap: HAS_CRC32,
            crc = inout(reg) out,
            word = in(reg) word,
            hw = out(reg) hardware,
            options(pure, nomem, nostack)
        );
    }
    (hardware == 1).then_some(out)
}

/// The CRC-32 of `bytes` (a multiple of 8 long) through the CRC32 site, and whether the
/// hardware computed it.
pub fn crc32(bytes: &[u8; 72]) -> (u32, bool) {
    let mut crc = !0u32;
    let mut hardware = true;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        match crc32_word(crc, word) {
            Some(next) => crc = next,
            None => {
                hardware = false;
                crc = software_update(crc, &word.to_le_bytes());
            }
        }
    }
    (!crc, hardware)
}

/// The CRC-32 of `bytes` in software.
pub fn crc32_software(bytes: &[u8]) -> u32 {
    !software_update(!0, bytes)
}

fn software_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    crc
}

/// The D-cache line size, written into a MOVZ by the kernel's exported callback.
#[inline(never)]
pub fn dcache_line_size() -> u64 {
    let size: u64;
    // SAFETY: the site reads CTR_EL0 into `size`, or (patched) loads an immediate into it.
    unsafe {
        altpatch_module::alternative_kernel_cb!(
            list: arm64_caps::caps::Arm64,
            old: ["mrs {size}, ctr_el0", "ubfx {size}, {size}, #16, #4", "lsl {size}, {four}, {size}", "nop"],
            callback: altpatch_module::altpatch_cb_dcache_line_size,
            cap: ALWAYS_SYSTEM,
            size = out(reg) size,
            four = in(reg) 4u64,
            options(nomem, nostack, preserves_flags)
        );
    }
    size
}
