//! 100 000 idle boards: the next deadline is the earliest one, expiring k of
//! them touches only those k, and nothing else stays armed. (Speed is
//! measured by the benchmarks, not asserted here.)

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::{Harness, T0};

#[test]
fn hundred_thousand_idle_boards() {
    const BOARDS: u64 = 100_000;
    let mut h = Harness::new(Config::default());
    for i in 0..BOARDS {
        // Board i goes idle at T0 + i ms.
        h.now = T0.saturating_add(Duration::from_millis(i));
        let conn = ConnId(i);
        h.engine
            .join(
                h.now,
                conn,
                JoinRequest::new(format!("board-{i}").as_str(), "u", "U"),
            )
            .unwrap();
        h.drain();
        h.engine.leave(h.now, conn).unwrap();
        h.drain();
    }
    let stats = h.engine.stats();
    assert_eq!(stats.idle_sessions, BOARDS as usize);
    // One idle timer per board and nothing else (no leaked inactivity,
    // auto-save or presence timers).
    assert_eq!(stats.timers_armed, BOARDS as usize);
    let idle = Duration::from_secs(5 * 60);
    assert_eq!(h.engine.poll_timeout(), Some(T0.saturating_add(idle)));

    // Expire exactly the first 250 boards.
    h.events.clear();
    let now = T0
        .saturating_add(idle)
        .saturating_add(Duration::from_millis(249));
    h.now = now;
    h.engine.handle_timeout(now);
    h.drain();
    let archived = h
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Signal::SessionEnded {
                    reason: SessionEnd::Archived,
                    ..
                }
            )
        })
        .count();
    assert_eq!(archived, 250);
    assert!(h.engine.session("board-249").is_none());
    assert!(h.engine.session("board-250").is_some());
    assert_eq!(h.engine.stats().idle_sessions, (BOARDS - 250) as usize);
    assert_eq!(
        h.engine.poll_timeout(),
        Some(
            T0.saturating_add(idle)
                .saturating_add(Duration::from_millis(250))
        )
    );

    // Calling again at the same instant does nothing.
    h.events.clear();
    h.engine.handle_timeout(now);
    h.drain();
    assert!(h.events.is_empty());
    assert!(h.transcript.len() > 1);
}
