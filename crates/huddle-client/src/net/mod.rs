//! The client machine on tokio (feature `net`): a task that owns one
//! [`Client`](crate::Client) and performs what it asks for over real WebSockets
//! (tokio-tungstenite), with the system clock.
//!
//! The machine stays the one place where behaviour lives (reconnects,
//! backoff, re-sync, re-sent batches, redirects to a board's owner); this
//! module only does IO: it opens the transports the machine asks for (the
//! configured URL, or the owner's URL of a `redirect`, with the token as
//! the `token` query parameter as the reference server expects), feeds
//! back what they deliver, sleeps until [`Client::poll_timeout`](crate::Client::poll_timeout), and
//! answers the pre-reconnect hook with [`NetConfig::credentials`] or the
//! hook the application set.
//!
//! ```no_run
//! # async fn run() -> Result<(), huddle_client::net::NetError> {
//! use huddle_client::net::{spawn, NetConfig};
//! use huddle_client::Credentials;
//! use huddle_core::Mutation;
//!
//! let mut client = spawn(NetConfig::new(
//!     "ws://127.0.0.1:7878/ws",
//!     "board-1",
//!     Credentials::new("jwt..."),
//! ));
//! let upsert = Mutation::Upsert { page: "p".into(), element: "e".into(), data: "1".into() };
//! let batch = client.mutate(vec![upsert]).await?;
//! while let Some(signal) = client.next_signal().await {
//!     // Connected, Acked { batch, .. }, Changed { .. }, Redirected { .. }...
//!     # let _ = (&signal, &batch);
//! }
//! # Ok(()) }
//! ```

mod socket;
mod task;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use huddle_core::{BatchId, BoardId, Mutation};
use tokio::sync::{mpsc, oneshot};

use crate::{BoardReplica, ClientConfig, ClientError, ClientSignal, ConnectionState, Credentials};

/// Asked before each reconnect attempt (the attempt number, 1-based) for
/// the credentials to connect with: where a service refreshes a token.
pub type CredentialsHook =
    Arc<dyn Fn(u32) -> Pin<Box<dyn Future<Output = Credentials> + Send>> + Send + Sync>;

/// What [`spawn`] needs.
#[derive(Clone)]
pub struct NetConfig {
    /// The server's WebSocket URL (`ws://host:port/ws` for `huddle serve`).
    pub url: String,
    /// The board to join.
    pub board: BoardId,
    /// The credentials of the first connection, and of every reconnect
    /// unless [`NetConfig::credentials_hook`] is set.
    pub credentials: Credentials,
    /// Asked before each reconnect; `None`: reuse `credentials`.
    pub credentials_hook: Option<CredentialsHook>,
    /// The machine's settings.
    pub client: ClientConfig,
    /// The machine's seed (batch id prefix, jitter).
    pub seed: u64,
    /// The largest frame accepted from the server. A server sends a
    /// `joined` too large for its own frame limit (`--max-frame-bytes`,
    /// 1 MiB by default) in parts within it, so this must be at least that
    /// limit; a larger frame ends the connection (and the client
    /// reconnects).
    pub max_frame_bytes: usize,
}

impl NetConfig {
    /// Defaults: [`ClientConfig::default`], a seed from the system clock
    /// and the process id, frames up to 64 MiB.
    pub fn new(
        url: impl Into<String>,
        board: impl Into<BoardId>,
        credentials: Credentials,
    ) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        NetConfig {
            url: url.into(),
            board: board.into(),
            credentials,
            credentials_hook: None,
            client: ClientConfig::default(),
            seed: nanos ^ (u64::from(std::process::id()) << 32),
            max_frame_bytes: 64 << 20,
        }
    }
}

/// Why a call on a [`NetClient`] failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The machine refused the call.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The client's task has ended (after [`NetClient::close`], or a panic).
    #[error("the client task has ended")]
    Ended,
}

/// A request to the task.
enum Command {
    Mutate(Vec<Mutation>, oneshot::Sender<Result<BatchId, ClientError>>),
    Observe(oneshot::Sender<Observed>),
    Close(oneshot::Sender<()>),
}

/// What [`NetClient::observe`] returns: the machine's state at one moment.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The connection state.
    pub state: ConnectionState,
    /// The board as the server confirmed it.
    pub replica: BoardReplica,
    /// Batches not acknowledged yet.
    pub unacked_batches: usize,
}

/// The handle of a running client (see the [module docs](self)). Dropping
/// it stops the task; [`NetClient::close`] leaves the board first.
pub struct NetClient {
    commands: mpsc::UnboundedSender<Command>,
    signals: mpsc::UnboundedReceiver<ClientSignal>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts a client task on the current tokio runtime; it connects at once.
pub fn spawn(config: NetConfig) -> NetClient {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (signal_tx, signals) = mpsc::unbounded_channel();
    let task = tokio::spawn(task::run(config, command_rx, signal_tx));
    NetClient {
        commands,
        signals,
        task,
    }
}

impl NetClient {
    /// Makes a batch (sent at once when connected, queued in order
    /// otherwise); its id, which the `Acked` signal will carry.
    pub async fn mutate(&self, mutations: Vec<Mutation>) -> Result<BatchId, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Mutate(mutations, tx))
            .map_err(|_| NetError::Ended)?;
        Ok(rx.await.map_err(|_| NetError::Ended)??)
    }

    /// The machine's state now.
    pub async fn observe(&self) -> Result<Observed, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Observe(tx))
            .map_err(|_| NetError::Ended)?;
        rx.await.map_err(|_| NetError::Ended)
    }

    /// The next signal; `None` once the task has ended.
    pub async fn next_signal(&mut self) -> Option<ClientSignal> {
        self.signals.recv().await
    }

    /// A signal already received, without waiting.
    pub fn try_signal(&mut self) -> Option<ClientSignal> {
        self.signals.try_recv().ok()
    }

    /// Leaves the board (unacknowledged work is dropped with the task) and
    /// waits for the task to end.
    pub async fn close(mut self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).is_ok() {
            let _ = rx.await;
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for NetClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `url` with `token` as its `token` query parameter.
pub(crate) fn with_token(url: &str, token: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut out = String::with_capacity(url.len() + token.len() + 7);
    out.push_str(url);
    out.push(sep);
    out.push_str("token=");
    for b in token.bytes() {
        // A JWT is URL-safe already; anything else is percent-encoded.
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_token;

    #[test]
    fn the_token_is_a_query_parameter() {
        assert_eq!(with_token("ws://h/ws", "a.b-c_"), "ws://h/ws?token=a.b-c_");
        assert_eq!(with_token("ws://h/ws?x=1", "t"), "ws://h/ws?x=1&token=t");
        assert_eq!(with_token("ws://h/ws", "a b+"), "ws://h/ws?token=a%20b%2B");
    }
}
