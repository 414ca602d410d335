//! The engine's host: delivers frames to the engine through the wire
//! dispatcher, drains its outputs (notices to sockets, effects to the
//! store model, events to the invariants), reports storage outcomes (and,
//! by the seed's choice, bad ones), and crashes.

use huddle_core::{ConfirmError, Effect, Engine, Notice, Output, StorageOutcome};
use huddle_wire::{ClientMessage, ServerMessage};

use crate::network::Packet;
use crate::store::Taken;
use crate::trace;
use crate::world::World;

impl World {
    /// Sends a frame from a client to the engine's host (maybe twice).
    pub fn send_to_server(&mut self, conn: huddle_core::ConnId, frame: Vec<u8>) {
        let now = self.clock.now;
        let delay = self.rng.millis(1, self.faults.max_delay_ms);
        let twice = self.rng.chance(self.faults.duplicate);
        if twice {
            self.net.send_on(
                now,
                delay,
                conn,
                false,
                Packet::ToServer(conn, frame.clone()),
            );
        }
        self.net
            .send_on(now, delay, conn, false, Packet::ToServer(conn, frame));
    }

    fn send_to_client(&mut self, conn: huddle_core::ConnId, frame: Vec<u8>) {
        let Some(link) = self.net.links.get(&conn).copied() else {
            return;
        };
        let now = self.clock.now;
        let delay = self.rng.millis(1, self.faults.max_delay_ms);
        if self.rng.chance(self.faults.duplicate) {
            let p = Packet::ToClient(link.client, link.transport, frame.clone());
            self.net.send_on(now, delay, conn, true, p);
        }
        let p = Packet::ToClient(link.client, link.transport, frame);
        self.net.send_on(now, delay, conn, true, p);
    }

    /// Drains the engine's outputs.
    pub fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Notify { conn, notice } => self.notify(conn, &notice, &mut None),
                Output::Broadcast { conns, notice } => {
                    // Encoded once (on its first open link), sent to each.
                    let mut frame = None;
                    for conn in conns {
                        self.notify(conn, &notice, &mut frame);
                    }
                }
                Output::Effect(effect) => {
                    if let Effect::LoadBoard { board, .. } = &effect {
                        // A session opens: it waits to be archived from its
                        // creation (which came earlier if it waited for the
                        // board's previous session to be released).
                        let since = self
                            .engine
                            .session(board.as_str())
                            .map(|s| s.idle_since.unwrap_or(s.created_at))
                            .unwrap_or(self.clock.host.engine_clock);
                        self.obs.boards.entry(board.clone()).or_default().idle_since = Some(since);
                    }
                    let pipeline = self.engine.config().appends_in_flight;
                    if matches!(effect, Effect::AppendEvents { .. })
                        && self.store.conflicting(&effect, 1).is_some()
                    {
                        self.counters.pipelined += 1;
                    }
                    if let Some(other) = self.store.conflicting(&effect, pipeline) {
                        self.fail(format!(
                            "effect {} ({}) for {} issued while effect {other} of that kind is in flight",
                            effect.id().0,
                            kind(&effect),
                            effect.board()
                        ));
                    }
                    let mut latency = self.rng.range(0, self.faults.store_latency_ms);
                    if self.cut_off() {
                        // A call into a partition fails after a timeout.
                        latency += self.cluster.as_ref().map_or(0, |c| c.timeout_ms);
                    }
                    if let (Some(lease), Effect::LoadBoard { id, .. }) =
                        (self.lease.as_mut(), &effect)
                    {
                        lease.load_sent(*id, self.clock.host.read(self.clock.now));
                    }
                    let due = self
                        .clock
                        .now
                        .saturating_add(std::time::Duration::from_millis(latency));
                    trace!(
                        self,
                        "effect {} {:?} {}{}",
                        effect.id().0,
                        kind(&effect),
                        effect.board(),
                        detail(&effect)
                    );
                    // A host another has taken the board from (it does not
                    // know yet) may issue writes that clash with the new
                    // owner's: the store fences them, so only their shape
                    // is checked, not their content against the log.
                    let deposed = !self.serves(effect.board());
                    let checked = if deposed {
                        self.inv
                            .effect(&effect, &huddle_store::reference::ReferenceStore::new())
                    } else {
                        self.inv.effect(&effect, self.store.durable.model())
                    };
                    if let Err(e) = checked {
                        self.fail(e);
                    }
                    self.store.submit(effect, due);
                }
                Output::Signal(event) => self.observe_event(event),
                Output::Released { board } => {
                    self.observe_release(board.clone());
                    self.release_lease(&board);
                }
                Output::Drained => {
                    self.counters.drained += 1;
                    if !self.engine.is_shutting_down() || !self.engine.is_drained() {
                        self.fail("drained without a shutdown, or with work left".into());
                    }
                }
            }
        }
    }

    /// Sends a notice to one connection; `frame` holds its encoding once
    /// made (a broadcast encodes once for all its recipients).
    fn notify(&mut self, conn: huddle_core::ConnId, notice: &Notice, frame: &mut Option<Vec<u8>>) {
        self.observe_notice(conn, notice);
        let Some(link) = self.net.links.get(&conn).copied() else {
            return;
        };
        if !link.up || link.instance != self.instance {
            return;
        }
        let bytes = match frame {
            Some(f) => f.clone(),
            None => match huddle_wire::encode_notice(notice) {
                Ok(f) => frame.insert(f).clone(),
                Err(e) => return self.fail(format!("notice does not encode: {e}")),
            },
        };
        self.send_to_client(conn, bytes);
        if let Notice::SessionTimeout { .. }
        | Notice::SessionClosed { .. }
        | Notice::Redirect { .. } = notice
        {
            let code = match notice {
                Notice::SessionTimeout { .. } => huddle_wire::close::SESSION_TIMEOUT,
                Notice::Redirect { .. } => {
                    self.counters.redirects += 1;
                    huddle_wire::close::REDIRECT
                }
                _ => 4000,
            };
            let (now, d) = (self.clock.now, self.rng.millis(1, self.faults.max_delay_ms));
            let closed = Packet::Closed(link.client, link.transport, Some(code));
            self.net.send_on(now, d, conn, true, closed);
            self.net
                .send_on(now, d, conn, false, Packet::ServerDisconnect(conn));
            if let Some(l) = self.net.links.get_mut(&conn) {
                l.up = false;
            }
        }
    }

    /// Delivers one packet.
    pub fn deliver(&mut self, packet: Packet) {
        let now = self.clock.now;
        match packet {
            Packet::ToServer(conn, frame) => {
                let Some(link) = self.net.links.get(&conn).copied() else {
                    return;
                };
                if link.instance != self.instance {
                    return;
                }
                let message = match ClientMessage::from_json(&frame) {
                    Ok(m) => m,
                    Err(e) => return self.fail(format!("client frame does not decode: {e}")),
                };
                trace!(self, "server <- {conn:?} {}", message.kind());
                if let ClientMessage::Join { last_sequence, .. } = &message {
                    self.inv.join_requested(conn, *last_sequence);
                }
                let guard = match &message {
                    ClientMessage::Mutate { batch, .. }
                        if self.engine.user_session(conn).is_some() =>
                    {
                        self.must_remember(link.client, batch)
                            .map(|g| (batch.clone(), g))
                    }
                    _ => None,
                };
                let identity = self.identity(link.client);
                let host_now = self.clock.engine_input();
                let reply =
                    huddle_wire::dispatch(&mut self.engine, host_now, conn, &identity, message);
                if let Some((batch, g)) = guard {
                    self.check_remembered(link.client, &batch, g, reply.as_ref());
                }
                if let Some(reply) = reply {
                    trace!(self, "reply {conn:?} {reply:?}");
                    match reply.to_json() {
                        Ok(json) => {
                            if self.net.links.get(&conn).is_some_and(|l| l.up) {
                                self.send_to_client(conn, json.into_bytes());
                            }
                        }
                        Err(e) => self.fail(format!("reply does not encode: {e}")),
                    }
                }
                self.drain();
            }
            Packet::ServerDisconnect(conn) => {
                let Some(link) = self.net.links.get(&conn).copied() else {
                    return;
                };
                if link.instance == self.instance {
                    trace!(self, "server disconnect {conn:?}");
                    // A (late) close ends only its own user session.
                    let others: Vec<_> = self
                        .obs
                        .conn_board
                        .keys()
                        .copied()
                        .filter(|c| *c != conn && self.engine.user_session(*c).is_some())
                        .collect();
                    let host_now = self.clock.engine_input();
                    self.engine.disconnect(host_now, conn);
                    if self.engine.user_session(conn).is_some() {
                        self.fail(format!(
                            "{conn:?} still has a user session after its disconnect"
                        ));
                    }
                    if let Some(c) = others
                        .iter()
                        .find(|c| self.engine.user_session(**c).is_none())
                    {
                        self.fail(format!(
                            "the disconnect of {conn:?} ended the user session of {c:?}"
                        ));
                    }
                    self.drain();
                }
                if !link.up {
                    self.net.links.remove(&conn);
                }
            }
            Packet::ToClient(i, transport, frame) => {
                let message = match ServerMessage::from_json(&frame) {
                    Ok(m) => m,
                    Err(e) => return self.fail(format!("server frame does not decode: {e}")),
                };
                self.clients[i]
                    .client
                    .handle_message(now, transport, message);
                self.client_outputs(i);
            }
            Packet::Opened(i, transport) => {
                self.clients[i].client.transport_open(now, transport);
                self.client_outputs(i);
            }
            Packet::OpenFailed(i, transport) => {
                self.clients[i].client.transport_failed(
                    now,
                    transport,
                    huddle_client::ConnectFailure::Network("refused".into()),
                );
                self.client_outputs(i);
            }
            Packet::Closed(i, transport, code) => {
                self.clients[i]
                    .client
                    .transport_closed(now, transport, code);
                self.client_outputs(i);
                self.net.by_transport.remove(&(i, transport));
            }
        }
    }

    /// The store finishes one effect: performs it (or fails it), unless it
    /// did so earlier (`settled`), and the host reports the outcome.
    pub fn complete_effect(&mut self, taken: Taken) {
        let effect = taken.effect;
        let outcome = match taken.settled {
            Some(outcome) => outcome,
            None => match self.settle(&effect) {
                Some(outcome) => outcome,
                None => return,
            },
        };
        if let (Effect::AppendEvents { board, .. }, StorageOutcome::Failed(_)) = (&effect, &outcome)
        {
            if !taken.abandoned {
                self.store.append_failure_reported(board, effect.id());
            }
        }
        self.report(effect, outcome);
    }

    /// The store finishes the appends of `effect`'s board issued before it
    /// and still in flight (it applies a board's appends in order), so that
    /// `effect`'s confirmation can overtake theirs; theirs follow when due.
    pub fn settle_earlier_appends(&mut self, effect: &Effect) {
        for earlier in self.store.unsettled_appends_before(effect) {
            match self.settle(&earlier) {
                Some(outcome) => self.store.set_settled(earlier.id(), outcome),
                None => return,
            }
        }
    }

    /// Performs one effect (or fails it) without reporting it; `None`
    /// after a contract breach.
    pub(crate) fn settle(&mut self, effect: &Effect) -> Option<StorageOutcome> {
        let now = self.clock.now;
        if let Some(refusal) = self.lease_refusal(effect) {
            // Past its lease's safe window the host writes nothing more.
            self.counters.lease_refused += 1;
            trace!(
                self,
                "refused {} {}: {refusal}",
                effect.id().0,
                effect.board()
            );
            self.counters.failed_effects += 1;
            return Some(StorageOutcome::Failed(huddle_store::storage_failure(
                &refusal,
            )));
        }
        let down = self.store.outage_until.is_some_and(|t| t > now) || self.cut_off();
        let fail = down || self.rng.chance(self.faults.store_fail);
        let fenced = fail && !down && self.rng.chance(self.faults.store_fence);
        if let (true, Some(lease), Effect::LoadBoard { id, .. }) =
            (fail, self.lease.as_mut(), effect)
        {
            // A failed load acquired nothing.
            lease.load_done(*id);
        }
        let outcome = if fenced {
            // Another owner, as far as this host can tell: nothing written.
            self.counters.failed_effects += 1;
            self.counters.fences += 1;
            StorageOutcome::fenced("fenced off (injected)")
        } else if fail {
            self.counters.failed_effects += 1;
            let write = !matches!(effect, Effect::LoadBoard { .. });
            if write && self.rng.chance(self.faults.fail_but_done) {
                // The write reached the disk; the confirmation did not.
                if let Err(e) = self.store.perform(effect, now) {
                    self.fail(e);
                    return None;
                }
            }
            // Outages and injected faults are transient: retried.
            StorageOutcome::transient(if down {
                "store down"
            } else {
                "injected failure"
            })
        } else {
            self.counters.effects += 1;
            match self.store.perform(effect, now) {
                Ok(o) => {
                    self.lease_outcome(effect, &o);
                    o
                }
                Err(e) => {
                    self.fail(e);
                    return None;
                }
            }
        };
        if let (Effect::AppendEvents { board, .. }, StorageOutcome::Failed(_)) = (effect, &outcome)
        {
            if !fail {
                // Not injected: the store refused a gap.
                self.counters.gaps_refused += 1;
            }
            self.store.append_failed(board);
        }
        Some(outcome)
    }

    /// Reports a finished effect to the engine.
    fn report(&mut self, effect: Effect, outcome: StorageOutcome) {
        let id = effect.id();
        trace!(self, "report {} {}", id.0, outcome_name(&outcome));
        let host_now = self.clock.engine_input();
        if let Err(e) = self.engine.handle_storage(host_now, id, outcome.clone()) {
            return self.fail(format!(
                "engine refused the report of its own effect {}: {e}",
                id.0
            ));
        }
        self.store.note_reported(id.0);
        self.drain();
        if matches!(effect, Effect::StoreSnapshot { .. }) {
            self.check_snapshots();
        }
        if self.rng.chance(self.faults.bad_confirm) {
            self.bad_confirm(id, outcome);
        }
    }

    /// A confirmation the engine must refuse, with a typed error, changing
    /// nothing: a duplicate, a stale id, an id never issued, or an outcome
    /// that does not fit an outstanding effect.
    fn bad_confirm(&mut self, just_reported: huddle_core::EffectId, outcome: StorageOutcome) {
        self.counters.bad_confirms += 1;
        let (id, outcome, expect) = match self.rng.below(4) {
            0 => (just_reported, outcome, "duplicate"),
            1 => {
                let r = &self.store.reported;
                let id = r[self.rng.below(r.len() as u64) as usize];
                (huddle_core::EffectId(id), StorageOutcome::Stored, "stale")
            }
            2 => {
                let id = self.store.max_issued + 1 + self.rng.below(1000);
                (
                    huddle_core::EffectId(id),
                    StorageOutcome::Stored,
                    "never issued",
                )
            }
            _ => {
                let Some(f) = self.store.in_flight.iter().find(|f| f.stale.is_none()) else {
                    return;
                };
                let wrong = match f.effect {
                    Effect::LoadBoard { .. } => StorageOutcome::Stored,
                    _ => StorageOutcome::NotFound,
                };
                (f.effect.id(), wrong, "mismatched")
            }
        };
        let before = fingerprint(&self.engine);
        let host_now = self.clock.engine_input();
        let result = self.engine.handle_storage(host_now, id, outcome);
        trace!(self, "bad confirm {expect} {} -> {result:?}", id.0);
        let typed = match (expect, &result) {
            ("mismatched", Err(ConfirmError::MismatchedOutcome(_))) => true,
            ("mismatched", _) => false,
            (_, Err(ConfirmError::UnknownEffect(_))) => true,
            _ => false,
        };
        if !typed {
            return self.fail(format!(
                "{expect} confirmation of effect {} answered {result:?}",
                id.0
            ));
        }
        if self.engine.poll_output().is_some() || fingerprint(&self.engine) != before {
            self.fail(format!(
                "{expect} confirmation of effect {} changed the engine",
                id.0
            ));
        }
    }

    /// The host crashes: the engine and everything in flight are lost; the
    /// store keeps what reached its disk. A new engine starts empty and
    /// loads boards from the store when clients re-join.
    pub fn crash(&mut self) {
        self.counters.crashes += 1;
        trace!(self, "CRASH");
        let keep = self.faults.crash_keeps_inflight;
        let rng = &mut self.rng;
        let now = self.clock.now;
        let breaches = self.store.crash(|_| rng.chance(keep), now);
        if let Some(b) = breaches.into_iter().next() {
            self.fail(b);
        }
        self.restart_engine();
    }

    /// A new engine instance takes the old one's place: it knows no
    /// session and no connection (clients reconnect to it).
    pub fn restart_engine(&mut self) {
        self.instances += 1;
        self.instance = self.instances;
        self.engine = Engine::new(self.config.clone(), self.seed.wrapping_add(self.instance));
        self.clock.host.engine_clock = huddle_core::Timestamp::EPOCH;
        self.obs.crashed();
        self.inv.crashed();
        self.restart_host();
        let host = self.current;
        for conn in self.net.up_links() {
            if self.net.links.get(&conn).is_some_and(|l| l.host == host) {
                self.cut(conn);
            }
        }
        // The new engine never knew these connections.
        let links = &self.net.links;
        self.net.queue.retain(|_, p| match p {
            Packet::ServerDisconnect(c) | Packet::ToServer(c, _) => {
                links.get(c).is_some_and(|l| l.host != host)
            }
            _ => true,
        });
    }

    /// A socket drops: frames in flight are lost, each side learns late.
    pub fn cut(&mut self, conn: huddle_core::ConnId) {
        let Some(link) = self.net.links.get_mut(&conn) else {
            return;
        };
        if !link.up {
            return;
        }
        link.up = false;
        let link = *link;
        self.counters.cuts += 1;
        trace!(self, "cut {conn:?}");
        self.net.lose_in_flight(conn);
        let now = self.clock.now;
        let a = now.saturating_add(self.rng.millis(1, self.faults.late_close_ms));
        let b = now.saturating_add(self.rng.millis(1, self.faults.late_close_ms));
        self.net
            .schedule(a, Packet::Closed(link.client, link.transport, None));
        self.net.schedule(b, Packet::ServerDisconnect(conn));
    }
}

/// What must not change when the engine refuses an input.
fn fingerprint(
    engine: &Engine,
) -> (
    Option<huddle_core::Timestamp>,
    Vec<Option<huddle_core::SessionInfo>>,
    huddle_core::Stats,
) {
    let boards: Vec<_> = engine.boards().cloned().collect();
    (
        engine.poll_timeout(),
        boards.iter().map(|b| engine.session(b.as_str())).collect(),
        engine.stats(),
    )
}

fn detail(effect: &Effect) -> String {
    match effect {
        Effect::AppendEvents { events, .. } => format!(
            " {}..={}",
            events.first().map_or(0, |e| e.seq),
            events.last().map_or(0, |e| e.seq)
        ),
        Effect::Flush { batch, .. } => format!(" {}..={}", batch.first_seq, batch.through),
        Effect::StoreSnapshot { snapshot, .. } => format!(" at {}", snapshot.version),
        _ => String::new(),
    }
}

fn kind(effect: &Effect) -> &'static str {
    match effect {
        Effect::LoadBoard { .. } => "load",
        Effect::AppendEvents { .. } => "append",
        Effect::Flush { .. } => "flush",
        Effect::StoreSnapshot { .. } => "snapshot",
        Effect::PruneSnapshots { .. } => "prune",
        Effect::StoreUserSession { .. } => "record",
    }
}

fn outcome_name(outcome: &StorageOutcome) -> &'static str {
    match outcome {
        StorageOutcome::Loaded(_) => "loaded",
        StorageOutcome::NotFound => "not-found",
        StorageOutcome::Stored => "stored",
        StorageOutcome::SnapshotStored(_) => "snapshot-stored",
        StorageOutcome::OwnedElsewhere(_) => "owned-elsewhere",
        StorageOutcome::Failed(_) => "failed",
        _ => "other",
    }
}
