//! What the client tells its host: [`ClientOutput`]s, the connection
//! [`ConnectionState`] and the application-facing [`ClientSignal`]s.

use core::fmt;

use huddle_core::ErrorCode;
use huddle_core::Mutation;
use huddle_core::{BatchId, UserId};
use huddle_core::{FullSyncReason, ParticipantInfo, SnapshotInfo};
use huddle_wire::{ClientMessage, PartError};

/// Names one transport (socket) the client asked for. Every report about a
/// transport carries its id, so that a late report about an old socket is
/// recognised and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransportId(pub u64);

/// What the host authenticates a connection with (for the reference
/// server: the JWT for `GET /ws?token=`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The token.
    pub token: String,
}

impl Credentials {
    /// Credentials from a token.
    pub fn new(token: impl Into<String>) -> Self {
        Credentials {
            token: token.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(..)")
    }
}

/// One thing for the host to do or know.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientOutput {
    /// Open a transport with these credentials, then report
    /// `transport_open`, `transport_failed` or `transport_closed` for it.
    Connect {
        /// The new transport's id.
        transport: TransportId,
        /// What to authenticate with.
        credentials: Credentials,
        /// Where to connect: `None` is the URL the host was configured
        /// with; `Some` is the WebSocket URL a `redirect` named (the
        /// board's owner), used for this one connection only.
        url: Option<String>,
    },
    /// Send this message on the transport.
    Send {
        /// The transport.
        transport: TransportId,
        /// The message.
        message: ClientMessage,
    },
    /// Close the transport (the client no longer uses it).
    Close {
        /// The transport.
        transport: TransportId,
    },
    /// The pre-reconnect hook: the attempt waits until the host calls
    /// `provide_credentials` (with the same or refreshed credentials).
    NeedCredentials {
        /// The reconnect attempt that waits.
        attempt: u32,
    },
    /// Something the application may want to know.
    Signal(ClientSignal),
}

/// The connection's state as the spec names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Not connected and not trying (initially, after `close`, or after a
    /// deliberate close by the server).
    Disconnected,
    /// The first connection (after `connect`) is being made.
    Connecting,
    /// Joined and in sync; mutations are sent at once.
    Connected,
    /// The connection dropped; attempt `attempt` is pending or under way.
    Reconnecting {
        /// 1-based.
        attempt: u32,
    },
    /// Every attempt failed; `connect` starts over.
    Failed,
    /// The credentials were rejected; nothing is retried until `connect`
    /// brings new ones.
    AuthFailed,
}

/// Why the client is no longer connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The transport dropped, failed, or stopped answering pings (retried).
    Unexpected,
    /// The server closed on purpose (close code 1000 or an application
    /// code 4000-4999 other than 4001, 4002 and 4006): not retried.
    ServerClosed {
        /// The close code.
        code: u16,
    },
    /// The user session timed out for inactivity (`session_timeout`, 4002).
    SessionTimeout,
    /// The host closed the board session (`session_closed`).
    SessionClosed,
    /// The board session ended on this server but is served again
    /// (`session_closed` with reason `moved` or `failed`): the client
    /// reconnects at once.
    SessionMoved,
    /// The server refused the join and retrying cannot help.
    JoinRefused {
        /// The code.
        code: ErrorCode,
    },
    /// The join was redirected more than `max_redirects` times in a row
    /// (the nodes disagree about who owns the board): not retried;
    /// `connect` starts over.
    TooManyRedirects {
        /// The redirects followed before giving up.
        hops: u32,
    },
    /// The credentials were rejected while connected (`auth_failed`
    /// follows).
    Unauthorized,
    /// The server closed a joined connection with 4001: its token expired.
    /// The client asks for fresh credentials (`NeedCredentials`) and
    /// reconnects at once; if those are refused too, `auth_failed`.
    CredentialsExpired,
    /// The application called `close`.
    Local,
}

/// Application-facing events.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientSignal {
    /// The first connection is joined and in sync.
    Connected,
    /// The connection is gone.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A reconnect attempt is scheduled.
    Reconnecting {
        /// 1-based.
        attempt: u32,
    },
    /// Re-joined and re-synced after a drop; unacknowledged work re-sent.
    Reconnected,
    /// The join was sent to the board's owner (a `redirect`): the client
    /// connects to `url` at once, with the same credentials.
    Redirected {
        /// The owner's node id.
        node: String,
        /// The owner's WebSocket URL.
        url: String,
        /// Redirects followed in a row, this one included (1-based).
        hop: u32,
    },
    /// Every reconnect attempt failed.
    Failed,
    /// The credentials were rejected.
    AuthFailed,
    /// A join brought the replica to `sequence`, by delta or by a full
    /// state (`full` says why).
    Synced {
        /// The board's sequence.
        sequence: u64,
        /// `None` for a delta.
        full: Option<FullSyncReason>,
    },
    /// Other participants' events were applied; the replica is at
    /// `sequence`.
    Changed {
        /// The replica's sequence.
        sequence: u64,
    },
    /// A batch was applied by the server (and is durable by default).
    Acked {
        /// The batch.
        batch: BatchId,
        /// Its last sequence.
        sequence: u64,
    },
    /// A batch was given up: rejected with a non-retryable error, or with
    /// a retryable one more often than allowed. It was not applied. (Only a
    /// server that sends an error frame twice can make a retry that was
    /// already on its way be applied after all; its `Acked` then follows.)
    Dropped {
        /// The batch.
        batch: BatchId,
        /// Its mutations.
        mutations: Vec<Mutation>,
        /// The server's last error code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// Someone joined the board.
    ParticipantJoined(ParticipantInfo),
    /// Someone left the board.
    ParticipantLeft(ParticipantInfo),
    /// Someone's cursor moved.
    Cursor {
        /// Whose.
        user: UserId,
        /// X.
        x: f64,
        /// Y.
        y: f64,
    },
    /// A snapshot of the board was stored.
    Snapshot(SnapshotInfo),
    /// The server broke the protocol: a `joined_part` that does not
    /// continue the `joined` being assembled (none announced, the wrong
    /// index, another session or board, the wrong content or `last`).
    /// Nothing of the sync was applied; the client drops the connection
    /// and reconnects (`reconnecting` follows).
    ProtocolError {
        /// What was wrong.
        error: PartError,
    },
    /// An error the server sent that is not about a batch.
    ServerError {
        /// The code.
        code: ErrorCode,
        /// The message.
        message: String,
    },
}

/// Why a transport could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The server refused the credentials (HTTP 401 on the upgrade).
    Unauthorized,
    /// Anything else (refused, unreachable, TLS, timeout...).
    Network(String),
}
