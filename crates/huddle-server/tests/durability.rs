//! Black-box durability tests: SIGTERM flushes everything and exits 0;
//! kill -9 under load loses no acknowledged batch, and reconnecting
//! clients get a correct delta or full sync.

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use huddle_core::Mutation;
use huddle_wire::{ClientMessage, ServerMessage, WireSync};
use support::{full_data, poll, upsert, Server, Ws};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_every_session_and_exits_0() {
    let mut server = Server::start_with(
        support::Opts::default()
            // Long idle timeouts: the sessions are live at SIGTERM.
            .flag("--idle-timeout-ephemeral", "5m")
            .flag("--idle-timeout-persistent", "5m")
            .flag("--autosave-interval", "5m"),
    )
    .await;
    server.room("keep", "persistent").await;
    server.room("temp", "ephemeral").await;
    let (mut a, _) = server.joined("alice", "keep").await;
    let (mut b, _) = server.joined("bob", "temp").await;
    for i in 0..10 {
        a.mutate(
            &format!("a{i}"),
            vec![upsert("p", &format!("e{i}"), &i.to_string())],
        )
        .await;
        b.mutate(&format!("b{i}"), vec![upsert("p", "same", &i.to_string())])
            .await;
    }
    let status = server.sigterm().await;
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    // Connected clients are told to come back (1001 going away or 1012
    // service restart), not closed as if on purpose.
    for ws in [&mut a, &mut b] {
        let code = ws.closed().await;
        assert!(matches!(code, Some(1001 | 1012)), "close code {code:?}");
    }

    server.restart().await;
    for (room, seq) in [("keep", 10), ("temp", 10)] {
        let info = server.room_info(room).await;
        assert_eq!(info["state"], "archived", "{info}");
        assert_eq!(info["sequence"], seq, "{info}");
    }
    let (status, list) = server.get("/rooms/keep/snapshots").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["created_by"], "archive", "{list}");
    assert_eq!(list[0]["version"], 10, "{list}");

    let (_c, joined) = server.joined("carol", "keep").await;
    assert_eq!(joined.sequence, 10);
    assert_eq!(full_data(&joined, "p", "e9").as_deref(), Some("9"));
    let (_d, joined) = server.joined("dave", "temp").await;
    assert_eq!(joined.sequence, 10);
    assert_eq!(full_data(&joined, "p", "same").as_deref(), Some("9"));
}

/// What a writer saw acknowledged: batch number -> sequence.
type Acked = BTreeMap<u64, u64>;

/// Sends batches (4 in flight) until the connection dies; each batch `n`
/// upserts its own element `{user}-b{n}` = `n`.
async fn writer(mut ws: Ws, user: String, counter: Arc<AtomicU64>) -> Acked {
    let mut acked = Acked::new();
    let mut pending = VecDeque::new();
    let mut n = 0u64;
    loop {
        while pending.len() < 4 {
            let id = format!("{user}-{n}");
            let frame = ClientMessage::Mutate {
                batch: id.as_str().into(),
                mutations: vec![upsert("p", &format!("{user}-b{n}"), &n.to_string())],
            }
            .to_json()
            .expect("encode");
            if !ws.try_send_text(&frame).await {
                return acked;
            }
            pending.push_back(n);
            n += 1;
        }
        let Some((batch, result)) = ws.next_answer().await else {
            return acked;
        };
        let m: u64 = batch.rsplit('-').next().unwrap().parse().unwrap();
        pending.retain(|&p| p != m);
        match result {
            Ok(seq) => {
                acked.insert(m, seq);
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Err(code) => panic!("batch {batch} refused: {code}"),
        }
    }
}

/// Follows a board through `events`: its replica and last sequence.
async fn observer(
    mut ws: Ws,
    mut replica: BTreeMap<String, String>,
    mut last: u64,
) -> (BTreeMap<String, String>, u64) {
    loop {
        let msgs = ws.take_all(Duration::from_millis(200)).await;
        for m in &msgs {
            if let ServerMessage::Events { events } = m {
                for e in events {
                    assert_eq!(e.seq, last + 1, "gap in events");
                    last = e.seq;
                    apply(&mut replica, &e.mutation);
                }
            }
        }
        if msgs.is_empty() && ws.is_closed() {
            return (replica, last);
        }
    }
}

fn apply(replica: &mut BTreeMap<String, String>, m: &Mutation) {
    let key = format!("{}/{}", m.page().as_str(), m.element().as_str());
    match m.data() {
        Some(d) => {
            replica.insert(key, String::from_utf8_lossy(d.as_bytes()).into_owned());
        }
        None => {
            replica.remove(&key);
        }
    }
}

fn full_pages(sync: &WireSync) -> BTreeMap<String, String> {
    let WireSync::Full { pages, .. } = sync else {
        panic!("not a full sync")
    };
    let mut out = BTreeMap::new();
    for (page, elements) in pages.iter() {
        for (element, data) in elements {
            out.insert(
                format!("{}/{}", page.as_str(), element.as_str()),
                String::from_utf8_lossy(data.as_bytes()).into_owned(),
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_batch() {
    let mut server = Server::start_with(
        support::Opts::default()
            .flag("--idle-timeout-ephemeral", "5m")
            .flag("--idle-timeout-persistent", "5m"),
    )
    .await;
    // Three crashes at different amounts of work; each round's boards are
    // new, the older ones stay in the same database.
    for (round, batches) in [(0, 150), (1, 400), (2, 800)] {
        crash_round(&mut server, round, batches).await;
    }
}

/// Two boards, an observer and two writers each; kill -9 once `batches`
/// batches are acknowledged, restart, and check.
async fn crash_round(server: &mut Server, round: usize, batches: u64) {
    let names = [format!("crash{round}-a"), format!("crash{round}-b")];
    let boards = [names[0].as_str(), names[1].as_str()];
    for b in boards {
        server.room(b, "persistent").await;
    }
    // One observer per board, then two writers per board.
    let mut observers = Vec::new();
    for b in boards {
        let (ws, joined) = server.joined(&format!("{b}-obs"), b).await;
        observers.push(tokio::spawn(observer(
            ws,
            full_pages(&joined.sync),
            joined.sequence,
        )));
    }
    let counter = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for b in boards {
        for w in 0..2 {
            let user = format!("{b}-w{w}");
            let (ws, _) = server.joined(&user, b).await;
            writers.push((
                b,
                user.clone(),
                tokio::spawn(writer(ws, user, counter.clone())),
            ));
        }
    }
    poll("acknowledged batches", || {
        let c = counter.clone();
        async move { (c.load(Ordering::Relaxed) >= batches).then_some(()) }
    })
    .await;
    server.kill9_and_restart().await;

    let mut acked_by_board: BTreeMap<&str, Vec<(String, u64, u64)>> = BTreeMap::new();
    for (b, user, task) in writers {
        let acked = task.await.expect("writer task");
        assert!(!acked.is_empty());
        for (n, seq) in acked {
            acked_by_board
                .entry(b)
                .or_default()
                .push((user.clone(), n, seq));
        }
    }
    for b in boards.iter() {
        let acked = &acked_by_board[b];
        let max_acked = acked.iter().map(|a| a.2).max().unwrap();
        let stored = server.sequence(b).await;
        assert!(
            stored >= max_acked,
            "{b}: stored sequence {stored} < acked {max_acked}"
        );

        // A fresh client sees every acknowledged batch.
        let (_fresh, joined) = server.joined(&format!("{b}-fresh"), b).await;
        assert_eq!(joined.sequence, stored);
        let state = full_pages(&joined.sync);
        for (user, n, _) in acked {
            assert_eq!(
                state.get(&format!("p/{user}-b{n}")).map(String::as_str),
                Some(n.to_string().as_str()),
                "{b}: acknowledged batch {user}-{n} lost"
            );
        }
        // Every batch of the board, stored, had its own sequence: the
        // board holds exactly `stored` elements (one per mutation).
        assert_eq!(state.len() as u64, stored, "{b}: elements vs sequence");

        // The observer reconnects from what it had: delta or full, and
        // either way ends at the same state as the fresh client.
        let (replica, last) = observers.remove(0).await.expect("observer task");
        let mut obs = server.connect(&format!("{b}-obs"), b).await;
        let joined = obs.join(b, Some(last)).await;
        let rebuilt = match &joined.sync {
            WireSync::Delta { events } => {
                let mut replica = replica;
                let mut at = last;
                for e in events {
                    assert_eq!(e.seq, at + 1, "{b}: delta not contiguous");
                    at = e.seq;
                    apply(&mut replica, &e.mutation);
                }
                assert_eq!(
                    at, joined.sequence,
                    "{b}: delta does not reach the sequence"
                );
                replica
            }
            full @ WireSync::Full { .. } => full_pages(full),
        };
        assert_eq!(rebuilt, state, "{b}: observer's re-synced state differs");

        // A retry of an acknowledged batch after the restart gets its
        // original sequence; the same id with other content is refused (the
        // digests survived the crash).
        let (user, n, seq) = acked.last().unwrap().clone();
        let mut again = server.connect(&user, b).await;
        again.join(b, Some(stored)).await;
        assert_eq!(
            again
                .mutate(
                    &format!("{user}-{n}"),
                    vec![upsert("p", &format!("{user}-b{n}"), &n.to_string())]
                )
                .await,
            seq
        );
        again
            .send_batch(&format!("{user}-{n}"), vec![upsert("p", "other", "0")])
            .await;
        match again.recv_type("error").await {
            huddle_wire::ServerMessage::Error { code, .. } => {
                assert_eq!(code.as_str(), "BATCH_ID_REUSED")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(server.sequence(b).await, stored);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_sync_works_for_a_board_just_loaded_from_storage() {
    let mut server = Server::start().await;
    server.room("r1", "persistent").await;
    let (mut alice, _) = server.joined("alice", "r1").await;
    for i in 0..5 {
        alice
            .mutate(
                &format!("a{i}"),
                vec![upsert("p", &format!("e{i}"), &i.to_string())],
            )
            .await;
    }
    server.kill9_and_restart().await;
    // Alice comes back with what she had at 2.
    let mut alice = server.connect("alice", "r1").await;
    let joined = alice.join("r1", Some(2)).await;
    assert_eq!(joined.sequence, 5);
    assert_eq!(
        support::delta_events(&joined),
        vec![
            (3, "alice".into(), "e2".into()),
            (4, "alice".into(), "e3".into()),
            (5, "alice".into(), "e4".into())
        ]
    );
    // And the sequence continues.
    assert_eq!(alice.mutate("a5", vec![upsert("p", "e5", "5")]).await, 6);
}
