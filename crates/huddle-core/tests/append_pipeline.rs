//! `Config::appends_in_flight`: several appends of one board at the store
//! at once. Acks and broadcasts still come in sequence order, `durable`
//! advances only over a stored prefix, and a failure re-sends everything
//! from the failed append on, once, before anything newer.

use std::time::Duration;

use huddle_core::*;
use huddle_testkit::*;

const B: &str = "board";
const C1: ConnId = ConnId(1);
const C2: ConnId = ConnId(2);

fn harness(in_flight: usize) -> Harness {
    let config = Config::new().appends_in_flight(in_flight);
    let mut h = Harness::new(config);
    h.join(C1, JoinRequest::new(B, "alice", "Alice")).unwrap();
    h.join(C2, JoinRequest::new(B, "bob", "Bob")).unwrap();
    h.take(C1);
    h.take(C2);
    h.mode = StoreMode::Hold;
    h
}

/// The held appends: (effect id, first sequence, last sequence).
fn appends(h: &Harness) -> Vec<(EffectId, u64, u64)> {
    h.held
        .iter()
        .filter_map(|e| match e {
            Effect::AppendEvents { id, events, .. } => Some((
                *id,
                events.first().map_or(0, |e| e.seq),
                events.last().map_or(0, |e| e.seq),
            )),
            _ => None,
        })
        .collect()
}

/// Performs the held effect `id` (out of order if need be) and reports it.
fn complete(h: &mut Harness, id: EffectId) {
    let pos = h.held.iter().position(|e| e.id() == id).unwrap();
    let effect = h.held.remove(pos).unwrap();
    let outcome = h.store.perform(&effect, h.now);
    h.engine.handle_storage(h.now, id, outcome).unwrap();
    h.drain();
}

/// Reports the held effect `id` as failed without touching the store.
fn fail(h: &mut Harness, id: EffectId) {
    let pos = h.held.iter().position(|e| e.id() == id).unwrap();
    h.held.remove(pos);
    let outcome = StorageOutcome::transient("injected failure");
    h.engine.handle_storage(h.now, id, outcome).unwrap();
    h.drain();
}

fn acks(notices: &[Notice]) -> Vec<(String, u64)> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Ack { batch, sequence } => Some((batch.as_str().to_string(), *sequence)),
            _ => None,
        })
        .collect()
}

fn event_seqs(notices: &[Notice]) -> Vec<u64> {
    notices
        .iter()
        .flat_map(|n| match n {
            Notice::Events(events) => events.iter().map(|e| e.seq).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn mutate(h: &mut Harness, batch: &str, n: usize) {
    let mutations = (0..n)
        .map(|i| upsert("p", &format!("{batch}-{i}"), "{}"))
        .collect();
    h.mutate(C1, batch, mutations).unwrap();
}

#[test]
fn up_to_the_limit_in_flight_then_queued() {
    let mut h = harness(3);
    for b in ["a", "b", "c", "d", "e"] {
        mutate(&mut h, b, 2);
    }
    // Three appends at the store, the rest queued for the next one.
    assert_eq!(
        appends(&h).iter().map(|a| (a.1, a.2)).collect::<Vec<_>>(),
        vec![(1, 2), (3, 4), (5, 6)]
    );
    let first = appends(&h)[0].0;
    complete(&mut h, first);
    // One confirmed: the queued batches go together in one append.
    assert_eq!(
        appends(&h).iter().map(|a| (a.1, a.2)).collect::<Vec<_>>(),
        vec![(3, 4), (5, 6), (7, 10)]
    );
    assert_eq!(acks(&h.take(C1)), vec![("a".to_string(), 2)]);
    assert_eq!(event_seqs(&h.take(C2)), vec![1, 2]);
}

#[test]
fn a_confirmation_that_overtakes_an_earlier_one_waits_for_it() {
    let mut h = harness(3);
    for b in ["a", "b", "c"] {
        mutate(&mut h, b, 1);
    }
    // The store applies them in order; the reports come back reversed.
    let held: Vec<Effect> = h.held.drain(..).collect();
    let outcomes: Vec<StorageOutcome> = held.iter().map(|e| h.store.perform(e, h.now)).collect();
    let report = |h: &mut Harness, i: usize| {
        h.engine
            .handle_storage(h.now, held[i].id(), outcomes[i].clone())
            .unwrap();
        h.drain();
    };
    report(&mut h, 2);
    report(&mut h, 1);
    assert!(acks(&h.take(C1)).is_empty(), "nothing is durable before 1");
    assert!(event_seqs(&h.take(C2)).is_empty());
    assert_eq!(h.engine.session(B).unwrap().sequence, 0);
    report(&mut h, 0);
    assert_eq!(
        acks(&h.take(C1)),
        vec![
            ("a".to_string(), 1),
            ("b".to_string(), 2),
            ("c".to_string(), 3)
        ]
    );
    assert_eq!(event_seqs(&h.take(C2)), vec![1, 2, 3]);
    assert_eq!(h.engine.session(B).unwrap().sequence, 3);
}

#[test]
fn a_failure_resends_it_and_everything_after_it_once() {
    let mut h = harness(3);
    for b in ["a", "b", "c", "d"] {
        mutate(&mut h, b, 1);
    }
    let ids: Vec<EffectId> = appends(&h).iter().map(|a| a.0).collect();
    assert_eq!(ids.len(), 3);
    complete(&mut h, ids[0]);
    // "d" went out when "a" was stored.
    let ids: Vec<EffectId> = appends(&h).iter().map(|a| a.0).collect();
    assert_eq!(ids.len(), 3);
    fail(&mut h, ids[0]);
    // The appends after the failed one reach the store, which refuses
    // them as gaps; their reports change nothing.
    complete(&mut h, ids[1]);
    complete(&mut h, ids[2]);
    assert!(appends(&h).is_empty(), "nothing is sent before the retry");
    mutate(&mut h, "e", 1);
    assert!(appends(&h).is_empty(), "new batches wait behind the retry");
    assert_eq!(acks(&h.take(C1)), vec![("a".to_string(), 1)]);

    h.advance(Duration::from_millis(500));
    // The retry re-sends 2..=4 in one append, and "e" follows at once.
    assert_eq!(
        appends(&h).iter().map(|a| (a.1, a.2)).collect::<Vec<_>>(),
        vec![(2, 4), (5, 5)]
    );
    h.complete_all();
    assert_eq!(
        acks(&h.take(C1)),
        vec![
            ("b".to_string(), 2),
            ("c".to_string(), 3),
            ("d".to_string(), 4),
            ("e".to_string(), 5)
        ]
    );
    assert_eq!(event_seqs(&h.take(C2)), vec![1, 2, 3, 4, 5]);
    let stored: Vec<u64> = h.store.boards()[B].events.iter().map(|e| e.seq).collect();
    assert_eq!(stored, vec![1, 2, 3, 4, 5]);
}

#[test]
fn a_later_append_stored_before_an_earlier_one_failed_is_resent_harmlessly() {
    // The earlier append reached the disk but its confirmation failed; the
    // later one was stored. The retry sends both again; the store holds
    // them already, and each batch is acknowledged once.
    let mut h = harness(2);
    mutate(&mut h, "a", 2);
    mutate(&mut h, "b", 2);
    let ids: Vec<EffectId> = appends(&h).iter().map(|a| a.0).collect();
    let first = h.held.iter().find(|e| e.id() == ids[0]).unwrap().clone();
    let _ = h.store.perform(&first, h.now);
    complete(&mut h, ids[1]);
    fail(&mut h, ids[0]);
    assert!(acks(&h.take(C1)).is_empty());
    h.advance(Duration::from_millis(500));
    assert_eq!(
        appends(&h).iter().map(|a| (a.1, a.2)).collect::<Vec<_>>(),
        vec![(1, 4)]
    );
    h.complete_all();
    assert_eq!(
        acks(&h.take(C1)),
        vec![("a".to_string(), 2), ("b".to_string(), 4)]
    );
    assert_eq!(event_seqs(&h.take(C2)), vec![1, 2, 3, 4]);
    assert_eq!(h.store.boards()[B].events.len(), 4);
}

#[test]
fn zero_counts_as_one() {
    for limit in [0, 1] {
        let mut h = harness(limit);
        mutate(&mut h, "a", 1);
        mutate(&mut h, "b", 1);
        assert_eq!(appends(&h).len(), 1, "limit {limit}");
        h.complete_all();
        assert_eq!(acks(&h.take(C1)).len(), 2);
    }
}

#[test]
fn archive_waits_for_every_append_in_flight() {
    let mut h = harness(4);
    for b in ["a", "b", "c"] {
        mutate(&mut h, b, 1);
    }
    h.leave(C1).unwrap();
    h.leave(C2).unwrap();
    h.advance(Duration::from_secs(5 * 60));
    assert!(h.engine.session(B).is_some(), "appends still in flight");
    h.complete_all();
    h.advance(Duration::from_secs(5 * 60));
    h.complete_all();
    assert!(h.engine.session(B).is_none());
    let stored = &h.store.boards()[B];
    assert_eq!(stored.events.len(), 3);
    assert_eq!(stored.pages_sequence, 3, "flushed through the last append");
}
