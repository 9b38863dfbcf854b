//! Figure 1 of `scripts/bench`: validation and patch planning per entry, against copying
//! the same bytes (the memory-bandwidth floor), for synthetic tables of 1e3 to 1e6 entries.
//!
//! Groups (criterion ids `<group>/<entries>`):
//! - `validate`: [`validate`] of the whole table (every check, the overlap sweep, the
//!   relocation of every replacement);
//! - `validate_plan`: the same, then [`plan`] with every capability enabled (every entry
//!   patched: the most work the planner can do);
//! - `copy_table`: copying the table's bytes (16 per entry): the floor the issue names;
//! - `copy_inputs`: copying every byte validation reads (the table and the replacements);
//! - `decode`: only decoding the entries into a vector ([`Table::entries`]), and
//!   `relocate`: only relocating every replacement to its site ([`insn::relocate`]): two of
//!   the parts validation is made of, to show what bounds it;
//! - `plan_output`: only making and freeing a plan's list of writes, one 32-byte write
//!   per entry: the fresh memory the plan must fill (on the host, page faults when the list
//!   is larger than the allocator keeps), the part of planning no check adds to.
//!
//! `ALTPATCH_BENCH_SIZES` (comma separated) overrides the sizes.

use std::hint::black_box;

use altpatch_core::insn;
use altpatch_core::plan::{Writes, plan};
use altpatch_core::table::{AltEntry, Table};
use altpatch_core::validate::validate;
use arm64_caps::caps;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

mod synthetic;

fn sizes() -> Vec<usize> {
    match std::env::var("ALTPATCH_BENCH_SIZES") {
        Ok(s) => s.split(',').map(|n| n.trim().parse().expect("ALTPATCH_BENCH_SIZES: numbers")).collect(),
        Err(_) => vec![1_000, 10_000, 100_000, 1_000_000],
    }
}

fn validation_against_copy(c: &mut Criterion) {
    for n in sizes() {
        let image = synthetic::generate(n);
        let layout = image.layout();
        // The benchmark is meaningless unless the synthetic table is valid: check once.
        let valid = validate(&layout, &caps::LIST, caps::history::LISTS, &|_| None)
            .unwrap_or_else(|d| panic!("synthetic table of {n} entries is invalid: {}", d[0]));
        assert_eq!(plan(&valid, &|_| true).patched, n);

        let samples = if n >= 100_000 { 10 } else { 50 };
        let id = BenchmarkId::from_parameter(n);

        let mut g = c.benchmark_group("validate");
        g.throughput(Throughput::Elements(n as u64)).sample_size(samples);
        g.bench_with_input(id.clone(), &layout, |b, l| {
            b.iter(|| validate(black_box(l), &caps::LIST, caps::history::LISTS, &|_| None).is_ok())
        });
        g.finish();

        let mut g = c.benchmark_group("validate_plan");
        g.throughput(Throughput::Elements(n as u64)).sample_size(samples);
        g.bench_with_input(id.clone(), &layout, |b, l| {
            b.iter(|| {
                let valid = validate(black_box(l), &caps::LIST, caps::history::LISTS, &|_| None);
                valid.map(|v| plan(&v, &|_| true).patched)
            })
        });
        g.finish();

        let mut g = c.benchmark_group("copy_table");
        g.throughput(Throughput::Elements(n as u64)).sample_size(samples);
        let mut dst = vec![0u8; image.table.len()];
        g.bench_with_input(id.clone(), &image.table, |b, src| {
            b.iter(|| {
                dst.copy_from_slice(black_box(src));
                black_box(&mut dst);
            })
        });
        g.finish();

        let mut g = c.benchmark_group("copy_inputs");
        g.throughput(Throughput::Elements(n as u64)).sample_size(samples);
        let mut dst_table = vec![0u8; image.table.len()];
        let mut dst_repl = vec![0u8; image.replacements.len()];
        g.bench_with_input(id.clone(), &image, |b, img| {
            b.iter(|| {
                dst_table.copy_from_slice(black_box(&img.table));
                dst_repl.copy_from_slice(black_box(&img.replacements));
                black_box((&mut dst_table, &mut dst_repl));
            })
        });
        g.finish();

        let mut g = c.benchmark_group("decode");
        g.throughput(Throughput::Elements(n as u64)).sample_size(samples);
        let table = Table { addr: image.table_addr, bytes: &image.table };
        g.bench_with_input(id.clone(), &table, |b, t| {
            b.iter(|| black_box(t).entries().collect::<Vec<AltEntry>>())
        });
        g.finish();

        let mut g = c.benchmark_group("plan_output");
        g.throughput(Throughput::Elements(n as u64)).sample_size(samples);
        g.bench_with_input(id.clone(), &n, |b, &n| {
            b.iter(|| {
                let mut writes = Writes::with_capacity(black_box(n));
                // One eight-byte site each, as a plan holds it: in place.
                for i in 0..n {
                    writes.push(i, 4 * i as u64, &[0; 8]);
                }
                black_box(&writes).len()
            })
        });
        g.finish();

        let mut g = c.benchmark_group("relocate");
        g.throughput(Throughput::Elements(n as u64)).sample_size(samples);
        let entries: Vec<AltEntry> = table.entries().filter(|e| !e.is_callback()).collect();
        g.bench_with_input(id, &entries, |b, entries| {
            b.iter(|| {
                let mut words = 0;
                for e in black_box(entries) {
                    let seq = layout.replacements.read(e.alt, usize::from(e.alt_len));
                    if let Some(Ok(moved)) = seq.map(|s| insn::relocate(s, e.alt, e.site)) {
                        words += moved.len();
                    }
                }
                words
            })
        });
        g.finish();
    }
}

criterion_group!(benches, validation_against_copy);
criterion_main!(benches);
