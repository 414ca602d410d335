//! # huddle-server
//!
//! Huddle's reference server (binary `huddle`): a thin host of the board
//! session engine over HTTP and WebSocket, as `docs/protocol.md` and
//! `docs/protocol.md` describe.
//!
//! - [`cli`]: `huddle serve` and its flags (each also a `HUDDLE_*` env var).
//! - [`config`]: flags to the engine's `Config` and the server's settings.
//! - [`auth`]: HS256 user tokens scoped to one room; the admin key check.
//! - [`token_crypto`]: HS256 as `jsonwebtoken`'s crypto provider (no RSA).
//! - [`admin_key`]: the admin key, given or generated beside the database.
//! - [`error`]: `{"code", "message"}` HTTP errors.
//! - [`metrics`]: the server's own counters for `/metrics`.
//! - [`node`]: this server as a cluster node (`--node-id`, `--advertise-url`).
//! - [`state`]: what the handlers share.
//! - [`http`]: the router and the HTTP routes.
//! - [`ws`]: `GET /ws?token=` and the per-connection loop.
//! - [`serve`]: `huddle serve` (store, driver, listener, announce);
//!   [`runtime`]: the tokio runtime it runs on.
//! - [`accept`]: the accept loop (caps, HTTP header deadline, accept
//!   errors); [`gate`]: the connection caps.
//! - [`shutdown`]: SIGTERM / Ctrl-C, then flush everything and exit 0.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod accept;
pub mod admin_key;
pub mod auth;
pub mod byte_size;
pub mod cli;
pub mod config;
pub mod error;
pub mod gate;
pub mod http;
pub mod metrics;
pub mod node;
pub mod runtime;
pub mod serve;
pub mod shutdown;
pub mod state;
pub mod token_crypto;
pub mod ws;

#[cfg(test)]
mod tests;
