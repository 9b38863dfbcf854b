//! AArch64 exception entry and the oops printer.

use crate::{console::print_line_urgent, exception, semihosting};
use core::mem::offset_of;

/// The interrupted context, as `boot/vectors.s` saves it.
#[repr(C)]
pub struct ExceptionFrame {
    /// x0 to x30.
    pub x: [u64; 31],
    /// The interrupted stack pointer.
    pub sp: u64,
    /// ELR_EL1: where the exception was taken.
    pub elr: u64,
    /// SPSR_EL1: the interrupted PSTATE.
    pub spsr: u64,
    /// ESR_EL1: the syndrome.
    pub esr: u64,
    /// FAR_EL1: the faulting address, for aborts.
    pub far: u64,
}

core::arch::global_asm!(
    include_str!("../../../boot/vectors.s"),
    FRAME_SIZE = const core::mem::size_of::<ExceptionFrame>(),
    FRAME_X30 = const offset_of!(ExceptionFrame, x) + 30 * 8,
    FRAME_ELR = const offset_of!(ExceptionFrame, elr),
    FRAME_ESR = const offset_of!(ExceptionFrame, esr),
    handler = sym handle_exception,
);

const _: () = assert!(offset_of!(ExceptionFrame, sp) == offset_of!(ExceptionFrame, x) + 31 * 8);
const _: () = assert!(offset_of!(ExceptionFrame, spsr) == offset_of!(ExceptionFrame, elr) + 8);
const _: () = assert!(offset_of!(ExceptionFrame, far) == offset_of!(ExceptionFrame, esr) + 8);
const _: () = assert!(core::mem::size_of::<ExceptionFrame>().is_multiple_of(16));

unsafe extern "C" {
    static __fixup_table: u8;
    static __fixup_table_end: u8;
    #[link_name = "probe_store_u32"]
    fn probe_store_u32_asm(addr: u64, value: u32) -> u64;
}

/// Stores `value` at `addr`, recovering if the store faults: `Err(esr)` names the fault.
///
/// # Safety
///
/// A store to `addr` that succeeds must not break any Rust invariant (the callers probe
/// memory they expect to be read-only).
pub unsafe fn probe_store_u32(addr: u64, value: u32) -> Result<(), u64> {
    // SAFETY: `probe_store_u32` in vectors.s stores one word and has a fixup entry, so a
    // fault returns here with the ESR; the caller vouches for the store itself.
    match unsafe { probe_store_u32_asm(addr, value) } {
        0 => Ok(()),
        esr => Err(esr),
    }
}

/// Linux's BUG immediate for BRK (arch/arm64/include/asm/brk-imm.h: BUG_BRK_IMM).
const BUG_BRK_IMM: u64 = 0x800;

/// Traps with `BRK #BUG_BRK_IMM`.
pub fn brk_bug() -> ! {
    // SAFETY: BRK raises a synchronous exception, handled by `handle_exception`, which
    // ends the run; it does not return here.
    unsafe { core::arch::asm!("brk #{imm}", imm = const BUG_BRK_IMM, options(noreturn, nomem, nostack)) }
}

/// ESR_EL1.EC values (Arm ARM D19.2.37, table D19-4) and the names Linux's esr.c gives them.
const EXCEPTION_CLASSES: &[(u64, &str)] = &[
    (0x00, "UNKNOWN"),
    (0x01, "WFx"),
    (0x07, "SIMD/FP"),
    (0x0e, "PSTATE.IL"),
    (0x15, "SVC (AArch64)"),
    (0x16, "HVC (AArch64)"),
    (0x17, "SMC (AArch64)"),
    (0x18, "MSR/MRS (AArch64)"),
    (0x19, "SVE"),
    (0x20, "IABT (lower EL)"),
    (0x21, "IABT (current EL)"),
    (0x22, "PC Alignment"),
    (0x24, "DABT (lower EL)"),
    (0x25, "DABT (current EL)"),
    (0x26, "SP Alignment"),
    (0x2f, "SError"),
    (0x30, "Breakpoint (lower EL)"),
    (0x31, "Breakpoint (current EL)"),
    (0x32, "Software Step (lower EL)"),
    (0x33, "Software Step (current EL)"),
    (0x34, "Watchpoint (lower EL)"),
    (0x35, "Watchpoint (current EL)"),
    (0x3c, "BRK (AArch64)"),
];

/// The vector kinds, in table order (boot/vectors.s).
const VECTOR_KINDS: [&str; 16] = [
    "Synchronous (EL1t)",
    "IRQ (EL1t)",
    "FIQ (EL1t)",
    "SError (EL1t)",
    "Synchronous (EL1h)",
    "IRQ (EL1h)",
    "FIQ (EL1h)",
    "SError (EL1h)",
    "Synchronous (EL0, 64-bit)",
    "IRQ (EL0, 64-bit)",
    "FIQ (EL0, 64-bit)",
    "SError (EL0, 64-bit)",
    "Synchronous (EL0, 32-bit)",
    "IRQ (EL0, 32-bit)",
    "FIQ (EL0, 32-bit)",
    "SError (EL0, 32-bit)",
];

fn class_name(ec: u64) -> &'static str {
    EXCEPTION_CLASSES.iter().find(|(code, _)| *code == ec).map_or("UNRECOGNIZED EC", |(_, name)| name)
}

/// The recovery address for a fault at `pc`, from the `.fixup_table` that assembly fills with
/// pairs of self-relative words (faulting instruction, resume point).
fn fixup_for(pc: u64) -> Option<u64> {
    // The linker script brackets `.fixup_table` with these symbols.
    let (start, end) = (&raw const __fixup_table as u64, &raw const __fixup_table_end as u64);
    (start..end).step_by(8).find_map(|entry| {
        // SAFETY: `entry` and `entry + 4` are words inside the mapped, read-only table.
        let (insn, resume) =
            unsafe { (core::ptr::read(entry as *const i32), core::ptr::read((entry + 4) as *const i32)) };
        (entry.wrapping_add_signed(insn.into()) == pc).then(|| (entry + 4).wrapping_add_signed(resume.into()))
    })
}

extern "C" fn handle_exception(frame: &mut ExceptionFrame, kind: u64) {
    let ec = frame.esr >> 26;
    let synchronous = kind.is_multiple_of(4);
    if synchronous
        && (ec == 0x24 || ec == 0x25)
        && let Some(resume) = fixup_for(frame.elr)
    {
        frame.x[0] = frame.esr;
        frame.elr = resume;
        return;
    }
    let mut status = semihosting::ExitStatus::Oops;
    let mut what = "Oops";
    if synchronous && ec == 0x3c && frame.esr & 0xffff == BUG_BRK_IMM {
        what = "Oops - BUG";
        if let Some(site) = exception::take_bug() {
            print_line_urgent(format_args!("------------[ cut here ]------------"));
            print_line_urgent(format_args!("kernel BUG at {}:{}!", site.file, site.line));
            status = site.status;
        }
    }
    if synchronous
        && ec == 0x3c
        && frame.esr & 0xffff == u64::from(crate::alternative::UNPATCHED_SITE_BRK_IMM)
    {
        print_line_urgent(format_args!(
            "alternatives: reached an always-patched site unpatched: patching silently did nothing"
        ));
    }
    oops(frame, kind, what);
    semihosting::exit(status)
}

fn oops(frame: &ExceptionFrame, kind: u64, what: &str) {
    macro_rules! p {
        ($($arg:tt)*) => { print_line_urgent(format_args!($($arg)*)) };
    }
    let ec = frame.esr >> 26;
    p!("Internal error: {what}: {:016x} [#{}] SMP", frame.esr, exception::next_oops());
    p!("CPU: {} Comm: altpatch", crate::cpu::cpu_index());
    p!("Exception: {}", VECTOR_KINDS[kind as usize % 16]);
    p!(
        "ESR = 0x{:016x}, EC = 0x{:02x}: {}, IL = {} bits, ISS = 0x{:07x}",
        frame.esr,
        ec,
        class_name(ec),
        if frame.esr & (1 << 25) != 0 { 32 } else { 16 },
        frame.esr & 0x1ff_ffff
    );
    p!("FAR = 0x{:016x}", frame.far);
    p!("pstate: {:08x} ({})", frame.spsr, Pstate(frame.spsr));
    p!("pc : {:016x}", frame.elr);
    p!("lr : {:016x}", frame.x[30]);
    p!("sp : {:016x}", frame.sp);
    for pair in (0..30).rev().step_by(2) {
        p!("x{:<2}: {:016x} x{:<2}: {:016x}", pair, frame.x[pair], pair - 1, frame.x[pair - 1]);
    }
    p!("Code: {}", CodeWords(frame.elr));
    p!("---[ end trace {:016x} ]---", frame.elr);
}

/// PSTATE flags as Linux prints them: `nzCv daIF`, upper case when set.
struct Pstate(u64);

impl core::fmt::Display for Pstate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let bit = |n: u32, c: char| if self.0 & (1 << n) != 0 { c.to_ascii_uppercase() } else { c };
        write!(
            f,
            "{}{}{}{} {}{}{}{} EL{}{}",
            bit(31, 'n'),
            bit(30, 'z'),
            bit(29, 'c'),
            bit(28, 'v'),
            bit(9, 'd'),
            bit(8, 'a'),
            bit(7, 'i'),
            bit(6, 'f'),
            (self.0 >> 2) & 3,
            if self.0 & 1 != 0 { "h" } else { "t" }
        )
    }
}

/// The instruction words around `pc`, the one at `pc` in parentheses, as Linux's
/// `dump_kernel_instr` prints them; words that cannot be read print as `????????`.
struct CodeWords(u64);

impl core::fmt::Display for CodeWords {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for i in -4i64..=0 {
            let addr = self.0.wrapping_add_signed(i * 4);
            let word = crate::memory::read_text_word(addr);
            let sep = if i == -4 { "" } else { " " };
            match (word, i) {
                (Some(w), 0) => write!(f, "{sep}({w:08x})")?,
                (Some(w), _) => write!(f, "{sep}{w:08x}")?,
                (None, _) => write!(f, "{sep}????????")?,
            }
        }
        Ok(())
    }
}
