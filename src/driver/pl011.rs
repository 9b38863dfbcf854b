//! The Arm PrimeCell UART (PL011), transmit side only: the boot console.
//!
//! Register offsets and bits: Arm PrimeCell UART (PL011) Technical Reference Manual,
//! DDI 0183G, section 3.2 "Summary of registers". QEMU's model needs no baud setup.

use tock_registers::{
    LocalRegisterCopy,
    interfaces::Writeable,
    register_bitfields, register_structs,
    registers::{ReadOnly, ReadWrite},
};

register_bitfields! {
    u32,
    /// Flag Register, UARTFR (DDI 0183G 3.3.3).
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ]
}

register_structs! {
    #[allow(non_snake_case)]
    Registers {
        (0x00 => DR: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => FR: ReadOnly<u32, FR::Register>),
        (0x1c => @END),
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
    /// device load to a load-acquire), the LDR is patched to LDAR.
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

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn put(&self, byte: u8) {
        while self.flags().is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.DR.set(u32::from(byte));
    }

    /// Sends `text`, each `\n` as `\r\n` (a terminal's new line). One loop over the bytes
    /// with the register block's address held: the console's lines are most of the boot's
    /// instructions before the first rendezvous, a few per byte.
    ///
    /// Not inlined, and with one call of [`Self::put`]: each inlined copy of `put` is another
    /// alternatives entry (its flag read), and every entry is validated at boot.
    #[inline(never)]
    pub fn write_text(&self, text: &[u8]) {
        let mut bytes = text.iter().copied();
        // A `\n` is sent as `\r`, then this.
        let mut newline_next = false;
        loop {
            let byte = if newline_next {
                newline_next = false;
                b'\n'
            } else {
                match bytes.next() {
                    Some(b'\n') => {
                        newline_next = true;
                        b'\r'
                    }
                    Some(byte) => byte,
                    None => break,
                }
            };
            self.put(byte);
        }
    }
}

// SAFETY: the registers are MMIO; concurrent access is serialised by the console lock.
unsafe impl Sync for Pl011 {}
// SAFETY: as above: the handle is only an address.
unsafe impl Send for Pl011 {}
