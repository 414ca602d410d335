//! The engine: every board session and user session of one host, driven by
//! `handle_*` inputs and drained through `poll_*` outputs.

mod drain;
mod flush;
mod id_map;
pub(crate) mod join;
mod lifecycle;
mod load;
mod mutate;
pub use mutate::Accepted;
mod presence;
mod records;
pub(crate) use records::RecordWrites;
mod report;
mod retry;
mod snapshot;
mod timeout;

use std::collections::{HashMap, VecDeque};

use indexmap::IndexMap;

use self::id_map::IdMap;
use crate::board::{Board, Phase};
use crate::config::{Config, SessionType};
use crate::ids::{BoardId, ConnId, EffectId, UserSessionId};
use crate::output::{Notice, Output, ParticipantInfo, Recipients, SessionState, Signal};
use crate::pages::Pages;
use crate::stats::Stats;
use crate::storage::Effect;
use crate::time::Timestamp;
use crate::timers::{TimerHandle, Timers};
use crate::user_session::UserSessionRecord;

/// What an outstanding effect was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EffectKind {
    Load,
    Append,
    Flush,
    Snapshot,
    Prune,
    Record,
}

/// An outstanding effect: its board, what it is for, and the board session
/// it was issued for (the session's `opened` number).
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) board: BoardId,
    pub(crate) kind: EffectKind,
    pub(crate) session: u64,
}

/// The output side shared by all boards: the output queue, the timer table
/// and the outstanding effects.
///
/// Effects are counted per board session, so that the engine can tell the
/// host when the last effect of an ended session has been reported
/// ([`Output::Released`]): `ended` holds the sessions that ended with
/// effects still outstanding (at most one per board: a new session of the
/// board waits for the old one's release before it loads).
#[derive(Debug, Default)]
pub(crate) struct Io {
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) timers: Timers,
    pub(crate) effects: IdMap<EffectId, Issued>,
    /// Outstanding effects per board session (absent: none).
    pub(crate) outstanding: IdMap<u64, usize>,
    /// Ended sessions waiting for their outstanding effects, by board.
    pub(crate) ended: HashMap<BoardId, u64>,
    next_effect: u64,
}

impl Io {
    pub(crate) fn notify(&mut self, conn: ConnId, notice: Notice) {
        self.outputs.push_back(Output::Notify { conn, notice });
    }

    /// One notice for several connections, as one output (none when there
    /// is no recipient). It takes the place the per-connection notices
    /// had, so each recipient sees its notices in the same order.
    #[inline]
    pub(crate) fn broadcast(&mut self, conns: impl IntoIterator<Item = ConnId>, notice: Notice) {
        // No recipients (a board of one): nothing to collect.
        let mut conns = conns.into_iter().peekable();
        if conns.peek().is_none() {
            return;
        }
        let conns: Recipients = conns.collect();
        self.outputs.push_back(Output::Broadcast { conns, notice });
    }

    /// Tells a connection that its join, which had to wait, failed.
    pub(crate) fn join_failed(
        &mut self,
        conn: ConnId,
        board: BoardId,
        error: &crate::error::JoinError,
    ) {
        let notice = Notice::JoinFailed {
            board,
            code: error.code(),
            message: error.to_string(),
        };
        self.notify(conn, notice);
    }

    pub(crate) fn signal(&mut self, signal: Signal) {
        self.outputs.push_back(Output::Signal(signal));
    }

    /// Emits an effect of board session `session` built around a fresh id
    /// and remembers it.
    pub(crate) fn effect(
        &mut self,
        board: &BoardId,
        session: u64,
        kind: EffectKind,
        build: impl FnOnce(EffectId) -> Effect,
    ) -> EffectId {
        self.next_effect += 1;
        let id = EffectId(self.next_effect);
        self.effects.insert(
            id,
            Issued {
                board: board.clone(),
                kind,
                session,
            },
        );
        *self.outstanding.entry(session).or_default() += 1;
        self.outputs.push_back(Output::Effect(build(id)));
        id
    }

    /// Forgets a reported effect; returns what it was issued for.
    pub(crate) fn reported(&mut self, effect: EffectId) -> Option<Issued> {
        let issued = self.effects.remove(&effect)?;
        if let Some(n) = self.outstanding.get_mut(&issued.session) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.outstanding.remove(&issued.session);
            }
        }
        Some(issued)
    }

    /// Effects of a board session not yet reported.
    pub(crate) fn outstanding(&self, session: u64) -> usize {
        self.outstanding.get(&session).copied().unwrap_or(0)
    }
}

/// The cursor throttle of one user session.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    pub(crate) last_sent: Option<Timestamp>,
    pub(crate) pending: Option<(f64, f64)>,
    pub(crate) timer: Option<TimerHandle>,
}

/// A live user session on a connection.
#[derive(Debug)]
pub(crate) struct LiveSession {
    pub(crate) record: UserSessionRecord,
    pub(crate) inactivity: Option<TimerHandle>,
    pub(crate) presence: Presence,
}

/// What the engine knows of a connection.
#[derive(Debug)]
pub(crate) enum Conn {
    /// Its join waits for the board to load.
    Joining(BoardId),
    /// It holds a user session.
    Live(Box<LiveSession>),
    /// Its user session timed out; it stays known until the host reports
    /// the disconnect, so that later requests get `SESSION_EXPIRED`.
    Expired(BoardId),
}

/// A board session as a host or operator sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    /// The board.
    pub board: BoardId,
    /// Lifecycle state.
    pub state: SessionState,
    /// Ephemeral or persistent.
    pub kind: SessionType,
    /// Still waiting for the store's load (or, before it, for the release
    /// of the board's previous session).
    pub loading: bool,
    /// The sequence clients see.
    pub sequence: u64,
    /// The last sequence confirmed stored in the event log.
    pub durable_sequence: u64,
    /// The stored board state reflects this sequence.
    pub flushed_sequence: u64,
    /// The oldest `last_sequence` that still gets a delta.
    pub history_from: u64,
    /// Participants in join order.
    pub participants: Vec<ParticipantInfo>,
    /// Live connections.
    pub connections: usize,
    /// When the session opened.
    pub created_at: Timestamp,
    /// When it last became idle.
    pub idle_since: Option<Timestamp>,
    /// When the last flush was confirmed.
    pub last_flush: Option<Timestamp>,
    /// Mutations accepted but not yet flushed.
    pub pending_mutations: u64,
    /// The bytes the session holds, by kind.
    pub bytes: crate::stats::BoardBytes,
}

/// The sans-IO session engine. See the crate docs for the driving loop.
///
/// Methods come in four groups (as in quinn-proto):
/// - inputs from clients, each for one connection: [`join`](Self::join),
///   [`apply_mutations`](Self::apply_mutations),
///   [`update_presence`](Self::update_presence),
///   [`request_snapshot`](Self::request_snapshot), [`leave`](Self::leave),
///   [`disconnect`](Self::disconnect), [`ping`](Self::ping);
/// - inputs from the host: [`handle_storage`](Self::handle_storage),
///   [`handle_timeout`](Self::handle_timeout);
/// - operator requests: [`flush_pending`](Self::flush_pending),
///   [`close_session`](Self::close_session),
///   [`archive_session`](Self::archive_session),
///   [`shutdown`](Self::shutdown) (archive everything, refuse joins; then
///   [`is_drained`](Self::is_drained));
/// - outputs: [`poll_output`](Self::poll_output),
///   [`poll_timeout`](Self::poll_timeout); and getters.
///
/// After any input, drain `poll_output` until it returns `None`, then
/// sleep until `poll_timeout`. Every input takes `now`; a `now` earlier
/// than one seen before counts as the latest one seen (the engine's clock
/// never goes backwards).
///
/// # Examples
///
/// A join on a board the engine has not loaded yet: the engine answers
/// with an effect for the host to perform, and the join completes when the
/// host reports the load.
///
/// ```
/// use huddle_core::{
///     Config, ConnId, Effect, Engine, JoinRequest, LoadedBoard, Notice, Output,
///     StorageOutcome, Timestamp,
/// };
///
/// let mut engine = Engine::new(Config::default(), 7);
/// let now = Timestamp::from_millis(1_700_000_000_000);
/// let alice = ConnId(1);
/// engine.join(now, alice, JoinRequest::new("board-1", "alice", "Alice"))?;
///
/// let Some(Output::Effect(load @ Effect::LoadBoard { .. })) = engine.poll_output() else {
///     panic!("a join on an unloaded board asks for its load first");
/// };
/// // The host loads the board from its store; this one is new and empty.
/// let loaded = StorageOutcome::Loaded(Box::new(LoadedBoard::empty()));
/// engine.handle_storage(now, load.id(), loaded)?;
///
/// let joined = std::iter::from_fn(|| engine.poll_output())
///     .any(|out| matches!(out, Output::Notify { conn, notice: Notice::Joined(_) } if conn == alice));
/// assert!(joined);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: Config,
    pub(crate) clock: Timestamp,
    /// Board sessions. Removal is `swap_remove` (O(1)); the order they
    /// opened in is each board's `opened`.
    pub(crate) boards: IndexMap<BoardId, Board>,
    boards_opened: u64,
    pub(crate) conns: IdMap<ConnId, Conn>,
    pub(crate) io: Io,
    session_base: u64,
    sessions_started: u64,
    /// [`Engine::shutdown`] was called.
    pub(crate) shutting_down: bool,
    /// [`Output::Drained`] was emitted.
    pub(crate) drained_told: bool,
}

impl Engine {
    /// A new engine. `instance_seed` makes this instance's user session ids
    /// distinct from other instances' (a host passes, say, its start time);
    /// the same seed and the same inputs give the same outputs.
    pub fn new(config: Config, instance_seed: u64) -> Self {
        Engine {
            config,
            clock: Timestamp::EPOCH,
            boards: IndexMap::new(),
            boards_opened: 0,
            conns: IdMap::default(),
            io: Io::default(),
            session_base: mix64(instance_seed),
            sessions_started: 0,
            shutting_down: false,
            drained_told: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next output, or `None` when there is nothing left to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.io.outputs.pop_front()
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout)
    /// has work, or `None`. O(log n) in the number of armed timers.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.io.timers.next_deadline()
    }

    /// Aggregate statistics.
    pub fn stats(&self) -> Stats {
        Stats::collect(self)
    }

    /// A board session in memory, if any (sessions being closed are gone).
    pub fn session(&self, board: &str) -> Option<SessionInfo> {
        let b = self
            .boards
            .get(board)
            .filter(|b| b.phase != Phase::Closing)?;
        Some(SessionInfo {
            board: b.id.clone(),
            state: b.state,
            kind: b.kind,
            loading: matches!(b.phase, Phase::Loading(_) | Phase::Waiting),
            sequence: b.committed,
            durable_sequence: b.durable,
            flushed_sequence: b.flushed_through,
            history_from: b.history_from(self.config.delta_threshold),
            participants: b.participant_infos(),
            connections: b.conns.len(),
            created_at: b.created_at,
            idle_since: b.idle_since,
            last_flush: b.last_flush,
            pending_mutations: b.pending_mutations(),
            bytes: crate::stats::BoardBytes::of(b),
        })
    }

    /// The board's elements as clients see them (at `session().sequence`).
    pub fn pages(&self, board: &str) -> Option<&Pages> {
        self.boards
            .get(board)
            .filter(|b| b.phase == Phase::Ready)
            .map(|b| &b.pages)
    }

    /// Boards in memory, in the order their sessions opened.
    pub fn boards(&self) -> impl Iterator<Item = &BoardId> {
        let mut open: Vec<(u64, &BoardId)> =
            self.boards.values().map(|b| (b.opened, &b.id)).collect();
        open.sort_unstable_by_key(|(opened, _)| *opened);
        open.into_iter().map(|(_, id)| id)
    }

    /// The user session record of a connection, if it holds one.
    pub fn user_session(&self, conn: ConnId) -> Option<&UserSessionRecord> {
        match self.conns.get(&conn)? {
            Conn::Live(s) => Some(&s.record),
            _ => None,
        }
    }

    /// Advances the engine's clock to `now` (never backwards).
    pub(crate) fn tick(&mut self, now: Timestamp) -> Timestamp {
        self.clock = self.clock.max(now);
        self.clock
    }

    pub(crate) fn next_session_id(&mut self) -> UserSessionId {
        self.sessions_started += 1;
        UserSessionId(mix64(self.session_base.wrapping_add(self.sessions_started)))
    }
}

/// SplitMix64's finaliser: a bijection on u64, so distinct inputs give
/// distinct ids.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
