//! The builder-style setters of [`Config`] and [`Limits`]: start from
//! [`Config::new`] (the spec's defaults) and change what you need, one
//! setter per field, each named after its field. The structs are
//! `#[non_exhaustive]`, so that a new setting is not a breaking change:
//! outside this crate they are built this way, never as literals.

use core::time::Duration;

use super::{Config, Durability, Limits, SessionType};
use crate::colors::ColorPolicy;

/// One setter per field: `name(mut self, value) -> Self`.
macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $field(mut self, $field: $ty) -> Self {
                self.$field = $field;
                self
            }
        )*
    };
}

impl Config {
    /// The spec's defaults ([`Config::default`]), to change with the
    /// setters.
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// Sets the idle time before an ephemeral session is archived.
        idle_timeout_ephemeral: Duration;
        /// Sets the idle time before a persistent session is archived.
        idle_timeout_persistent: Duration;
        /// Sets the inactivity before a user session times out.
        inactivity_timeout: Duration;
        /// Sets the auto-save interval.
        autosave_interval: Duration;
        /// Sets the missed events from which a join gets a full sync.
        delta_threshold: u64;
        /// Sets the events kept in memory per board for delta sync.
        history_len: usize;
        /// Sets the snapshots kept per board.
        snapshot_retention: usize;
        /// Sets the minimum time between two manual snapshots of a board.
        manual_snapshot_interval: Duration;
        /// Sets the pending mutations that trigger a flush.
        flush_threshold: u64;
        /// Sets the pending payload bytes that trigger a flush.
        flush_threshold_bytes: usize;
        /// Sets the minimum interval between two broadcast cursor updates.
        presence_interval: Duration;
        /// Sets the batches remembered per user and board at least.
        dedup_window: usize;
        /// Sets the age under which every batch is remembered.
        dedup_max_age: Duration;
        /// Sets the most bytes a board's remembered batches may take.
        dedup_max_bytes: usize;
        /// Sets the appends of one board the store may work on at once.
        appends_in_flight: usize;
        /// Sets the first retry delay after a failed store.
        storage_retry_initial: Duration;
        /// Sets the longest retry delay.
        storage_retry_max: Duration;
        /// Sets the colour assignment rule.
        color_policy: ColorPolicy;
        /// Sets when acknowledgements are released.
        durability: Durability;
        /// Sets the session type of a join that names none.
        default_session_type: SessionType;
        /// Sets the size limits (build them with [`Limits::new`]).
        limits: Limits;
        /// Sets whether user session records are stored.
        store_user_sessions: bool;
    }
}

impl Limits {
    /// The spec's limits ([`Limits::default`]), to change with the
    /// setters.
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// Sets the largest `data` of one upsert, in bytes.
        max_payload_bytes: usize;
        /// Sets the most mutations in one batch.
        max_batch_len: usize;
        /// Sets the most mutations accepted on a board but not yet flushed.
        max_pending_per_board: u64;
        /// Sets the most participants in one board session.
        max_participants: usize;
        /// Sets the longest id, in bytes.
        max_id_bytes: usize;
        /// Sets the longest display name, in bytes.
        max_display_name_bytes: usize;
        /// Sets the most payload bytes of a board's delta-sync history.
        max_history_bytes: usize;
        /// Sets the most payload bytes of a board's unflushed mutations.
        max_pending_bytes: usize;
        /// Sets the most payload bytes of all elements of a board.
        max_board_bytes: usize;
        /// Sets the largest board, in payload bytes, a snapshot is taken of.
        max_snapshot_bytes: usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setter_sets_its_own_field_only() {
        let limits = Limits::new().max_batch_len(7).max_participants(3);
        assert_eq!(limits.max_batch_len, 7);
        assert_eq!(limits.max_participants, 3);
        let expected = Limits {
            max_batch_len: 7,
            max_participants: 3,
            ..Limits::default()
        };
        assert_eq!(limits, expected);

        let config = Config::new()
            .delta_threshold(10)
            .durability(Durability::AckOnApply)
            .limits(limits.clone());
        let expected = Config {
            delta_threshold: 10,
            durability: Durability::AckOnApply,
            limits,
            ..Config::default()
        };
        assert_eq!(config, expected);
        assert_eq!(Config::new(), Config::default());
    }
}
