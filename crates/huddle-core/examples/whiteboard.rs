//! A whiteboard session in virtual time: a tiny host drives the engine
//! through joins, edits, a dropped connection with a delta re-sync, a flaky
//! store, auto-save, idle archiving and a reload. Everything printed comes
//! from the engine's outputs.
//!
//! Run: `cargo run -p huddle-core --example whiteboard`

use std::collections::HashMap;
use std::time::Duration;

use huddle_core::{
    Config, ConnId, Effect, Engine, JoinRequest, JoinSync, LoadedBoard, Mutation, Notice, Output,
    SessionType, Signal, SnapshotId, StorageOutcome, Timestamp,
};

/// The host's store: an event log, flushed pages and snapshots per board.
#[derive(Default)]
struct Store {
    boards: HashMap<String, LoadedBoard>,
    snapshots: HashMap<String, Vec<(SnapshotId, u64, String)>>,
    fail_next: u32,
    made: u64,
}

impl Store {
    fn perform(&mut self, effect: &Effect) -> StorageOutcome {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            // Transient: the engine keeps the data pending and retries.
            return StorageOutcome::transient("disk I/O error (simulated)");
        }
        match effect {
            Effect::LoadBoard { board, .. } => {
                let mut loaded = self.boards.get(board.as_str()).cloned().unwrap_or_default();
                loaded.session_type = Some(SessionType::Persistent);
                loaded.snapshot_count = self.snapshots.get(board.as_str()).map_or(0, Vec::len);
                StorageOutcome::Loaded(Box::new(loaded))
            }
            Effect::AppendEvents { board, events, .. } => {
                let log = &mut self.boards.entry(board.to_string()).or_default().events;
                log.extend(
                    events
                        .iter()
                        .filter(|e| log.last().is_none_or(|l| e.seq > l.seq))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
                StorageOutcome::Stored
            }
            Effect::Flush { board, batch, .. } => {
                let stored = self.boards.entry(board.to_string()).or_default();
                batch.apply_to(&mut stored.pages);
                stored.pages_sequence = batch.through;
                StorageOutcome::Stored
            }
            Effect::StoreSnapshot { snapshot, .. } => {
                self.made += 1;
                let id = SnapshotId::from(format!("snap-{}", self.made));
                let list = self
                    .snapshots
                    .entry(snapshot.board.to_string())
                    .or_default();
                list.push((
                    id.clone(),
                    snapshot.version,
                    snapshot.created_by.as_str().to_owned(),
                ));
                StorageOutcome::SnapshotStored(id)
            }
            Effect::PruneSnapshots {
                board, keep_last, ..
            } => {
                let list = self.snapshots.entry(board.to_string()).or_default();
                let excess = list.len().saturating_sub(*keep_last);
                list.drain(..excess);
                StorageOutcome::Stored
            }
            // Only with `Config::store_user_sessions`; this host keeps none.
            Effect::StoreUserSession { .. } => StorageOutcome::Stored,
        }
    }
}

struct Host {
    engine: Engine,
    store: Store,
    start: Timestamp,
    now: Timestamp,
    names: HashMap<ConnId, &'static str>,
}

impl Host {
    fn clock(&self) -> String {
        let ms = self.now.saturating_duration_since(self.start).as_millis();
        format!(
            "[{:02}:{:02}.{:03}]",
            ms / 60_000,
            (ms / 1000) % 60,
            ms % 1000
        )
    }

    fn say(&self, what: impl AsRef<str>) {
        println!("{} {}", self.clock(), what.as_ref());
    }

    /// Drains the engine: performs effects, prints what clients are told.
    fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Notify { conn, notice } => self.deliver(conn, notice),
                Output::Broadcast { conns, notice } => {
                    for conn in conns {
                        self.deliver(conn, notice.clone());
                    }
                }
                Output::Effect(effect) => {
                    let outcome = self.store.perform(&effect);
                    if let StorageOutcome::Failed(why) = &outcome {
                        self.say(format!("   store: {} failed: {why}", effect_name(&effect)));
                    }
                    self.engine
                        .handle_storage(self.now, effect.id(), outcome)
                        .expect("own effect");
                }
                Output::Signal(event) => self.log_event(event),
                // A host with ownership epochs drops the board's here.
                Output::Released { board } => self.say(format!("   board {board} released")),
                Output::Drained => self.say("   nothing left: the host may stop"),
            }
        }
    }

    fn deliver(&self, conn: ConnId, notice: Notice) {
        let who = self.names.get(&conn).copied().unwrap_or("?");
        let text = match notice {
            Notice::Joined(j) => {
                let sync = match &j.sync {
                    JoinSync::Delta { events } => {
                        format!("delta sync with {} missed event(s)", events.len())
                    }
                    JoinSync::Full { reason, pages } => {
                        format!(
                            "full sync ({reason:?}) with {} element(s)",
                            pages.element_count()
                        )
                    }
                };
                let people: Vec<_> = j
                    .participants
                    .iter()
                    .map(|p| p.display_name.to_string())
                    .collect();
                format!(
                    "joined as {}; {sync}; board at sequence {}; present: {}",
                    j.color.hex(),
                    j.sequence,
                    people.join(", ")
                )
            }
            Notice::Ack { batch, sequence } => {
                format!("ack for batch {batch}: durable at sequence {sequence}")
            }
            Notice::Events(events) => {
                let seqs: Vec<_> = events.iter().map(|e| e.seq.to_string()).collect();
                format!("events {} from {}", seqs.join(","), events[0].author)
            }
            Notice::ParticipantJoined(p) => {
                format!("{} joined ({})", p.display_name, p.color.hex())
            }
            Notice::ParticipantLeft(p) => format!("{} left", p.display_name),
            Notice::Cursor { user, x, y } => format!("{user}'s cursor at ({x}, {y})"),
            Notice::Snapshot(s) => format!(
                "snapshot {} stored ({}, version {})",
                s.id,
                s.created_by.as_str(),
                s.version
            ),
            other => format!("{other:?}"),
        };
        self.say(format!("   -> {who}: {text}"));
    }

    fn log_event(&self, event: Signal) {
        match event {
            Signal::StateChanged {
                board, from, to, ..
            } => {
                self.say(format!("   board {board}: {from:?} -> {to:?}"));
            }
            Signal::SessionEnded { board, reason } => {
                self.say(format!("   board {board} left memory ({reason:?})"));
            }
            Signal::StorageFailed { attempt, .. } => {
                self.say(format!(
                    "   engine keeps the data pending and retries (attempt {attempt})"
                ));
            }
            _ => {}
        }
    }

    fn join(&mut self, conn: ConnId, request: JoinRequest) {
        self.engine
            .join(self.now, conn, request)
            .expect("a valid join");
        self.drain();
    }

    fn mutate(&mut self, conn: ConnId, batch: &str, mutations: Vec<Mutation>) {
        self.engine
            .apply_mutations(self.now, conn, batch.into(), mutations)
            .expect("a valid batch");
        self.drain();
    }

    /// Moves virtual time forward, firing every engine deadline on the way.
    fn advance(&mut self, d: Duration) {
        let target = self.now.saturating_add(d);
        while let Some(deadline) = self.engine.poll_timeout().filter(|t| *t <= target) {
            self.now = self.now.max(deadline);
            self.engine.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }
}

fn effect_name(effect: &Effect) -> &'static str {
    match effect {
        Effect::LoadBoard { .. } => "load",
        Effect::AppendEvents { .. } => "append",
        Effect::Flush { .. } => "flush",
        Effect::StoreSnapshot { .. } => "snapshot",
        Effect::PruneSnapshots { .. } => "prune",
        Effect::StoreUserSession { .. } => "user session record",
    }
}

fn sticky(element: &str, text: &str) -> Mutation {
    Mutation::Upsert {
        page: "page-1".into(),
        element: element.into(),
        data: format!(r#"{{"text":"{text}"}}"#).as_str().into(),
    }
}

fn main() {
    let start = Timestamp::from_millis(1_795_000_000_000);
    let mut host = Host {
        engine: Engine::new(Config::default(), 42),
        store: Store::default(),
        start,
        now: start,
        names: HashMap::new(),
    };
    let (alice, bob, bob2, carol) = (ConnId(1), ConnId(2), ConnId(3), ConnId(4));
    host.names.extend([
        (alice, "alice"),
        (bob, "bob"),
        (bob2, "bob (reconnected)"),
        (carol, "carol"),
    ]);
    let board = "roadmap";

    host.say("alice opens the persistent board \"roadmap\"");
    host.join(
        alice,
        JoinRequest::new(board, "alice", "Alice").session_type(SessionType::Persistent),
    );
    host.advance(Duration::from_millis(1200));
    host.say("bob joins");
    host.join(bob, JoinRequest::new(board, "bob", "Bob"));

    host.advance(Duration::from_secs(2));
    host.say("alice adds two stickies in one batch");
    host.mutate(
        alice,
        "a-1",
        vec![sticky("s1", "Ship v1"), sticky("s2", "Docs")],
    );
    host.say("bob moves his cursor");
    host.engine
        .update_presence(host.now, bob, 120.0, 80.0)
        .expect("bob is joined");
    host.drain();

    host.advance(Duration::from_secs(3));
    host.say("bob's network drops (he last saw sequence 2)");
    host.engine.disconnect(host.now, bob);
    host.drain();
    host.say("alice keeps editing while the store hiccups once");
    host.store.fail_next = 1;
    host.mutate(alice, "a-2", vec![sticky("s3", "Benchmarks")]);
    host.advance(Duration::from_secs(1));

    host.say("bob reconnects with last_sequence = 2");
    host.join(bob2, JoinRequest::new(board, "bob", "Bob").last_sequence(2));
    host.say("bob's client sends a batch, then re-sends it as if the ack was lost: applied once");
    for _ in 0..2 {
        host.mutate(bob2, "b-1", vec![sticky("s2", "Docs + examples")]);
    }

    host.say("30 seconds pass: auto-save");
    host.advance(Duration::from_secs(30));
    host.say("everyone leaves");
    host.engine.leave(host.now, alice).expect("alice is joined");
    host.engine.leave(host.now, bob2).expect("bob is joined");
    host.drain();
    host.say("15 idle minutes later the persistent board is archived");
    host.advance(Duration::from_secs(15 * 60));

    host.advance(Duration::from_secs(3600));
    host.say("an hour later carol opens the board: loaded from the store, sequence continues");
    host.join(
        carol,
        JoinRequest::new(board, "carol", "Carol").last_sequence(3),
    );
    host.mutate(
        carol,
        "c-1",
        vec![Mutation::Delete {
            page: "page-1".into(),
            element: "s3".into(),
        }],
    );

    let stats = host.engine.stats();
    host.say(format!(
        "stats: {} active, {} idle, {} participant(s), {} pending",
        stats.active_sessions,
        stats.idle_sessions,
        stats.total_participants,
        stats.pending_mutations
    ));
    let snaps = &host.store.snapshots[board];
    let listed: Vec<_> = snaps
        .iter()
        .map(|(id, v, by)| format!("{id} (v{v}, {by})"))
        .collect();
    host.say(format!("snapshots stored: {}", listed.join(", ")));

    host.say("the host shuts down: carol is told, the board is archived");
    host.engine.shutdown(host.now);
    host.drain();
    assert!(host.engine.is_drained());
}
