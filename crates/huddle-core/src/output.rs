//! What leaves the engine: [`Output`]s, drained with
//! [`crate::Engine::poll_output`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::colors::Color;
use crate::config::SessionType;
use crate::delta::DeltaEvents;
use crate::encoded::CommittedEvents;
use crate::error::ErrorCode;
use crate::ids::{BatchId, BoardId, ConnId, SnapshotId, UserId, UserSessionId};
use crate::pages::Pages;
use crate::storage::{BoardOwner, Effect, SnapshotCause};
use crate::time::Timestamp;
use crate::user_session::UserSessionRecord;

/// The connections a [`Output::Broadcast`] goes to, in the order to send
/// in (join order). Up to eight are held inline.
pub type Recipients = SmallVec<[ConnId; 8]>;

/// One thing for the host to do or know.
///
/// Notices leave the engine in two shapes: [`Output::Notify`] for what
/// concerns one connection (its `joined`, its `ack`, its errors, `pong`,
/// its session timeout) and [`Output::Broadcast`] for one notice that
/// several connections get (events, participants joining and leaving,
/// cursors, snapshots, the board session closing). A broadcast is one
/// output carrying its recipients and one notice: a host encodes the
/// notice once and sends the same bytes to each recipient, in order.
/// Delivering a broadcast is the same as delivering one `Notify` per
/// recipient at its place in the output stream: every connection sees its
/// notices in the order they were produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send this to one connection.
    Notify {
        /// The recipient.
        conn: ConnId,
        /// What to tell it.
        notice: Notice,
    },
    /// Send this one notice to each of these connections (never empty; a
    /// sender is left out where the broadcast is about its own input).
    Broadcast {
        /// The recipients, in join order.
        conns: Recipients,
        /// What to tell each of them.
        notice: Notice,
    },
    /// Storage work; report its outcome to `handle_storage`.
    Effect(Effect),
    /// Something happened that the host may log or count.
    Signal(Signal),
    /// A board session has ended and every effect issued for it has been
    /// reported: the host may drop what it holds for the board (its
    /// ownership epoch: huddle-store's `Performer::release`). Emitted
    /// exactly once per ended session, after its
    /// [`Signal::SessionEnded`], and always before the
    /// [`Effect::LoadBoard`] of a new session of the same board.
    Released {
        /// The board.
        board: BoardId,
    },
    /// After [`Engine::shutdown`](crate::Engine::shutdown): no session and
    /// no effect is left (emitted once; see
    /// [`Engine::is_drained`](crate::Engine::is_drained)).
    Drained,
}

/// A message for one connection (the reference server turns each into one
/// JSON frame).
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// The answer to a successful join.
    Joined(Box<Joined>),
    /// A join that waited for its board failed (`BOARD_NOT_FOUND`, or
    /// `UNAVAILABLE` when the board could not be loaded).
    JoinFailed {
        /// The board.
        board: BoardId,
        /// The wire code.
        code: ErrorCode,
        /// A human-readable reason.
        message: String,
    },
    /// The batch is applied (and, by default, durable) with this sequence.
    Ack {
        /// The client's batch id.
        batch: BatchId,
        /// The sequence of the batch's last mutation.
        sequence: u64,
    },
    /// Events other participants applied: one committed batch's, with the
    /// place for their encoding that the history shares (a host encodes
    /// them once, for the broadcast and the delta syncs after it).
    Events(CommittedEvents),
    /// A participant joined (not sent for a second connection of a user
    /// already present).
    ParticipantJoined(ParticipantInfo),
    /// A participant left (its last connection ended).
    ParticipantLeft(ParticipantInfo),
    /// A participant moved its cursor.
    Cursor {
        /// Whose cursor.
        user: UserId,
        /// X.
        x: f64,
        /// Y.
        y: f64,
    },
    /// A snapshot of the board was stored.
    Snapshot(SnapshotInfo),
    /// A manual snapshot this connection asked for could not be stored.
    SnapshotFailed {
        /// The wire code (`UNAVAILABLE`).
        code: ErrorCode,
        /// What the store said.
        message: String,
    },
    /// This connection's user session timed out for inactivity; the host
    /// should close it (the reference server uses close code 4002).
    SessionTimeout {
        /// The board.
        board: BoardId,
    },
    /// The board session was closed: by the host (`close_session`,
    /// `archive_session`, `shutdown`), or because this host may no longer
    /// serve it (see [`CloseReason`]).
    SessionClosed {
        /// The board.
        board: BoardId,
        /// Why; tells a client whether to reconnect now.
        reason: CloseReason,
    },
    /// A join that waited for its board is sent elsewhere: another node
    /// holds the board's lease (the store answered the load with
    /// [`StorageOutcome::OwnedElsewhere`](crate::StorageOutcome::OwnedElsewhere)).
    /// The connection did not join; the client joins again at the owner
    /// (the wire's `redirect` frame).
    Redirect {
        /// The board.
        board: BoardId,
        /// Where the board is served.
        owner: BoardOwner,
    },
    /// Reply to a keep-alive ping.
    Pong,
}

/// Why a board session was closed ([`Notice::SessionClosed`], the wire's
/// `session_closed` `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CloseReason {
    /// Closed or archived by the host or an operator (`"closed"`).
    Closed,
    /// Another host owns the board now (the store fenced this one off):
    /// reconnect now, routing lands the client on the new owner
    /// (`"moved"`).
    Moved,
    /// The board's data could not be written and retrying cannot help (the
    /// store refused it as invalid or corrupt): the session ended without
    /// storing it; reconnect now, the board is loaded afresh from the
    /// store (`"failed"`).
    Failed,
}

impl CloseReason {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Closed => "closed",
            CloseReason::Moved => "moved",
            CloseReason::Failed => "failed",
        }
    }

    /// Whether a client should reconnect at once (re-sending its unacked
    /// batches): the board is served again, elsewhere or afresh.
    pub fn reconnect(self) -> bool {
        matches!(self, CloseReason::Moved | CloseReason::Failed)
    }
}

/// The answer to a join.
#[derive(Clone, Debug, PartialEq)]
pub struct Joined {
    /// The new user session.
    pub session_id: UserSessionId,
    /// The board.
    pub board: BoardId,
    /// The participant's colour.
    pub color: Color,
    /// Everyone present, the joiner included, in join order.
    pub participants: Vec<ParticipantInfo>,
    /// The board's current sequence (what the sync brings the client to).
    pub sequence: u64,
    /// The oldest `last_sequence` that still gets a delta.
    pub history_from: u64,
    /// Delta or full.
    pub sync: JoinSync,
}

/// How a joining client catches up.
#[derive(Clone, Debug, PartialEq)]
pub enum JoinSync {
    /// The events after the client's `last_sequence`, in order.
    Delta {
        /// The missed events (empty when the client is current), shared
        /// with the board's history: view them with
        /// [`DeltaEvents::iter`], copy them with [`DeltaEvents::to_vec`].
        events: DeltaEvents,
    },
    /// The complete board state at `sequence`.
    Full {
        /// Why a delta was not possible.
        reason: FullSyncReason,
        /// All elements.
        pages: Pages,
    },
}

/// Why a join got a full sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FullSyncReason {
    /// No `last_sequence` was given.
    Initial,
    /// `delta_threshold` or more events were missed.
    TooOld,
    /// `last_sequence` is beyond the board's sequence.
    Ahead,
    /// The missed events are no longer held.
    NoHistory,
}

/// A participant as others see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// The user.
    pub user: UserId,
    /// Their display name.
    pub display_name: Arc<str>,
    /// Their colour.
    pub color: Color,
}

/// A stored snapshot, as participants are told of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// The store's id.
    pub id: SnapshotId,
    /// The sequence it reflects.
    pub version: u64,
    /// When it was taken.
    pub created_at: Timestamp,
    /// Why.
    pub created_by: SnapshotCause,
}

/// A board session's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Open, waiting for its first participant (and for its board to load).
    Created,
    /// At least one participant.
    Active,
    /// No participants; the idle timer runs.
    Idle,
    /// Saved and dropped from memory.
    Archived,
}

impl SessionState {
    /// Whether `from -> to` is one of the lifecycle's transitions.
    pub fn is_legal_transition(from: SessionState, to: SessionState) -> bool {
        use SessionState::*;
        matches!(
            (from, to),
            (Created, Active)
                | (Active, Idle)
                | (Idle, Active)
                | (Idle, Archived)
                | (Created, Archived)
        )
    }
}

/// Why a board session left memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// Archived after its idle timeout, everything stored.
    Archived,
    /// Closed by `close_session`, everything stored.
    Closed,
    /// Its board could not be loaded (no data was touched).
    LoadFailed(String),
    /// The store does not know the board.
    NotFound,
    /// Another node holds the board's lease: the load was answered with
    /// the owner, the waiting joins were redirected to it, nothing was
    /// loaded or written.
    OwnedElsewhere(BoardOwner),
    /// Another host owns the board: a store fenced one of this session's
    /// writes. The session ended at once; nothing unacknowledged was
    /// acknowledged.
    Fenced,
    /// A write of the session was refused as invalid or corrupt (retrying
    /// cannot help): the session ended at once, unacknowledged batches
    /// stay unacknowledged.
    WriteFailed(String),
}

/// Things the host may log, count or store.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Signal {
    /// A board session went from one lifecycle state to another (only the
    /// spec's transitions ever appear).
    StateChanged {
        /// The board.
        board: BoardId,
        /// Before.
        from: SessionState,
        /// After.
        to: SessionState,
        /// The session's type.
        kind: SessionType,
    },
    /// A board session left memory.
    SessionEnded {
        /// The board.
        board: BoardId,
        /// Why.
        reason: SessionEnd,
    },
    /// A user session started (the record as of its start). For logging:
    /// with [`Config::store_user_sessions`](crate::Config::store_user_sessions)
    /// the engine has the record stored as an effect.
    UserSessionStarted(UserSessionRecord),
    /// A user session ended (`ended` or `timeout`); it has left memory.
    UserSessionEnded(UserSessionRecord),
    /// A store failed; the engine will retry a transient failure (or has
    /// reported it to whoever asked).
    StorageFailed {
        /// The board.
        board: BoardId,
        /// What the store said.
        message: String,
        /// The failure's kind (only transient ones are retried).
        kind: crate::failure::FailureKind,
        /// Consecutive failures for this board.
        attempt: u32,
    },
    /// An automatic snapshot (auto-save, on disconnect, archive) was not
    /// taken: the board holds more payload bytes than
    /// `Limits::max_snapshot_bytes`. The board goes on (an archive ends
    /// without its snapshot); the store keeps its older snapshots.
    SnapshotSkipped {
        /// The board.
        board: BoardId,
        /// What the snapshot was for.
        cause: crate::storage::SnapshotCause,
        /// The board's payload bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A batch became durable (the host may measure ack latency).
    BatchDurable {
        /// The board.
        board: BoardId,
        /// The batch's author.
        user: UserId,
        /// The batch id.
        batch: BatchId,
        /// Its last sequence.
        sequence: u64,
        /// When it was applied.
        applied_at: Timestamp,
    },
}
