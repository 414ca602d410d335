//! Every number of the spec is a field here; [`Config::default`] gives the
//! spec's defaults.

use core::time::Duration;

use serde::{Deserialize, Serialize};

use crate::colors::ColorPolicy;

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

/// Size limits; exceeding one gives a typed error and changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        }
    }
}

/// The engine's configuration. Defaults are the spec's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Minimum interval between two broadcast cursor updates of one user
    /// session (50 ms); updates in between are coalesced, the latest wins.
    pub presence_interval: Duration,
    /// Batch ids remembered per user and board for idempotent retries (1024).
    pub dedup_window: usize,
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
            presence_interval: Duration::from_millis(50),
            dedup_window: 1024,
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
