//! How a [`crate::PostgresStore`] connects: pool size and timeouts.

use std::time::Duration;

/// Connection pool settings. The defaults suit one Huddle node: start
/// from [`PostgresOptions::new`] and change what you need with the
/// setters (the struct is `#[non_exhaustive]`).
///
/// ```
/// use std::time::Duration;
/// use huddle_postgres::PostgresOptions;
///
/// let options = PostgresOptions::new()
///     .max_connections(4)
///     .wait_timeout(Duration::from_secs(2));
/// assert_eq!(options.max_connections, 4);
/// assert_eq!(options.max_group, 1024);
/// assert_eq!(options.flush_transactions, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Most append transactions open at once (default 8): each group of
    /// appends is one transaction, and the next group starts once the
    /// open one has locked and checked its boards, without waiting for
    /// its commit (a transaction that continues a board of an open one
    /// commits after it). 1: one transaction after the other.
    pub open_transactions: usize,
    /// How long one of the store's sessions may sit idle inside a
    /// transaction before PostgreSQL ends it (its
    /// `idle_in_transaction_session_timeout`; default 5 s). A healthy node
    /// is idle inside a transaction for a round trip at most, or an append
    /// for the commit of the earlier append it continues (milliseconds); a
    /// node paused mid-transaction (SIGSTOP, a frozen VM) would otherwise
    /// keep its boards' rows locked, and no other node could take them
    /// over, until it woke. A node sets it to its lease TTL.
    pub idle_transaction_timeout: Duration,
    /// Most flush transactions open at once (default 1); a flush waits
    /// for its turn before it takes a connection. The flushes of a uniform
    /// load come together (every board reaches its flush threshold at
    /// about the same moment): run side by side, their upserts took the
    /// CPUs from the appends in flight, and the acks waited.
    pub flush_transactions: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(10),
            max_group: 1024,
            open_transactions: 8,
            idle_transaction_timeout: Duration::from_secs(5),
            flush_transactions: 1,
        }
    }
}

impl PostgresOptions {
    /// The defaults (those of each field's docs).
    pub fn new() -> Self {
        Self::default()
    }

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

    /// Sets how many flush transactions may be open at once (at least 1).
    pub fn flush_transactions(mut self, n: usize) -> Self {
        self.flush_transactions = n.max(1);
        self
    }

    /// Sets how long a session may be idle inside a transaction (at least
    /// 1 ms: PostgreSQL reads 0 as "never").
    pub fn idle_transaction_timeout(mut self, d: Duration) -> Self {
        self.idle_transaction_timeout = d.max(Duration::from_millis(1));
        self
    }

    /// The session settings every connection starts with: `existing`
    /// (the URL's own `options`) and the idle-in-transaction timeout.
    pub(crate) fn session_options(&self, existing: Option<&str>) -> String {
        let ms = self.idle_transaction_timeout.as_millis().max(1);
        let own = format!("-c idle_in_transaction_session_timeout={ms}");
        match existing.map(str::trim).filter(|e| !e.is_empty()) {
            Some(existing) => format!("{existing} {own}"),
            None => own,
        }
    }

    /// Sets how long a request waits for a connection.
    pub fn wait_timeout(mut self, d: Duration) -> Self {
        self.wait_timeout = d;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_an_idle_transaction_after_the_timeout() {
        let options = PostgresOptions::default();
        assert_eq!(
            options.session_options(None),
            "-c idle_in_transaction_session_timeout=5000"
        );
        let options = options.idle_transaction_timeout(Duration::from_millis(2500));
        assert_eq!(
            options.session_options(Some("-csearch_path=huddle")),
            "-csearch_path=huddle -c idle_in_transaction_session_timeout=2500"
        );
        assert_eq!(
            options.session_options(Some("  ")),
            "-c idle_in_transaction_session_timeout=2500"
        );
        let never = PostgresOptions::default().idle_transaction_timeout(Duration::ZERO);
        assert_eq!(
            never.session_options(None),
            "-c idle_in_transaction_session_timeout=1"
        );
    }
}
