//! [`DriverError`]: why the driver refused a call.

use std::time::Duration;

use thiserror::Error;

/// Why a driver call was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Shutdown has begun: no new connections, no more input.
    #[error("the driver is shutting down")]
    ShuttingDown,
    /// The connection is closed (the driver closed it, e.g. as a slow
    /// consumer or after a session timeout, or its shard has stopped).
    #[error("the connection is closed")]
    Closed,
    /// The connection has more messages queued for its shard than
    /// [`DriverConfig::inbound_capacity`](crate::DriverConfig::inbound_capacity);
    /// the message was not taken. The host may wait, or tell the client.
    #[error("too many messages queued for this connection")]
    Overloaded,
    /// A wire `Identity` without a board cannot become a
    /// [`Member`](crate::Member) (what
    /// [`Driver::connect`](crate::Driver::connect) takes): the board decides
    /// the shard.
    #[error("the identity names no board")]
    NoBoard,
    /// [`Driver::shutdown_within`](crate::Driver::shutdown_within) (or
    /// `serve_until`) did not drain every session and close the store in
    /// this time.
    #[error("shutdown did not finish within {0:?}")]
    ShutdownTimedOut(Duration),
}
