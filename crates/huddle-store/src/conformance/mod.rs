//! The conformance suite: the store contract as executable checks.
//!
//! Every backend runs it from its tests with [`conformance_suite!`](crate::conformance_suite),
//! giving an async expression that makes a fresh, empty store (and a guard
//! kept alive for the test, such as a temporary directory):
//!
//! ```ignore
//! mod conformance {
//!     huddle_store::conformance_suite!(async {
//!         let dir = tempfile::tempdir().unwrap();
//!         let store = MyStore::open(dir.path()).await.unwrap();
//!         (store, dir)
//!     });
//! }
//! ```
//!
//! Each case becomes one `#[tokio::test]` on a two-thread runtime, so the
//! calling crate needs `tokio` (features `rt-multi-thread` and `macros`) as a
//! dev-dependency. The cases are also public functions, to run one alone.
//!
//! What it covers: rooms (create, get, conflict); ownership epochs and
//! fencing of every write; board leases (takeover only after expiry, the
//! holder named on refusal, renewal, release, the old owner fenced); appends in order, idempotent re-appends, gaps
//! and malformed batches refused; group commits whose failing batches do
//! not affect the others; flushes that leave the state exactly as of
//! `through` (and refused or repeated flushes that change nothing);
//! the loading contract of [`huddle_core::LoadedBoard`] (checked by a real
//! engine too), including each user's recent batch records; snapshots newest first, fetched whole, pruned to the newest
//! 50; user session records by board, user and status; many boards
//! written by concurrent tasks; and the engine's effects through
//! [`crate::Performer`].

// A test suite: failing an assertion is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod boards;
mod fencing;
mod fixtures;
mod lease;
mod log;
mod perform;
mod records;

pub use boards::{
    board_summary_matches_load, concurrent_boards, flush_as_of_through, load_contract,
};
pub use fencing::{epochs_fence_every_write, group_commit_isolates_failures};
pub use fixtures::{events, flush_batch, node, replay};
pub use lease::{leases_take_over_only_after_expiry, release_frees_at_once, renewal_keeps_a_lease};
pub use log::{
    appends_in_order, batch_records_reach_past_the_loaded_run,
    gaps_and_malformed_batches_are_refused, reappend_is_idempotent,
};
pub use perform::perform_effects;
pub use records::{rooms, snapshots_newest_first_pruned_to_50, user_sessions_by_index};

/// Generates one `#[tokio::test]` per conformance case for a backend; see
/// the [module docs](crate::conformance). `$make` is an expression of a
/// future that yields `(store, guard)`; it is evaluated once per case.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            rooms,
            epochs_fence_every_write,
            group_commit_isolates_failures,
            leases_take_over_only_after_expiry,
            renewal_keeps_a_lease,
            release_frees_at_once,
            appends_in_order,
            reappend_is_idempotent,
            gaps_and_malformed_batches_are_refused,
            batch_records_reach_past_the_loaded_run,
            flush_as_of_through,
            load_contract,
            board_summary_matches_load,
            snapshots_newest_first_pruned_to_50,
            user_sessions_by_index,
            concurrent_boards,
            perform_effects,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = ($make).await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
}
