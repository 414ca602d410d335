//! One shard: a task that owns one [`Engine`] and drives it.
//!
//! The loop, per wake-up:
//! 1. wait for an input or the engine's deadline (one reused `Sleep`);
//!    after a wake-up that handled inputs, first wait out the rest of its
//!    tick ([`DriverConfig::tick`]), so that a busy shard handles what
//!    arrived meanwhile together;
//! 2. handle the ready inputs (up to `max_inputs_per_wake`), each with
//!    `now` from the runtime clock, draining the engine's outputs after
//!    each one so that frames keep their order (staged per connection);
//! 3. if `now >= poll_timeout()`, call `handle_timeout(now)` and drain;
//! 4. start the group commit of the appends collected meanwhile (one store
//!    call, unless `appends_in_flight` are in flight: then they wait);
//! 5. hand each connection the frames staged for it meanwhile, in one go
//!    ([`outbox`]: one wake-up of its writer per tick, consecutive
//!    batches' `events` in one frame);
//! 6. re-arm the sleep at `poll_timeout()`.
//!
//! Store calls run in tasks of their own and come back as
//! [`Input::Stored`]: the shard never waits on storage, a slow socket
//! (bounded queues, [`fanout`]) or a slow caller. The shard keeps no
//! per-board storage bookkeeping: the engine says when a board's epoch may
//! be dropped ([`huddle_core::Output::Released`]) and when a shutdown is
//! complete ([`Engine::is_drained`]).

mod appender;
mod fanout;
mod input;
mod lifecycle;
mod outbox;
mod storage;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use huddle_core::{BoardId, ConnId, Engine, SessionState, Stats, Timestamp};
use huddle_store::{Performer, Store};
use huddle_wire::{dispatch, ClientMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) use self::fanout::ConnState;
pub(crate) use self::input::{Input, Stored};
use crate::clock::Clock;
use crate::config::DriverConfig;
use crate::metrics::Metrics;

/// What a shard task starts with.
pub(crate) struct ShardSetup<S> {
    pub(crate) index: usize,
    /// The seed of this shard's engine (the driver's seed plus `index`).
    pub(crate) seed: u64,
    pub(crate) config: DriverConfig,
    pub(crate) performer: Arc<Performer<S>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Clock,
    pub(crate) inputs: mpsc::UnboundedReceiver<Input>,
    pub(crate) self_tx: mpsc::WeakUnboundedSender<Input>,
}

/// Spawns the shard's task on the current runtime.
pub(crate) fn spawn<S: Store + 'static>(setup: ShardSetup<S>) -> JoinHandle<()> {
    let engine = Engine::new(setup.config.engine.clone(), setup.seed);
    let appender = appender::spawn(
        setup.performer.clone(),
        setup.metrics.clone(),
        setup.self_tx.clone(),
    );
    let shard = Shard {
        index: setup.index,
        engine,
        config: setup.config,
        performer: setup.performer,
        metrics: setup.metrics,
        clock: setup.clock,
        inputs: setup.inputs,
        self_tx: setup.self_tx,
        conns: HashMap::new(),
        appends: Vec::new(),
        groups_in_flight: 0,
        appender,
        boards: HashMap::new(),
        releases: Vec::new(),
        outbox: outbox::Outbox::default(),
    };
    tokio::spawn(shard.run())
}

/// A shard's state; lives in its task.
pub(crate) struct Shard<S> {
    index: usize,
    engine: Engine,
    config: DriverConfig,
    performer: Arc<Performer<S>>,
    metrics: Arc<Metrics>,
    clock: Clock,
    inputs: mpsc::UnboundedReceiver<Input>,
    self_tx: mpsc::WeakUnboundedSender<Input>,
    /// Open connections.
    conns: HashMap<ConnId, ConnState>,
    /// Appends waiting for the next group commit.
    appends: Vec<huddle_core::Effect>,
    /// Group commits sent to the appender and not yet reported.
    groups_in_flight: usize,
    appender: mpsc::UnboundedSender<appender::Group>,
    /// Board sessions by state, for the metrics.
    boards: HashMap<BoardId, SessionState>,
    /// Lease releases in flight (awaited before the shard ends, so that a
    /// shutdown hands its boards over at once).
    releases: Vec<JoinHandle<()>>,
    /// The frames of the current tick, handed over at its end.
    outbox: outbox::Outbox,
}

/// How far in the future a sleep with nothing to wait for is set.
const NEVER: Duration = Duration::from_secs(86_400 * 365);

impl<S: Store + 'static> Shard<S> {
    async fn run(mut self) {
        tracing::debug!(shard = self.index, "shard started");
        let sleep = tokio::time::sleep_until(Instant::now() + NEVER);
        tokio::pin!(sleep);
        let mut armed = false;
        let max_inputs = self.config.max_inputs_per_wake.max(1);
        // The end of the tick a wake-up that handled inputs started.
        let mut tick_end: Option<Instant> = None;
        loop {
            if let Some(end) = tick_end.take() {
                tokio::time::sleep_until(end).await;
            }
            tokio::select! {
                biased;
                input = self.inputs.recv() => {
                    let Some(input) = input else { break };
                    let woke = Instant::now();
                    self.handle(input);
                    let mut handled = 1;
                    while handled < max_inputs {
                        match self.inputs.try_recv() {
                            Ok(input) => self.handle(input),
                            Err(_) => break,
                        }
                        handled += 1;
                    }
                    if handled < max_inputs && !self.config.tick.is_zero() {
                        tick_end = Some(woke + self.config.tick);
                    }
                }
                () = &mut sleep, if armed => {}
            }
            let now = self.clock.now();
            if self.engine.poll_timeout().is_some_and(|d| now >= d) {
                self.engine.handle_timeout(now);
                self.drain(now);
            }
            self.commit_appends();
            self.hand_over(now);
            if self.shutdown_complete() {
                break;
            }
            match self.engine.poll_timeout() {
                Some(deadline) => {
                    sleep.as_mut().reset(self.clock.instant_of(deadline));
                    armed = true;
                }
                None => armed = false,
            }
        }
        for release in std::mem::take(&mut self.releases) {
            let _ = release.await;
        }
        self.finish();
        tracing::debug!(shard = self.index, "shard stopped");
    }

    /// Handles one input and drains the engine's outputs.
    fn handle(&mut self, input: Input) {
        let now = self.clock.now();
        match input {
            Input::Open {
                conn,
                identity,
                outbound,
                shared,
            } => {
                self.metrics.connections_open.inc();
                self.conns
                    .insert(conn, ConnState::new(identity, outbound, shared));
                if self.engine.is_shutting_down() {
                    self.close_conn(
                        now,
                        conn,
                        None,
                        crate::close::SERVICE_RESTART,
                        "service restart",
                    );
                }
            }
            Input::Message {
                conn,
                msg,
                received,
            } => self.on_message(now, conn, msg, received),
            Input::Reject {
                conn,
                code,
                message,
                batch,
            } => {
                if self.conns.contains_key(&conn) {
                    self.send_error(conn, &ServerMessage::error(code, message, batch), code);
                }
            }
            Input::Disconnect { conn } => {
                if self.forget_conn(conn).is_some() {
                    self.engine.disconnect(now, conn);
                }
            }
            Input::Stored(stored) => self.on_stored(now, stored),
            Input::Session { board, reply } => {
                let _ = reply.send(self.engine.session(board.as_str()));
            }
            Input::Stats { reply } => {
                let _ = reply.send(self.engine.stats());
            }
            Input::LeaseLost { board } => {
                if self.engine.session(board.as_str()).is_some() {
                    self.metrics.lease_losses.inc();
                }
                tracing::warn!(shard = self.index, %board, "lease lost: the session ends");
                self.engine.lease_lost(now, board.as_str());
            }
            Input::Shutdown => self.begin_shutdown(now),
        }
        self.drain(now);
    }

    fn on_message(&mut self, now: Timestamp, conn: ConnId, msg: ClientMessage, received: Instant) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        state.shared.queued.fetch_sub(1, Ordering::AcqRel);
        let mutate = match &msg {
            ClientMessage::Mutate { batch, mutations } => Some((batch.clone(), mutations.len())),
            _ => None,
        };
        let reply = dispatch(&mut self.engine, now, conn, &state.identity, msg);
        match reply {
            Some(error) => {
                let code = match &error {
                    ServerMessage::Error { code, .. } => *code,
                    _ => huddle_core::ErrorCode::InvalidMessage,
                };
                self.send_error(conn, &error, code);
            }
            None => {
                if let Some((batch, count)) = mutate {
                    self.metrics.mutations_applied.inc_by(count as u64);
                    state.pending_acks.entry(batch).or_insert(received);
                }
            }
        }
    }
}

/// Adds one shard's stats to a sum.
pub(crate) fn add_stats(total: &mut Stats, s: &Stats) {
    total.active_sessions += s.active_sessions;
    total.idle_sessions += s.idle_sessions;
    total.created_sessions += s.created_sessions;
    total.closing_sessions += s.closing_sessions;
    total.total_participants += s.total_participants;
    total.user_sessions += s.user_sessions;
    total.joins_waiting += s.joins_waiting;
    total.pending_mutations += s.pending_mutations;
    total.pending_elements += s.pending_elements;
    total.undurable_mutations += s.undurable_mutations;
    total.pending_bytes += s.pending_bytes;
    total.events_held += s.events_held;
    total.history_bytes_held += s.history_bytes_held;
    total.encoded_bytes_held += s.encoded_bytes_held;
    total.encoded_event_bytes_held += s.encoded_event_bytes_held;
    total.encoded_element_bytes_held += s.encoded_element_bytes_held;
    total.elements_held += s.elements_held;
    total.payload_bytes_held += s.payload_bytes_held;
    total.reserved_bytes += s.reserved_bytes;
    total.snapshots_skipped += s.snapshots_skipped;
    total.board_slots += s.board_slots;
    total.batch_ids_remembered += s.batch_ids_remembered;
    total.batch_id_bytes_remembered += s.batch_id_bytes_remembered;
    total.young_batches_forgotten += s.young_batches_forgotten;
    total.effects_outstanding += s.effects_outstanding;
    total.timers_armed += s.timers_armed;
}
