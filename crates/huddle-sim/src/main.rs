//! `huddle-sim`: runs seeds of the deterministic simulation. See
//! `huddle-sim --help` and `docs/testing.md`.

#![forbid(unsafe_code)]

fn main() {
    std::process::exit(huddle_sim::cli::main(std::env::args().skip(1).collect()));
}
