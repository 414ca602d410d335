//! The connection's own moves: opening a transport, asking for
//! credentials, losing the connection and backing off, stopping, and
//! re-syncing.

use huddle_core::Timestamp;
use huddle_wire::ClientMessage;

use crate::{
    jittered, Client, ClientOutput, ClientSignal, ConnectionState, Cursor, DisconnectReason, Phase,
    Ping, TransportId,
};

impl Client {
    pub(crate) fn tick(&mut self, now: Timestamp) -> Timestamp {
        self.now = self.now.max(now);
        self.now
    }

    pub(crate) fn send(&mut self, transport: TransportId, message: ClientMessage) {
        self.outputs
            .push_back(ClientOutput::Send { transport, message });
    }

    pub(crate) fn signal(&mut self, signal: ClientSignal) {
        self.outputs.push_back(ClientOutput::Signal(signal));
    }

    pub(crate) fn cursor_due(&self) -> Option<Timestamp> {
        self.cursor.pending?;
        Some(
            self.cursor
                .last_sent
                .map_or(self.now, |t| t.saturating_add(self.config.cursor_interval)),
        )
    }

    pub(crate) fn open_transport(&mut self, now: Timestamp) {
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
            url: self.route.url.clone(),
        });
    }

    pub(crate) fn request_credentials(&mut self) {
        self.phase = Phase::AwaitingCredentials;
        self.outputs.push_back(ClientOutput::NeedCredentials {
            attempt: self.attempt,
        });
    }

    /// Leaves the current transport: nothing is in flight on it any more.
    pub(crate) fn drop_transport(&mut self) {
        self.assembly = None;
        self.outgoing.unsend_all();
        self.cursor = Cursor::default();
        self.ping = Ping::default();
    }

    /// The transport failed or dropped unexpectedly: schedule the next
    /// attempt, or give up.
    pub(crate) fn lost(&mut self, now: Timestamp) {
        let was_live = matches!(self.phase, Phase::Live { .. });
        self.drop_transport();
        self.forget_route();
        if was_live {
            self.signal(ClientSignal::Disconnected {
                reason: DisconnectReason::Unexpected,
            });
        }
        self.attempt += 1;
        if self.attempt > self.config.backoff.max_attempts {
            self.phase = Phase::Idle;
            self.state = ConnectionState::Failed;
            self.signal(ClientSignal::Failed);
            return;
        }
        self.state = ConnectionState::Reconnecting {
            attempt: self.attempt,
        };
        self.signal(ClientSignal::Reconnecting {
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
    /// (another host owns it now, or it is loaded afresh), or closed it
    /// because the token expired: leave this transport and reconnect at
    /// once (asking for credentials first), re-sending unacknowledged
    /// batches with their ids as on any reconnect. Counts as an attempt, so
    /// a board that keeps ending backs off and eventually gives up like a
    /// flaky network.
    pub(crate) fn reconnect_now(&mut self, now: Timestamp, reason: DisconnectReason) {
        self.close_current();
        self.drop_transport();
        self.forget_route();
        self.signal(ClientSignal::Disconnected { reason });
        if self.attempt == 0 {
            self.attempt = 1;
            self.state = ConnectionState::Reconnecting { attempt: 1 };
            self.signal(ClientSignal::Reconnecting { attempt: 1 });
            self.request_credentials();
            return;
        }
        // Not live any more: `lost` only schedules the next attempt.
        self.phase = Phase::Idle;
        self.lost(now);
    }

    pub(crate) fn auth_failed(&mut self) {
        if matches!(self.phase, Phase::Live { .. }) {
            self.signal(ClientSignal::Disconnected {
                reason: DisconnectReason::Unauthorized,
            });
        }
        self.close_current();
        self.drop_transport();
        self.forget_route();
        self.phase = Phase::Idle;
        self.state = ConnectionState::AuthFailed;
        self.signal(ClientSignal::AuthFailed);
    }

    /// A deliberate end: not retried.
    pub(crate) fn stop(&mut self, reason: DisconnectReason) {
        self.close_current();
        self.drop_transport();
        self.stop_idle(reason);
    }

    /// A deliberate end once the transport is left.
    pub(crate) fn stop_idle(&mut self, reason: DisconnectReason) {
        self.forget_route();
        self.phase = Phase::Idle;
        self.state = ConnectionState::Disconnected;
        self.signal(ClientSignal::Disconnected { reason });
    }

    pub(crate) fn close_current(&mut self) {
        if let Some(transport) = self.phase.transport() {
            self.outputs.push_back(ClientOutput::Close { transport });
        }
    }

    /// The server broke the protocol on this connection: say so, drop it
    /// and reconnect.
    pub(crate) fn protocol_error(&mut self, now: Timestamp, error: huddle_wire::PartError) {
        self.signal(ClientSignal::ProtocolError { error });
        self.resync(now);
    }

    /// The replica missed something: re-join from what it has.
    pub(crate) fn resync(&mut self, now: Timestamp) {
        self.close_current();
        self.lost(now);
    }
}
