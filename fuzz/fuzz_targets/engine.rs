//! The engine driven by an arbitrary sequence of inputs: joins, leaves,
//! disconnects, mutations (structured and as raw wire frames through
//! `wire::dispatch`), presence, snapshots, flushes, closes, timeouts with a
//! clock that may go back, a shutdown, and storage reports — honest ones
//! from the testkit's store, transient, fenced and invalid failures, wrong
//! outcomes, unknown / duplicate / stale effect ids and malformed loaded
//! boards. User session records are effects in half the runs.
//!
//! After each input: no panic, and cheap invariants hold (each
//! connection's view is gapless, effects are well formed, a board's
//! sequence never goes back while it is in memory, `poll_timeout` has
//! nothing due right after `handle_timeout`, a board is released once per
//! ended session and only with none of its effects outstanding, and
//! `Drained` comes once, when the engine is drained).
#![no_main]

use huddle_wire as wire;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use huddle_testkit::{MemoryStore, Replica};
use huddle_wire::{dispatch, ClientMessage, Identity};
use huddle_core::*;
use huddle_store::reference::ReferenceStore;
use huddle_testkit::invariants::Observer;
use huddle_testkit::{MemoryStore, Replica};
use libfuzzer_sys::fuzz_target;

/// A sequence number: mostly small, sometimes at the edges.
#[derive(Debug, Clone, Copy)]
struct Seq(u64);

impl<'a> Arbitrary<'a> for Seq {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Seq(match u.int_in_range(0u8..=9)? {
            0 => u64::MAX - u64::from(u.arbitrary::<u8>()? % 4),
            1 => i64::MAX as u64 + u64::from(u.arbitrary::<u8>()? % 4) - 1,
            2 => u.arbitrary()?,
            _ => u64::from(u.arbitrary::<u8>()? % 40),
        }))
    }
}

#[derive(Arbitrary, Debug)]
enum Mut {
    Upsert {
        page: u8,
        element: u8,
        data: Data,
    },
    Delete {
        page: u8,
        element: u8,
    },
    Raw {
        page: String,
        element: String,
        data: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
enum Data {
    Num(u16),
    Str(u8),
    Big(u16),
    Empty,
}

impl Mut {
    fn build(&self) -> Mutation {
        let id = |p: u8| format!("p{}", p % 4);
        let el = |e: u8| format!("e{}", e % 8);
        match self {
            Mut::Upsert {
                page,
                element,
                data,
            } => Mutation::Upsert {
                page: id(*page).into(),
                element: el(*element).into(),
                data: match data {
                    Data::Num(n) => Payload::from(format!("{{\"x\":{n}}}").as_str()),
                    Data::Str(n) => {
                        Payload::from(format!("\"{}\"", "s".repeat(usize::from(*n))).as_str())
                    }
                    Data::Big(n) => Payload::from(vec![b'1'; usize::from(*n) * 8]),
                    Data::Empty => Payload::default(),
                },
            },
            Mut::Delete { page, element } => Mutation::Delete {
                page: id(*page).into(),
                element: el(*element).into(),
            },
            Mut::Raw {
                page,
                element,
                data,
            } => Mutation::Upsert {
                page: page.as_str().into(),
                element: element.as_str().into(),
                data: Payload::from(data.clone()),
            },
        }
    }
}

/// A loaded board as a broken or hostile store could return it.
#[derive(Arbitrary, Debug)]
struct ArbLoaded {
    persistent: Option<bool>,
    pages: Vec<(u8, u8, u16)>,
    pages_sequence: Seq,
    first_seq: Seq,
    events: Vec<(u8, u8, Option<Mut>)>,
    /// Index of an event whose sequence is replaced (a hole or a repeat).
    bend: Option<(u8, Seq)>,
    snapshot_count: u16,
    last_snapshot_version: Option<Seq>,
    batches: Vec<(u8, u8, Seq)>,
}

impl ArbLoaded {
    fn build(&self, at: Timestamp) -> LoadedBoard {
        let mut events: Vec<Event> = self
            .events
            .iter()
            .take(64)
            .enumerate()
            .map(|(i, (user, batch, m))| Event {
                seq: self.first_seq.0.wrapping_add(i as u64),
                author: format!("u{}", user % 4).into(),
                batch: format!("b{}", batch % 8).into(),
                at,
                mutation: m.as_ref().map_or(
                    Mutation::Delete {
                        page: "p0".into(),
                        element: "e0".into(),
                    },
                    Mut::build,
                ),
            })
            .collect();
        if let Some((i, seq)) = self.bend {
            if let Some(e) = events.get_mut(usize::from(i)) {
                e.seq = seq.0;
            }
        }
        LoadedBoard {
            session_type: self.persistent.map(|p| {
                if p {
                    SessionType::Persistent
                } else {
                    SessionType::Ephemeral
                }
            }),
            pages: Pages::from_elements(self.pages.iter().take(32).map(|(p, e, d)| {
                (
                    format!("p{}", p % 4).into(),
                    format!("e{}", e % 8).into(),
                    Payload::from(d.to_string().as_str()),
                )
            })),
            pages_sequence: self.pages_sequence.0,
            events,
            snapshot_count: usize::from(self.snapshot_count),
            last_snapshot_version: self.last_snapshot_version.map(|s| s.0),
            batches: self
                .batches
                .iter()
                .take(16)
                .map(|(u, b, s)| BatchRecord {
                    user: format!("u{}", u % 4).into(),
                    batch: format!("b{}", b % 8).into(),
                    last_seq: s.0,
                })
                .collect(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Report {
    /// What the testkit's store does with it.
    Honest,
    Failed,
    Stored,
    NotFound,
    SnapshotStored,
    Loaded(Box<ArbLoaded>),
    /// The honest load, then one thing broken in it.
    Mangled(Mangle),
    /// Another owner holds the board.
    Fenced,
    /// Invalid request or corrupt data.
    Invalid,
}

#[derive(Arbitrary, Debug)]
enum Mangle {
    DropEvent(u8),
    DuplicateEvent(u8),
    ShiftSequences(Seq),
    PagesSequence(Seq),
    Truncate(u8),
    BatchAt(Seq),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Join {
        conn: u8,
        board: u8,
        user: u8,
        /// `None`: full sync; `Some(None)`: the replica's own sequence.
        last: Option<Option<Seq>>,
        persistent: Option<bool>,
    },
    JoinRaw {
        conn: u8,
        board: String,
        user: String,
        name: String,
    },
    Mutate {
        conn: u8,
        batch: u8,
        mutations: Vec<Mut>,
    },
    Frame {
        conn: u8,
        user: u8,
        frame: Vec<u8>,
    },
    Leave(u8),
    Disconnect(u8),
    Ping(u8),
    Cursor {
        conn: u8,
        x: f64,
        y: f64,
    },
    Snapshot(u8),
    Flush(u8),
    Close(u8),
    Advance(u32),
    AdvanceLong(u16),
    Back(u32),
    ToDeadline,
    Timeout,
    /// Reports an outstanding effect (chosen by index).
    Report {
        pick: u8,
        report: Report,
    },
    /// Reports every outstanding effect honestly, oldest first.
    ReportAll,
    /// Reports an effect id the engine never made, or one already reported.
    ReportRaw {
        id: Seq,
        report: Report,
    },
    Reconfirm {
        pick: u8,
        report: Report,
    },
    /// Forgets the engine: a restart on the same store.
    Crash,
    /// `Engine::shutdown`.
    Shutdown,
}

#[derive(Arbitrary, Debug)]
struct Input {
    small: bool,
    ack_on_apply: bool,
    least_used: bool,
    strict_store: bool,
    /// `appends_in_flight` is 1 + this % 4: reports in any order then
    /// exercise overtaking confirmations and gaps refused. Bit 4 switches
    /// user session records on (`Config::store_user_sessions`).
    pipeline: u8,
    ops: Vec<Op>,
}

fn config(input: &Input) -> Config {
    let mut c = Config::default();
    if input.small {
        c.delta_threshold = 8;
        c.history_len = 8;
        c.snapshot_retention = 2;
        c.flush_threshold = 4;
        c.dedup_window = 4;
        c.limits.max_payload_bytes = 512;
        c.limits.max_batch_len = 6;
        c.limits.max_pending_per_board = 24;
        c.limits.max_participants = 3;
        c.limits.max_id_bytes = 16;
        c.limits.max_display_name_bytes = 16;
    }
    if input.ack_on_apply {
        c.durability = Durability::AckOnApply;
    }
    if input.least_used {
        c.color_policy = ColorPolicy::LeastUsed;
    }
    c.appends_in_flight = 1 + usize::from(input.pipeline % 4);
    c.store_user_sessions = input.pipeline & 0x10 != 0;
    c
}

struct Host {
    engine: Engine,
    config: Config,
    store: MemoryStore,
    now: Timestamp,
    /// The latest `now` given to the engine (its clock).
    clock: Cell<Timestamp>,
    outstanding: Vec<Effect>,
    reported: Vec<EffectId>,
    replicas: HashMap<ConnId, Replica>,
    /// (conn, batch) -> length of the first accepted batch with that id.
    batches: HashMap<(ConnId, BatchId), u64>,
    users: HashMap<ConnId, UserId>,
    sequences: HashMap<BoardId, u64>,
    restarts: u64,
    /// Every event the engine asked to append, while the store is honest.
    appended: HashMap<(BoardId, u64), Event>,
    /// A report lied about the store (stored what it did not, or loaded a
    /// board it does not hold): from then on the engine may legitimately
    /// reuse sequences the store never got.
    tainted: bool,
    /// The input gave the engine element data that is not JSON.
    opaque_data: bool,
    /// Boards whose session ended and is not yet released.
    unreleased: HashSet<BoardId>,
    /// Of those, the ones that ended without storing everything (fenced or
    /// refused): on release the store is what counts again.
    aborted: HashSet<BoardId>,
    /// `Drained` was seen.
    drained: bool,
    /// The invariants shared with the property tests and the simulator;
    /// those that compare with the store only while it is honest.
    inv: Observer,
}

impl Host {
    fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Notify { conn, notice } => self.deliver(conn, &notice),
                Output::Broadcast { conns, notice } => {
                    assert!(!conns.is_empty(), "a broadcast without recipients");
                    for conn in conns {
                        self.deliver(conn, &notice);
                    }
                }
                Output::Effect(effect) => {
                    let empty = ReferenceStore::new();
                    let model = if self.tainted {
                        &empty
                    } else {
                        self.store.model()
                    };
                    if let Err(e) = self.inv.effect(&effect, model) {
                        panic!("{e}");
                    }
                    self.check_reuse(&effect);
                    self.outstanding.push(effect);
                }
                Output::Signal(event @ Signal::StateChanged { .. }) => {
                    if let Err(e) = self.inv.event(&event) {
                        panic!("{e}");
                    }
                }
                Output::Signal(event @ Signal::SessionEnded { .. }) => {
                    if let Err(e) = self.inv.event(&event) {
                        panic!("{e}");
                    }
                    let Signal::SessionEnded { board, reason } = event else {
                        continue;
                    };
                    // With an honest store a board's sequence never goes
                    // back, also across archive and reload; a lying one
                    // may hand back less, and so may a session that ended
                    // without storing everything.
                    let aborted = matches!(reason, SessionEnd::Fenced | SessionEnd::WriteFailed(_));
                    if self.tainted || aborted {
                        self.sequences.remove(&board);
                    }
                    if aborted {
                        self.aborted.insert(board.clone());
                    }
                    assert!(
                        self.unreleased.insert(board.clone()),
                        "{board} ended twice before a release"
                    );
                }
                Output::Signal(_) => {}
                Output::Released { board } => {
                    assert!(
                        self.unreleased.remove(&board),
                        "{board} released without an ended session"
                    );
                    assert!(
                        self.outstanding.iter().all(|e| *e.board() != board),
                        "{board} released with an effect outstanding"
                    );
                    if self.aborted.remove(&board) {
                        // Appends the ended session never got stored may be
                        // reused by the next one: keep what the store holds.
                        self.appended.retain(|(b, _), _| *b != board);
                        if let Some(stored) = self.store.boards().get(&board) {
                            for e in &stored.events {
                                self.appended.insert((board.clone(), e.seq), e.clone());
                            }
                        }
                    }
                }
                Output::Drained => {
                    assert!(!self.drained, "drained twice");
                    assert!(self.engine.is_drained());
                    assert!(self.outstanding.is_empty());
                    self.drained = true;
                }
            }
        }
        self.check_sessions();
    }

    /// A notice for one connection: the shared invariants (while the
    /// store is honest), then this target's own checks.
    fn deliver(&mut self, conn: ConnId, notice: &Notice) {
        if !self.tainted {
            let len = match notice {
                Notice::Ack { batch, .. } => self.batches.get(&(conn, batch.clone())).copied(),
                _ => None,
            };
            let model = self.store.model();
            if let Err(e) = self.inv.notice(conn, notice, &self.engine, model, len) {
                panic!("{e}");
            }
        }
        self.check_notice(conn, notice);
    }

    fn check_notice(&mut self, conn: ConnId, notice: &Notice) {
        // Every notice can be encoded for the wire and decoded by a client,
        // unless the input gave the engine element data that is not JSON:
        // data is opaque to the engine, and the JSON encoder writes it
        // verbatim (it refuses only empty or non-UTF-8 data), so such data
        // makes a frame that fails or that no client can decode.
        match wire::encode_notice(notice) {
            Ok(frame) => {
                let decoded = wire::ServerMessage::from_json(&frame);
                assert!(
                    decoded.is_ok() || self.opaque_data,
                    "client cannot decode {}: {decoded:?}",
                    String::from_utf8_lossy(&frame)
                );
            }
            Err(e) => assert!(self.opaque_data, "{notice:?} does not encode: {e}"),
        }
        if let Notice::SessionClosed { reason, .. } = notice {
            if reason.reconnect() {
                // The client reconnects and re-syncs from scratch.
                self.replicas.remove(&conn);
                return;
            }
        }
        let replica = self.replicas.entry(conn).or_default();
        match notice {
            Notice::Ack { batch, sequence } => {
                let len = self.batches.get(&(conn, batch.clone())).copied();
                match (replica.sequence, len) {
                    // A repeated batch is answered with its old sequence.
                    (Some(cur), _) if *sequence <= cur => {}
                    (Some(cur), Some(len)) => {
                        assert_eq!(
                            cur + len,
                            *sequence,
                            "ack of {batch} (len {len}) does not follow {cur}"
                        );
                        replica.sequence = Some(*sequence);
                    }
                    _ => {}
                }
            }
            _ => {
                if let Err(e) = replica.apply(notice) {
                    panic!("conn {conn:?}: {e} at {notice:?}");
                }
            }
        }
    }

    fn check_sessions(&mut self) {
        if !self.tainted {
            if let Err(e) = self.inv.state(&self.engine, self.store.model()) {
                panic!("{e}");
            }
        }
        let boards: Vec<BoardId> = self.engine.boards().cloned().collect();
        for b in boards {
            let Some(info) = self.engine.session(b.as_str()) else {
                continue;
            };
            assert!(info.flushed_sequence <= info.sequence.max(info.durable_sequence));
            if !info.loading {
                let seen = self.sequences.entry(b.clone()).or_insert(info.sequence);
                assert!(
                    info.sequence >= *seen,
                    "{b}: sequence went back from {seen} to {}",
                    info.sequence
                );
                *seen = info.sequence;
            }
        }
        let _ = self.engine.stats();
    }

    /// A sequence is never reused: an append of a sequence appended before
    /// is a retry of the same event.
    fn check_reuse(&mut self, effect: &Effect) {
        let Effect::AppendEvents { board, events, .. } = effect else {
            return;
        };
        if self.tainted {
            return;
        }
        for e in events.iter() {
            match self.appended.get(&(board.clone(), e.seq)) {
                Some(prev) => assert_eq!(prev, e, "{board}: sequence {} reused", e.seq),
                None => {
                    self.appended.insert((board.clone(), e.seq), e.clone());
                }
            }
        }
    }

    fn taint(&mut self, report: &Report) {
        if !matches!(
            report,
            Report::Honest
                | Report::Failed
                | Report::Fenced
                | Report::Invalid
                | Report::SnapshotStored
                | Report::NotFound
        ) {
            self.tainted = true;
        }
    }

    fn conn(&self, c: u8) -> ConnId {
        ConnId(u64::from(c % 6))
    }

    fn report(&mut self, effect: &Effect, report: &Report) -> StorageOutcome {
        match report {
            Report::Honest => self.store.perform(effect, self.now),
            Report::Failed => StorageOutcome::transient("fuzz"),
            Report::Fenced => StorageOutcome::fenced("fuzz"),
            Report::Invalid => StorageOutcome::invalid("fuzz"),
            Report::Stored => StorageOutcome::Stored,
            Report::NotFound => StorageOutcome::NotFound,
            Report::SnapshotStored => StorageOutcome::SnapshotStored("s".into()),
            Report::Loaded(l) => StorageOutcome::Loaded(Box::new(l.build(self.now))),
            Report::Mangled(m) => {
                let honest = match effect {
                    Effect::LoadBoard { .. } => self.store.perform(effect, self.now),
                    _ => StorageOutcome::Loaded(Box::default()),
                };
                let StorageOutcome::Loaded(mut l) = honest else {
                    return honest;
                };
                match *m {
                    Mangle::DropEvent(i) => {
                        if !l.events.is_empty() {
                            let i = usize::from(i) % l.events.len();
                            l.events.remove(i);
                        }
                    }
                    Mangle::DuplicateEvent(i) => {
                        if !l.events.is_empty() {
                            let i = usize::from(i) % l.events.len();
                            let e = l.events[i].clone();
                            l.events.insert(i, e);
                        }
                    }
                    Mangle::ShiftSequences(s) => {
                        for e in &mut l.events {
                            e.seq = e.seq.wrapping_add(s.0);
                        }
                    }
                    Mangle::PagesSequence(s) => l.pages_sequence = s.0,
                    Mangle::Truncate(n) => l.events.truncate(usize::from(n)),
                    Mangle::BatchAt(s) => l.batches.push(BatchRecord {
                        user: "u0".into(),
                        batch: "b0".into(),
                        last_seq: s.0,
                    }),
                }
                StorageOutcome::Loaded(l)
            }
        }
    }

    /// Reports `effect`; a refused report (an outcome that does not fit)
    /// leaves it outstanding.
    fn confirm(&mut self, index: usize, effect: Effect, report: &Report) {
        let outcome = self.report(&effect, report);
        let fits = matches!(
            (&effect, &outcome),
            (
                Effect::LoadBoard { .. },
                StorageOutcome::Loaded(_) | StorageOutcome::NotFound | StorageOutcome::Failed(_)
            ) | (
                Effect::AppendEvents { .. }
                    | Effect::Flush { .. }
                    | Effect::PruneSnapshots { .. }
                    | Effect::StoreUserSession { .. },
                StorageOutcome::Stored | StorageOutcome::Failed(_)
            ) | (
                Effect::StoreSnapshot { .. },
                StorageOutcome::SnapshotStored(_) | StorageOutcome::Failed(_)
            )
        );
        let id = effect.id();
        let r = self.engine.handle_storage(self.t(), id, outcome);
        assert_eq!(r.is_ok(), fits, "report of {effect:?}: {r:?}");
        if r.is_ok() {
            self.taint(report);
            self.reported.push(id);
            if self.reported.len() > 64 {
                self.reported.remove(0);
            }
        } else {
            self.outstanding.insert(index, effect);
        }
    }

    /// `now`, for a call to the engine (which ticks its clock).
    fn t(&self) -> Timestamp {
        self.clock.set(self.clock.get().max(self.now));
        self.now
    }

    fn timeout(&mut self) {
        self.engine.handle_timeout(self.t());
        self.drain();
        if let Some(next) = self.engine.poll_timeout() {
            // Nothing may stay due: a host loop would spin.
            // (The engine's clock never goes back: after `Back` it is ahead of `now`.)
            assert!(
                next > self.clock.get(),
                "deadline {next:?} still due after handle_timeout at {:?}",
                self.clock.get()
            );
        }
    }

    fn step(&mut self, op: &Op) {
        self.opaque_data |= op_has_opaque_data(op);
        match op {
            Op::Join {
                conn,
                board,
                user,
                last,
                persistent,
            } => {
                let conn = self.conn(*conn);
                let user: UserId = format!("u{}", user % 4).into();
                let mut req = JoinRequest::new(format!("b{}", board % 3), user.clone(), "N");
                let current = self.replicas.get(&conn).and_then(|r| r.sequence);
                let from = match last {
                    None => None,
                    Some(None) => current,
                    Some(Some(s)) => Some(s.0),
                };
                if let Some(s) = from {
                    req = req.last_sequence(s);
                }
                if let Some(p) = persistent {
                    req = req.session_type(if *p {
                        SessionType::Persistent
                    } else {
                        SessionType::Ephemeral
                    });
                }
                if self.engine.join(self.t(), conn, req).is_ok() {
                    self.inv.join_requested(conn, from);
                    self.users.insert(conn, user);
                    self.replicas.entry(conn).or_default().sequence = from;
                }
            }
            Op::JoinRaw {
                conn,
                board,
                user,
                name,
            } => {
                let conn = self.conn(*conn);
                let req = JoinRequest::new(board.as_str(), user.as_str(), name);
                if self.engine.join(self.t(), conn, req).is_ok() {
                    self.inv.join_requested(conn, None);
                    self.users.insert(conn, user.as_str().into());
                    self.replicas.insert(conn, Replica::default());
                }
            }
            Op::Mutate {
                conn,
                batch,
                mutations,
            } => {
                let conn = self.conn(*conn);
                let batch = BatchId::from(format!("b{}", batch % 8));
                let mutations: Vec<Mutation> = mutations.iter().take(10).map(Mut::build).collect();
                let len = mutations.len() as u64;
                if let Ok(a) = self
                    .engine
                    .apply_mutations(self.t(), conn, batch.clone(), mutations)
                {
                    if !a.duplicate {
                        self.batches.insert((conn, batch), len);
                    }
                }
            }
            Op::Frame { conn, user, frame } => {
                let conn = self.conn(*conn);
                let identity = Identity {
                    user: self
                        .users
                        .get(&conn)
                        .cloned()
                        .unwrap_or_else(|| format!("u{}", user % 4).into()),
                    display_name: "F".into(),
                    board: None,
                    session_type: None,
                };
                if let Ok(msg) = ClientMessage::from_json(frame) {
                    let (mutate, join) = match &msg {
                        ClientMessage::Mutate { batch, mutations } => {
                            (Some((batch.clone(), mutations.len() as u64)), None)
                        }
                        ClientMessage::Join { last_sequence, .. } => (None, Some(*last_sequence)),
                        _ => (None, None),
                    };
                    let now = self.t();
                    let reply = dispatch(&mut self.engine, now, conn, &identity, msg);
                    if reply.is_none() {
                        if let Some((batch, len)) = mutate {
                            self.batches.entry((conn, batch)).or_insert(len);
                        }
                        if let Some(from) = join {
                            self.inv.join_requested(conn, from);
                            self.users.insert(conn, identity.user.clone());
                            self.replicas.entry(conn).or_default().sequence = from;
                        }
                    }
                    if let Some(reply) = reply {
                        let json = reply.to_json().expect("a reply encodes");
                        wire::ServerMessage::from_json(json.as_bytes()).expect("a reply decodes");
                    }
                }
            }
            Op::Leave(c) => {
                let _ = self.engine.leave(self.t(), self.conn(*c));
            }
            Op::Disconnect(c) => self.engine.disconnect(self.t(), self.conn(*c)),
            Op::Ping(c) => self.engine.ping(self.t(), self.conn(*c)),
            Op::Cursor { conn, x, y } => {
                let _ = self
                    .engine
                    .update_presence(self.t(), self.conn(*conn), *x, *y);
            }
            Op::Snapshot(c) => {
                let _ = self.engine.request_snapshot(self.t(), self.conn(*c));
            }
            Op::Flush(b) => {
                let _ = self.engine.flush_pending(self.t(), &format!("b{}", b % 3));
            }
            Op::Close(b) => {
                let _ = self.engine.close_session(self.t(), &format!("b{}", b % 3));
            }
            Op::Advance(ms) => {
                self.now = self
                    .now
                    .saturating_add(Duration::from_millis(u64::from(*ms)));
                self.timeout();
            }
            Op::AdvanceLong(min) => {
                self.now = self
                    .now
                    .saturating_add(Duration::from_secs(60 * u64::from(*min)));
                self.timeout();
            }
            Op::Back(ms) => {
                self.now = self
                    .now
                    .saturating_sub(Duration::from_millis(u64::from(*ms)));
                self.engine.handle_timeout(self.t());
            }
            Op::ToDeadline => {
                if let Some(d) = self.engine.poll_timeout() {
                    self.now = self.now.max(d);
                    self.timeout();
                }
            }
            Op::Timeout => self.timeout(),
            Op::Report { pick, report } => {
                if self.outstanding.is_empty() {
                    return;
                }
                let index = usize::from(*pick) % self.outstanding.len();
                let effect = self.outstanding.remove(index);
                self.confirm(index, effect, report);
            }
            Op::ReportAll => {
                for _ in 0..64 {
                    if self.outstanding.is_empty() {
                        break;
                    }
                    let effect = self.outstanding.remove(0);
                    let outcome = self.store.perform(&effect, self.now);
                    let r = self.engine.handle_storage(self.t(), effect.id(), outcome);
                    assert!(r.is_ok(), "own effect {effect:?} refused: {r:?}");
                    self.reported.push(effect.id());
                    self.drain();
                }
            }
            Op::ReportRaw { id, report } => {
                let effect = Effect::LoadBoard {
                    id: EffectId(id.0),
                    board: "b0".into(),
                };
                let outcome = self.report(&effect, report);
                let known = self.outstanding.iter().any(|e| e.id() == EffectId(id.0));
                let r = self
                    .engine
                    .handle_storage(self.t(), EffectId(id.0), outcome);
                if !known {
                    assert!(r.is_err(), "report of unknown effect {id:?} accepted");
                } else if r.is_ok() {
                    self.taint(report);
                    self.outstanding.retain(|e| e.id() != EffectId(id.0));
                }
            }
            Op::Reconfirm { pick, report } => {
                if self.reported.is_empty() {
                    return;
                }
                let id = self.reported[usize::from(*pick) % self.reported.len()];
                let effect = Effect::LoadBoard {
                    id,
                    board: "b0".into(),
                };
                let outcome = self.report(&effect, report);
                let r = self.engine.handle_storage(self.t(), id, outcome);
                assert!(r.is_err(), "second report of {id:?} accepted");
            }
            Op::Crash => {
                self.restarts += 1;
                self.engine = Engine::new(self.config.clone(), self.restarts);
                self.clock.set(Timestamp::EPOCH);
                // Appends never reported may be reused by the new engine:
                // keep only what the store holds.
                self.appended = self
                    .store
                    .boards()
                    .iter()
                    .flat_map(|(b, stored)| {
                        stored
                            .events
                            .iter()
                            .map(move |e| ((b.clone(), e.seq), e.clone()))
                    })
                    .collect();
                self.inv.crashed();
                self.outstanding.clear();
                self.reported.clear();
                self.replicas.clear();
                self.batches.clear();
                self.users.clear();
                self.sequences.clear();
                self.unreleased.clear();
                self.aborted.clear();
                self.drained = false;
            }
            Op::Shutdown => self.engine.shutdown(self.t()),
        }
        self.drain();
    }
}

fn mut_is_opaque(m: &Mut) -> bool {
    m.build().data().is_some_and(|d| !wire::is_json(d))
}

fn op_has_opaque_data(op: &Op) -> bool {
    let opaque = |r: &Report| match r {
        Report::Loaded(l) => l
            .events
            .iter()
            .any(|(_, _, m)| m.as_ref().is_some_and(mut_is_opaque)),
        _ => false,
    };
    match op {
        Op::Mutate { mutations, .. } => mutations.iter().take(10).any(mut_is_opaque),
        Op::Report { report, .. } | Op::ReportRaw { report, .. } | Op::Reconfirm { report, .. } => {
            opaque(report)
        }
        _ => false,
    }
}

fuzz_target!(|input: Input| {
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("{input:#?}");
    }
    let config = config(&input);
    let inv = Observer::new(&config);
    let mut store = MemoryStore::default();
    store.strict = input.strict_store;
    let mut host = Host {
        engine: Engine::new(config.clone(), 0),
        config,
        store,
        now: Timestamp::from_millis(1_767_225_600_000),
        clock: Cell::new(Timestamp::EPOCH),
        outstanding: Vec::new(),
        reported: Vec::new(),
        replicas: HashMap::new(),
        batches: HashMap::new(),
        users: HashMap::new(),
        sequences: HashMap::new(),
        restarts: 0,
        appended: HashMap::new(),
        tainted: false,
        opaque_data: false,
        unreleased: HashSet::new(),
        aborted: HashSet::new(),
        drained: false,
        inv,
    };
    for op in input.ops.iter().take(256) {
        host.step(op);
    }
});
