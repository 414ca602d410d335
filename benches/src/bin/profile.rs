//! Runs one case's engine (or baseline) for a fixed number of iterations,
//! for `valgrind --tool=callgrind`, whose instruction counts are exact and
//! repeatable where timings on a shared machine are not:
//!
//! ```text
//! cargo build --release -p huddle-benches --bin profile
//! valgrind --tool=callgrind target/release/profile engine 'batch=16 payload=64B participants=1' 0
//! valgrind --tool=callgrind target/release/profile engine 'batch=16 payload=64B participants=1' 1000
//! ```
//!
//! The difference of the two totals, divided by the iterations, is the
//! cost of one iteration without the set-up.

use huddle_benches::case::Scale;
use huddle_benches::plan;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [side, filter, iters] = args.as_slice() else {
        eprintln!("usage: profile engine|baseline CASE-FILTER ITERATIONS");
        std::process::exit(2);
    };
    let iters: u64 = iters.parse().unwrap_or_else(|_| {
        eprintln!("profile: ITERATIONS must be a number");
        std::process::exit(2)
    });
    let mut planned = plan(Scale::Quick, Some(filter));
    if planned.len() > 1 {
        // An exact name or id wins over a partial match.
        planned.retain(|p| p.name == *filter || p.id() == *filter);
    }
    if planned.len() != 1 {
        let ids: Vec<String> = planned.iter().map(|p| p.id()).collect();
        eprintln!("profile: the filter must select one case, it selects {ids:?}");
        std::process::exit(2);
    }
    let mut case = planned.remove(0).build();
    let run = match side.as_str() {
        "engine" => &mut case.engine,
        "baseline" => &mut case.baseline,
        _ => {
            eprintln!("profile: side must be engine or baseline");
            std::process::exit(2);
        }
    };
    if iters > 0 {
        let t = run(iters);
        println!("{}: {iters} iterations in {t:?}", case.id());
    }
}
