//! Errors that keep a load run from starting.

use thiserror::Error;

/// Why a load run could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// An argument is out of range.
    #[error("invalid arguments: {0}")]
    Args(String),
    /// The HTTP API could not be reached.
    #[error("HTTP request to {url} failed: {source}")]
    Http {
        /// The request's URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The HTTP API answered with an unexpected status.
    #[error("{what}: HTTP {status}: {body}")]
    Api {
        /// The call.
        what: String,
        /// The status code.
        status: u16,
        /// The answer's body.
        body: String,
    },
    /// A client could not connect or join.
    #[error("client setup failed: {0}")]
    Client(String),
}
