//! AArch64 exception entry, the syndrome decoded, and the oops printed in Linux's shape.
//! What an exception means for the kernel (a `bug!`, an unpatched site, the exit status) is
//! decided by the kernel's portable `exception` module, which this hands every exception it
//! does not recover itself through `altpatch_unexpected_exception`.

use super::{cpu, memory, stacks};
use aarch64_cpu::registers::{ESR_EL1, SPSR_EL1};
use core::{fmt, mem::offset_of};
use tock_registers::LocalRegisterCopy;

/// The interrupted context, as `boot/vectors.s` saves it.
#[repr(C)]
pub struct ExceptionFrame {
    /// x0 to x30.
    pub x: [u64; 31],
    /// The interrupted stack pointer.
    pub sp: u64,
    /// ELR_EL1: where the exception was taken. (At EL2 with HCR_EL2.E2H = 1 the EL1 names
    /// of ELR, SPSR, ESR and FAR read the EL2 registers, Arm ARM "Behavior of HCR_EL2.E2H":
    /// vectors.s serves both.)
    pub elr: u64,
    /// SPSR_EL1: the interrupted PSTATE (M = EL2h for the kernel at EL2).
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

unsafe extern "Rust" {
    /// The kernel's handler of every exception arch code does not recover, which the kernel
    /// defines under this name: it reports `taken` and ends the run.
    fn altpatch_unexpected_exception(taken: &Taken<'_>) -> !;
}

unsafe extern "C" {
    static __fixup_table: u8;
    static __fixup_table_end: u8;
    #[link_name = "probe_store_u32"]
    fn probe_store_u32_asm(addr: u64, value: u32) -> u64;
}

/// Stores `value` at `addr`, recovering if the store faults: `Err(syndrome)` names the fault.
///
/// # Safety
///
/// A store to `addr` that succeeds must not break any Rust invariant (the callers probe
/// memory they expect to be read-only).
pub unsafe fn probe_store_u32(addr: u64, value: u32) -> Result<(), Esr> {
    // SAFETY: `probe_store_u32` in vectors.s stores one word and has a fixup entry, so a
    // fault returns here with the ESR; the caller vouches for the store itself.
    match unsafe { probe_store_u32_asm(addr, value) } {
        0 => Ok(()),
        esr => Err(Esr::new(esr)),
    }
}

/// Linux's BUG immediate for BRK (arch/arm64/include/asm/brk-imm.h: BUG_BRK_IMM).
pub const BUG_BRK_IMM: u16 = 0x800;

#[allow(missing_docs)]
mod iss {
    tock_registers::register_bitfields! {u64,
        /// The ISS encodings of ESR_ELx that the kernel reads (Arm ARM D19.2.37).
        pub ISS [
            /// BRK: the instruction's 16-bit comment (ISS encoding for BRK).
            BRK_COMMENT OFFSET(0) NUMBITS(16) [],
            /// Data/instruction abort: the fault status code.
            FSC OFFSET(0) NUMBITS(6) [
                /// Permission fault, levels 0-3 are 0b0011xx.
                PermissionLevel0 = 0b00_1100,
                PermissionLevel1 = 0b00_1101,
                PermissionLevel2 = 0b00_1110,
                PermissionLevel3 = 0b00_1111
            ]
        ]
    }
}

/// A syndrome (ESR_EL1), decoded through aarch64-cpu's ESR_EL1 fields: the one decoder of
/// that register in the kernel.
#[derive(Clone, Copy)]
pub struct Esr(LocalRegisterCopy<u64, ESR_EL1::Register>);

impl Esr {
    /// The syndrome `value`.
    pub fn new(value: u64) -> Self {
        Esr(LocalRegisterCopy::new(value))
    }

    /// The raw value.
    pub fn raw(&self) -> u64 {
        self.0.get()
    }

    /// The exception class (EC).
    pub fn class(&self) -> u64 {
        self.0.read(ESR_EL1::EC)
    }

    /// A data abort taken without a change in exception level.
    pub fn is_data_abort_here(&self) -> bool {
        self.0.matches_all(ESR_EL1::EC::DataAbortCurrentEL)
    }

    /// A data abort taken from any level.
    pub fn is_data_abort(&self) -> bool {
        self.is_data_abort_here() || self.0.matches_all(ESR_EL1::EC::DataAbortLowerEL)
    }

    /// A data abort here for a permission fault, at any level.
    pub fn is_permission_fault(&self) -> bool {
        self.is_data_abort_here() && self.iss().read(iss::ISS::FSC) >> 2 == 0b0011
    }

    /// The comment of the BRK that raised this, if a BRK did.
    pub fn brk_comment(&self) -> Option<u16> {
        self.0.matches_all(ESR_EL1::EC::Brk64).then(|| self.iss().read(iss::ISS::BRK_COMMENT) as u16)
    }

    fn iss(&self) -> LocalRegisterCopy<u64, iss::ISS::Register> {
        LocalRegisterCopy::new(self.0.read(ESR_EL1::ISS))
    }
}

impl fmt::Debug for Esr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ESR {:#x} (EC {:#04x}: {})", self.raw(), self.class(), class_name(self.class()))
    }
}

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

/// The vector kinds, in table order (boot/vectors.s): the exception, and where it came
/// from (the current level with SP0 or SPx; the lower level, EL0, in AArch64 or AArch32).
const VECTOR_KINDS: [(&str, &str); 16] = [
    ("Synchronous", "t"),
    ("IRQ", "t"),
    ("FIQ", "t"),
    ("SError", "t"),
    ("Synchronous", "h"),
    ("IRQ", "h"),
    ("FIQ", "h"),
    ("SError", "h"),
    ("Synchronous", "EL0, 64-bit"),
    ("IRQ", "EL0, 64-bit"),
    ("FIQ", "EL0, 64-bit"),
    ("SError", "EL0, 64-bit"),
    ("Synchronous", "EL0, 32-bit"),
    ("IRQ", "EL0, 32-bit"),
    ("FIQ", "EL0, 32-bit"),
    ("SError", "EL0, 32-bit"),
];

/// `Synchronous (EL2h)`: vector `kind` taken at exception level `el` (the kernel's: 1, or 2
/// under VHE, where VBAR_EL1 names VBAR_EL2 and these same vectors take EL2's exceptions).
struct VectorKind {
    kind: usize,
    el: u64,
}

impl fmt::Display for VectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, from) = VECTOR_KINDS[self.kind % 16];
        if self.kind % 16 < 8 {
            write!(f, "{what} (EL{}{from})", self.el)
        } else {
            write!(f, "{what} ({from})")
        }
    }
}

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
    let esr = Esr::new(frame.esr);
    let synchronous = kind.is_multiple_of(4);
    if synchronous
        && esr.is_data_abort()
        && let Some(resume) = fixup_for(frame.elr)
    {
        frame.x[0] = frame.esr;
        frame.elr = resume;
        return;
    }
    // SAFETY: the kernel defines `altpatch_unexpected_exception` with this signature (its
    // definition is checked against this function type there; a missing one fails to link).
    unsafe { altpatch_unexpected_exception(&Taken { frame, kind, esr }) }
}

/// An exception the architecture code did not recover, for the kernel to report.
pub struct Taken<'a> {
    frame: &'a ExceptionFrame,
    kind: u64,
    esr: Esr,
}

impl Taken<'_> {
    /// Its syndrome.
    pub fn esr(&self) -> Esr {
        self.esr
    }

    /// Whether it is synchronous (not an interrupt or SError).
    pub fn is_synchronous(&self) -> bool {
        self.kind.is_multiple_of(4)
    }

    /// The CPU whose stack overflowed, when this is an access to a stack's guard page.
    pub fn stack_overflow(&self) -> Option<usize> {
        let stacks = memory::kernel_layout().stacks;
        (self.esr.is_data_abort()).then(|| stacks::stack_guard_owner(&stacks, self.frame.far)).flatten()
    }

    /// The oops lines, in Linux's shape, for `what` ("Oops", "Oops - BUG") as oops number `n`.
    pub fn oops(&self, what: &str, n: u32, mut line: impl FnMut(fmt::Arguments<'_>)) {
        let (frame, esr) = (self.frame, self.esr);
        macro_rules! p {
            ($($arg:tt)*) => { line(format_args!($($arg)*)) };
        }
        p!("Internal error: {what}: {:016x} [#{n}] SMP", frame.esr);
        p!("CPU: {} Comm: altpatch", cpu::cpu_index());
        p!("Exception: {}", VectorKind { kind: self.kind as usize, el: cpu::current_el() });
        let (il, iss) = (esr.0.read(ESR_EL1::IL), esr.0.read(ESR_EL1::ISS));
        p!(
            "ESR = 0x{:016x}, EC = 0x{:02x}: {}, IL = {} bits, ISS = 0x{iss:07x}",
            frame.esr,
            esr.class(),
            class_name(esr.class()),
            if il == 1 { 32 } else { 16 },
        );
        p!("FAR = 0x{:016x}", frame.far);
        p!("pstate: {:08x} ({})", frame.spsr, Pstate(LocalRegisterCopy::new(frame.spsr)));
        p!("pc : {:016x}", frame.elr);
        p!("lr : {:016x}", frame.x[30]);
        p!("sp : {:016x}", frame.sp);
        for pair in (0..30).rev().step_by(2) {
            p!("x{:<2}: {:016x} x{:<2}: {:016x}", pair, frame.x[pair], pair - 1, frame.x[pair - 1]);
        }
        p!("Code: {}", CodeWords(frame.elr));
        p!("---[ end trace {:016x} ]---", frame.elr);
    }
}

/// PSTATE flags as Linux prints them: `nzCv daIF`, upper case when set; decoded through
/// aarch64-cpu's SPSR_EL1 fields.
struct Pstate(LocalRegisterCopy<u64, SPSR_EL1::Register>);

impl fmt::Display for Pstate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SPSR_EL1::{A, C, D, F, I, M, N, V, Z};
        let flag = |set: bool, c: char| if set { c.to_ascii_uppercase() } else { c };
        let s = &self.0;
        let mode = s.read(M);
        write!(
            f,
            "{}{}{}{} {}{}{}{} EL{}{}",
            flag(s.is_set(N), 'n'),
            flag(s.is_set(Z), 'z'),
            flag(s.is_set(C), 'c'),
            flag(s.is_set(V), 'v'),
            flag(s.is_set(D), 'd'),
            flag(s.is_set(A), 'a'),
            flag(s.is_set(I), 'i'),
            flag(s.is_set(F), 'f'),
            mode >> 2,
            if mode & 1 != 0 { "h" } else { "t" }
        )
    }
}

/// The instruction words around `pc`, the one at `pc` in parentheses, as Linux's
/// `dump_kernel_instr` prints them; words that cannot be read print as `????????`.
struct CodeWords(u64);

impl fmt::Display for CodeWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in -4i64..=0 {
            let addr = self.0.wrapping_add_signed(i * 4);
            let word = memory::read_text_word(addr);
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
