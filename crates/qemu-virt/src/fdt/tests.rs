//! The reader against a real tree: QEMU 7.2's `virt,gic-version=3` with `-cpu max -smp 4
//! -m 512M -append "arm64.nolse maxcpus=2"`, dumped with `-machine dumpdtb=` and trimmed to
//! its header's content. Expected values are QEMU's documented `virt` memory map
//! (hw/arm/virt.c `base_memmap`), not this reader's output.

use super::*;
use std::vec::Vec;

/// Bytes placed on an 8-byte boundary, as a tree must be (DTSpec 5.1).
#[repr(C, align(8))]
struct Aligned8<T: ?Sized>(T);

const QEMU_VIRT: &[u8] = &Aligned8(*include_bytes!("qemu-virt-gicv3-smp4.dtb")).0;

/// A copy of `bytes` on an 8-byte boundary, to edit (a `Vec<u8>` is only byte-aligned).
struct Blob {
    words: Vec<u64>,
    len: usize,
}

impl Blob {
    fn of(bytes: &[u8]) -> Self {
        let mut words = std::vec![0u64; bytes.len().div_ceil(8)];
        zerocopy::IntoBytes::as_mut_bytes(words.as_mut_slice())[..bytes.len()].copy_from_slice(bytes);
        Self { words, len: bytes.len() }
    }
}

impl core::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &zerocopy::IntoBytes::as_bytes(self.words.as_slice())[..self.len]
    }
}

impl core::ops::DerefMut for Blob {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut zerocopy::IntoBytes::as_mut_bytes(self.words.as_mut_slice())[..self.len]
    }
}

#[test]
fn qemu_virt_tree_gives_ram_cpus_psci_uart_gic_and_bootargs() {
    let m = machine(QEMU_VIRT).expect("QEMU's tree reads");
    let ram_512_mib_at_1_gib = 0x4000_0000..0x4000_0000 + (512 << 20);
    assert_eq!(m.ram.as_slice(), core::slice::from_ref(&ram_512_mib_at_1_gib));
    assert_eq!(&m.mpidrs[..m.cpu_count], [0, 1, 2, 3]);
    // Without virtualization=on QEMU's own PSCI answers HVC.
    assert_eq!(m.psci, PsciMethod::Hvc);
    // VIRT_UART: 0x09000000, 4 KiB.
    assert_eq!(m.uart, 0x0900_0000..0x0900_1000);
    // VIRT_GIC_DIST (64 KiB) and VIRT_GIC_REDIST (0xf60000 bytes: 123 redistributors).
    assert!(m.gicv3);
    assert_eq!(m.gic.as_slice()[..2], [0x0800_0000..0x0801_0000, 0x080a_0000..0x0900_0000]);
    assert_eq!(m.bootargs, b"arm64.nolse maxcpus=2");
}

#[test]
fn total_size_is_read_from_the_header() {
    assert_eq!(total_size(QEMU_VIRT), Ok(QEMU_VIRT.len()));
}

#[test]
fn a_blob_without_the_magic_is_refused() {
    let mut blob = Blob::of(QEMU_VIRT);
    blob[0] ^= 0xff;
    assert_eq!(machine(&blob), Err(FdtError::BadMagic));
    assert_eq!(total_size(&blob[..2]), Err(FdtError::Truncated));
}

#[test]
fn a_blob_shorter_than_its_header_says_is_refused() {
    assert_eq!(machine(&QEMU_VIRT[..QEMU_VIRT.len() - 16]), Err(FdtError::Truncated));
}

#[test]
fn an_unknown_token_is_refused_with_its_offset() {
    let mut blob = Blob::of(QEMU_VIRT);
    let off_struct = u32::from_be_bytes(blob[8..12].try_into().unwrap()) as usize;
    // The first token is the root's FDT_BEGIN_NODE; make it 7, which DTSpec does not define.
    blob[off_struct..off_struct + 4].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(machine(&blob), Err(FdtError::BadToken(0)));
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    // The blocks end at the strings block's end (header: off_dt_strings + size_dt_strings);
    // the rest is padding, so only cuts before it lose content.
    let field = |at: usize| u32::from_be_bytes(QEMU_VIRT[at..at + 4].try_into().unwrap()) as usize;
    let content_end = (field(8) + field(36)).max(field(12) + field(32));
    for len in (0..content_end).step_by(7) {
        let mut blob = Blob::of(&QEMU_VIRT[..len]);
        if len >= 8 {
            blob[4..8].copy_from_slice(&(len as u32).to_be_bytes());
        }
        assert!(machine(&blob).is_err(), "length {len}");
    }
}

#[test]
fn a_tree_without_psci_is_refused_by_name() {
    // Rename the "method" property's string so no PSCI method is found: the node exists
    // but says nothing usable.
    let mut blob = Blob::of(QEMU_VIRT);
    let at = blob.windows(7).position(|w| w == b"method\0").expect("strings hold method");
    blob[at] = b'X';
    assert_eq!(machine(&blob), Err(FdtError::Missing("/psci method (hvc or smc)")));
}

#[test]
fn a_structure_block_off_a_word_boundary_is_refused() {
    // The same tree one byte into an aligned buffer: its header is still read (byte by
    // byte), but its structure block's words are not aligned.
    let mut shifted = std::vec![0u8];
    shifted.extend_from_slice(QEMU_VIRT);
    let blob = Blob::of(&shifted);
    assert_eq!(machine(&blob[1..]), Err(FdtError::Misaligned));
}
