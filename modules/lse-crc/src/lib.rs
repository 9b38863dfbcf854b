//! `lse_crc`: a module whose code has an LSE-atomics site, a CRC32 site and a site patched
//! by a kernel callback, all built with `list: arm64_caps::caps::Arm64`. The kernel applies
//! them at load; `init` then runs the self-test on every CPU at once.
//!
//! Each feature builds a module that the kernel must refuse (see Cargo.toml).
//!
//! AArch64 only (its sites are AArch64 assembly): for any other target, the host's
//! `cargo clippy --workspace` among them, the crate is empty.

#![cfg(target_arch = "aarch64")]
#![no_std]

#[cfg(any(
    feature = "unknown-reloc",
    feature = "undefined-symbol",
    feature = "bad-callback",
    feature = "far-branch"
))]
mod defects;
mod sites;
mod text;

use altpatch_module as kernel;
use core::sync::atomic::{AtomicU64, Ordering};
use text::Line;

#[cfg(not(any(
    feature = "stale",
    feature = "unknown-reloc",
    feature = "undefined-symbol",
    feature = "bad-callback",
    feature = "far-branch"
)))]
altpatch_module::module!(name: "lse_crc", init: init);
#[cfg(feature = "stale")]
altpatch_module::module!(name: "stale", init: init);
#[cfg(feature = "unknown-reloc")]
altpatch_module::module!(name: "unknown_reloc", init: init);
#[cfg(feature = "undefined-symbol")]
altpatch_module::module!(name: "undefined_symbol", init: init);
#[cfg(feature = "bad-callback")]
altpatch_module::module!(name: "bad_callback", init: init);
#[cfg(feature = "far-branch")]
altpatch_module::module!(name: "far_branch", init: init);

/// Additions per CPU in the atomics test.
const ADDS_PER_CPU: u64 = 2_000;

/// The counter every CPU adds to at once.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Bytes the CRC test checksums: the CRC catalogue's check string, eight times.
static CRC_INPUT: [u8; 72] = *b"123456789123456789123456789123456789123456789123456789123456789123456789";

/// The self-test on one CPU: no lost addition is checked after all CPUs ran; here, the
/// CRC by the patched site equals the software CRC and used the hardware exactly when the
/// system has CRC32, and the callback's immediate is the system's D-line size.
extern "C" fn test_on_cpu(_cpu: usize) -> bool {
    for _ in 0..ADDS_PER_CPU {
        sites::fetch_add(&COUNTER, 1);
    }
    let (crc, hardware) = sites::crc32(&CRC_INPUT);
    crc == sites::crc32_software(&CRC_INPUT)
        && hardware == kernel::cpus_have_cap(sites::KERNEL_CRC32)
        && sites::dcache_line_size() == kernel::dcache_line_size()
}

/// Runs the self-test on every CPU and reports it.
extern "C" fn init() -> bool {
    #[cfg(any(
        feature = "unknown-reloc",
        feature = "undefined-symbol",
        feature = "bad-callback",
        feature = "far-branch"
    ))]
    defects::run();
    COUNTER.store(0, Ordering::Relaxed);
    let failed = kernel::on_each_cpu(test_on_cpu);
    let cpus = kernel::online_cpus() as u64;
    let total = COUNTER.load(Ordering::Relaxed);
    let passed = failed == 0 && total == ADDS_PER_CPU * cpus;
    let mut line = Line::new();
    line.push("lse_crc: self-test ");
    line.push(if passed { "passed" } else { "FAILED" });
    line.push(" on ");
    line.number(cpus);
    line.push(" CPUs: ");
    line.push(if kernel::cpus_have_cap(sites::KERNEL_LSE) { "LSE" } else { "LL/SC" });
    line.push(" atomics ");
    line.number(total);
    line.push(" additions, CRC32 ");
    line.push(if kernel::cpus_have_cap(sites::KERNEL_CRC32) { "hardware" } else { "software" });
    line.push(", D-line ");
    line.number(sites::dcache_line_size());
    line.push(" bytes by the kernel's callback");
    kernel::log(line.as_bytes());
    passed
}
