//! One board session (room): its lifecycle, its element state, its log
//! position and the storage work in flight for it.
//!
//! Sequence watermarks, always `flushed_through <= durable`-or-`committed`
//! `<= assigned`:
//! - `assigned`: the last sequence handed to a batch.
//! - `committed`: the last sequence visible to clients (board state,
//!   history, broadcasts, sync). With [`Durability::AckOnStore`] this is
//!   the same as `durable`; with `AckOnApply` it is `assigned`.
//! - `durable`: the last sequence the store confirmed in the event log.
//! - `flushed_through`: the board state in the store is as of this.
//!
//! The pending set holds durable events only: a flush covers
//! `flushed_through + 1 ..= durable`, in either durability mode.

use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};
use smallvec::SmallVec;

use crate::config::{Config, SessionType};
use crate::dedup::{Dedup, Window};
use crate::delta::BatchMeta;
use crate::element_hash::KnownHashes;
use crate::encoded::EncodedEvents;
use crate::history::History;
use crate::ids::{BatchId, BoardId, ConnId, EffectId, UserId};
use crate::mutation::{Event, Mutation};
use crate::output::{ParticipantInfo, SessionState};
use crate::pages::Pages;
use crate::pending::PendingSet;
use crate::pending_bytes::PendingBytes;
use crate::request::JoinRequest;
use crate::storage::{FlushBatch, SnapshotCause};
use crate::time::Timestamp;
use crate::timers::TimerHandle;

/// Where the board's stored state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the previous session of the board to be released (its
    /// last effects reported) before loading: a host must never release
    /// the epoch a new session acquired.
    Waiting,
    /// Waiting for the store's answer to this load.
    Loading(EffectId),
    /// Loaded; serving.
    Ready,
    /// `close_session` was called: finishing storage work, then removed.
    Closing,
}

/// Work towards leaving memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drain {
    /// Idle timeout reached: flush, snapshot (persistent), then archive.
    Archive {
        /// The version of the newest `archive` snapshot stored during this
        /// archive. The session may go only when it equals the final
        /// sequence: a snapshot requested by an earlier, cancelled archive
        /// may be older.
        snapshot_version: Option<u64>,
    },
    /// `close_session`: flush, then remove; `archive_session` also stores
    /// an `archive` snapshot of a persistent session first.
    Close {
        /// Store an `archive` snapshot (persistent sessions only).
        archive: bool,
        /// As in `Archive`: the newest `archive` snapshot stored during
        /// this close.
        snapshot_version: Option<u64>,
    },
}

/// A participant: one user, any number of connections.
#[derive(Debug)]
pub(crate) struct Participant {
    pub(crate) info: ParticipantInfo,
    pub(crate) conns: SmallVec<[ConnId; 2]>,
}

/// A batch whose events are assigned but not yet committed (waiting for
/// the store, in `AckOnStore` mode).
#[derive(Debug)]
pub(crate) struct PendingBatch {
    pub(crate) user: UserId,
    pub(crate) batch: BatchId,
    /// The connection that sent it (gets the `ack`, not the `events`).
    pub(crate) origin: ConnId,
    /// Connections that re-sent it meanwhile; they get the `ack` too.
    pub(crate) waiters: SmallVec<[ConnId; 1]>,
    pub(crate) events: Arc<[Event]>,
    pub(crate) applied_at: Timestamp,
    /// The most this batch can grow the board's payload bytes by, reserved
    /// (`Board::reserved_bytes`) until it is committed.
    pub(crate) growth: usize,
}

impl PendingBatch {
    pub(crate) fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// The event log's write side. Up to `Config::appends_in_flight` appends
/// per board are in flight, issued in sequence order; batches arriving
/// while that many are in flight are queued and go together in the next
/// append (group commit). `durable` advances only over a stored prefix of
/// the appends, so a confirmation that overtakes an earlier one waits.
#[derive(Debug, Default)]
pub(crate) struct AppendLog {
    /// The appends the store is working on, oldest first.
    pub(crate) in_flight: std::collections::VecDeque<InFlightAppend>,
    /// Events of failed appends (and of those issued after them), in
    /// sequence order, waiting for the retry timer.
    pub(crate) failed: Option<Arc<[Event]>>,
    /// Batches' events waiting for the next append.
    pub(crate) queued: Vec<Arc<[Event]>>,
    /// Batches not yet committed (`AckOnStore`), in sequence order.
    pub(crate) batches: std::collections::VecDeque<PendingBatch>,
}

/// One append the store is working on.
#[derive(Debug)]
pub(crate) struct InFlightAppend {
    pub(crate) effect: EffectId,
    pub(crate) events: Arc<[Event]>,
    /// Confirmed, but an earlier append is not yet.
    pub(crate) stored: bool,
}

impl AppendLog {
    /// Nothing assigned is waiting for the store.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.failed.is_none() && self.queued.is_empty()
    }

    /// The store confirmed `effect`: returns the events that became
    /// durable (those of the stored prefix of the appends), oldest first;
    /// none while an earlier append is unconfirmed. `None` if `effect` is
    /// not in flight (any more): the report changes nothing.
    pub(crate) fn stored(&mut self, effect: EffectId) -> Option<Vec<Arc<[Event]>>> {
        self.in_flight
            .iter_mut()
            .find(|a| a.effect == effect)?
            .stored = true;
        let mut durable = Vec::new();
        while self.in_flight.front().is_some_and(|a| a.stored) {
            if let Some(append) = self.in_flight.pop_front() {
                durable.push(append.events);
            }
        }
        Some(durable)
    }

    /// The store failed `effect`: it and every append issued after it
    /// (which a store refuses as a gap, or holds already, which a re-send
    /// accepts) wait for the retry, before what failed earlier. Returns
    /// `false` if `effect` is not in flight (any more).
    pub(crate) fn failed(&mut self, effect: EffectId) -> bool {
        let Some(pos) = self.in_flight.iter().position(|a| a.effect == effect) else {
            return false;
        };
        let tail: Vec<InFlightAppend> = self.in_flight.drain(pos..).collect();
        let events: Arc<[Event]> = tail
            .iter()
            .flat_map(|a| a.events.iter())
            .chain(self.failed.iter().flat_map(|f| f.iter()))
            .cloned()
            .collect();
        self.failed = Some(events);
        true
    }
}

/// A snapshot the store is working on.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotJob {
    pub(crate) effect: EffectId,
    pub(crate) cause: SnapshotCause,
    pub(crate) version: u64,
    pub(crate) created_at: Timestamp,
    /// Who asked (manual snapshots), to tell them if it fails.
    pub(crate) requester: Option<ConnId>,
}

/// A board session.
#[derive(Debug)]
pub(crate) struct Board {
    pub(crate) id: BoardId,
    /// The engine's count of sessions opened when this one opened: the
    /// order [`crate::Engine::boards`] lists them in (the board table
    /// itself is unordered after removals, which are O(1)).
    pub(crate) opened: u64,
    pub(crate) kind: SessionType,
    pub(crate) state: SessionState,
    pub(crate) phase: Phase,
    pub(crate) created_at: Timestamp,
    pub(crate) idle_since: Option<Timestamp>,
    pub(crate) last_flush: Option<Timestamp>,

    pub(crate) pages: Pages,
    /// The index in `pages` of the page touched last.
    pub(crate) page_hint: usize,
    /// Payload bytes of the board's elements (`Limits::max_board_bytes`),
    /// kept by every commit.
    pub(crate) payload_bytes: usize,
    /// The most the batches accepted but not yet committed can add to
    /// `payload_bytes` (`AckOnStore`): the board cap counts them.
    pub(crate) reserved_bytes: usize,
    /// Payload bytes accepted and not yet flushed.
    pub(crate) pending_bytes: PendingBytes,
    /// Automatic snapshots not taken because the board was larger than
    /// `Limits::max_snapshot_bytes`.
    pub(crate) snapshots_skipped: u64,
    pub(crate) assigned: u64,
    pub(crate) committed: u64,
    pub(crate) durable: u64,
    pub(crate) flushed_through: u64,
    pub(crate) history: History,
    pub(crate) pending: PendingSet,
    pub(crate) flush: Option<(EffectId, Arc<FlushBatch>)>,
    /// A flush is wanted as soon as the one in flight, or the retry
    /// delay after a failure, is over.
    pub(crate) flush_wanted: bool,
    pub(crate) log: AppendLog,
    pub(crate) dedup: Dedup,

    pub(crate) participants: IndexMap<UserId, Participant>,
    /// Live connections, in join order: the broadcast list.
    pub(crate) conns: IndexSet<ConnId>,
    /// Joins waiting for the load (or for a close to finish).
    pub(crate) waiting_joins: Vec<(ConnId, JoinRequest)>,

    pub(crate) snapshot_count: usize,
    pub(crate) snapshot_stored_version: Option<u64>,
    pub(crate) snapshot_jobs: SmallVec<[SnapshotJob; 1]>,
    /// When the last manual snapshot was taken (its minimum interval).
    pub(crate) manual_snapshot_at: Option<Timestamp>,
    pub(crate) prune: Option<EffectId>,

    pub(crate) idle_timer: Option<TimerHandle>,
    pub(crate) autosave_timer: Option<TimerHandle>,
    pub(crate) retry_timer: Option<TimerHandle>,
    pub(crate) failures: u32,
    pub(crate) drain: Option<Drain>,
    /// User session records being written (`Config::store_user_sessions`).
    pub(crate) records: crate::engine::RecordWrites,
}

impl Board {
    pub(crate) fn new(
        id: BoardId,
        opened: u64,
        kind: SessionType,
        phase: Phase,
        now: Timestamp,
        config: &Config,
    ) -> Self {
        let pages = Pages::new();
        let pending = PendingSet::new(pages.hasher().clone());
        Board {
            id,
            opened,
            kind,
            state: SessionState::Created,
            phase,
            created_at: now,
            idle_since: None,
            last_flush: None,
            pages,
            page_hint: 0,
            payload_bytes: 0,
            reserved_bytes: 0,
            pending_bytes: PendingBytes::default(),
            snapshots_skipped: 0,
            assigned: 0,
            committed: 0,
            durable: 0,
            flushed_through: 0,
            history: History::new(config.history_len, config.limits.max_history_bytes),
            pending,
            flush: None,
            flush_wanted: false,
            log: AppendLog::default(),
            dedup: Dedup::new(Window {
                per_user: config.dedup_window,
                max_age: config.dedup_max_age,
                max_bytes: config.dedup_max_bytes,
            }),
            participants: IndexMap::new(),
            conns: IndexSet::new(),
            waiting_joins: Vec::new(),
            snapshot_count: 0,
            snapshot_stored_version: None,
            snapshot_jobs: SmallVec::new(),
            manual_snapshot_at: None,
            prune: None,
            idle_timer: None,
            autosave_timer: None,
            retry_timer: None,
            failures: 0,
            drain: None,
            records: Default::default(),
        }
    }

    /// Makes committed events visible: board state and history. (The
    /// pending set records events when they are durable, so that a flush
    /// never gets ahead of the stored log.) `events` are one batch's as a
    /// rule: the history holds each run of one batch as one chunk, with
    /// the board state's ids.
    /// Returns the place for the encoding of `events`, shared with the
    /// history's chunk when they are one run (one batch's, as broadcasts
    /// are), for their broadcast ([`crate::CommittedEvents`]).
    pub(crate) fn commit(&mut self, events: &[Event]) -> Arc<EncodedEvents> {
        self.commit_known(events, None)
    }

    /// [`commit`](Self::commit) with the element hashes already computed
    /// for (some of) the events, used where their hasher is the board
    /// state's.
    pub(crate) fn commit_known(
        &mut self,
        events: &[Event],
        known: Option<&KnownHashes>,
    ) -> Arc<EncodedEvents> {
        // Hashes by another hasher than the board state's are not used.
        let known = known.filter(|k| k.hasher().same(self.pages.hasher()));
        let (mut encoded, mut runs) = (None, 0usize);
        for run in events.chunk_by(BatchMeta::continues) {
            runs += 1;
            let Some(first) = run.first() else {
                continue;
            };
            let (mut pages, hint, bytes) = (
                self.pages.writer(),
                &mut self.page_hint,
                &mut self.payload_bytes,
            );
            // One allocation: a mapped slice iterator has an exact length.
            let mutations: Arc<[Mutation]> = run
                .iter()
                .map(|event| {
                    let hash = known.and_then(|k| k.get(event.seq));
                    let (delta, page, element) = pages.apply_shared(&event.mutation, hint, hash);
                    *bytes = bytes.saturating_add_signed(delta);
                    match event.mutation.data() {
                        Some(data) => Mutation::Upsert {
                            page,
                            element,
                            data: data.clone(),
                        },
                        None => Mutation::Delete { page, element },
                    }
                })
                .collect();
            let place = Arc::new(EncodedEvents::new());
            self.history.push(first, mutations, place.clone());
            encoded = Some(place);
        }
        if let Some(last) = events.last() {
            self.committed = last.seq;
        }
        // The place is the broadcast's only if it encodes all `events`:
        // one run (every batch is; several would each have their own).
        match encoded {
            Some(place) if runs == 1 => place,
            _ => Arc::default(),
        }
    }

    /// Mutations accepted but not yet in a confirmed flush (backpressure).
    pub(crate) fn pending_mutations(&self) -> u64 {
        self.assigned.saturating_sub(self.flushed_through)
    }

    /// The oldest `last_sequence` that still gets a delta.
    pub(crate) fn history_from(&self, delta_threshold: u64) -> u64 {
        let oldest_held = self
            .history
            .first_seq()
            .map_or(self.committed, |s| s.saturating_sub(1));
        oldest_held.max(
            self.committed
                .saturating_sub(delta_threshold.saturating_sub(1)),
        )
    }

    /// Whether the board changed since the newest stored or requested
    /// snapshot.
    pub(crate) fn changed_since_snapshot(&self) -> bool {
        match self.newest_snapshot_version() {
            Some(v) => self.committed > v,
            None => self.committed > 0,
        }
    }

    /// The version of the newest stored or requested snapshot.
    pub(crate) fn newest_snapshot_version(&self) -> Option<u64> {
        self.snapshot_jobs
            .iter()
            .map(|j| j.version)
            .chain(self.snapshot_stored_version)
            .max()
    }

    /// Participants as the wire lists them.
    pub(crate) fn participant_infos(&self) -> Vec<ParticipantInfo> {
        self.participants.values().map(|p| p.info.clone()).collect()
    }

    /// Every live connection but `except`, in join order.
    pub(crate) fn others(&self, except: Option<ConnId>) -> impl Iterator<Item = ConnId> + '_ {
        self.conns
            .iter()
            .copied()
            .filter(move |c| Some(*c) != except)
    }
}
