//! The comparison cases under criterion: for each case, `engine` and
//! `baseline` as two functions of one group.
//!
//! ```text
//! cargo bench -p huddle-benches                      # everything
//! cargo bench -p huddle-benches -- --quick           # short
//! cargo bench -p huddle-benches -- --test            # each once (smoke)
//! cargo bench -p huddle-benches -- delta_sync        # a filter
//! ```
//!
//! With `--quick` or `--test` the timer cases hold 10 000 idle boards
//! instead of 100 000 (their set-up takes seconds). A filter given here is
//! applied before set-up, so filtered-out cases cost nothing.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use huddle_benches::case::Scale;
use huddle_benches::plan;

fn args() -> (Scale, Option<String>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    // Criterion's options that take a value: skip their value too.
    let with_value = [
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--format",
        "-c",
    ];
    let mut filter = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if with_value.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            filter = Some(a.clone());
        }
    }
    (if quick { Scale::Quick } else { Scale::Full }, filter)
}

fn benches(c: &mut Criterion) {
    let (scale, filter) = args();
    for planned in plan(scale, filter.as_deref()) {
        let mut case = planned.build();
        let mut group = c.benchmark_group(case.group);
        if case.fixed_iters.is_some() {
            // Each iteration also does unmeasured set-up work: keep the
            // iteration count small.
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(100));
            group.measurement_time(Duration::from_millis(300));
        }
        let name = case.name.clone();
        group.bench_function(format!("{name}/baseline"), |b| {
            b.iter_custom(|iters| (case.baseline)(iters))
        });
        group.bench_function(format!("{name}/engine"), |b| {
            b.iter_custom(|iters| (case.engine)(iters))
        });
        group.finish();
    }
}

// The macro defines an undocumented `pub fn engine`.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(engine, benches);
}
use group::engine;
criterion_main!(engine);
