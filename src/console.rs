//! The serial console: whole lines, each with a Linux-style timestamp, never interleaved
//! between CPUs.

use crate::{driver::pl011::Pl011, time::Instant};
use core::fmt::{self, Write};
use spin::Mutex;

/// The console device, set once the UART is mapped.
static CONSOLE: Mutex<Option<Pl011>> = Mutex::new(None);

/// Installs the UART that [`println!`] writes to.
pub fn init(uart: Pl011) {
    *CONSOLE.lock() = Some(uart);
}

struct LineWriter<'a>(&'a Pl011);

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.0.put(b'\r');
            }
            self.0.put(byte);
        }
        Ok(())
    }
}

/// Writes one line: `[%5u.%06u] ` (seconds since reset), the text, a newline; under the
/// console lock, so lines from different CPUs never interleave.
pub fn print_line(args: fmt::Arguments<'_>) {
    let guard = CONSOLE.lock();
    write_line(guard.as_ref(), args);
}

/// [`print_line`] for a CPU that is dying: if another CPU holds the console for long, it
/// writes anyway rather than lose the report.
pub fn print_line_urgent(args: fmt::Arguments<'_>) {
    for _ in 0..1_000_000 {
        if let Some(guard) = CONSOLE.try_lock() {
            write_line(guard.as_ref(), args);
            return;
        }
        core::hint::spin_loop();
    }
    // SAFETY: a dying CPU's report matters more than a torn line; the lock holder is
    // stuck or interrupted, and the device tolerates concurrent byte writes.
    unsafe { CONSOLE.force_unlock() };
    print_line(args);
}

fn write_line(uart: Option<&Pl011>, args: fmt::Arguments<'_>) {
    let Some(uart) = uart else { return };
    let micros = Instant::now().as_micros();
    let mut out = LineWriter(uart);
    // Writing to the UART cannot fail.
    let _ = writeln!(out, "[{:5}.{:06}] {}", micros / 1_000_000, micros % 1_000_000, args);
}

/// Prints one timestamped console line (see [`print_line`]).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}
