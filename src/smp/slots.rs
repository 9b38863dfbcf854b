//! Per-CPU slots that boot does not zero: the kernel has room for 512 CPUs, and clearing
//! every slot in the BSS was 160 KiB, the largest part of the instructions before
//! `kernel_init`. Only the slots of the CPUs the device tree lists are written, once, before
//! any is read; indexing any other is a bug, caught by an assertion.

use core::{
    cell::UnsafeCell,
    mem::MaybeUninit,
    ops::Index,
    sync::atomic::{AtomicUsize, Ordering},
};

/// Storage for `N` slots, placed in the linker script's `.noinit` section (not loaded, not
/// zeroed): its bytes are whatever RAM held until [`Slots::init`] writes them.
pub struct Storage<T, const N: usize>(UnsafeCell<MaybeUninit<[T; N]>>);

impl<T, const N: usize> Storage<T, N> {
    /// Storage whose contents are unknown until written.
    pub const fn new() -> Self {
        Self(UnsafeCell::new(MaybeUninit::uninit()))
    }
}

// SAFETY: the storage is only reached through `Slots`, which writes a slot once, before its
// index is published, and hands out shared references to published slots only.
unsafe impl<T: Sync, const N: usize> Sync for Storage<T, N> {}

/// The first [`Slots::ready`] slots of a [`Storage`], each written before it is read.
pub struct Slots<T: 'static, const N: usize> {
    storage: &'static Storage<T, N>,
    /// How many slots from the first are written.
    ready: AtomicUsize,
}

impl<T, const N: usize> Slots<T, N> {
    /// Slots over `storage`, none written yet.
    pub const fn new(storage: &'static Storage<T, N>) -> Self {
        Self { storage, ready: AtomicUsize::new(0) }
    }

    /// Writes slots `ready..count` with `make()`, then publishes them.
    ///
    /// # Safety
    ///
    /// No other CPU calls this concurrently (the boot CPU calls it before the others start).
    pub unsafe fn init(&self, count: usize, make: impl Fn() -> T) {
        let count = count.min(N);
        let first = self.ready.load(Ordering::Relaxed);
        let base = self.storage.0.get().cast::<T>();
        for slot in first..count {
            // SAFETY: `slot < N` lies in the storage; slots from `ready` on are published to
            // no one, so nothing reads or references them while they are written, and the
            // caller promises no other writer.
            unsafe { base.add(slot).write(make()) };
        }
        // Release: a CPU that sees the count sees the slots' contents.
        self.ready.fetch_max(count, Ordering::Release);
    }
}

impl<T, const N: usize> Index<usize> for Slots<T, N> {
    type Output = T;

    fn index(&self, slot: usize) -> &T {
        assert!(slot < self.ready.load(Ordering::Acquire), "slot {slot} was never written");
        // SAFETY: slots below `ready` were written by `init` before it published them
        // (the Acquire above pairs with its Release) and are never written again.
        unsafe { &*self.storage.0.get().cast::<T>().add(slot) }
    }
}
