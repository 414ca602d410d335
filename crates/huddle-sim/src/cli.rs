//! The command line: which seeds to run, for how long, how loudly.

use std::time::{Duration, Instant};

use crate::runner::run_seed;
use crate::world::Settings;

const USAGE: &str = "\
huddle-sim: deterministic simulation of the Huddle engine, clients, network and store

USAGE:
    huddle-sim [--seed N]... [--seeds A..B] [--random K] [--ticks T] [--hosts H] [--verbose] [--keep-going]

    --seed N       run seed N (repeatable)
    --seeds A..B   run seeds A to B-1
    --random K     run K random seeds (printed, so that a failure can be replayed)
    --ticks T      virtual milliseconds of the chaos phase per seed (default 1000000)
    --hosts H      hosts sharing the store, 1 to 8 (default 1; from 2: leases, redirects,
                   pauses, partitions from the store and host crashes)
    --verbose      print the trace of every seed
    --keep-going   run every seed even after a failure
    --time-limit D stop starting new seeds after D of wall-clock time, e.g. 15m (long hunts)
    (no seeds: --seeds 0..64 --random 16, the CI set)
";

/// Parsed arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// Seeds, in order.
    pub seeds: Vec<u64>,
    /// How many of them are random (printed).
    pub random: usize,
    /// Chaos-phase budget per seed.
    pub ticks: Option<u64>,
    /// Hosts sharing the store.
    pub hosts: Option<usize>,
    /// Print traces.
    pub verbose: bool,
    /// Do not stop at the first failure.
    pub keep_going: bool,
    /// Stop starting seeds after this much wall-clock time.
    pub time_limit: Option<Duration>,
}

/// Parses the arguments; `Err` with a message.
pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.iter();
    let num = |v: Option<&String>, what: &str| -> Result<u64, String> {
        v.ok_or(format!("{what} needs a value"))?
            .replace('_', "")
            .parse::<u64>()
            .map_err(|e| format!("{what}: {e}"))
    };
    let mut random = 0;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seed" => out.seeds.push(num(it.next(), "--seed")?),
            "--seeds" => {
                let v = it.next().ok_or("--seeds needs A..B")?;
                let (a, b) = v.split_once("..").ok_or("--seeds needs A..B")?;
                let a: u64 = a.parse().map_err(|e| format!("--seeds: {e}"))?;
                let b: u64 = b.parse().map_err(|e| format!("--seeds: {e}"))?;
                out.seeds.extend(a..b);
            }
            "--random" => random = num(it.next(), "--random")? as usize,
            "--ticks" => out.ticks = Some(num(it.next(), "--ticks")?),
            "--hosts" => {
                let hosts = num(it.next(), "--hosts")?;
                let max = crate::cluster::MAX_HOSTS as u64;
                if !(1..=max).contains(&hosts) {
                    return Err(format!("--hosts: {hosts} is not between 1 and {max}"));
                }
                out.hosts = Some(hosts as usize);
            }
            "--verbose" | "-v" => out.verbose = true,
            "--keep-going" => out.keep_going = true,
            "--time-limit" => {
                let v = it.next().ok_or("--time-limit needs a duration")?;
                let limit =
                    huddle_duration::parse_duration(v).map_err(|e| format!("--time-limit: {e}"))?;
                out.time_limit = Some(limit);
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if out.seeds.is_empty() && random == 0 {
        out.seeds.extend(0..64);
        random = 16;
    }
    out.seeds.extend(random_seeds(random));
    out.random = random;
    Ok(out)
}

/// Seeds from the OS's hash randomness and the wall clock (the one place
/// the simulation reads either; every seed is printed before it runs).
fn random_seeds(n: usize) -> Vec<u64> {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut h = state.build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut rng = crate::rng::Rng::new(h.finish());
    (0..n).map(|_| rng.next_u64()).collect()
}

/// Runs the command line; returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let args = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprint!("{USAGE}");
            return 2;
        }
    };
    let settings = Settings {
        ticks: args.ticks.unwrap_or(Settings::default().ticks),
        verbose: args.verbose,
        hosts: args.hosts.unwrap_or(1),
    };
    if args.random > 0 {
        let start = args.seeds.len() - args.random;
        println!("random seeds: {:?}", &args.seeds[start..]);
    }
    let started = Instant::now();
    let (mut passed, mut ticks) = (0u64, 0u64);
    let mut failures = Vec::new();
    for &seed in &args.seeds {
        if args
            .time_limit
            .is_some_and(|limit| started.elapsed() >= limit)
        {
            println!("time limit reached before seed {seed}");
            break;
        }
        let t = Instant::now();
        match run_seed(seed, &settings) {
            Ok(r) => {
                passed += 1;
                ticks += r.ticks;
                println!(
                    "seed {seed} ok hash {:016x} ticks {} in {:.2}s: {}",
                    r.hash,
                    r.ticks,
                    t.elapsed().as_secs_f64(),
                    r.summary
                );
            }
            Err(f) => {
                println!("seed {seed} FAILED at {}ms: {}", f.at, f.message);
                println!("replay: {}", f.replay_command(&settings));
                failures.push(f);
                if !args.keep_going {
                    break;
                }
            }
        }
    }
    println!(
        "{passed} seeds passed, {} failed, {ticks} ticks simulated, in {:.1}s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    for f in &failures {
        println!(
            "FAILED seed {}: replay with: {}",
            f.seed,
            f.replay_command(&settings)
        );
    }
    i32::from(!failures.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn hosts_are_one_to_eight() {
        let a = args(&["--hosts", "3", "--seed", "7"]).unwrap();
        assert_eq!((a.hosts, a.seeds), (Some(3), vec![7]));
        assert_eq!(args(&["--seed", "7"]).unwrap().hosts, None);
        for bad in ["0", "9", "x", "-1"] {
            let e = args(&["--hosts", bad]).unwrap_err();
            assert!(e.starts_with("--hosts"), "{bad}: {e}");
        }
        assert!(args(&["--hosts"]).is_err());
    }
}
