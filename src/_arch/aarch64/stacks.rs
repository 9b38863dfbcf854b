//! The CPUs' stacks: one slot per CPU in a block `boot/entry.s` indexes by CPU, each stack
//! with a guard page below it.

/// The most CPUs the kernel brings up: QEMU `virt`'s limit with a GICv3, as many as the
/// rendezvous's `CpuSet` names.
pub const MAX_CPUS: usize = altpatch_rendezvous::MAX_CPUS;

/// Bytes of a CPU's stack.
pub const STACK_SIZE: usize = 32 * 1024;

/// Bytes of a CPU's exception stack: exceptions switch to it (SP_ELx), so an overflow of
/// the stack the CPU runs on (SP_EL0) is still reported.
pub const EXCEPTION_STACK_SIZE: usize = 16 * 1024;

/// Bytes of an unmapped guard page.
pub const GUARD_SIZE: usize = 4096;

/// One CPU's slot in the stacks block, from low to high addresses: a guard page, the
/// stack, a guard page, the exception stack. Each stack grows down into its guard page.
pub const STACK_SLOT: usize = GUARD_SIZE + STACK_SIZE + GUARD_SIZE + EXCEPTION_STACK_SIZE;

#[repr(C, align(4096))]
struct Stacks([u8; STACK_SLOT * MAX_CPUS]);

/// Every CPU's stacks and guard pages (see [`STACK_SLOT`]); `boot/entry.s` finds CPU n's
/// slot at `__stacks_start + n * STACK_SLOT`.
#[unsafe(link_section = ".stacks")]
#[used]
static STACKS: Stacks = Stacks([0; STACK_SLOT * MAX_CPUS]);

/// The CPU whose guard page holds `addr`, in the stacks block at `stacks` (the kernel's
/// layout): an access there is that CPU's stack overflowing.
pub fn stack_guard_owner(stacks: &core::ops::Range<u64>, addr: u64) -> Option<usize> {
    if !stacks.contains(&addr) {
        return None;
    }
    let offset = (addr - stacks.start) as usize;
    let in_slot = offset % STACK_SLOT;
    let guard =
        in_slot < GUARD_SIZE || (GUARD_SIZE + STACK_SIZE..2 * GUARD_SIZE + STACK_SIZE).contains(&in_slot);
    guard.then_some(offset / STACK_SLOT)
}
