//! The SQLite backend passes the conformance suite, on a fresh file per
//! case (in a directory that does not exist yet: created on first use).

use huddle_sqlite::{SqliteOptions, SqliteStore};

huddle_store::conformance_suite!(async {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("not/yet/there/huddle.db");
    let store = SqliteStore::open(path, SqliteOptions::default())
        .await
        .expect("open");
    (store, dir)
});

/// Group commit across tiny transactions too: one request per group.
mod one_request_per_group {
    use super::*;
    huddle_store::conformance_suite!(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SqliteOptions::default().max_group(1);
        let store = SqliteStore::open(dir.path().join("h.db"), options)
            .await
            .expect("open");
        (store, dir)
    });
}
