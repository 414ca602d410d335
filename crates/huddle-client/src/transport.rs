//! What the host reports of the transport: opened, failed, closed, a
//! message arrived, a deadline passed.

use huddle_core::Timestamp;
use huddle_wire::{close, ClientMessage, ServerMessage};

use crate::{
    mutate_message, Client, ClientOutput, ConnectFailure, DisconnectReason, Phase, Status,
    TransportId,
};

impl Client {
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
    /// 4001 means the credentials were rejected: on a joined connection
    /// the token expired, so the client asks for fresh credentials and
    /// reconnects at once; before that, it stops (`auth_failed`). 4002 is
    /// an inactivity timeout; 1000 and other codes 4000-4999 a deliberate
    /// close (none of these is retried), except 4006 (no `join` within the
    /// server's deadline) and 4003 (redirect). 4003 follows a `redirect`
    /// frame, which already moved the client on; without one it is retried
    /// like a drop, through the configured URL. Anything else, 4006
    /// included, is an unexpected drop.
    pub fn transport_closed(&mut self, now: Timestamp, transport: TransportId, code: Option<u16>) {
        let now = self.tick(now);
        if self.phase.transport() != Some(transport) {
            return;
        }
        match code {
            Some(close::AUTH_FAILED) if matches!(self.phase, Phase::Live { .. }) => {
                self.reconnect_now(now, DisconnectReason::CredentialsExpired)
            }
            Some(close::AUTH_FAILED) => self.auth_failed(),
            Some(close::SESSION_TIMEOUT) => self.stop(DisconnectReason::SessionTimeout),
            Some(close::REDIRECT) => self.lost(now),
            Some(code) if close::is_deliberate(code) => {
                self.stop(DisconnectReason::ServerClosed { code })
            }
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
}
