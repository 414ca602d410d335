//! The client connection machine: a second pure state machine, for Rust
//! services, bots, native apps, load generators and simulators that talk to
//! a Huddle server over an unreliable network.
//!
//! Like the [`Engine`](huddle_core::Engine) it performs no IO and reads no clock.
//! The host owns the socket and feeds the client what happens
//! ([`Client::transport_open`], [`Client::handle_message`],
//! [`Client::transport_closed`], ...), always with `now`; the client answers
//! with [`ClientOutput`]s (open a transport, send a message, close it, ask
//! for credentials, application events) and names its next deadline with
//! [`Client::poll_timeout`].
//!
//! ## What it does
//! - **Connection states** `disconnected -> connecting -> connected`; on an
//!   unexpected drop `reconnecting {attempt}` and then `connected` again
//!   (event `reconnected`) once re-joined and re-synced, or `failed` when
//!   the attempts run out; `auth_failed` when the credentials are rejected
//!   (nothing is retried until [`Client::connect`] brings new ones). A
//!   deliberate close by the server is not retried.
//! - **Backoff** per [`Backoff`]: 1, 2, 4, 8, 16 s by default, optional
//!   seeded jitter. Before each reconnect attempt the host is asked for
//!   credentials ([`ClientOutput::NeedCredentials`]) and the attempt waits
//!   for [`Client::provide_credentials`] (the pre-reconnect hook).
//! - **Replica**: the board's elements and sequence as the server confirmed
//!   them ([`BoardReplica`]). A reconnect joins with `last_sequence` and
//!   applies the delta, or replaces the state on a full sync. A gap (which
//!   a correct server never causes) makes the client re-sync.
//! - **Sending**: each batch gets an id (`{client_id}-{n}`); every
//!   unacknowledged batch is sent again after a reconnect with the same id,
//!   so the server applies it once. Batches made while not connected wait
//!   in the same ordered queue (bounded by `max_unacked_mutations`) and go
//!   out after the re-sync. A batch rejected with a retryable error is sent
//!   again up to `max_batch_retries` times, then dropped with
//!   [`ClientSignal::Dropped`], which carries its mutations and the reason.
//! - **Recovery**: [`Client::export_recovery`] / [`Client::import_recovery`]
//!   carry the unacknowledged work across a restart; data older than
//!   `recovery_max_age` (5 min) is refused as stale.
//! - **Presence**: cursor updates are throttled to one per
//!   `cursor_interval` (the latest position is sent at the end of an
//!   interval) and never queued offline.
//! - **Keep-alive**: a ping every `ping_interval`; no pong within
//!   `pong_timeout` counts as a drop.
//! - **Large syncs**: a `joined` that announces `parts` is completed by
//!   the `joined_part` frames that follow ([`huddle_wire::JoinAssembly`]);
//!   the join counts (`synced`, `connected`) and the replica is replaced
//!   only once the last part arrived. Each part restarts the attempt's
//!   timeout. A part that does not continue it is
//!   [`ClientSignal::ProtocolError`], and the client reconnects.
//! - **Routing**: a join answered with `redirect` (another node owns the
//!   board) is sent at once to the owner's URL
//!   ([`ClientOutput::Connect`]'s `url`), at most `max_redirects` times
//!   in a row ([`DisconnectReason::TooManyRedirects`] after that).
//!
//! ## The driving loop
//!
//! ```
//! use huddle_client::*;
//! use huddle_wire::{ClientMessage, ServerMessage};
//! use huddle_core::{Mutation, Timestamp};
//!
//! let mut now = Timestamp::from_millis(1_700_000_000_000);
//! let mut client = Client::new(ClientConfig::default(), "board-1", 42);
//! client.connect(now, Credentials::new("jwt...")).unwrap();
//!
//! // The host opens the socket it is asked for.
//! let Some(ClientOutput::Connect { transport, .. }) = client.poll_output() else { panic!() };
//! client.transport_open(now, transport);
//! // The client sends its join...
//! let Some(ClientOutput::Send { message: ClientMessage::Join { .. }, .. }) = client.poll_output() else { panic!() };
//! // ...and the server's answer comes back (here, handwritten).
//! let joined = ServerMessage::from_json(br##"{"type":"joined","session_id":"0000000000000001",
//!     "board":"board-1","color":"#FF6B6B","participants":[],"sequence":0,"history_from":0,
//!     "sync":{"kind":"full","reason":"initial","pages":{}}}"##).unwrap();
//! client.handle_message(now, transport, joined);
//! assert_eq!(client.state(), ConnectionState::Connected);
//!
//! let upsert = Mutation::Upsert { page: "p".into(), element: "e".into(), data: "1".into() };
//! let batch = client.mutate(now, vec![upsert]).unwrap();
//! while let Some(output) = client.poll_output() {
//!     // Send, Connect, Close, NeedCredentials, Event: act on each.
//!     # let _ = output;
//! }
//! client.handle_message(now, transport, ServerMessage::Ack { batch, sequence: 1 });
//! assert_eq!(client.replica().sequence(), Some(1));
//!
//! // Sleep until the next deadline, then:
//! if let Some(deadline) = client.poll_timeout() {
//!     now = deadline;
//!     client.handle_timeout(now);
//! }
//! ```

mod backoff;
mod calls;
mod config;
mod connection;
mod error;
mod incoming;
#[cfg(feature = "net")]
pub mod net;
mod outgoing;
mod output;
mod recovery;
mod redirect;
mod replica;
mod transport;

pub use config::{Backoff, ClientConfig};
pub use error::{ClientError, RecoveryError};
pub use output::{
    ClientOutput, ClientSignal, ConnectFailure, ConnectionState, Credentials, DisconnectReason,
    TransportId,
};
pub use recovery::{RecoveredBatch, Recovery, RECOVERY_FORMAT};
pub use replica::BoardReplica;

use std::collections::VecDeque;

use backoff::{jittered, SplitMix64};
use outgoing::{mutate_message, trim_data, Outgoing, OutgoingQueue, Status};

use huddle_core::{BoardId, Timestamp};
use huddle_wire::JoinAssembly;

/// How many dropped batches are remembered in case their `ack` arrives.
const RECENTLY_DROPPED: usize = 64;

/// The client connection machine for one board. See the [module
/// docs](self) for the whole driving loop.
///
/// # Examples
///
/// Work made before the first connection waits in the queue, and the first
/// thing a connecting client asks its host for is a transport:
///
/// ```
/// use huddle_client::{Client, ClientConfig, ClientOutput, ConnectionState, Credentials};
/// use huddle_core::{Mutation, Timestamp};
///
/// let now = Timestamp::from_millis(1_700_000_000_000);
/// let mut client = Client::new(ClientConfig::default(), "board-1", 42);
/// let upsert = Mutation::Upsert { page: "p".into(), element: "e".into(), data: "1".into() };
/// client.mutate(now, vec![upsert])?; // queued: not connected yet
///
/// client.connect(now, Credentials::new("a token from the host's auth"))?;
/// assert_eq!(client.state(), ConnectionState::Connecting);
/// assert!(matches!(client.poll_output(), Some(ClientOutput::Connect { .. })));
/// # Ok::<(), huddle_client::ClientError>(())
/// ```
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    board: BoardId,
    client_id: String,
    next_batch: u64,
    rng: SplitMix64,
    state: ConnectionState,
    phase: Phase,
    /// Reconnect attempts since the last successful join.
    attempt: u32,
    /// Connected at least once since the last `connect`: the next join is
    /// a reconnect.
    was_connected: bool,
    credentials: Option<Credentials>,
    /// Where the next connection goes (after a `redirect`).
    route: redirect::Route,
    /// The `joined` whose parts are arriving (`joined_part`), while
    /// joining.
    assembly: Option<JoinAssembly>,
    next_transport: u64,
    replica: BoardReplica,
    outgoing: OutgoingQueue,
    /// Batches dropped lately, in case an `ack` for one still arrives (only
    /// a duplicated error frame can make the client give up on a copy that
    /// the server then applies; a correct server never duplicates frames).
    recently_dropped: VecDeque<Outgoing>,
    cursor: Cursor,
    ping: Ping,
    outputs: VecDeque<ClientOutput>,
    now: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not trying (disconnected, failed, auth failed).
    Idle,
    /// Waiting out the backoff before the next attempt.
    Backoff { until: Timestamp },
    /// The pre-reconnect hook: waiting for credentials.
    AwaitingCredentials,
    /// The host is opening `transport`.
    Opening {
        transport: TransportId,
        deadline: Timestamp,
    },
    /// Open; `join` sent, waiting for `joined`.
    Joining {
        transport: TransportId,
        deadline: Timestamp,
        last_sequence: Option<u64>,
    },
    /// Joined and in sync.
    Live { transport: TransportId },
}

impl Phase {
    fn transport(self) -> Option<TransportId> {
        match self {
            Phase::Opening { transport, .. }
            | Phase::Joining { transport, .. }
            | Phase::Live { transport } => Some(transport),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Cursor {
    last_sent: Option<Timestamp>,
    pending: Option<(f64, f64)>,
}

#[derive(Debug, Default)]
struct Ping {
    next: Option<Timestamp>,
    pong_deadline: Option<Timestamp>,
}

impl Client {
    /// A disconnected client for `board`. `seed` drives the jitter and, unless
    /// [`Client::set_client_id`] is used, the client id that batch ids are
    /// made from: give every client process a different seed (e.g. from
    /// the OS's randomness), or batch ids of two processes could collide and
    /// the server would take a new batch for a retry of an old one.
    pub fn new(config: ClientConfig, board: impl Into<BoardId>, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let client_id = format!("{:016x}", rng.next_u64());
        Client {
            config,
            board: board.into(),
            client_id,
            next_batch: 1,
            rng,
            state: ConnectionState::Disconnected,
            phase: Phase::Idle,
            attempt: 0,
            was_connected: false,
            credentials: None,
            route: redirect::Route::default(),
            assembly: None,
            next_transport: 1,
            replica: BoardReplica::default(),
            outgoing: OutgoingQueue::default(),
            recently_dropped: VecDeque::new(),
            cursor: Cursor::default(),
            ping: Ping::default(),
            outputs: VecDeque::new(),
            now: Timestamp::EPOCH,
        }
    }

    /// Uses `id` (e.g. a UUID the host persists) as the prefix of batch ids.
    pub fn set_client_id(&mut self, id: impl Into<String>) {
        self.client_id = id.into();
    }

    /// The prefix of this client's batch ids.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The board.
    pub fn board(&self) -> &BoardId {
        &self.board
    }

    /// The connection state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The board as the server confirmed it.
    pub fn replica(&self) -> &BoardReplica {
        &self.replica
    }

    /// Unacknowledged batches (sent, waiting to retry, or queued offline).
    pub fn unacked_batches(&self) -> usize {
        self.outgoing.iter().count()
    }

    /// Mutations in unacknowledged batches.
    pub fn unacked_mutations(&self) -> usize {
        self.outgoing.len_mutations()
    }

    /// The next output, if any. Drain after every input.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.outputs.pop_front()
    }

    /// The earliest time [`Client::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        let mut consider = |t: Option<Timestamp>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        match self.phase {
            Phase::Backoff { until } => consider(Some(until)),
            Phase::Opening { deadline, .. } | Phase::Joining { deadline, .. } => {
                consider(Some(deadline))
            }
            Phase::Live { .. } => {
                consider(self.outgoing.next_retry());
                consider(self.cursor_due());
                consider(self.ping.next);
                consider(self.ping.pong_deadline);
            }
            Phase::Idle | Phase::AwaitingCredentials => {}
        }
        next
    }
}
