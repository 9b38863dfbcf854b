//! Arm semihosting (Arm "Semihosting for AArch32 and AArch64", version 3): how the kernel
//! ends a run with a status that QEMU returns as its own exit code.

/// The kernel's exit statuses (the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitStatus {
    /// Booted, every CPU patched, every self-test passed.
    Success = 0,
    /// A self-test failed.
    SelfTestFailed = 1,
    /// An exception, `bug!` or panic (an oops was printed).
    Oops = 2,
    /// The alternatives table is invalid: nothing was patched.
    InvalidTable = 3,
    /// CPU bring-up or the rendezvous failed.
    CpuBringUp = 4,
}

/// SYS_EXIT_EXTENDED: ends the run with a reason and a subcode (semihosting 6.2).
const SYS_EXIT_EXTENDED: u64 = 0x20;
/// SYS_WRITE0: writes a NUL-terminated string to the debugger's console (semihosting 6.39).
const SYS_WRITE0: u64 = 0x04;
/// ADP_Stopped_ApplicationExit: the reason code for a normal program exit.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

fn call(op: u64, param: u64) -> u64 {
    let ret;
    // SAFETY: `HLT #0xF000` is the AArch64 semihosting trap (semihosting 2.2); QEMU started
    // with `-semihosting-config enable=on` services it. `param` points at a block that lives
    // across the call, as each operation requires.
    unsafe {
        core::arch::asm!("hlt #0xf000", inout("x0") op => ret, in("x1") param, options(nostack));
    }
    ret
}

/// Ends the run with `status`.
pub fn exit(status: ExitStatus) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, status as u64];
    call(SYS_EXIT_EXTENDED, block.as_ptr() as u64);
    // Without semihosting nothing can end the run: park.
    crate::cpu::park()
}

/// A message for the host's console, for errors that happen before the UART is known:
/// formatted into a fixed buffer (no heap yet), written with SYS_WRITE0.
pub struct Message {
    bytes: [u8; 256],
    len: usize,
}

impl Message {
    /// An empty message.
    pub const fn new() -> Self {
        Self { bytes: [0; 256], len: 0 }
    }

    /// Writes the message (truncated to fit, NUL-terminated) through the host.
    pub fn write0(&mut self) {
        let end = self.len.min(self.bytes.len() - 1);
        self.bytes[end] = 0;
        call(SYS_WRITE0, self.bytes.as_ptr() as u64);
    }
}

impl core::fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - 1 - self.len.min(self.bytes.len() - 1);
        let take = s.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}
