//! CRC-32 (the ISO-HDLC / IEEE 802.3 polynomial, reflected 0xEDB88320, the one AArch64's
//! CRC32B/H/W/X compute): with the CRC32 instructions where every CPU has FEAT_CRC32
//! (chosen by a static branch), in software everywhere else. The self-test and the text
//! integrity check compare the two.

/// The reflected CRC-32 polynomial.
const POLY: u32 = 0xedb8_8320;

/// The byte-at-a-time table, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The CRC-32 of `bytes`, by whichever implementation the CPUs support.
pub fn crc32(bytes: &[u8]) -> u32 {
    if crate::has_cap!(HAS_CRC32) { !hardware_update(!0, bytes) } else { !software_update(!0, bytes) }
}

/// The CRC-32 of `bytes` in software, whatever the CPU.
pub fn crc32_software(bytes: &[u8]) -> u32 {
    !software_update(!0, bytes)
}

fn software_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &byte in bytes {
        crc = (crc >> 8) ^ TABLE[((crc ^ u32::from(byte)) & 0xff) as usize];
    }
    crc
}

/// Only reached through the `HAS_CRC32` static branch.
fn hardware_update(mut crc: u32, bytes: &[u8]) -> u32 {
    let (words, tail) = bytes.split_at(bytes.len() & !7);
    for chunk in words.chunks_exact(8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // SAFETY: CRC32X is defined on CPUs with FEAT_CRC32, the only ones the static branch
        // sends here; it reads and writes registers only.
        unsafe {
            core::arch::asm!(".arch_extension crc", "crc32x {crc:w}, {crc:w}, {word}",
                crc = inout(reg) crc, word = in(reg) word, options(pure, nomem, nostack))
        };
    }
    for &byte in tail {
        // SAFETY: as above, CRC32B.
        unsafe {
            core::arch::asm!(".arch_extension crc", "crc32b {crc:w}, {crc:w}, {byte:w}",
                crc = inout(reg) crc, byte = in(reg) u32::from(byte), options(pure, nomem, nostack))
        };
    }
    crc
}
