//! The Arm PrimeCell UART (PL011), transmit side only: the boot console.
//!
//! Register offsets and bits: Arm PrimeCell UART (PL011) Technical Reference Manual,
//! DDI 0183G, section 3.2 "Summary of registers". QEMU's model needs no baud setup.

use tock_registers::{
    LocalRegisterCopy,
    interfaces::{ReadWriteable, Readable, Writeable},
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {
    u32,
    /// Flag Register, UARTFR (DDI 0183G 3.3.3).
    FR [
        /// Transmit FIFO empty (with the FIFOs enabled: all of it free).
        TXFE OFFSET(7) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Line Control Register, UARTLCR_H (DDI 0183G 3.3.7).
    LCR_H [
        /// FIFOs enabled; without, each direction holds one character.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    /// Control Register, UARTCR (DDI 0183G 3.3.8).
    CR [
        /// UART enabled.
        UARTEN OFFSET(0) NUMBITS(1) []
    ]
}

register_structs! {
    #[allow(non_snake_case)]
    Registers {
        (0x00 => DR: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => FR: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x2c => LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x30 => CR: ReadWrite<u32, CR::Register>),
        (0x34 => @END),
    }
}

/// A PL011 at a mapped device address.
pub struct Pl011 {
    regs: &'static Registers,
}

impl Pl011 {
    /// # Safety
    ///
    /// `base` is the virtual address of a PL011's registers, mapped as Device memory for the
    /// rest of the kernel's life, and no other driver instance writes it concurrently.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller promises `base` maps a PL011 register block for 'static.
        Self { regs: unsafe { &*(base as *const Registers) } }
    }

    /// Reads the flag register. A device load: on CPUs with Cortex-A57 erratum 832075
    /// (device loads can deadlock against a load-acquire; the workaround promotes every
    /// device load to a load-acquire), the LDR is patched to LDAR. Never inlined: each
    /// inlined copy would be another alternatives entry, and every entry is validated at boot.
    #[inline(never)]
    fn flags(&self) -> LocalRegisterCopy<u32, FR::Register> {
        let value: u32;
        // SAFETY: both instructions read the 32-bit UARTFR register that `regs` maps.
        unsafe {
            crate::alternative!(
                old: ["ldr {value:w}, [{fr}]"],
                new: ["ldar {value:w}, [{fr}]"],
                cap: WORKAROUND_DEVICE_LOAD_ACQUIRE,
                fr = in(reg) &self.regs.FR as *const _ as u64,
                value = out(reg) value,
                options(nostack, readonly)
            )
        };
        LocalRegisterCopy::new(value)
    }

    /// Turns the FIFOs on, so that [`Tx::text`] can send [`FIFO_ROOM`] bytes per
    /// flag read rather than one. The line control register may only change while the UART
    /// is disabled and idle (DDI 0183G 3.3.8): disabled, drained, changed, restored. Its
    /// other settings (word length, parity: the firmware's) are kept. Its two plain device
    /// loads run once, before any alternative is applied, as every device load then does.
    pub fn enable_fifos(&self) {
        let control = self.regs.CR.extract();
        self.regs.CR.set(control.get() & !CR::UARTEN::SET.value);
        while self.flags().is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
        self.regs.LCR_H.modify(LCR_H::FEN::SET);
        self.regs.CR.set(control.get());
    }

    /// Starts sending: the returned [`Tx`] counts the FIFO room it knows of across all the
    /// pieces sent through it, so a line sent in pieces reads the flags once per
    /// [`FIFO_ROOM`] bytes, not once per piece.
    pub fn transmit(&self) -> Tx<'_> {
        Tx { uart: self, room: 0 }
    }

    /// Waits until the transmit FIFO is empty: [`FIFO_ROOM`] bytes may follow (with the
    /// FIFOs off, the one holding register is empty, and TXFE is set only then too).
    fn wait_fifo_empty(&self) {
        while !self.flags().is_set(FR::TXFE) {
            core::hint::spin_loop();
        }
    }

    fn send(&self, byte: u8) {
        self.regs.DR.set(u32::from(byte));
    }
}

/// Bytes that fit in an empty transmit FIFO: its depth, 16 (32 from revision r1p5, DDI 0183G).
/// Without [`Pl011::enable_fifos`] it is one, and [`Tx`] would overrun a real UART.
pub const FIFO_ROOM: usize = 16;

/// One transmission ([`Pl011::transmit`]): how many more bytes the FIFO takes before the
/// next flag read.
pub struct Tx<'a> {
    uart: &'a Pl011,
    room: usize,
}

impl Tx<'_> {
    /// Sends `text`, each `\n` as `\r\n`. The console's lines are most of the boot's
    /// instructions before the first rendezvous: the text is read eight aligned bytes at a
    /// time, and a word without a `\n` goes out as eight stores after at most one flag read.
    #[inline(never)]
    pub fn text(&mut self, text: &[u8]) {
        // SAFETY: every 8 bytes are a valid u64; `align_to` only moves where the words start.
        let (head, words, tail) = unsafe { text.align_to::<u64>() };
        head.iter().for_each(|&byte| self.byte(byte));
        words.iter().for_each(|&word| self.word(u64::from_le(word)));
        tail.iter().for_each(|&byte| self.byte(byte));
    }

    /// Sends `bytes` as they are, for text the caller knows has no `\n`: a whole array,
    /// each byte stored straight from a register (an immediate, for a constant), after one
    /// flag read at most per [`FIFO_ROOM`] bytes.
    #[inline(always)]
    pub fn plain<const N: usize>(&mut self, bytes: [u8; N]) {
        for chunk in bytes.chunks(FIFO_ROOM) {
            self.reserve(chunk.len());
            chunk.iter().for_each(|&byte| self.uart.send(byte));
        }
    }

    /// Makes room for `count` bytes (at most [`FIFO_ROOM`]).
    #[inline(always)]
    fn reserve(&mut self, count: usize) {
        if self.room < count {
            self.uart.wait_fifo_empty();
            self.room = FIFO_ROOM;
        }
        self.room -= count;
    }

    #[inline(always)]
    fn byte(&mut self, byte: u8) {
        if byte == b'\n' {
            self.reserve(1);
            self.uart.send(b'\r');
        }
        self.reserve(1);
        self.uart.send(byte);
    }

    /// Eight bytes, the first in the low byte of `word`.
    #[inline(always)]
    fn word(&mut self, word: u64) {
        if has_newline(word) {
            (0..8).for_each(|at| self.byte((word >> (8 * at)) as u8));
            return;
        }
        self.reserve(8);
        (0..8).for_each(|at| self.uart.send((word >> (8 * at)) as u8));
    }
}

/// Whether any byte of `word` is `\n`: XOR makes those bytes zero, and the borrow trick
/// flags a zero byte in its top bit (only bytes above a true zero can be flagged falsely).
const fn has_newline(word: u64) -> bool {
    let x = word ^ 0x0a0a_0a0a_0a0a_0a0a;
    x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080 != 0
}

// SAFETY: the registers are MMIO; concurrent access is serialised by the console lock.
unsafe impl Sync for Pl011 {}
// SAFETY: as above: the handle is only an address.
unsafe impl Send for Pl011 {}
