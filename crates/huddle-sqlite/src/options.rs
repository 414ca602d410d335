//! How a store is opened.

use std::time::Duration;

/// When SQLite syncs the write-ahead log to disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous = FULL`: every commit is fsynced before it is
    /// confirmed, so a confirmed write survives a power loss as well as a
    /// crash. The default, and what the engine's "stored" means.
    #[default]
    Full,
    /// `synchronous = NORMAL`: commits survive a process crash but the
    /// last ones may be lost on a power loss or OS crash (WAL is synced
    /// only at checkpoints). Faster; only for data you can afford to lose.
    Normal,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Options for [`crate::SqliteStore::open`]. Start from
/// [`SqliteOptions::new`] (the defaults of each field's docs) and change
/// what you need with the setters (the struct is `#[non_exhaustive]`).
///
/// ```
/// use huddle_sqlite::{SqliteOptions, Synchronous};
///
/// let options = SqliteOptions::new().synchronous(Synchronous::Normal);
/// assert_eq!(options.max_group, 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The fsync policy (default [`Synchronous::Full`]).
    pub synchronous: Synchronous,
    /// How long to wait for another connection's lock (default 5 s).
    pub busy_timeout: Duration,
    /// At most this many queued append requests go into one transaction
    /// (default 1024).
    pub max_group: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            max_group: 1024,
        }
    }
}

impl SqliteOptions {
    /// The defaults (those of each field's docs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the fsync policy.
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Sets the lock wait.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets the largest group of requests taken at once (at least 1).
    pub fn max_group(mut self, max_group: usize) -> Self {
        self.max_group = max_group.max(1);
        self
    }
}
