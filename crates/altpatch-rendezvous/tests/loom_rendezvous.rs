//! `loom` checks of the stop-machine rendezvous: the same code the kernel runs, on loom's
//! atomics, under every interleaving (and every permitted stale read) within the
//! preemption bound.
//!
//! Run:
//! `RUSTFLAGS="--cfg loom" cargo test -p altpatch-rendezvous --test loom_rendezvous --release`
//! The check itself takes under a second (four models, two CPUs each); building loom and the
//! crate with `--cfg loom` takes about a minute cold on two cores, seconds warm.
//! `LOOM_LOG=1` prints traces.
//!
//! The model. A patched site is a loom atomic read and written `Relaxed`: loom may then
//! return any store not ordered before the read, so an assertion that a read sees the new
//! (or old) bytes holds in every execution only if the protocol's Acquire/Release pairs
//! order it. Time is a counter that every clock reading advances by one, so a timeout of
//! `n` ticks expires after `n` readings in every schedule: the timeout path is reached
//! deterministically. `wait_for_event` yields, so loom runs another CPU.

#![cfg(loom)]

use altpatch_rendezvous::{Atomic, CpuSet, Missing, Outcome, Participant, Platform, Rendezvous, Timeouts};
use core::sync::atomic::Ordering;
use loom::sync::Arc;
use loom::sync::atomic::AtomicU32;
use loom::sync::atomic::Ordering::Relaxed;
use std::cell::Cell;

/// loom's `AtomicU64`, under the protocol's trait.
struct LoomU64(loom::sync::atomic::AtomicU64);

impl Atomic for LoomU64 {
    fn new(value: u64) -> Self {
        LoomU64(loom::sync::atomic::AtomicU64::new(value))
    }
    fn load(&self, order: Ordering) -> u64 {
        self.0.load(order)
    }
    fn store(&self, value: u64, order: Ordering) {
        self.0.store(value, order)
    }
    fn fetch_max(&self, value: u64, order: Ordering) -> u64 {
        self.0.fetch_max(value, order)
    }
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.0.compare_exchange(current, new, success, failure)
    }
}

/// The bytes of one patched site: `OLD` until the work writes `NEW` (or a generation count).
struct Site(AtomicU32);

const OLD: u32 = 0;
const NEW: u32 = 1;

loom::thread_local! {
    /// What this CPU's last context synchronization saw at the site.
    static SYNCED: Cell<Option<u32>> = Cell::new(None);
}

/// Takes (and clears) what this CPU's last `context_sync` saw.
fn synced() -> Option<u32> {
    SYNCED.with(Cell::take)
}

/// The machine as loom sees it.
struct Model {
    site: Arc<Site>,
    /// The clock: not a loom object, so reading it adds no interleavings; loom runs one
    /// thread at a time, so its value is fixed by the schedule and replays identically.
    clock: std::sync::atomic::AtomicU64,
}

impl Platform for Model {
    type Atomic = LoomU64;
    fn wait_for_event(&self) {
        loom::thread::yield_now();
    }
    fn send_event(&self) {}
    /// Records the site as this CPU sees it at the ISB: the test then checks both that the
    /// ISB happened before the CPU returned and that it came after the work's writes.
    fn context_sync(&self) {
        let seen = self.site.0.load(Relaxed);
        SYNCED.with(|s| s.set(Some(seen)));
    }
    fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }
}

fn rendezvous<const CPUS: usize>(site: &Arc<Site>) -> Arc<Rendezvous<Model, CPUS>> {
    Arc::new(Rendezvous::with_atomics(Model {
        site: site.clone(),
        clock: std::sync::atomic::AtomicU64::new(0),
    }))
}

fn check(preemption_bound: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemption_bound);
    builder.check(model);
}

/// Never reached in a model run: the models' clocks advance once per poll.
const FOREVER: u64 = u64::MAX;

/// (1) and (2): the work runs only once every CPU has stopped touching the site, and every
/// CPU, the primary included, synchronizes context after the work's write and sees it.
#[test]
///
/// Two CPUs: the protocol treats each secondary alike through its own slot, and a third
/// spinning CPU takes loom past minutes (the host tests run eight).
fn work_runs_after_every_cpu_checks_in_and_every_cpu_sees_its_writes() {
    check(2, || {
        let site = Arc::new(Site(AtomicU32::new(OLD)));
        let rv = rendezvous::<2>(&site);
        // Set by each secondary just before it checks in: "stopped running the site".
        let stopped = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);

        let secondaries: Vec<_> = [1]
            .into_iter()
            .map(|cpu| {
                let (rv, site, stopped) = (rv.clone(), site.clone(), stopped.clone());
                loom::thread::spawn(move || {
                    // Runs the site before the rendezvous: must still be the old bytes.
                    assert_eq!(site.0.load(Relaxed), OLD);
                    stopped[cpu].store(1, Relaxed);
                    let outcome = rv.participate(&mut Participant::new(cpu), FOREVER);
                    assert_eq!(outcome, Outcome::Released { generation: 1 });
                    assert_eq!(synced(), Some(NEW), "CPU {cpu} left without an ISB after the patch");
                    assert_eq!(site.0.load(Relaxed), NEW);
                })
            })
            .collect();

        let done = rv
            .stop_machine(0, CpuSet::from_mask(0b11), FOREVER, |_| {
                assert_eq!(stopped[1].load(Relaxed), 1, "work ran before CPU 1 checked in");
                site.0.store(NEW, Relaxed);
            })
            .expect("no timeout");
        assert_eq!(done.stats.generation, 1);
        assert_eq!(synced(), Some(NEW), "the primary left without an ISB");
        for secondary in secondaries {
            secondary.join().unwrap();
        }
    });
}

/// (3): the generation counter runs the rendezvous twice; the secondary serves each
/// generation exactly once, in order, and sees each generation's work before the next.
#[test]
fn consecutive_generations_are_each_served_exactly_once() {
    check(2, || {
        let site = Arc::new(Site(AtomicU32::new(0)));
        let rv = rendezvous::<2>(&site);

        let secondary = {
            let (rv, site) = (rv.clone(), site.clone());
            loom::thread::spawn(move || {
                let mut me = Participant::new(1);
                for generation in 1..=2u32 {
                    // Before checking in: the previous generation's bytes, not this one's.
                    assert_eq!(site.0.load(Relaxed), generation - 1);
                    let outcome = rv.participate(&mut me, FOREVER);
                    assert_eq!(outcome, Outcome::Released { generation: generation.into() });
                    assert_eq!(synced(), Some(generation));
                }
            })
        };

        for generation in 1..=2u32 {
            let done = rv
                .stop_machine(0, CpuSet::from_mask(0b11), FOREVER, |_| site.0.store(generation, Relaxed))
                .expect("no timeout");
            assert_eq!(done.stats.generation, u64::from(generation));
            assert_eq!(synced(), Some(generation));
        }
        secondary.join().unwrap();
    });
}

/// (4): a CPU that never arrives is named, the work never runs, and the CPU that did
/// arrive is released without patched state (it terminates: loom reports a hang).
#[test]
fn timeout_names_the_missing_cpu_runs_nothing_and_releases_the_rest() {
    check(3, || {
        let site = Arc::new(Site(AtomicU32::new(OLD)));
        let rv = rendezvous::<3>(&site);

        let present = {
            let rv = rv.clone();
            loom::thread::spawn(move || {
                let outcome = rv.participate(&mut Participant::new(1), FOREVER);
                assert_eq!(synced(), Some(OLD));
                outcome
            })
        };
        // CPU 2 never arrives; two clock readings after opening, the primary gives up.
        let missing: Missing = rv
            .stop_machine(0, CpuSet::from_mask(0b111), 2, |_| site.0.store(NEW, Relaxed))
            .expect_err("CPU 2 never checks in")
            .into_missing()
            .expect("the failure names the missing CPU");
        assert_eq!(missing.generation, 1);
        assert!(missing.cpus.contains(2), "CPU 2 not named");
        assert_eq!(site.0.load(Relaxed), OLD, "the work ran");
        assert_eq!(synced(), Some(OLD));

        let outcome = present.join().unwrap();
        assert!(matches!(outcome, Outcome::Aborted { generation: 1 } | Outcome::Missed { generation: 1 }));
        // CPU 1 is named exactly when it had not checked in (Missed is such a case; an
        // Aborted CPU may have checked in late, after the scan, and be named too).
        if !missing.cpus.contains(1) {
            assert_eq!(outcome, Outcome::Aborted { generation: 1 });
        }
        if outcome == (Outcome::Missed { generation: 1 }) {
            assert!(missing.cpus.contains(1));
        }
    });
}

/// A CPU racing the timeout either makes it (the work runs, it is released) or is named
/// and nothing runs; either way it then serves the next generation and nobody hangs.
#[test]
fn cpu_racing_the_timeout_is_waited_for_or_named_then_serves_the_next_generation() {
    check(2, || {
        let site = Arc::new(Site(AtomicU32::new(0)));
        let rv = rendezvous::<2>(&site);

        let racer = {
            let rv = rv.clone();
            loom::thread::spawn(move || {
                let mut me = Participant::new(1);
                // Until it serves generation 2: it may see generation 1 open, closed, or
                // not at all (when generation 2 is already open by the time it arrives).
                let mut outcomes = Vec::new();
                while outcomes.last() != Some(&Outcome::Released { generation: 2 }) {
                    outcomes.push(rv.participate(&mut me, FOREVER));
                }
                (outcomes, synced())
            })
        };
        // Check-in may time out; departure may not (a CPU still leaving generation 1 would
        // misread generation 2, which is why a departure failure ends the rendezvous's use).
        let within = Timeouts { check_in: 1, departure: FOREVER };
        let first = rv.stop_machine_within(0, CpuSet::from_mask(0b11), within, |_| site.0.store(1, Relaxed));
        let second = rv
            .stop_machine(0, CpuSet::from_mask(0b11), FOREVER, |_| site.0.store(2, Relaxed))
            .expect("no timeout");
        assert_eq!(second.stats.generation, 2);
        let (outcomes, racer_synced) = racer.join().unwrap();

        let served_2 = Outcome::Released { generation: 2 };
        match first {
            Ok(_) => assert_eq!(outcomes, [Outcome::Released { generation: 1 }, served_2]),
            Err(failure) => {
                let missing = failure.into_missing().expect("only check-in can time out");
                assert_eq!(missing.cpus, CpuSet::from_mask(1 << 1));
                assert!(matches!(
                    outcomes[..],
                    [Outcome::Aborted { generation: 1 } | Outcome::Missed { generation: 1 }, o]
                        | [o] if o == served_2
                ));
            }
        }
        assert_eq!(racer_synced, Some(2));
    });
}

/// A stop window whose work does not finish: the CPU waiting in it reports the stall by
/// generation within its own deadline and never departs; the primary, once the work does
/// end, names that CPU as not departed within its deadline. No CPU waits forever.
#[test]
fn a_wedged_worker_is_reported_by_the_waiting_cpu_and_named_by_the_primary() {
    check(2, || {
        let site = Arc::new(Site(AtomicU32::new(OLD)));
        let rv = rendezvous::<2>(&site);
        // The work is wedged until the waiting CPU has given up on it.
        let gave_up = Arc::new(AtomicU32::new(0));
        let waiter = {
            let (rv, gave_up) = (rv.clone(), gave_up.clone());
            loom::thread::spawn(move || {
                let outcome = rv.participate(&mut Participant::new(1), 2);
                gave_up.store(1, Relaxed);
                outcome
            })
        };
        let within = Timeouts { check_in: FOREVER, departure: 2 };
        let failure = rv
            .stop_machine_within(0, CpuSet::from_mask(0b11), within, |_| {
                while gave_up.load(Relaxed) == 0 {
                    loom::thread::yield_now();
                }
                site.0.store(NEW, Relaxed);
            })
            .expect_err("CPU 1 never departs");
        assert_eq!(waiter.join().unwrap(), Outcome::WorkerStalled { generation: 1 });
        match failure {
            altpatch_rendezvous::Failure::NotDeparted { generation, cpus, .. } => {
                assert_eq!(generation, 1);
                assert_eq!(cpus, CpuSet::from_mask(1 << 1));
            }
            other => panic!("expected a departure failure, got {other:?}"),
        }
    });
}
