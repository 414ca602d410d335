//! The PostgreSQL backend passes the conformance suite, every case, on a
//! fresh database per case. Where no PostgreSQL can be had, each case says
//! so loudly and returns (a failure with `HUDDLE_REQUIRE_POSTGRES=1`).

use huddle_postgres::testing;
use huddle_postgres::{PostgresOptions, PostgresStore};

/// Runs a conformance case on a fresh database, or skips it loudly.
macro_rules! postgres_suite {
    ($($case:ident),* $(,)?) => {
        postgres_suite!(@options PostgresOptions::default(); $($case),*);
    };
    (@options $options:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(db) = testing::database().await else {
                    return;
                };
                let store = PostgresStore::connect(&db.url, $options)
                    .await
                    .expect("connect");
                huddle_store::conformance::$case(store).await;
            }
        )*
    };
}

// Every case of `huddle_store::conformance_suite!` (the macro itself has no
// way to skip when PostgreSQL is missing, so the list is spelled out here;
// `every_case_is_listed` below keeps it complete).
postgres_suite!(
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

/// Group commit with one batch per transaction, and a pool of one
/// connection (every request waits for the previous one).
mod one_batch_per_group_one_connection {
    use super::*;
    postgres_suite!(@options PostgresOptions::default().max_group(1).max_connections(1);
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
}

/// The list above names every case the suite's macro runs.
#[test]
fn every_case_is_listed() {
    let suite = include_str!("../../huddle-store/src/conformance/mod.rs");
    let this = include_str!("conformance.rs");
    let start = suite.find("@cases $make;").expect("the suite's case list");
    let end = suite[start..].find(");").expect("end of the case list") + start;
    let cases: Vec<&str> = suite[start + "@cases $make;".len()..end]
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert!(cases.len() >= 14, "{cases:?}");
    let listed = &this[this.find("postgres_suite!(\n").expect("list")..];
    for case in cases {
        assert!(
            listed.contains(&format!("    {case},")),
            "case {case} is not run"
        );
    }
}
