//! The serial console: whole lines, each with a Linux-style timestamp, never interleaved
//! between CPUs, and whole oopses.
//!
//! One lock word records which CPU owns the console (its index + 1, or 0). A CPU prints a
//! line, or a dying CPU its whole report, while it owns it. No CPU waits for the console
//! without a deadline, and none deadlocks on it: if it already owns it (it died while
//! printing) it goes on; if another CPU holds it past [`STEAL_AFTER_US`] (that CPU is wedged,
//! or dying itself with exceptions masked) it takes it over from that CPU by name, so at
//! worst the line the stuck CPU was writing is cut, and every line printed after is whole.

use crate::{
    cpu,
    driver::pl011::{Pl011, Tx},
    time,
};
use core::{
    fmt::{self, Write},
    sync::atomic::{AtomicUsize, Ordering},
};
use spin::Once;

/// The console device, set once the UART is mapped.
static UART: Once<Pl011> = Once::new();
/// The CPU that owns the console, plus one; 0 when nobody does.
static OWNER: AtomicUsize = AtomicUsize::new(0);
/// How long a CPU waits for the console before it takes it over: far longer than any line
/// takes, even on a host thread that runs hundreds of vCPUs in turn, so only a CPU that
/// stopped inside one loses it.
const STEAL_AFTER_US: u64 = 2_000_000;
/// A line's end as a terminal wants it, what [`Tx::text`] makes of a `\n`; sent as it is,
/// it costs two stores rather than a call and a scan.
const LINE_END: [u8; 2] = *b"\r\n";

/// Installs the UART that `println!` writes to, with its FIFOs on.
pub fn init(uart: Pl011) {
    uart.enable_fifos();
    UART.call_once(|| uart);
}

mod stamp;

struct LineWriter<'a, 'b>(&'a mut Tx<'b>);

impl Write for LineWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.text(s.as_bytes());
        Ok(())
    }
}

/// Ownership of the console, released on drop.
struct Owned {
    /// Whether this CPU already owned it when it asked (nested: a report printed from
    /// inside a line); then the outer owner releases it.
    nested: bool,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.nested {
            // Release: the line's device writes before the next owner's.
            OWNER.store(0, Ordering::Release);
        }
    }
}

/// Takes the console for this CPU, from a CPU that keeps it past [`STEAL_AFTER_US`] if need be.
fn own() -> Owned {
    let me = cpu::cpu_index() + 1;
    let mut since: Option<(usize, time::Instant)> = None;
    loop {
        // Acquire pairs with the previous owner's Release.
        match OWNER.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Owned { nested: false },
            Err(owner) if owner == me => return Owned { nested: true },
            Err(owner) => {
                let (holder, from) = *since.get_or_insert((owner, time::Instant::now()));
                if holder != owner {
                    since = Some((owner, time::Instant::now()));
                } else if time::ticks_to_micros(time::Instant::now().0 - from.0) >= STEAL_AFTER_US
                    && OWNER.compare_exchange(owner, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
                {
                    return Owned { nested: false };
                }
            }
        }
        core::hint::spin_loop();
    }
}

/// Writes one line: `[%5u.%06u] ` (seconds since reset), the text, a newline; while this
/// CPU owns the console, so lines from different CPUs never interleave.
pub fn print_line(args: fmt::Arguments<'_>) {
    let _owned = own();
    write_line(args);
}

/// Runs `report` with this CPU owning the console for all of it, for a CPU that is dying:
/// its lines come out together, each whole, and it cannot deadlock on the console (see the
/// module documentation). `report` prints with [`print_line`] as usual.
pub fn urgent(report: impl FnOnce()) {
    let _owned = own();
    report();
}

/// Writes one line, `prefix` then `text`, as [`print_line`] does with its arguments, for a
/// line that is a constant prefix (without a `\n`) and one string: the prefix goes out as
/// stores of immediates, and nothing passes through `core::fmt`, whose dispatch was most
/// of such a short line's instructions.
pub fn print_prefixed<const N: usize>(prefix: &[u8; N], text: &str) {
    let _owned = own();
    let Some(mut tx) = start_line() else { return };
    tx.plain(*prefix);
    tx.text(text.as_bytes());
    tx.plain(LINE_END);
}

/// The timestamp sent, and the transmission to continue the line with; none before
/// [`init`]. One transmission per line: the FIFO room it learns serves every piece.
fn start_line() -> Option<Tx<'static>> {
    let mut tx = UART.get()?.transmit();
    let micros = time::Instant::now().as_micros();
    match stamp::short(micros) {
        Some(short) => tx.plain(short),
        None => tx.text(stamp::Stamp::new(micros).as_bytes()),
    }
    Some(tx)
}

/// The first of a set of edge values (digit carries, the five-column limit, `u64::MAX`) whose
/// timestamp, by the fast path or the general one, differs from `core::fmt`'s
/// `[{:5}.{:06}] `: the self-test `console-stamp` (the kernel has no host tests).
pub fn stamp_disagreement() -> Option<u64> {
    const EDGES: [u64; 12] = [
        0,
        9,
        10,
        999_999,
        1_000_000,
        9_999_999,
        10_000_000,
        12_345_678_901,
        99_999_999_999,
        100_000_000_000,
        123_456_789_012_345,
        u64::MAX,
    ];
    EDGES.into_iter().find(|&micros| {
        let reference = alloc::format!("[{:5}.{:06}] ", micros / 1_000_000, micros % 1_000_000);
        let general = stamp::Stamp::new(micros);
        let short_agrees = stamp::short(micros).is_none_or(|short| short[..] == *reference.as_bytes());
        !short_agrees || general.as_bytes() != reference.as_bytes()
    })
}

fn write_line(args: fmt::Arguments<'_>) {
    let Some(mut tx) = start_line() else { return };
    // Writing to the UART cannot fail. A line without arguments skips the formatter.
    match args.as_str() {
        Some(text) => tx.text(text.as_bytes()),
        None => {
            let _ = LineWriter(&mut tx).write_fmt(args);
        }
    }
    tx.plain(LINE_END);
}

/// Prints one timestamped console line (see [`print_line`]).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}
