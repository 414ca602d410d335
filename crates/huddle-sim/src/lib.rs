//! # huddle-sim
//!
//! Deterministic simulation of Huddle: the real engine
//! ([`huddle_core::Engine`]) and real client machines
//! ([`huddle_client::Client`]), talking the real wire protocol over
//! a simulated network, with a simulated store and a virtual clock. One
//! `u64` seed decides everything: the fault mix, the boards and clients
//! and what they do, the clock's ticks and jumps (and a host clock that
//! steps backwards), the network's delays, duplicates and drops, and the
//! store's latency, failures, outages, crashes and bad confirmations.
//! With [`Settings::hosts`] above one, several hosts share the store's
//! leases ([`cluster`]): clients follow redirects to a board's owner, and
//! hosts pause, lose the store and crash.
//!
//! After every step the [`invariants`] are checked; at the end a liveness
//! phase turns the faults off and requires every replica to converge and
//! every board to be flushed and archived within a bound. A failing seed
//! prints the command that replays it; the same seed always gives the same
//! trace hash.
//!
//! ```
//! use huddle_sim::{run_seed, Settings};
//!
//! let settings = Settings { ticks: 20_000, ..Settings::default() };
//! let a = run_seed(3, &settings).expect("seed 3 passes");
//! let b = run_seed(3, &settings).expect("seed 3 passes");
//! assert_eq!(a.hash, b.hash);
//! ```
//!
//! One simulated tick is one millisecond of virtual time. Run it with
//! `cargo run --release -p huddle-sim -- --help`; see `docs/testing.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod clients;
pub mod clock;
pub mod cluster;
pub mod durable;
pub mod end_checks;
pub mod faults;
pub mod host;
pub mod host_faults;
pub mod host_leases;
pub mod invariants;
pub mod lease;
pub mod network;
pub mod parked;
pub mod rng;
pub mod runner;
pub mod state_checks;
pub mod step;
pub mod store;
pub mod takeover;
pub mod trace;
pub mod world;

pub use runner::{run_seed, Failure, Report};
pub use world::{Settings, World};
