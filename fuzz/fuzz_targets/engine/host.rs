//! The host that drives the engine: it owns the engine, the testkit's
//! store behind it and the clock, performs each operation of the input,
//! drains the engine's outputs (notices to connections, effects for the
//! store, signals, releases, `Drained`) and keeps what the checks compare
//! with: each connection's replica, accepted batches, sequences seen,
//! appended events, outstanding and reported effects, and whether a report
//! lied about the store (`tainted`).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use huddle_core::*;
use huddle_store::reference::ReferenceStore;
use huddle_testkit::invariants::Observer;
use huddle_testkit::{MemoryStore, Replica};
use huddle_wire as wire;
use huddle_wire::{dispatch, ClientMessage, Identity};

use crate::input::{op_has_opaque_data, Mut, Op};

pub(crate) struct Host {
    pub(crate) engine: Engine,
    pub(crate) config: Config,
    pub(crate) store: MemoryStore,
    pub(crate) now: Timestamp,
    /// The latest `now` given to the engine (its clock).
    pub(crate) clock: Cell<Timestamp>,
    pub(crate) outstanding: Vec<Effect>,
    pub(crate) reported: Vec<EffectId>,
    pub(crate) replicas: HashMap<ConnId, Replica>,
    /// (conn, batch) -> length of the first accepted batch with that id.
    pub(crate) batches: HashMap<(ConnId, BatchId), u64>,
    pub(crate) users: HashMap<ConnId, UserId>,
    pub(crate) sequences: HashMap<BoardId, u64>,
    pub(crate) restarts: u64,
    /// Every event the engine asked to append, while the store is honest.
    pub(crate) appended: HashMap<(BoardId, u64), Event>,
    /// A report lied about the store (stored what it did not, or loaded a
    /// board it does not hold): from then on the engine may legitimately
    /// reuse sequences the store never got.
    pub(crate) tainted: bool,
    /// The input gave the engine element data that is not JSON.
    pub(crate) opaque_data: bool,
    /// Boards whose session ended and is not yet released.
    pub(crate) unreleased: HashSet<BoardId>,
    /// Of those, the ones that ended without storing everything (fenced or
    /// refused): on release the store is what counts again.
    pub(crate) aborted: HashSet<BoardId>,
    /// `Drained` was seen.
    pub(crate) drained: bool,
    /// The invariants shared with the property tests and the simulator;
    /// those that compare with the store only while it is honest.
    pub(crate) inv: Observer,
}

impl Host {
    pub(crate) fn drain(&mut self) {
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
    pub(crate) fn deliver(&mut self, conn: ConnId, notice: &Notice) {
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

    pub(crate) fn conn(&self, c: u8) -> ConnId {
        ConnId(u64::from(c % 6))
    }

    /// `now`, for a call to the engine (which ticks its clock).
    pub(crate) fn t(&self) -> Timestamp {
        self.clock.set(self.clock.get().max(self.now));
        self.now
    }

    pub(crate) fn timeout(&mut self) {
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

    pub(crate) fn step(&mut self, op: &Op) {
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
                let user = self
                    .users
                    .get(&conn)
                    .cloned()
                    .unwrap_or_else(|| format!("u{}", user % 4).into());
                let identity = Identity::new(user, "F");
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
