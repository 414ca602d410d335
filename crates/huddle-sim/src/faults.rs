//! The fault mix of a run: how rough the clock, the network and the store
//! are, drawn once from the seed. Some seeds are calm, some are brutal, and
//! each fault class can be off, so that failures are easy to attribute.

use crate::rng::Rng;

/// Every fault rate of one run. Rates are per step (one clock advance)
/// unless said otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    // ---- clock
    /// Chance per step of a large jump (seconds to many minutes) instead
    /// of a small tick.
    pub clock_jump: f64,
    /// Longest jump, ms.
    pub clock_jump_max_ms: u64,
    /// Chance per step that the host's clock starts lagging (steps back).
    pub clock_back: f64,
    /// Chance per step that the host calls `handle_timeout` early.
    pub early_timeout: f64,
    // ---- network
    /// Longest one-way delay of a frame, ms.
    pub max_delay_ms: u64,
    /// Chance that a frame is delivered twice.
    pub duplicate: f64,
    /// Chance per step (per live link, capped) that a connection drops.
    pub cut: f64,
    /// Chance that opening a connection fails.
    pub connect_fail: f64,
    /// Longest time before each side notices a dropped socket, ms.
    pub late_close_ms: u64,
    // ---- storage
    /// Longest store latency, ms (0: confirmations come at once).
    pub store_latency_ms: u64,
    /// Chance that an effect fails.
    pub store_fail: f64,
    /// Chance that a failed effect was performed anyway (a timeout after
    /// the write reached the disk).
    pub fail_but_done: f64,
    /// Chance per step that the store goes down for a while.
    pub outage: f64,
    /// Chance that an injected failure is a fence instead (another host
    /// took the board over, as far as this one can tell): the write is not
    /// performed and the engine ends the board's session. Only where
    /// crashes are (durable acks: a session that ends loses nothing
    /// acknowledged).
    pub store_fence: f64,
    /// Chance per step that the host crashes (engine dropped and rebuilt).
    pub crash: f64,
    /// Chance that an in-flight write at a crash reached the disk.
    pub crash_keeps_inflight: f64,
    /// Chance per step that a second host takes the boards over while the
    /// old one's writes are still in flight ([`crate::takeover`]).
    pub takeover: f64,
    /// Chance per step that the host asks for a flush of a board.
    pub host_flush: f64,
    /// Chance per step that the host closes a board session.
    pub host_close: f64,
    /// Chance per confirmation that the host also sends a bad one
    /// (duplicate, stale, never-issued id, mismatched outcome).
    pub bad_confirm: f64,
    // ---- clients
    /// Chance per step that a client closes its connection on purpose.
    pub client_close: f64,
    /// Chance per step that a client goes idle for a long time.
    pub client_idle: f64,
    /// Chance per step that a client process restarts: its sockets drop
    /// and a new machine imports the old one's recovery data.
    pub client_restart: f64,
}

impl Faults {
    /// Draws a mix from the seed's generator. `crashes` is false when
    /// acknowledged work is allowed to be lost in a crash (ack on apply).
    pub fn draw(rng: &mut Rng, crashes: bool) -> Self {
        Faults {
            clock_jump: rng.pick(&[0.0, 0.0005, 0.002]),
            clock_jump_max_ms: rng.pick(&[10_000, 120_000, 40 * 60_000]),
            clock_back: rng.pick(&[0.0, 0.001, 0.005]),
            early_timeout: rng.pick(&[0.0, 0.01, 0.05]),
            max_delay_ms: rng.range(2, 250),
            duplicate: rng.pick(&[0.0, 0.01, 0.05]),
            cut: rng.pick(&[0.0, 0.0005, 0.002, 0.006]),
            connect_fail: rng.pick(&[0.0, 0.1, 0.4]),
            late_close_ms: rng.range(10, 4000),
            store_latency_ms: rng.pick(&[0, 5, 50, 400]),
            store_fail: rng.pick(&[0.0, 0.01, 0.05, 0.2]),
            fail_but_done: rng.pick(&[0.0, 0.3]),
            outage: rng.pick(&[0.0, 0.0003, 0.001]),
            crash: if crashes {
                rng.pick(&[0.0, 0.0001, 0.0005, 0.002])
            } else {
                0.0
            },
            crash_keeps_inflight: rng.pick(&[0.0, 0.5, 1.0]),
            bad_confirm: rng.pick(&[0.0, 0.02, 0.1]),
            host_flush: rng.pick(&[0.0, 0.001, 0.01]),
            host_close: rng.pick(&[0.0, 0.0, 0.0002, 0.001]),
            client_close: rng.pick(&[0.0, 0.0005, 0.002]),
            client_idle: rng.pick(&[0.0, 0.0005, 0.002]),
            client_restart: rng.pick(&[0.0, 0.0002, 0.001]),
            takeover: if crashes {
                rng.pick(&[0.0, 0.0, 0.0001, 0.0005])
            } else {
                0.0
            },
            store_fence: if crashes {
                rng.pick(&[0.0, 0.0, 0.02, 0.1])
            } else {
                0.0
            },
        }
    }

    /// No faults at all (the liveness phase).
    pub fn calm() -> Self {
        Faults {
            clock_jump: 0.0,
            clock_jump_max_ms: 0,
            clock_back: 0.0,
            early_timeout: 0.0,
            max_delay_ms: 5,
            duplicate: 0.0,
            cut: 0.0,
            connect_fail: 0.0,
            late_close_ms: 5,
            store_latency_ms: 2,
            store_fail: 0.0,
            fail_but_done: 0.0,
            outage: 0.0,
            crash: 0.0,
            crash_keeps_inflight: 0.0,
            takeover: 0.0,
            bad_confirm: 0.0,
            host_flush: 0.0,
            host_close: 0.0,
            client_close: 0.0,
            client_idle: 0.0,
            client_restart: 0.0,
            store_fence: 0.0,
        }
    }
}
