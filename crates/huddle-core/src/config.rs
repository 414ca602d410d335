//! Every number of the spec is a field here; [`Config::new`] (or
//! [`Config::default`]) gives the spec's defaults, and the setters
//! (`setters`) change them one at a time.

use core::time::Duration;

use serde::{Deserialize, Serialize};

use crate::colors::ColorPolicy;

mod setters;

/// The kind of a board session, which decides its idle timeout and whether
/// archiving takes a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionType {
    /// Idle timeout 5 min; archived without a snapshot.
    #[default]
    Ephemeral,
    /// Idle timeout 15 min; archiving takes an `archive` snapshot.
    Persistent,
}

/// When a batch's acknowledgement is released to its author.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// The default: a batch is acknowledged, broadcast to the other
    /// participants and made part of the board state only once the host
    /// confirmed its events stored. Nothing a client has seen can be lost.
    #[default]
    AckOnStore,
    /// The seed's behaviour: acknowledged, broadcast and visible as soon as
    /// it is applied; it becomes durable when its events are stored later.
    /// A crash can lose acknowledged batches in this mode.
    AckOnApply,
}

const MIB: usize = 1024 * 1024;

/// Size limits; exceeding one gives a typed error and changes nothing.
/// Start from [`Limits::new`] (the defaults below) and change what you
/// need with the setters, one per field and named after it:
///
/// ```
/// use huddle_core::Limits;
///
/// let limits = Limits::new().max_batch_len(100).max_participants(16);
/// assert_eq!(limits.max_batch_len, 100);
/// assert_eq!(limits.max_payload_bytes, 256 * 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Limits {
    /// Largest `data` of one upsert, in bytes (`PAYLOAD_TOO_LARGE`).
    pub max_payload_bytes: usize,
    /// Most mutations in one batch (`PAYLOAD_TOO_LARGE`).
    pub max_batch_len: usize,
    /// Most mutations accepted on a board but not yet flushed
    /// (`RATE_LIMITED`): backpressure when storage falls behind.
    pub max_pending_per_board: u64,
    /// Most participants (distinct users) in one board session (`ROOM_FULL`).
    pub max_participants: usize,
    /// Longest board, user, page, element or batch id, in bytes
    /// (`INVALID_MESSAGE`). Ids must also be non-empty.
    pub max_id_bytes: usize,
    /// Longest display name, in bytes (`INVALID_MESSAGE`).
    pub max_display_name_bytes: usize,
    /// Most payload bytes of the events a board holds for delta sync
    /// (64 MiB), beside `Config::history_len`: beyond it the oldest events
    /// leave the history, and a join that needs them gets a full sync
    /// (`no_history`).
    pub max_history_bytes: usize,
    /// Most payload bytes of the mutations accepted on a board but not yet
    /// flushed (64 MiB), beside `max_pending_per_board`: beyond it a batch
    /// is refused (`RATE_LIMITED`). A batch larger than the whole budget is
    /// accepted only when nothing is pending.
    pub max_pending_bytes: usize,
    /// Most payload bytes of all elements of a board (256 MiB): a batch
    /// that could grow the board beyond it is refused (`BOARD_TOO_LARGE`).
    /// Deletes and writes that do not grow the board always pass.
    pub max_board_bytes: usize,
    /// Largest board, in payload bytes, a snapshot is taken of (256 MiB):
    /// a manual snapshot of a larger board is refused
    /// (`SNAPSHOT_TOO_LARGE`), an automatic one is skipped and signalled
    /// ([`Signal::SnapshotSkipped`](crate::Signal::SnapshotSkipped)).
    pub max_snapshot_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 256 * 1024,
            max_batch_len: 1000,
            max_pending_per_board: 100_000,
            max_participants: 256,
            max_id_bytes: 256,
            max_display_name_bytes: 256,
            max_history_bytes: 64 * MIB,
            max_pending_bytes: 64 * MIB,
            max_board_bytes: 256 * MIB,
            max_snapshot_bytes: 256 * MIB,
        }
    }
}

/// The engine's configuration. Start from [`Config::new`] (the spec's
/// numbers, each field's default in its docs) and change what you need
/// with the setters, one per field and named after it. The struct is
/// `#[non_exhaustive]`: settings will be added without breaking a host.
///
/// ```
/// use std::time::Duration;
/// use huddle_core::{Config, Durability, Limits};
///
/// let config = Config::new()
///     .autosave_interval(Duration::from_secs(10))
///     .durability(Durability::AckOnApply)
///     .limits(Limits::new().max_participants(16));
/// assert_eq!(config.autosave_interval, Duration::from_secs(10));
/// assert_eq!(config.limits.max_participants, 16);
/// assert_eq!(config.delta_threshold, 1000);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Config {
    /// Idle time before an ephemeral session is archived (5 min).
    pub idle_timeout_ephemeral: Duration,
    /// Idle time before a persistent session is archived (15 min).
    pub idle_timeout_persistent: Duration,
    /// Inactivity before a user session times out (30 min).
    pub inactivity_timeout: Duration,
    /// Auto-save interval while participants are present (30 s).
    pub autosave_interval: Duration,
    /// Missed events from which a join gets a full sync instead of a delta
    /// (1000: 999 missed is a delta, 1000 is full).
    pub delta_threshold: u64,
    /// Events kept in memory per board for delta sync. At least
    /// `delta_threshold - 1` are needed to answer every delta; the default
    /// keeps `delta_threshold` (1000).
    pub history_len: usize,
    /// Snapshots kept per board (50); older ones are pruned by an effect.
    pub snapshot_retention: usize,
    /// Minimum time between two manual snapshots of one board (10 s). A
    /// request sooner is refused (`RATE_LIMITED`), as is one while any
    /// snapshot of the board is being stored, and one when the board has
    /// not changed since its newest snapshot (`SNAPSHOT_UNCHANGED`): a
    /// participant cannot keep the store busy copying a board.
    pub manual_snapshot_interval: Duration,
    /// Pending mutations that trigger a flush without waiting for the next
    /// auto-save (4096), so that a busy board never reaches backpressure
    /// merely because the interval has not come round.
    pub flush_threshold: u64,
    /// Payload bytes of durable, unflushed mutations that trigger a flush
    /// the same way (16 MiB: a quarter of the default
    /// `Limits::max_pending_bytes`), so that a board of large payloads
    /// never reaches its pending byte budget merely because the auto-save
    /// interval has not come round.
    pub flush_threshold_bytes: usize,
    /// Minimum interval between two broadcast cursor updates of one user
    /// session (50 ms); updates in between are coalesced, the latest wins.
    pub presence_interval: Duration,
    /// Batches remembered per user and board for idempotent retries at
    /// least (1024), whatever their age. See `dedup_max_age`.
    pub dedup_window: usize,
    /// Every batch younger than this is remembered for idempotent retries,
    /// whatever their number (5 min: the client's recovery limit, the
    /// oldest batch a client re-sends), within `dedup_max_bytes`.
    pub dedup_max_age: Duration,
    /// The most bytes a board's remembered batches may take (16 MiB, about
    /// 100 000 batches); beyond it the oldest are forgotten first, even
    /// when younger than `dedup_max_age` (see `docs/decisions.md`).
    pub dedup_max_bytes: usize,
    /// Appends of one board the store may be working on at once (1).
    ///
    /// With 1, a board's next append waits for the previous one's
    /// confirmation, so a batch can wait for two store round trips. More
    /// lets the store take each batch with its next commit, which shortens
    /// the ack latency under load, provided the store applies one board's
    /// appends in the order issued (the SQLite and in-memory stores do, for
    /// calls started in order). A store that does not still refuses an
    /// append that would leave a gap; the engine retries it, so a wrong
    /// setting costs time, never data. 0 counts as 1.
    pub appends_in_flight: usize,
    /// First retry delay after a failed store (500 ms); doubles per failure.
    pub storage_retry_initial: Duration,
    /// Longest retry delay after repeated failures (30 s).
    pub storage_retry_max: Duration,
    /// Colour assignment rule.
    pub color_policy: ColorPolicy,
    /// When acknowledgements are released.
    pub durability: Durability,
    /// Session type for a join that names none (ephemeral).
    pub default_session_type: SessionType,
    /// Size limits.
    pub limits: Limits,
    /// Emit [`Effect::StoreUserSession`](crate::Effect::StoreUserSession)
    /// for every user session's start and end (false): the records are then
    /// written like any other effect (retried, fenced, counted, and the
    /// board is released only after them).
    pub store_user_sessions: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_timeout_ephemeral: Duration::from_secs(5 * 60),
            idle_timeout_persistent: Duration::from_secs(15 * 60),
            inactivity_timeout: Duration::from_secs(30 * 60),
            autosave_interval: Duration::from_secs(30),
            delta_threshold: 1000,
            history_len: 1000,
            snapshot_retention: 50,
            manual_snapshot_interval: Duration::from_secs(10),
            flush_threshold: 4096,
            flush_threshold_bytes: 16 * MIB,
            presence_interval: Duration::from_millis(50),
            dedup_window: 1024,
            dedup_max_age: Duration::from_secs(5 * 60),
            dedup_max_bytes: 16 * 1024 * 1024,
            appends_in_flight: 1,
            storage_retry_initial: Duration::from_millis(500),
            storage_retry_max: Duration::from_secs(30),
            color_policy: ColorPolicy::default(),
            durability: Durability::default(),
            default_session_type: SessionType::default(),
            limits: Limits::default(),
            store_user_sessions: false,
        }
    }
}

impl Config {
    /// The idle timeout of a session of this type.
    pub fn idle_timeout(&self, kind: SessionType) -> Duration {
        match kind {
            SessionType::Ephemeral => self.idle_timeout_ephemeral,
            SessionType::Persistent => self.idle_timeout_persistent,
        }
    }

    /// The delay before retry number `attempt` (1-based) of a failed store.
    pub(crate) fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.storage_retry_initial
            .checked_mul(factor)
            .map_or(self.storage_retry_max, |d| d.min(self.storage_retry_max))
    }
}
