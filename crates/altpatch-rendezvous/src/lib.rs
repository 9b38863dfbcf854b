//! The stop-machine rendezvous: every online CPU stops in code that no entry patches while
//! one CPU, the primary, validates and patches.
//!
//! # Protocol (one generation)
//!
//! 1. The primary opens generation `g`: it publishes `(g, Open)` in the state word (Release)
//!    and sends an event. Its clock reading at that moment is the first-in timestamp: no CPU
//!    can check in before the generation is open.
//! 2. Each secondary, waiting with interrupts masked, sees `(g, Open)` (Acquire), checks in by
//!    writing `g` to its own slot (Release) and sends an event, then waits for the state word
//!    to leave `(g, Open)`.
//! 3. The primary polls the slots of the expected CPUs (Acquire). When every one holds `g` it
//!    runs the work, then publishes `(g, Released)` (Release). If the platform clock passes
//!    the timeout first, it publishes `(g, Aborted)` instead, never runs the work, and names
//!    the CPUs whose slot does not hold `g`.
//! 4. Every CPU that leaves, the primary included, calls [`Platform::context_sync`] (ISB on
//!    AArch64) before it runs anything else, so none can execute a stale copy of a patched
//!    site. A released secondary then stamps its slot "departed" (Release); the primary
//!    returns only when every expected CPU has departed, which makes the last-out timestamp
//!    complete and leaves the rendezvous quiet for generation `g + 1`.
//!
//! # Why per-CPU generation slots, not one arrival mask
//!
//! A single shared mask would have to be cleared for each generation, and a CPU that read
//! `(g, Open)` just before an abort could set its bit *after* the clear, counting itself
//! into generation `g + 1` while it is on its way out. Each slot instead holds the
//! generation its CPU last checked in for: a late write says `g`, which generation `g + 1`
//! does not count. The slots still give a mask, which names the missing CPUs.
//!
//! Only CPUs in the primary's `online` mask may take part: a CPU outside it could check in to
//! an open generation the primary does not wait for, and would misread the next generation
//! as an abort. (The kernel's parked CPUs never call in.)
//!
//! # Every wait has a deadline
//!
//! The primary waits for check-ins up to `timeout` ([`Missing`]), and for departures up to
//! `timeout` again ([`Failure::NotDeparted`]): a CPU that checked in and then wedged is
//! named, not waited for forever. A secondary waits for the verdict up to the `timeout` it
//! passes to [`Rendezvous::participate`], counted from its check-in: a primary whose work
//! does not finish (a wedged stop window) is reported by every waiting CPU as
//! [`Outcome::WorkerStalled`]. Nothing bounds the work itself on the primary (it is the one
//! running it); the secondaries' deadline is what bounds it.
//!
//! # A CPU that arrives late
//!
//! A secondary that first sees generation `g` already closed (the primary gave up on it, or
//! it was not expected) returns [`Outcome::Missed`] at once: it never checks in to a closed
//! generation and never waits in one. Its next [`Rendezvous::participate`] waits for
//! generation `g + 1` (a CPU that comes later still, when `g + 1` is already open, joins
//! `g + 1` directly: it only ever serves an open generation). A secondary that checked in but was overtaken by the timeout returns
//! [`Outcome::Aborted`]. In both cases nothing was patched.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod cpuset;

pub use cpuset::{CpuSet, MAX_CPUS, Members};

use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::Ordering::{self, Acquire, Relaxed, Release};

/// Proof that every CPU the rendezvous expected is held in it: the work of
/// [`Rendezvous::stop_machine`] receives one, and nothing else can make one. Code that must
/// only run while no other CPU executes kernel text (applying alternatives) takes a
/// `&Stopped`, so calling it outside a stop-machine does not compile.
#[derive(Debug)]
pub struct Stopped<'a> {
    generation: u64,
    cpus: CpuSet,
    /// Not `Send`/`Sync`, and borrowed from the generation: the proof cannot leave the work.
    _window: PhantomData<*const &'a ()>,
}

impl Stopped<'_> {
    /// The generation holding the CPUs.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every CPU in the stop window, the one running the work included.
    pub fn cpus(&self) -> CpuSet {
        self.cpus
    }
}

/// A 64-bit atomic word: the operations the protocol uses, so that the kernel can supply
/// `core`'s atomics and a model checker its own.
pub trait Atomic: Sized {
    /// A word holding `value`.
    fn new(value: u64) -> Self;
    /// Reads the word.
    fn load(&self, order: Ordering) -> u64;
    /// Writes the word.
    fn store(&self, value: u64, order: Ordering);
    /// Stores the larger of the word and `value`; returns the previous word.
    fn fetch_max(&self, value: u64, order: Ordering) -> u64;
    /// Stores `new` if the word is `current`; returns the previous word, `Err` if it was not
    /// `current`.
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64>;
}

// Inlined: the orderings are constants at every call, and the waits in the stop window
// should cost a load, not a call and a match on the ordering.
impl Atomic for core::sync::atomic::AtomicU64 {
    #[inline]
    fn new(value: u64) -> Self {
        core::sync::atomic::AtomicU64::new(value)
    }
    #[inline]
    fn load(&self, order: Ordering) -> u64 {
        self.load(order)
    }
    #[inline]
    fn store(&self, value: u64, order: Ordering) {
        self.store(value, order)
    }
    #[inline]
    fn fetch_max(&self, value: u64, order: Ordering) -> u64 {
        self.fetch_max(value, order)
    }
    #[inline]
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.compare_exchange(current, new, success, failure)
    }
}

/// What the rendezvous needs from the machine: a counter to read, a way to wait for an event
/// and to send one, and context synchronization.
///
/// Every method runs inside the stop window, so its code and everything it calls must be
/// code that no alternatives entry patches (and must not take an exception).
pub trait Platform {
    /// The atomic word; `core::sync::atomic::AtomicU64` in the kernel.
    type Atomic: Atomic;

    /// Waits until an event may have happened (WFE). It may return early or spuriously, but
    /// it must return within a bounded time even if no CPU ever sends an event (the kernel
    /// enables the generic timer event stream, `CNTKCTL_EL1.EVNTEN`): the primary measures
    /// its timeout between waits.
    fn wait_for_event(&self);

    /// Wakes every CPU waiting in [`Platform::wait_for_event`] (SEV). Called after every
    /// store another CPU waits on.
    fn send_event(&self);

    /// Context synchronization (ISB): instructions after it are fetched anew, so a CPU that
    /// returns after it cannot run a stale copy of a patched site. The patch itself must
    /// already have done the cache maintenance that makes the new bytes visible to fetch.
    fn context_sync(&self);

    /// The platform clock in ticks (the kernel reads CNTPCT_EL0): monotonic, and common to
    /// every CPU, so that timestamps from different CPUs compare.
    fn now(&self) -> u64;
}

/// A generation's phase, the low bits of the state word.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u64)]
enum Phase {
    /// No generation has been opened yet (only with generation 0).
    Idle = 0,
    /// CPUs are checking in.
    Open = 1,
    /// Every CPU checked in, the work ran: leave.
    Released = 2,
    /// A CPU did not check in in time; the work did not run: leave.
    Aborted = 3,
}

const PHASE_BITS: u32 = 2;

/// The state word: the generation above the phase, so that one load tells a CPU both which
/// generation is current and where it is, and two generations' phases never compare equal.
const fn state(generation: u64, phase: Phase) -> u64 {
    generation << PHASE_BITS | phase as u64
}

const fn generation_of(state: u64) -> u64 {
    state >> PHASE_BITS
}

const fn phase_of(state: u64) -> Phase {
    match state & ((1 << PHASE_BITS) - 1) {
        0 => Phase::Idle,
        1 => Phase::Open,
        2 => Phase::Released,
        _ => Phase::Aborted,
    }
}

/// A CPU slot: the generation its CPU last checked in for, above a bit that says it has
/// also left that generation after its release.
const fn slot(generation: u64, departed: bool) -> u64 {
    generation << 1 | departed as u64
}

/// The stop-machine rendezvous for up to `CPUS` CPUs (at most [`MAX_CPUS`]), shared by all
/// of them; run again and again, one generation per [`Rendezvous::stop_machine`].
pub struct Rendezvous<P: Platform, const CPUS: usize = MAX_CPUS> {
    platform: P,
    /// [`state`]: the current generation and its phase. Written by the primary only.
    state: P::Atomic,
    /// One [`slot`] per CPU, written by that CPU only.
    slots: [P::Atomic; CPUS],
    /// The latest departure timestamp of any CPU. Never reset: the clock is monotonic, so
    /// the maximum over a generation's departures is at least every earlier value.
    last_out: P::Atomic,
}

impl<P, const CPUS: usize> Rendezvous<P, CPUS>
where
    P: Platform<Atomic = core::sync::atomic::AtomicU64>,
{
    /// A rendezvous on `platform` that has run no generation; `const`, for the kernel's
    /// `static`.
    pub const fn new(platform: P) -> Self {
        let () = Self::CPUS_FIT_THE_MASK;
        Self {
            platform,
            state: core::sync::atomic::AtomicU64::new(state(0, Phase::Idle)),
            slots: [const { core::sync::atomic::AtomicU64::new(slot(0, false)) }; CPUS],
            last_out: core::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl<P: Platform, const CPUS: usize> Rendezvous<P, CPUS> {
    const CPUS_FIT_THE_MASK: () = assert!(CPUS <= MAX_CPUS, "a rendezvous names at most MAX_CPUS CPUs");

    /// A rendezvous on `platform` that has run no generation, for atomics with no `const`
    /// constructor (a model checker's).
    pub fn with_atomics(platform: P) -> Self {
        let () = Self::CPUS_FIT_THE_MASK;
        Self {
            platform,
            state: P::Atomic::new(state(0, Phase::Idle)),
            slots: core::array::from_fn(|_| P::Atomic::new(slot(0, false))),
            last_out: P::Atomic::new(0),
        }
    }

    /// [`Rendezvous::stop_machine_within`] with one timeout for check-in and departure.
    ///
    /// # Panics
    ///
    /// As [`Rendezvous::stop_machine_within`].
    pub fn stop_machine<R>(
        &self,
        primary: usize,
        online: CpuSet,
        timeout: u64,
        work: impl FnOnce(&Stopped<'_>) -> R,
    ) -> Result<Completed<R>, Failure<R>> {
        self.stop_machine_within(primary, online, Timeouts { check_in: timeout, departure: timeout }, work)
    }

    /// Runs one generation from the primary CPU: waits up to `timeout` clock ticks for every
    /// CPU in `online` other than `primary` to check in, then runs `work` on this CPU alone
    /// with the [`Stopped`] proof, releases them and waits until each has left.
    ///
    /// Call it on one CPU at a time, with interrupts masked, from code that no entry patches;
    /// the other CPUs in `online` must be in (or on their way to)
    /// [`Rendezvous::participate`]. On a timeout `work` does not run and the error names the
    /// CPUs that did not check in; those that did are released all the same.
    ///
    /// # Panics
    ///
    /// If a CPU index is `CPUS` or more, or another generation is still open.
    pub fn stop_machine_within<R>(
        &self,
        primary: usize,
        online: CpuSet,
        timeouts: Timeouts,
        work: impl FnOnce(&Stopped<'_>) -> R,
    ) -> Result<Completed<R>, Failure<R>> {
        let timeout = timeouts.check_in;
        assert!(primary < CPUS, "primary CPU {primary} beyond the rendezvous's {CPUS}");
        assert!(online.end() <= CPUS, "online CPUs {online:?} beyond the rendezvous's {CPUS}");
        let expected = online.without(primary);

        // Relaxed: this CPU is the only writer of the state word (the exchange below
        // catches a second primary), so it reads its own last store.
        let previous = self.state.load(Relaxed);
        let generation = generation_of(previous) + 1;
        let first_in = self.platform.now();
        // Release pairs with each secondary's Acquire load of `Open`: what this CPU did
        // before opening (left the code it will patch) happens before any check-in.
        let opened = phase_of(previous) != Phase::Open
            && self
                .state
                .compare_exchange(previous, state(generation, Phase::Open), Release, Relaxed)
                .is_ok();
        if !opened {
            panic!("stop_machine: two primaries at once");
        }
        self.platform.send_event();

        let mut waiting = expected;
        loop {
            waiting = self.cpus_not_at(waiting, slot(generation, false));
            if waiting.is_empty() {
                break;
            }
            if self.platform.now().saturating_sub(first_in) >= timeout {
                // Nothing to publish but the verdict: Release only for symmetry with the
                // other transitions; a leaving secondary reads no data of ours.
                self.state.store(state(generation, Phase::Aborted), Release);
                self.platform.send_event();
                self.platform.context_sync();
                return Err(Failure::Missing(Missing { generation, cpus: waiting, timeout }));
            }
            self.platform.wait_for_event();
        }

        let patch_start = self.platform.now();
        let mut cpus = expected;
        cpus.insert(primary);
        let output = work(&Stopped { generation, cpus, _window: PhantomData });
        let patch_end = self.platform.now();
        // Release pairs with each secondary's Acquire load of `Released`: every write the
        // work made (the patched bytes, the table's bookkeeping) happens before that
        // secondary runs on.
        self.state.store(state(generation, Phase::Released), Release);
        self.platform.send_event();
        self.platform.context_sync();
        self.last_out.fetch_max(self.platform.now(), Relaxed);

        let released_at = self.platform.now();
        let mut leaving = expected;
        loop {
            leaving = self.cpus_not_at(leaving, slot(generation, true));
            if leaving.is_empty() {
                break;
            }
            if self.platform.now().saturating_sub(released_at) >= timeouts.departure {
                let cpus = leaving;
                return Err(Failure::NotDeparted { output, generation, cpus, timeout: timeouts.departure });
            }
            self.platform.wait_for_event();
        }
        // Relaxed: each secondary's `fetch_max` precedes its Release departure, which the
        // Acquire loads in `cpus_not_at` observed.
        let last_out = self.last_out.load(Relaxed);
        Ok(Completed { output, stats: Stats { generation, first_in, patch_start, patch_end, last_out } })
    }

    /// The CPUs of `cpus` whose slot does not yet read `value`.
    ///
    /// Within a generation a slot only moves forward (checked in, then departed), so a CPU
    /// seen at `value` stays there until the primary opens the next generation: each wait
    /// rescans only the CPUs it has not seen yet, and the stop window grows with the CPUs
    /// still to come, not with every CPU at every wake-up.
    fn cpus_not_at(&self, cpus: CpuSet, value: u64) -> CpuSet {
        let mut waiting = cpus;
        for cpu in cpus.iter() {
            // Acquire pairs with the CPU's Release store of its slot: what it did before
            // checking in (stopped running code the work patches) happens before the work;
            // what it did before departing (its `last_out`) happens before we read it.
            if self.slots[cpu].load(Acquire) == value {
                waiting.remove(cpu);
            }
        }
        waiting
    }

    /// Serves one generation on a secondary CPU: waits for a generation `cpu` has not seen,
    /// checks in, waits (in [`Platform::wait_for_event`]) until the primary releases or
    /// aborts it, synchronizes context and returns.
    ///
    /// Call it with interrupts masked, from code that no entry patches; call it again for
    /// the next generation.
    ///
    /// # Panics
    ///
    /// If `cpu.cpu()` is `CPUS` or more.
    pub fn participate(&self, cpu: &mut Participant, timeout: u64) -> Outcome {
        let index = cpu.cpu;
        assert!(index < CPUS, "CPU {index} beyond the rendezvous's {CPUS}");

        let seen = loop {
            // Acquire pairs with the primary's Release of `Open`.
            let seen = self.state.load(Acquire);
            if generation_of(seen) != cpu.generation {
                break seen;
            }
            self.platform.wait_for_event();
        };
        let generation = generation_of(seen);
        cpu.generation = generation;
        if phase_of(seen) != Phase::Open {
            // Closed before we came: nothing to check in to, nothing to wait for.
            self.platform.context_sync();
            return Outcome::Missed { generation };
        }

        // Release pairs with the primary's Acquire scan (see `cpus_not_at`).
        self.slots[index].store(slot(generation, false), Release);
        self.platform.send_event();
        let checked_in = self.platform.now();

        let open = state(generation, Phase::Open);
        let verdict = loop {
            // Acquire pairs with the primary's Release of `Released`: the work's writes
            // happen before everything below.
            let verdict = self.state.load(Acquire);
            if verdict != open {
                break verdict;
            }
            if self.platform.now().saturating_sub(checked_in) >= timeout {
                // Never departs: the primary, should it finish, names this CPU in turn.
                self.platform.context_sync();
                return Outcome::WorkerStalled { generation };
            }
            self.platform.wait_for_event();
        };
        self.platform.context_sync();

        // The state word moves on from `(g, Released)` only after this CPU departs (the
        // primary waits for it), so any other verdict, including a later generation, means
        // `g` was aborted.
        if verdict != state(generation, Phase::Released) {
            return Outcome::Aborted { generation };
        }
        self.last_out.fetch_max(self.platform.now(), Relaxed);
        // Release pairs with the primary's Acquire scan for departures.
        self.slots[index].store(slot(generation, true), Release);
        self.platform.send_event();
        Outcome::Released { generation }
    }

    /// Whether a generation that `cpu` has not seen has been opened or closed since it last
    /// served one: a secondary with other duties polls this between them, and calls
    /// [`Rendezvous::participate`] (which then does not wait for the generation) when it is
    /// true.
    pub fn is_pending(&self, cpu: &Participant) -> bool {
        // Acquire pairs with the primary's Release of `Open`, as in `participate`.
        generation_of(self.state.load(Acquire)) != cpu.generation
    }
}

/// A secondary CPU's place in the sequence of generations: which CPU it is and the last
/// generation it served or saw closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Participant {
    cpu: usize,
    generation: u64,
}

impl Participant {
    /// CPU `cpu`, which has seen no generation yet.
    pub const fn new(cpu: usize) -> Self {
        Participant { cpu, generation: 0 }
    }

    /// The CPU's index, its bit in the online mask.
    pub const fn cpu(&self) -> usize {
        self.cpu
    }

    /// The last generation this CPU served or saw closed (0: none).
    pub const fn generation(&self) -> u64 {
        self.generation
    }
}

/// How one generation ended for a secondary CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The CPU checked in, the work ran, the CPU was released.
    Released {
        /// The generation served.
        generation: u64,
    },
    /// The CPU checked in but the primary gave up waiting for another: nothing ran.
    Aborted {
        /// The generation aborted.
        generation: u64,
    },
    /// The generation had closed before the CPU arrived (aborted without it, or it was not
    /// expected): the CPU did not check in and nothing ran on it.
    Missed {
        /// The generation missed.
        generation: u64,
    },
    /// The CPU checked in but the primary neither released nor aborted the generation within
    /// the CPU's timeout: the stop window's work is wedged. The CPU has not departed.
    WorkerStalled {
        /// The generation stalled.
        generation: u64,
    },
}

/// How long the primary waits, in clock ticks: for every CPU to check in, and after the
/// release for every CPU to leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From opening the generation to the last check-in.
    pub check_in: u64,
    /// From the release to the last departure. After a [`Failure::NotDeparted`] a CPU may
    /// still be inside the generation: the caller must not open another.
    pub departure: u64,
}

/// Why [`Rendezvous::stop_machine`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure<R> {
    /// CPUs did not check in: the work did not run.
    Missing(Missing),
    /// The work ran and its CPUs were released, but these did not leave within the timeout.
    NotDeparted {
        /// What the work returned.
        output: R,
        /// The generation.
        generation: u64,
        /// The CPUs that had not departed.
        cpus: CpuSet,
        /// The timeout they missed, in clock ticks.
        timeout: u64,
    },
}

impl<R> Failure<R> {
    /// The CPUs that did not check in, if that is what failed.
    pub fn into_missing(self) -> Option<Missing> {
        match self {
            Failure::Missing(missing) => Some(missing),
            Failure::NotDeparted { .. } => None,
        }
    }

    /// The same failure with the work's output passed through `f`: a caller that keeps
    /// the output elsewhere (or not at all) reports the failure without it.
    pub fn map_output<T>(self, f: impl FnOnce(R) -> T) -> Failure<T> {
        match self {
            Failure::Missing(missing) => Failure::Missing(missing),
            Failure::NotDeparted { output, generation, cpus, timeout } => {
                Failure::NotDeparted { output: f(output), generation, cpus, timeout }
            }
        }
    }
}

impl<R> fmt::Display for Failure<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Missing(missing) => missing.fmt(f),
            Failure::NotDeparted { generation, cpus, timeout, .. } => {
                f.write_str("CPU")?;
                for (n, cpu) in cpus.iter().enumerate() {
                    f.write_str(if n == 0 { " " } else { ", " })?;
                    write!(f, "{cpu}")?;
                }
                write!(
                    f,
                    " did not leave within {timeout} ticks of the release (stop-machine generation {generation})"
                )
            }
        }
    }
}

/// A generation that ran to completion: what the work returned and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completed<R> {
    /// The work's result.
    pub output: R,
    /// Timestamps of the generation.
    pub stats: Stats,
}

/// Timestamps of one completed generation, in [`Platform::now`] ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The generation.
    pub generation: u64,
    /// When the primary opened the generation, before any CPU could check in.
    pub first_in: u64,
    /// Just before the work ran.
    pub patch_start: u64,
    /// Just after the work returned.
    pub patch_end: u64,
    /// When the last CPU (the primary included) left, after its context synchronization.
    pub last_out: u64,
}

impl Stats {
    /// The stop window: first CPU in to last CPU out.
    pub const fn stop_window(&self) -> u64 {
        self.last_out.saturating_sub(self.first_in)
    }

    /// The time the work took inside the stop window.
    pub const fn patch_time(&self) -> u64 {
        self.patch_end.saturating_sub(self.patch_start)
    }
}

/// A generation aborted because CPUs did not check in within the timeout; nothing ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The generation aborted.
    pub generation: u64,
    /// The CPUs that had not checked in.
    pub cpus: CpuSet,
    /// The timeout they missed, in clock ticks.
    pub timeout: u64,
}

impl Missing {
    /// The indices of the CPUs that had not checked in, ascending.
    pub fn cpus(&self) -> impl Iterator<Item = usize> + '_ {
        self.cpus.iter()
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CPU")?;
        for (n, cpu) in self.cpus().enumerate() {
            let sep = if n == 0 { " " } else { ", " };
            write!(f, "{sep}{cpu}")?;
        }
        write!(
            f,
            " did not check in within {} ticks (stop-machine generation {})",
            self.timeout, self.generation
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU64;
    use std::sync::OnceLock;
    use std::thread;
    use std::time::Instant;
    use std::vec::Vec;

    /// The host: yields for WFE, nanoseconds since the first reading for the counter.
    struct Host;

    impl Platform for Host {
        type Atomic = AtomicU64;
        fn wait_for_event(&self) {
            thread::yield_now();
        }
        fn send_event(&self) {}
        fn context_sync(&self) {}
        fn now(&self) -> u64 {
            static EPOCH: OnceLock<Instant> = OnceLock::new();
            let epoch = EPOCH.get_or_init(Instant::now);
            epoch.elapsed().as_nanos() as u64
        }
    }

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_generation_is_pending_for_a_cpu_until_it_serves_or_misses_it() {
        let rv: Rendezvous<Host, 2> = Rendezvous::new(Host);
        let mut cpu1 = Participant::new(1);
        assert!(!rv.is_pending(&cpu1), "nothing opened yet");
        // CPU 1 never arrives: a zero timeout closes generation 1 at once, unserved.
        let missing =
            rv.stop_machine(0, CpuSet::from_mask(0b11), 0, |_| ()).unwrap_err().into_missing().unwrap();
        assert_eq!(missing.cpus, CpuSet::from_mask(0b10));
        assert!(rv.is_pending(&cpu1), "generation 1 is new to CPU 1");
        assert_eq!(rv.participate(&mut cpu1, u64::MAX), Outcome::Missed { generation: 1 });
        assert!(!rv.is_pending(&cpu1), "CPU 1 has seen generation 1");
    }

    #[test]
    fn eight_cpus_serve_a_hundred_generations_each_exactly_once() {
        static RV: Rendezvous<Host, 8> = Rendezvous::new(Host);
        // What the work patches; each secondary reads it after its release.
        static PATCHED: AtomicU64 = AtomicU64::new(0);
        const GENERATIONS: u64 = 100;

        let secondaries: Vec<_> = (1..8)
            .map(|cpu| {
                thread::spawn(move || {
                    let mut me = Participant::new(cpu);
                    for generation in 1..=GENERATIONS {
                        assert_eq!(RV.participate(&mut me, u64::MAX), Outcome::Released { generation });
                        // The generation-g work left g; the next cannot start before we
                        // check in again, so exactly g.
                        assert_eq!(PATCHED.load(Relaxed), generation);
                    }
                })
            })
            .collect();

        for generation in 1..=GENERATIONS {
            let done = RV
                .stop_machine(0, CpuSet::first(8), 10 * SECOND, |_| PATCHED.fetch_add(1, Relaxed) + 1)
                .expect("every CPU checks in");
            assert_eq!(done.output, generation);
            let s = done.stats;
            assert_eq!(s.generation, generation);
            assert!(s.first_in <= s.patch_start && s.patch_start <= s.patch_end);
            assert!(s.patch_end <= s.last_out);
        }
        for secondary in secondaries {
            secondary.join().unwrap();
        }
    }

    #[test]
    fn missing_cpu_is_named_nothing_runs_and_checked_in_cpus_leave() {
        static RV: Rendezvous<Host, 4> = Rendezvous::new(Host);
        let present: Vec<_> = [1, 2]
            .into_iter()
            .map(|cpu| thread::spawn(move || RV.participate(&mut Participant::new(cpu), u64::MAX)))
            .collect();
        // CPU 3 never arrives. A second is ample for CPUs 1 and 2, already running.
        let mut ran = false;
        let missing = RV
            .stop_machine(0, CpuSet::from_mask(0b1111), SECOND, |_| ran = true)
            .unwrap_err()
            .into_missing()
            .unwrap();
        assert!(!ran);
        assert_eq!(missing.cpus().collect::<Vec<_>>(), [3]);
        assert_eq!(missing.generation, 1);
        for cpu in present {
            assert_eq!(cpu.join().unwrap(), Outcome::Aborted { generation: 1 });
        }
    }

    #[test]
    fn late_cpu_misses_the_aborted_generation_and_serves_the_next() {
        static RV: Rendezvous<Host, 2> = Rendezvous::new(Host);
        let missing = RV
            .stop_machine(0, CpuSet::from_mask(0b11), 0, |_| unreachable!())
            .unwrap_err()
            .into_missing()
            .unwrap();
        assert_eq!(missing.cpus, CpuSet::from_mask(0b10));

        let (arrived, has_arrived) = std::sync::mpsc::channel();
        let late = thread::spawn(move || {
            let mut me = Participant::new(1);
            let first = RV.participate(&mut me, u64::MAX);
            arrived.send(()).unwrap();
            (first, RV.participate(&mut me, u64::MAX))
        });
        // Open generation 2 only once CPU 1 has seen generation 1 closed: had it come later
        // still, it would have joined generation 2 directly.
        has_arrived.recv().unwrap();
        let done = RV.stop_machine(0, CpuSet::from_mask(0b11), 10 * SECOND, |_| 42).unwrap();
        assert_eq!((done.output, done.stats.generation), (42, 2));
        let (first, second) = late.join().unwrap();
        assert_eq!(first, Outcome::Missed { generation: 1 });
        assert_eq!(second, Outcome::Released { generation: 2 });
    }

    /// A clock the test sets: shows which readings the stats are made of.
    struct SetClock(AtomicU64);

    impl Platform for SetClock {
        type Atomic = AtomicU64;
        fn wait_for_event(&self) {}
        fn send_event(&self) {}
        fn context_sync(&self) {}
        fn now(&self) -> u64 {
            self.0.load(Relaxed)
        }
    }

    #[test]
    fn stats_measure_the_work_inside_the_stop_window() {
        let rv: Rendezvous<SetClock, 1> = Rendezvous::new(SetClock(AtomicU64::new(1000)));
        // The work takes 250 ticks; the primary alone leaves at once, so the window is the
        // work's 250 ticks too, starting at 1000.
        let done =
            rv.stop_machine(0, CpuSet::from_mask(0b1), 0, |_| rv.platform.0.fetch_add(250, Relaxed)).unwrap();
        let s = done.stats;
        assert_eq!((s.first_in, s.patch_start, s.patch_end, s.last_out), (1000, 1000, 1250, 1250));
        assert_eq!((s.patch_time(), s.stop_window()), (250, 250));
    }

    #[test]
    fn mapping_the_output_keeps_who_failed_and_when() {
        let cpus = CpuSet::from_mask(0b110);
        let failure = Failure::NotDeparted { output: 7u32, generation: 3, cpus, timeout: 9 };
        assert_eq!(
            failure.map_output(|n| n * 2),
            Failure::NotDeparted { output: 14, generation: 3, cpus, timeout: 9 }
        );
        let missing = Missing { generation: 4, cpus, timeout: 1 };
        assert_eq!(Failure::<u32>::Missing(missing).map_output(drop), Failure::Missing(missing));
    }

    #[test]
    fn missing_cpus_are_listed_by_index() {
        let missing = Missing { generation: 3, cpus: [2, 5, 63].into_iter().collect(), timeout: 7 };
        assert_eq!(
            std::format!("{missing}"),
            "CPU 2, 5, 63 did not check in within 7 ticks (stop-machine generation 3)"
        );
    }

    #[test]
    fn state_word_keeps_generation_and_phase_apart() {
        for phase in [Phase::Idle, Phase::Open, Phase::Released, Phase::Aborted] {
            let word = state(u64::MAX >> PHASE_BITS, phase);
            assert_eq!((generation_of(word), phase_of(word)), (u64::MAX >> PHASE_BITS, phase));
        }
    }
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
