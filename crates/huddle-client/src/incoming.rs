//! Messages from the server: the answer to a join (delta or full sync, the
//! re-send of unacknowledged batches), then acks, events, presence,
//! snapshots, errors and closes while connected.

use huddle_core::{BatchId, ErrorCode, Timestamp};
use huddle_wire::{JoinAssembly, JoinedMessage, PartError, ServerMessage, WireSync};

use crate::{
    mutate_message, Client, ClientSignal, ConnectionState, DisconnectReason, Phase, Status,
    TransportId, RECENTLY_DROPPED,
};

impl Client {
    pub(crate) fn on_join_answer(
        &mut self,
        now: Timestamp,
        transport: TransportId,
        last_sequence: Option<u64>,
        message: ServerMessage,
    ) {
        match message {
            // A second `joined` amid the parts of the first.
            ServerMessage::Joined(_) if self.assembly.is_some() => {
                self.protocol_error(now, PartError::Unexpected);
            }
            ServerMessage::Joined(joined) if joined.parts > 0 => {
                self.assembly = Some(JoinAssembly::new(*joined));
                self.join_progress(now);
            }
            ServerMessage::Joined(joined) => self.on_joined(now, transport, last_sequence, *joined),
            ServerMessage::JoinedPart(part) => {
                let Some(assembly) = self.assembly.as_mut() else {
                    return self.protocol_error(now, PartError::Unexpected);
                };
                if let Err(error) = assembly.add(*part) {
                    return self.protocol_error(now, error);
                }
                if !assembly.is_complete() {
                    return self.join_progress(now);
                }
                if let Some(assembly) = self.assembly.take() {
                    self.on_joined(now, transport, last_sequence, assembly.into_joined());
                }
            }
            ServerMessage::Redirect { owner, .. } => self.on_redirect(now, owner),
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

    /// A part of the sync arrived: the attempt's timeout starts again.
    fn join_progress(&mut self, now: Timestamp) {
        if let Phase::Joining { deadline, .. } = &mut self.phase {
            *deadline = now.saturating_add(self.config.attempt_timeout);
        }
    }

    pub(crate) fn on_joined(
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
        self.forget_route();
        self.ping.next = self.config.ping_interval.map(|i| now.saturating_add(i));
        let mut messages = Vec::new();
        for o in self.outgoing.iter_mut() {
            o.status = Status::Sent;
            messages.push(mutate_message(o));
        }
        for m in messages {
            self.send(transport, m);
        }
        self.signal(ClientSignal::Synced {
            sequence: joined.sequence,
            full,
        });
        let reconnected = std::mem::replace(&mut self.was_connected, true);
        self.signal(if reconnected {
            ClientSignal::Reconnected
        } else {
            ClientSignal::Connected
        });
    }

    pub(crate) fn on_live_message(&mut self, now: Timestamp, message: ServerMessage) {
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
                    self.signal(ClientSignal::Acked { batch, sequence });
                    self.resync(now);
                    return;
                }
                self.signal(ClientSignal::Acked { batch, sequence });
            }
            ServerMessage::Events { events } => match self.replica.apply_events(&events) {
                Ok(true) => {
                    let sequence = self.replica.sequence.unwrap_or_default();
                    self.signal(ClientSignal::Changed { sequence });
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
            } => self.signal(ClientSignal::ServerError { code, message }),
            ServerMessage::ParticipantJoined(p) => {
                if !self.replica.participants.iter().any(|q| q.user == p.user) {
                    self.replica.participants.push(p.clone());
                    self.signal(ClientSignal::ParticipantJoined(p));
                }
            }
            ServerMessage::ParticipantLeft(p) => {
                let before = self.replica.participants.len();
                self.replica.participants.retain(|q| q.user != p.user);
                if self.replica.participants.len() != before {
                    self.signal(ClientSignal::ParticipantLeft(p));
                }
            }
            ServerMessage::Cursor { user, x, y } => {
                self.signal(ClientSignal::Cursor { user, x, y })
            }
            ServerMessage::Snapshot(info) => self.signal(ClientSignal::Snapshot(info)),
            ServerMessage::SessionTimeout { .. } => self.stop(DisconnectReason::SessionTimeout),
            ServerMessage::SessionClosed { reason, .. } if reason.reconnect() => {
                self.reconnect_now(now, DisconnectReason::SessionMoved)
            }
            ServerMessage::SessionClosed { .. } => self.stop(DisconnectReason::SessionClosed),
            ServerMessage::Pong => self.ping.pong_deadline = None,
            // A part once the sync is complete.
            ServerMessage::JoinedPart(_) => self.protocol_error(now, PartError::Unexpected),
            // A duplicated `joined`: the session is already in sync. A
            // `redirect` answers only a join (a correct server never sends
            // one to a live connection).
            ServerMessage::Joined(_) | ServerMessage::Redirect { .. } => {}
        }
    }

    pub(crate) fn on_rejected(
        &mut self,
        now: Timestamp,
        batch: BatchId,
        code: ErrorCode,
        message: String,
    ) {
        let max_retries = self.config.max_batch_retries;
        let retry_at = now.saturating_add(self.config.batch_retry_delay);
        let Some(item) = self.outgoing.find_mut(&batch) else {
            self.signal(ClientSignal::ServerError { code, message });
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
                    self.signal(ClientSignal::Dropped {
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
