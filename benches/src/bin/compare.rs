//! Runs the baseline and the engine alternately, case by case, in rounds,
//! and prints a Markdown table and one JSON line per case with both
//! medians and their ratio, then the memory figures.
//!
//! ```text
//! cargo run --release -p huddle-benches --bin compare [-- [--quick] [--rounds N] [--sample D] [--no-memory] [FILTER]]
//! ```
//!
//! `--quick` (CI smoke): 3 rounds of 2 ms samples and 10 000 idle boards
//! instead of 11 rounds of 30 ms and 100 000. `FILTER` keeps the cases whose
//! id contains it. `--sample` is a duration in the syntax of every Huddle
//! binary (`30ms`, `1s`; `huddle_duration`). The JSON lines start with `{` (grep them out of the
//! output); the table rows with `|`.

use std::time::{Duration, Instant};

use huddle_benches::alloc::{self, Counting};
use huddle_benches::case::Scale;
use huddle_benches::sample::{self, Plan};
use huddle_benches::{memory, plan, report};

#[global_allocator]
static ALLOC: Counting = Counting;

struct Args {
    scale: Scale,
    plan: Plan,
    memory: bool,
    filter: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        scale: Scale::Full,
        plan: Plan {
            rounds: 11,
            sample: Duration::from_millis(30),
        },
        memory: true,
        filter: None,
    };
    let mut it = std::env::args().skip(1);
    let mut rounds = None;
    let mut sample = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                args.scale = Scale::Quick;
                args.plan = Plan {
                    rounds: 3,
                    sample: Duration::from_millis(2),
                };
            }
            "--rounds" => rounds = it.next().and_then(|n| n.parse().ok()),
            "--sample" => {
                let v = it.next().ok_or("--sample needs a duration")?;
                sample = Some(
                    huddle_duration::parse_duration(&v).map_err(|e| format!("--sample: {e}"))?,
                );
            }
            "--no-memory" => args.memory = false,
            "--bench" => {} // passed by `cargo bench`
            f if !f.starts_with('-') => args.filter = Some(f.to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if let Some(r) = rounds {
        args.plan.rounds = r;
    }
    if let Some(sample) = sample {
        args.plan.sample = sample;
    }
    Ok(args)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("compare: {e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    println!(
        "huddle-benches compare: {} rounds, {} ms samples, {:?} scale",
        args.plan.rounds,
        args.plan.sample.as_millis(),
        args.scale
    );
    println!();
    println!("{}", report::header());
    let mut results = Vec::new();
    for planned in plan(args.scale, args.filter.as_deref()) {
        let mut case = planned.build();
        let r = sample::run(&mut case, args.plan);
        drop(case);
        println!("{}", report::row(&r));
        results.push(r);
    }
    println!();
    for r in &results {
        println!("{}", report::json(r));
    }
    if args.memory && args.filter.is_none() {
        assert!(
            alloc::installed(),
            "the counting allocator is not installed"
        );
        let m = memory::report(args.scale.idle_boards());
        println!();
        println!("{}", report::memory_table(&m));
        println!();
        println!("{}", report::memory_json(&m));
    }
    println!();
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
}
