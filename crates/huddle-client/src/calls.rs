//! What the application asks of the client: connect, credentials, a manual
//! reconnect, close, mutations, cursors, snapshots, recovery export and
//! import.

use huddle_core::{BatchId, Mutation, Timestamp};
use huddle_wire::ClientMessage;

use crate::{
    mutate_message, trim_data, Client, ClientError, ConnectionState, Credentials, DisconnectReason,
    Outgoing, Phase, RecoveredBatch, Recovery, RecoveryError, Status,
};

impl Client {
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
        self.forget_route();
        self.was_connected = false;
        self.state = ConnectionState::Connecting;
        self.open_transport(now);
        Ok(())
    }

    /// Answers [`ClientOutput::NeedCredentials`](crate::ClientOutput::NeedCredentials): the waiting attempt
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
            .position(|m| m.data().is_some_and(|d| !huddle_wire::is_json(d)))
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
                    .any(|m| m.data().is_some_and(|d| !huddle_wire::is_json(d)))
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
}
