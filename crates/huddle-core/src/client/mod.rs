//! The client connection machine: a second pure state machine, for Rust
//! services, bots, native apps, load generators and simulators that talk to
//! a Huddle server over an unreliable network.
//!
//! Like the [`Engine`](crate::Engine) it performs no IO and reads no clock.
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
//!   [`ClientEvent::Dropped`], which carries its mutations and the reason.
//! - **Recovery**: [`Client::export_recovery`] / [`Client::import_recovery`]
//!   carry the unacknowledged work across a restart; data older than
//!   `recovery_max_age` (5 min) is refused as stale.
//! - **Presence**: cursor updates are throttled to one per
//!   `cursor_interval` (the latest position is sent at the end of an
//!   interval) and never queued offline.
//! - **Keep-alive**: a ping every `ping_interval`; no pong within
//!   `pong_timeout` counts as a drop.
//!
//! ## The driving loop
//!
//! ```
//! use huddle_core::client::*;
//! use huddle_core::wire::{ClientMessage, ServerMessage};
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
mod config;
mod error;
mod outgoing;
mod output;
mod recovery;
mod replica;

pub use config::{Backoff, ClientConfig};
pub use error::{ClientError, RecoveryError};
pub use output::{
    ClientEvent, ClientOutput, ConnectFailure, ConnectionState, Credentials, DisconnectReason,
    TransportId,
};
pub use recovery::{RecoveredBatch, Recovery, RECOVERY_FORMAT};
pub use replica::BoardReplica;

use std::collections::VecDeque;

use backoff::{jittered, SplitMix64};
use outgoing::{Outgoing, OutgoingQueue, Status};

use crate::error::ErrorCode;
use crate::ids::{BatchId, BoardId};
use crate::mutation::{Mutation, Payload};
use crate::time::Timestamp;
use crate::wire::{self, ClientMessage, JoinedMessage, ServerMessage, WireSync};

/// How many dropped batches are remembered in case their `ack` arrives.
const RECENTLY_DROPPED: usize = 64;

/// The client connection machine for one board. See the [module
/// docs](self).
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

    // ---- application calls -------------------------------------------

    /// Starts connecting with `credentials`: from `disconnected`, `failed`
    /// (a manual reconnect) or `auth_failed` (with new credentials).
    pub fn connect(&mut self, now: Timestamp, credentials: Credentials) -> Result<(), ClientError> {
        let now = self.tick(now);
        if !matches!(
            self.state,
            ConnectionState::Disconnected | ConnectionState::Failed | ConnectionState::AuthFailed
        ) {
            return Err(ClientError::AlreadyActive);
        }
        self.credentials = Some(credentials);
        self.attempt = 0;
        self.was_connected = false;
        self.state = ConnectionState::Connecting;
        self.open_transport(now);
        Ok(())
    }

    /// Answers [`ClientOutput::NeedCredentials`]: the waiting attempt
    /// proceeds with these credentials.
    pub fn provide_credentials(
        &mut self,
        now: Timestamp,
        credentials: Credentials,
    ) -> Result<(), ClientError> {
        let now = self.tick(now);
        if self.phase != Phase::AwaitingCredentials {
            return Err(ClientError::NoCredentialsRequested);
        }
        self.credentials = Some(credentials);
        self.open_transport(now);
        Ok(())
    }

    /// Skips the rest of the current backoff wait (e.g. when the host learns
    /// that the network is back): the pending attempt asks for credentials
    /// now. Returns whether an attempt was waiting.
    pub fn retry_now(&mut self, now: Timestamp) -> bool {
        self.tick(now);
        if let Phase::Backoff { .. } = self.phase {
            self.request_credentials();
            true
        } else {
            false
        }
    }

    /// Closes the connection on purpose (sending `leave` if joined). Not
    /// retried; unacknowledged work is kept (export it, or `connect` again).
    pub fn close(&mut self, now: Timestamp) {
        self.tick(now);
        if let Phase::Live { transport } = self.phase {
            self.send(transport, ClientMessage::Leave);
        }
        if self.state != ConnectionState::Disconnected {
            self.stop(DisconnectReason::Local);
        }
    }

    /// Makes a batch of mutations: sent at once when connected, queued in
    /// order otherwise. Returns the batch id its `ack` will carry.
    pub fn mutate(
        &mut self,
        now: Timestamp,
        mut mutations: Vec<Mutation>,
    ) -> Result<BatchId, ClientError> {
        self.tick(now);
        if mutations.is_empty() {
            return Err(ClientError::EmptyBatch);
        }
        if mutations.len() > self.config.max_batch_len {
            return Err(ClientError::BatchTooLong {
                len: mutations.len(),
                max: self.config.max_batch_len,
            });
        }
        if let Some(index) = mutations
            .iter()
            .position(|m| m.data().is_some_and(|d| !wire::is_json(d)))
        {
            return Err(ClientError::DataNotJson { index });
        }
        let held = self.outgoing.len_mutations();
        if held.saturating_add(mutations.len()) > self.config.max_unacked_mutations {
            return Err(ClientError::QueueFull {
                held,
                limit: self.config.max_unacked_mutations,
            });
        }
        let Some(next_batch) = self.next_batch.checked_add(1) else {
            return Err(ClientError::BatchIdsExhausted);
        };
        trim_data(&mut mutations);
        let batch = BatchId::from(format!("{}-{}", self.client_id, self.next_batch));
        self.next_batch = next_batch;
        let mut item = Outgoing {
            batch: batch.clone(),
            mutations,
            retries: 0,
            status: Status::Queued,
        };
        if let Phase::Live { transport } = self.phase {
            item.status = Status::Sent;
            self.send(transport, mutate_message(&item));
        }
        self.outgoing.push(item);
        Ok(batch)
    }

    /// A cursor move: sent now, or at the end of the current throttle
    /// interval (only the latest position). Never queued offline.
    pub fn cursor(&mut self, now: Timestamp, x: f64, y: f64) -> Result<(), ClientError> {
        let now = self.tick(now);
        if !x.is_finite() || !y.is_finite() {
            return Err(ClientError::InvalidCoordinate);
        }
        let Phase::Live { transport } = self.phase else {
            return Err(ClientError::NotConnected);
        };
        match self.cursor.last_sent {
            Some(sent) if now < sent.saturating_add(self.config.cursor_interval) => {
                self.cursor.pending = Some((x, y));
            }
            _ => {
                self.cursor.last_sent = Some(now);
                self.cursor.pending = None;
                self.send(transport, ClientMessage::Cursor { x, y });
            }
        }
        Ok(())
    }

    /// Asks the server for a manual snapshot (needs a live connection).
    pub fn request_snapshot(&mut self, now: Timestamp) -> Result<(), ClientError> {
        self.tick(now);
        let Phase::Live { transport } = self.phase else {
            return Err(ClientError::NotConnected);
        };
        self.send(transport, ClientMessage::Snapshot);
        Ok(())
    }

    /// The unacknowledged work, for the host to persist.
    pub fn export_recovery(&self, now: Timestamp) -> Recovery {
        Recovery {
            exported_at: now.max(self.now),
            board: self.board.clone(),
            client_id: self.client_id.clone(),
            next_batch: self.next_batch,
            batches: self
                .outgoing
                .iter()
                .map(|o| RecoveredBatch {
                    batch: o.batch.clone(),
                    mutations: o.mutations.clone(),
                    retries: o.retries,
                })
                .collect(),
        }
    }

    /// Takes over exported work (into a client that holds none yet): its
    /// batches are sent, with their ids, after the next sync, and new
    /// batches continue its numbering. Returns the number of batches.
    pub fn import_recovery(
        &mut self,
        now: Timestamp,
        recovery: Recovery,
    ) -> Result<usize, RecoveryError> {
        let now = self.tick(now);
        if recovery.board != self.board {
            return Err(RecoveryError::WrongBoard {
                expected: self.board.clone(),
                found: recovery.board,
            });
        }
        let age = now.saturating_duration_since(recovery.exported_at);
        if age > self.config.recovery_max_age {
            return Err(RecoveryError::Stale {
                age,
                max_age: self.config.recovery_max_age,
            });
        }
        if !self.outgoing.is_empty() {
            return Err(RecoveryError::NotEmpty);
        }
        let held = recovery.mutation_count();
        if held > self.config.max_unacked_mutations {
            return Err(RecoveryError::TooLarge {
                held,
                limit: self.config.max_unacked_mutations,
            });
        }
        if let Some(bad) = recovery.batches.iter().find(|b| {
            b.mutations.is_empty()
                || b.mutations
                    .iter()
                    .any(|m| m.data().is_some_and(|d| !wire::is_json(d)))
        }) {
            return Err(RecoveryError::Malformed(format!(
                "batch {} is empty or has data that is not JSON",
                bad.batch
            )));
        }
        self.client_id = recovery.client_id;
        self.next_batch = self.next_batch.max(recovery.next_batch);
        let count = recovery.batches.len();
        let live = match self.phase {
            Phase::Live { transport } => Some(transport),
            _ => None,
        };
        for mut b in recovery.batches {
            trim_data(&mut b.mutations);
            let mut item = Outgoing {
                batch: b.batch,
                mutations: b.mutations,
                retries: b.retries,
                status: Status::Queued,
            };
            if let Some(transport) = live {
                item.status = Status::Sent;
                self.send(transport, mutate_message(&item));
            }
            self.outgoing.push(item);
        }
        Ok(count)
    }

    // ---- transport reports -------------------------------------------

    /// The host opened `transport`; the client joins on it.
    pub fn transport_open(&mut self, now: Timestamp, transport: TransportId) {
        self.tick(now);
        match self.phase {
            Phase::Opening {
                transport: t,
                deadline,
            } if t == transport => {
                let last_sequence = self.replica.sequence;
                self.phase = Phase::Joining {
                    transport,
                    deadline,
                    last_sequence,
                };
                self.send(
                    transport,
                    ClientMessage::Join {
                        board: self.board.clone(),
                        last_sequence,
                    },
                );
            }
            // A socket the client gave up on opened late: close it.
            _ if self.phase.transport() != Some(transport) => {
                self.outputs.push_back(ClientOutput::Close { transport });
            }
            _ => {}
        }
    }

    /// Opening `transport` failed.
    pub fn transport_failed(
        &mut self,
        now: Timestamp,
        transport: TransportId,
        failure: ConnectFailure,
    ) {
        let now = self.tick(now);
        if self.phase.transport() != Some(transport) {
            return;
        }
        match failure {
            ConnectFailure::Unauthorized => self.auth_failed(),
            ConnectFailure::Network(_) => self.lost(now),
        }
    }

    /// `transport` closed, with the close code if the peer sent one.
    /// 4001 means the credentials were rejected; 4002 an inactivity
    /// timeout; 1000 and other codes 4000-4999 a deliberate close (none of
    /// these is retried). Anything else is an unexpected drop.
    pub fn transport_closed(&mut self, now: Timestamp, transport: TransportId, code: Option<u16>) {
        let now = self.tick(now);
        if self.phase.transport() != Some(transport) {
            return;
        }
        match code {
            Some(4001) => self.auth_failed(),
            Some(4002) => self.stop(DisconnectReason::SessionTimeout),
            Some(code @ (1000 | 4000..=4999)) => self.stop(DisconnectReason::ServerClosed { code }),
            _ => self.lost(now),
        }
    }

    /// A message arrived on `transport`.
    pub fn handle_message(
        &mut self,
        now: Timestamp,
        transport: TransportId,
        message: ServerMessage,
    ) {
        let now = self.tick(now);
        match self.phase {
            Phase::Joining {
                transport: t,
                last_sequence,
                ..
            } if t == transport => self.on_join_answer(now, transport, last_sequence, message),
            Phase::Live { transport: t } if t == transport => self.on_live_message(now, message),
            _ => {}
        }
    }

    /// Acts on every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.tick(now);
        match self.phase {
            Phase::Backoff { until } if now >= until => self.request_credentials(),
            Phase::Opening {
                transport,
                deadline,
            }
            | Phase::Joining {
                transport,
                deadline,
                ..
            } if now >= deadline => {
                self.outputs.push_back(ClientOutput::Close { transport });
                self.lost(now);
            }
            Phase::Live { transport } => {
                if self.ping.pong_deadline.is_some_and(|d| now >= d) {
                    self.outputs.push_back(ClientOutput::Close { transport });
                    self.lost(now);
                    return;
                }
                let mut retries = Vec::new();
                for o in self.outgoing.iter_mut() {
                    if matches!(o.status, Status::RetryAt(t) if now >= t) {
                        o.status = Status::Sent;
                        retries.push(mutate_message(o));
                    }
                }
                for m in retries {
                    self.send(transport, m);
                }
                if self.cursor_due().is_some_and(|t| now >= t) {
                    if let Some((x, y)) = self.cursor.pending.take() {
                        self.cursor.last_sent = Some(now);
                        self.send(transport, ClientMessage::Cursor { x, y });
                    }
                }
                if self.ping.next.is_some_and(|t| now >= t) {
                    self.send(transport, ClientMessage::Ping);
                    if self.ping.pong_deadline.is_none() {
                        self.ping.pong_deadline =
                            Some(now.saturating_add(self.config.pong_timeout));
                    }
                    self.ping.next = self.config.ping_interval.map(|i| now.saturating_add(i));
                }
            }
            _ => {}
        }
    }

    // ---- internals ---------------------------------------------------

    fn tick(&mut self, now: Timestamp) -> Timestamp {
        self.now = self.now.max(now);
        self.now
    }

    fn send(&mut self, transport: TransportId, message: ClientMessage) {
        self.outputs
            .push_back(ClientOutput::Send { transport, message });
    }

    fn event(&mut self, event: ClientEvent) {
        self.outputs.push_back(ClientOutput::Event(event));
    }

    fn cursor_due(&self) -> Option<Timestamp> {
        self.cursor.pending?;
        Some(
            self.cursor
                .last_sent
                .map_or(self.now, |t| t.saturating_add(self.config.cursor_interval)),
        )
    }

    fn open_transport(&mut self, now: Timestamp) {
        let Some(credentials) = self.credentials.clone() else {
            self.request_credentials();
            return;
        };
        let transport = TransportId(self.next_transport);
        self.next_transport += 1;
        self.phase = Phase::Opening {
            transport,
            deadline: now.saturating_add(self.config.attempt_timeout),
        };
        self.outputs.push_back(ClientOutput::Connect {
            transport,
            credentials,
        });
    }

    fn request_credentials(&mut self) {
        self.phase = Phase::AwaitingCredentials;
        self.outputs.push_back(ClientOutput::NeedCredentials {
            attempt: self.attempt,
        });
    }

    /// Leaves the current transport: nothing is in flight on it any more.
    fn drop_transport(&mut self) {
        self.outgoing.unsend_all();
        self.cursor = Cursor::default();
        self.ping = Ping::default();
    }

    /// The transport failed or dropped unexpectedly: schedule the next
    /// attempt, or give up.
    fn lost(&mut self, now: Timestamp) {
        let was_live = matches!(self.phase, Phase::Live { .. });
        self.drop_transport();
        if was_live {
            self.event(ClientEvent::Disconnected {
                reason: DisconnectReason::Unexpected,
            });
        }
        self.attempt += 1;
        if self.attempt > self.config.backoff.max_attempts {
            self.phase = Phase::Idle;
            self.state = ConnectionState::Failed;
            self.event(ClientEvent::Failed);
            return;
        }
        self.state = ConnectionState::Reconnecting {
            attempt: self.attempt,
        };
        self.event(ClientEvent::Reconnecting {
            attempt: self.attempt,
        });
        let delay = jittered(
            self.config.backoff.delay(self.attempt),
            self.config.backoff.jitter,
            &mut self.rng,
        );
        let until = now.saturating_add(delay);
        if until <= now {
            self.request_credentials();
        } else {
            self.phase = Phase::Backoff { until };
        }
    }

    /// The server ended the board session here but serves it again
    /// (another host owns it now, or it is loaded afresh): leave this
    /// transport and reconnect at once, re-sending unacknowledged batches
    /// with their ids as on any reconnect. Counts as an attempt, so a board
    /// that keeps ending backs off and eventually gives up like a flaky
    /// network.
    fn reconnect_now(&mut self, now: Timestamp) {
        self.close_current();
        self.drop_transport();
        self.event(ClientEvent::Disconnected {
            reason: DisconnectReason::SessionMoved,
        });
        if self.attempt == 0 {
            self.attempt = 1;
            self.state = ConnectionState::Reconnecting { attempt: 1 };
            self.event(ClientEvent::Reconnecting { attempt: 1 });
            self.request_credentials();
            return;
        }
        // Not live any more: `lost` only schedules the next attempt.
        self.phase = Phase::Idle;
        self.lost(now);
    }

    fn auth_failed(&mut self) {
        if matches!(self.phase, Phase::Live { .. }) {
            self.event(ClientEvent::Disconnected {
                reason: DisconnectReason::Unauthorized,
            });
        }
        self.close_current();
        self.drop_transport();
        self.phase = Phase::Idle;
        self.state = ConnectionState::AuthFailed;
        self.event(ClientEvent::AuthFailed);
    }

    /// A deliberate end: not retried.
    fn stop(&mut self, reason: DisconnectReason) {
        self.close_current();
        self.drop_transport();
        self.phase = Phase::Idle;
        self.state = ConnectionState::Disconnected;
        self.event(ClientEvent::Disconnected { reason });
    }

    fn close_current(&mut self) {
        if let Some(transport) = self.phase.transport() {
            self.outputs.push_back(ClientOutput::Close { transport });
        }
    }

    /// The replica missed something: re-join from what it has.
    fn resync(&mut self, now: Timestamp) {
        self.close_current();
        self.lost(now);
    }

    fn on_join_answer(
        &mut self,
        now: Timestamp,
        transport: TransportId,
        last_sequence: Option<u64>,
        message: ServerMessage,
    ) {
        match message {
            ServerMessage::Joined(joined) => self.on_joined(now, transport, last_sequence, *joined),
            ServerMessage::Error {
                code, batch: None, ..
            } => {
                if code == ErrorCode::Unauthorized {
                    self.auth_failed();
                } else if code.is_retryable() {
                    self.close_current();
                    self.lost(now);
                } else {
                    self.stop(DisconnectReason::JoinRefused { code });
                }
            }
            // Nothing else is expected before `joined`; a message from the
            // previous session that was delayed is ignored.
            _ => {}
        }
    }

    fn on_joined(
        &mut self,
        now: Timestamp,
        transport: TransportId,
        last_sequence: Option<u64>,
        joined: JoinedMessage,
    ) {
        let full = match joined.sync {
            WireSync::Full { reason, pages } => {
                self.replica.pages = pages;
                self.replica.sequence = Some(joined.sequence);
                Some(reason)
            }
            WireSync::Delta { events } => {
                let consistent = last_sequence.is_some()
                    && self.replica.sequence == last_sequence
                    && self.replica.apply_events(&events).is_ok()
                    && self.replica.sequence == Some(joined.sequence);
                if !consistent {
                    // Forget the local state: the next join asks for a full sync.
                    self.replica.sequence = None;
                    self.resync(now);
                    return;
                }
                None
            }
        };
        self.replica.participants = joined.participants;
        self.phase = Phase::Live { transport };
        self.state = ConnectionState::Connected;
        self.attempt = 0;
        self.ping.next = self.config.ping_interval.map(|i| now.saturating_add(i));
        let mut messages = Vec::new();
        for o in self.outgoing.iter_mut() {
            o.status = Status::Sent;
            messages.push(mutate_message(o));
        }
        for m in messages {
            self.send(transport, m);
        }
        self.event(ClientEvent::Synced {
            sequence: joined.sequence,
            full,
        });
        let reconnected = std::mem::replace(&mut self.was_connected, true);
        self.event(if reconnected {
            ClientEvent::Reconnected
        } else {
            ClientEvent::Connected
        });
    }

    fn on_live_message(&mut self, now: Timestamp, message: ServerMessage) {
        match message {
            ServerMessage::Ack { batch, sequence } => {
                let item = self.outgoing.remove(&batch).or_else(|| {
                    let i = self
                        .recently_dropped
                        .iter()
                        .position(|o| o.batch == batch)?;
                    self.recently_dropped.remove(i)
                });
                let Some(item) = item else {
                    // A duplicate ack, or one for work this client no longer
                    // holds: harmless if the replica already covers it.
                    if self.replica.sequence.is_some_and(|s| sequence > s) {
                        self.resync(now);
                    }
                    return;
                };
                if self.replica.apply_own(&item.mutations, sequence).is_err() {
                    // Keep nothing half-applied; the re-sync brings the
                    // batch's events (it is applied on the server).
                    self.event(ClientEvent::Acked { batch, sequence });
                    self.resync(now);
                    return;
                }
                self.event(ClientEvent::Acked { batch, sequence });
            }
            ServerMessage::Events { events } => match self.replica.apply_events(&events) {
                Ok(true) => {
                    let sequence = self.replica.sequence.unwrap_or_default();
                    self.event(ClientEvent::Changed { sequence });
                }
                Ok(false) => {}
                Err(_) => self.resync(now),
            },
            ServerMessage::Error {
                code,
                message,
                batch: Some(batch),
            } => self.on_rejected(now, batch, code, message),
            ServerMessage::Error {
                code,
                message,
                batch: None,
            } => self.event(ClientEvent::ServerError { code, message }),
            ServerMessage::ParticipantJoined(p) => {
                if !self.replica.participants.iter().any(|q| q.user == p.user) {
                    self.replica.participants.push(p.clone());
                    self.event(ClientEvent::ParticipantJoined(p));
                }
            }
            ServerMessage::ParticipantLeft(p) => {
                let before = self.replica.participants.len();
                self.replica.participants.retain(|q| q.user != p.user);
                if self.replica.participants.len() != before {
                    self.event(ClientEvent::ParticipantLeft(p));
                }
            }
            ServerMessage::Cursor { user, x, y } => self.event(ClientEvent::Cursor { user, x, y }),
            ServerMessage::Snapshot(info) => self.event(ClientEvent::Snapshot(info)),
            ServerMessage::SessionTimeout { .. } => self.stop(DisconnectReason::SessionTimeout),
            ServerMessage::SessionClosed { reason, .. } if reason.reconnect() => {
                self.reconnect_now(now)
            }
            ServerMessage::SessionClosed { .. } => self.stop(DisconnectReason::SessionClosed),
            ServerMessage::Pong => self.ping.pong_deadline = None,
            // A duplicated `joined`: the session is already in sync.
            ServerMessage::Joined(_) => {}
        }
    }

    fn on_rejected(&mut self, now: Timestamp, batch: BatchId, code: ErrorCode, message: String) {
        let max_retries = self.config.max_batch_retries;
        let retry_at = now.saturating_add(self.config.batch_retry_delay);
        let Some(item) = self.outgoing.find_mut(&batch) else {
            self.event(ClientEvent::ServerError { code, message });
            return;
        };
        // Only an answer to the copy in flight counts (a duplicated error
        // frame must not use up a retry).
        if item.status != Status::Sent {
            return;
        }
        match code {
            // Not the batch's fault: it goes out again after the next join.
            // The server no longer knows this connection: re-join at once.
            ErrorCode::NotJoined => {
                item.status = Status::Queued;
                self.resync(now);
            }
            // The inactivity timeout: `session_timeout` and the close follow.
            ErrorCode::SessionExpired => item.status = Status::Queued,
            code if code.is_retryable() && item.retries < max_retries => {
                item.retries += 1;
                item.status = Status::RetryAt(retry_at);
            }
            code => {
                if let Some(item) = self.outgoing.remove(&batch) {
                    self.event(ClientEvent::Dropped {
                        batch,
                        mutations: item.mutations.clone(),
                        code,
                        message,
                    });
                    if self.recently_dropped.len() == RECENTLY_DROPPED {
                        self.recently_dropped.pop_front();
                    }
                    self.recently_dropped.push_back(item);
                }
            }
        }
    }
}

/// Drops the whitespace around each upsert's JSON data (already checked to
/// be one JSON value): the wire carries the value's text without it, so
/// this is the data the server stores and every other client sees, and the
/// replica (which applies the batch on its `ack`) must hold the same.
fn trim_data(mutations: &mut [Mutation]) {
    for m in mutations {
        if let Mutation::Upsert { data, .. } = m {
            let bytes = data.as_bytes();
            // JSON whitespace is ASCII; `is_json` refused any other.
            let trimmed = bytes.trim_ascii();
            if trimmed.len() != bytes.len() {
                *data = Payload::from(trimmed.to_vec());
            }
        }
    }
}

fn mutate_message(item: &Outgoing) -> ClientMessage {
    ClientMessage::Mutate {
        batch: item.batch.clone(),
        mutations: item.mutations.clone(),
    }
}
