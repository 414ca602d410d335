//! How a [`crate::PostgresStore`] connects: pool size and timeouts.

use std::time::Duration;

/// Connection pool settings. The defaults suit one Huddle node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Most connections the pool holds (default 16).
    pub max_connections: usize,
    /// How long opening one connection may take (default 5 s; a URL's own
    /// `connect_timeout` wins).
    pub connect_timeout: Duration,
    /// How long a request may wait for a free connection, or for a new one
    /// to be opened, before it fails as unavailable (default 10 s).
    pub wait_timeout: Duration,
    /// Most batches committed in one append transaction (default 1024).
    pub max_group: usize,
    /// Most append transactions open at once (default 4): a group's boards
    /// are split among up to this many transactions committed in parallel,
    /// and the next group starts once they hold their boards' rows, without
    /// waiting for the commits. 1: one transaction after the other.
    pub open_transactions: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(10),
            max_group: 1024,
            open_transactions: 4,
        }
    }
}

impl PostgresOptions {
    /// Sets the pool size (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets the most batches of one group commit (at least 1).
    pub fn max_group(mut self, n: usize) -> Self {
        self.max_group = n.max(1);
        self
    }

    /// Sets how many append transactions may be open at once (at least 1).
    pub fn open_transactions(mut self, n: usize) -> Self {
        self.open_transactions = n.max(1);
        self
    }

    /// Sets how long a request waits for a connection.
    pub fn wait_timeout(mut self, d: Duration) -> Self {
        self.wait_timeout = d;
        self
    }
}
