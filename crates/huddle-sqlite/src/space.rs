//! The space of deleted rows: used again, and returned when much of it is
//! free.
//!
//! Pruned snapshots are most of what a Huddle file ever deletes (a board
//! keeps its newest 50, each a copy of the whole board). SQLite puts the
//! pages of deleted rows on its freelist and the next writes take them
//! from there, so a board snapshotted again and again keeps a file the
//! size of the snapshots it keeps plus about one being written: the file
//! does not grow with the snapshots ever taken.
//!
//! A file created by this version also returns space to the file system:
//! it is created with `PRAGMA auto_vacuum = INCREMENTAL`, and after a
//! prune, once more than a quarter of its pages are free, the free pages
//! are given back (`PRAGMA incremental_vacuum`). Keeping up to a quarter
//! free spares the common case (a prune followed by the next snapshot of
//! the same size) from moving pages to shrink the file only to grow it
//! again. A file created before has `auto_vacuum = NONE`, which only a
//! full `VACUUM` can change (it rewrites the whole file, so it is not done
//! on open); such files reuse their free pages but never shrink. An
//! operator can run `VACUUM` on a stopped server's file to switch it.

use rusqlite::Connection;

/// `PRAGMA auto_vacuum` of a file that returns space.
const INCREMENTAL: i64 = 2;

/// Makes a new, empty file return free space (before any table exists:
/// afterwards SQLite ignores the setting until a `VACUUM`).
pub(crate) fn return_space_in_new_file(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "auto_vacuum", INCREMENTAL)
}

/// After deletes: gives the free pages back to the file system if the file
/// returns space and more than a quarter of its pages are free. Returns the
/// pages given back. Outside any transaction (the vacuum is its own).
pub(crate) fn give_back_free_pages(conn: &Connection) -> rusqlite::Result<i64> {
    let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    if pragma("auto_vacuum")? != INCREMENTAL {
        return Ok(0);
    }
    let free = pragma("freelist_count")?;
    let pages = pragma("page_count")?;
    if free.saturating_mul(4) <= pages {
        return Ok(0);
    }
    // Each step reports a row; running it to the end frees every page.
    let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({free})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(free)
}
