//! The console: a PL011 UART driver of a few lines, and timestamped lines in the main
//! kernel's contract format (`[%5u.%06u] text`, seconds since the counter started).

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTPCT_EL0, Readable};
use core::fmt::{self, Write};
use spin::Mutex;

/// The first PL011 of QEMU `virt` (its device tree names it; the address is fixed).
pub const PL011_BASE: usize = 0x0900_0000;

/// Data register.
const UARTDR: usize = 0x00;
/// Flag register.
const UARTFR: usize = 0x18;
/// UARTFR: transmit FIFO full.
const TXFF: u32 = 1 << 5;

/// The PL011 at [`PL011_BASE`]: QEMU's needs no set-up to transmit.
struct Pl011;

impl Pl011 {
    fn put(&mut self, byte: u8) {
        let base = PL011_BASE as *mut u32;
        // SAFETY: PL011_BASE is the UART's register block, mapped as device memory by both
        // the initial and the kernel page tables; UARTFR and UARTDR are 32-bit registers
        // inside it, and the console lock makes this CPU the only one touching them.
        unsafe {
            while base.byte_add(UARTFR).read_volatile() & TXFF != 0 {
                core::hint::spin_loop();
            }
            base.byte_add(UARTDR).write_volatile(u32::from(byte));
        }
    }
}

impl Write for Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            self.put(byte);
        }
        Ok(())
    }
}

/// One line at a time, whichever CPU prints it.
static CONSOLE: Mutex<Pl011> = Mutex::new(Pl011);

/// Microseconds since the generic counter started (CNTPCT_EL0 / CNTFRQ_EL0).
pub fn micros() -> u64 {
    ticks_to_micros(CNTPCT_EL0.get())
}

/// `ticks` of the generic counter in microseconds.
pub fn ticks_to_micros(ticks: u64) -> u64 {
    let freq = CNTFRQ_EL0.get().max(1);
    (u128::from(ticks) * 1_000_000 / u128::from(freq)) as u64
}

/// `micros` microseconds in ticks of the generic counter.
pub fn micros_to_ticks(micros: u64) -> u64 {
    (u128::from(micros) * u128::from(CNTFRQ_EL0.get()) / 1_000_000) as u64
}

/// Prints one timestamped line.
pub fn print_line(args: fmt::Arguments<'_>) {
    let micros = micros();
    let mut uart = CONSOLE.lock();
    let _ = writeln!(uart, "[{:5}.{:06}] {}", micros / 1_000_000, micros % 1_000_000, args);
}

/// Prints one timestamped line to the console, `format!`-style.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}

/// Prints one timestamped line without waiting for the console lock: for the panic path,
/// where the lock may be held by the CPU that panicked.
pub fn print_line_unlocked(args: fmt::Arguments<'_>) {
    let micros = micros();
    let _ = writeln!(Pl011, "[{:5}.{:06}] {}", micros / 1_000_000, micros % 1_000_000, args);
}
