//! The clients: real [`huddle_client::Client`] machines, driven by
//! the seed. They join, mutate, move cursors, ask for snapshots, send a
//! batch the engine must refuse, close and come back (re-joining with
//! their last sequence), and go idle for long enough to time out.

use huddle_client::{Client, ClientOutput, ClientSignal, ConnectionState, Credentials};
use huddle_core::{Mutation, Payload};
use huddle_wire::Identity;

use crate::network::Packet;
use crate::trace;
use crate::world::World;

impl World {
    /// The identity the host gives a client's connections (from its token).
    pub fn identity(&self, client: usize) -> Identity {
        let c = &self.clients[client];
        let board = &self.boards[c.board];
        Identity::new(format!("user-{}", c.user), format!("User {}", c.user))
            .board(board.id.clone())
            .session_type(board.kind)
    }

    /// Asks a client to connect (if it is not already trying).
    pub fn connect(&mut self, i: usize) {
        let now = self.clock.now;
        if self.clients[i]
            .client
            .connect(now, Credentials::new(format!("token-{i}")))
            .is_ok()
        {
            trace!(self, "client {i} connect");
            self.client_outputs(i);
        }
    }

    /// Drains a client's outputs into the network and the ledger.
    pub fn client_outputs(&mut self, i: usize) {
        while let Some(output) = self.clients[i].client.poll_output() {
            let now = self.clock.now;
            match output {
                ClientOutput::Connect { transport, url, .. } => {
                    let host = self.connect_target(url.as_deref());
                    let delay = self.rng.millis(1, self.faults.max_delay_ms);
                    let at = now.saturating_add(delay);
                    if self.rng.chance(self.faults.connect_fail) || self.status(host).down(now) {
                        self.net.schedule(at, Packet::OpenFailed(i, transport));
                    } else {
                        let instance = self.instance_of(host);
                        let conn = self.net.open(i, transport, host, instance);
                        trace!(
                            self,
                            "client {i} opens {transport:?} as {conn:?} to host {host}"
                        );
                        self.net.schedule(at, Packet::Opened(i, transport));
                    }
                }
                ClientOutput::Send { transport, message } => {
                    let Some(&conn) = self.net.by_transport.get(&(i, transport)) else {
                        continue;
                    };
                    if !self.net.links.get(&conn).is_some_and(|l| l.up) {
                        continue;
                    }
                    let frame = match message.to_json() {
                        Ok(f) => f.into_bytes(),
                        Err(e) => {
                            self.fail(format!("client message does not encode: {e}"));
                            continue;
                        }
                    };
                    self.send_to_server(conn, frame);
                }
                ClientOutput::Close { transport } => {
                    if let Some(&conn) = self.net.by_transport.get(&(i, transport)) {
                        if let Some(link) = self.net.links.get_mut(&conn) {
                            if link.up {
                                link.up = false;
                                // Frames sent before the close still arrive;
                                // the host learns of the close late.
                                let delay = self.rng.millis(1, self.faults.late_close_ms);
                                self.net.send_on(
                                    now,
                                    delay,
                                    conn,
                                    false,
                                    Packet::ServerDisconnect(conn),
                                );
                            }
                        }
                    }
                }
                ClientOutput::NeedCredentials { .. } => {
                    let delay = self.rng.millis(0, 300);
                    self.clients[i].credentials_due = Some(now.saturating_add(delay));
                }
                ClientOutput::Signal(event) => self.client_event(i, event),
            }
        }
    }

    fn client_event(&mut self, i: usize, event: ClientSignal) {
        let now = self.clock.now;
        match event {
            ClientSignal::Dropped { batch, .. } => {
                trace!(self, "client {i} dropped {batch}");
                let board = &self.boards[self.clients[i].board].id;
                let log = self
                    .store
                    .boards()
                    .get(board)
                    .map_or(0, |b| b.events.len() as u64);
                if self.ledger.dropped.insert(batch.clone(), log).is_some() {
                    self.fail(format!("client {i}: batch {batch} dropped twice"));
                }
            }
            ClientSignal::Acked { batch, sequence } => {
                if let Some(old) = self.ledger.acked.insert(batch.clone(), sequence) {
                    if old != sequence {
                        self.fail(format!(
                            "client {i}: batch {batch} acked at {old} and at {sequence}"
                        ));
                    }
                }
            }
            ClientSignal::Failed | ClientSignal::AuthFailed if self.chaos => {
                let delay = self.rng.millis(100, 5000);
                self.clients[i].reconnect_due = Some(now.saturating_add(delay));
            }
            ClientSignal::Disconnected { .. }
                if self.chaos
                    && self.clients[i].client.state() == ConnectionState::Disconnected =>
            {
                let delay = self.rng.millis(100, 10_000);
                self.clients[i].reconnect_due = Some(now.saturating_add(delay));
            }
            ClientSignal::Synced { sequence, full } => {
                trace!(self, "client {i} synced at {sequence} full {full:?}");
            }
            _ => {}
        }
    }

    /// A client does its next thing (chaos phase only).
    pub fn client_action(&mut self, i: usize) {
        let now = self.clock.now;
        let gap = self.rng.millis(5, self.ledger.max_gap_ms);
        self.clients[i].next_action = now.saturating_add(gap);
        if self.rng.chance(self.faults.client_idle) {
            // Idle: long enough, sometimes, for the inactivity timeout.
            let idle = self.rng.millis(60_000, 45 * 60_000);
            trace!(self, "client {i} idle for {}ms", idle.as_millis());
            self.clients[i].next_action = now.saturating_add(idle);
            return;
        }
        if self.rng.chance(self.faults.client_close * 20.0) {
            trace!(self, "client {i} closes");
            self.clients[i].client.close(now);
            self.client_outputs(i);
            let delay = self.rng.millis(100, 60_000);
            self.clients[i].reconnect_due = Some(now.saturating_add(delay));
            return;
        }
        let roll = self.rng.below(100);
        if roll < 70 {
            let len = 1 + self.rng.below(3) as usize;
            let mutations: Vec<Mutation> = (0..len).map(|_| self.mutation(i)).collect();
            if let Ok(batch) = self.clients[i].client.mutate(now, mutations) {
                trace!(self, "client {i} mutates {batch} ({len})");
                self.ledger.lens.insert(batch.clone(), len);
                self.ledger.made.push((i, batch, len));
            }
        } else if roll < 95 {
            let (x, y) = (self.rng.below(1000) as f64, self.rng.below(1000) as f64);
            let _ = self.clients[i].client.cursor(now, x, y);
        } else if roll < 98 {
            let _ = self.clients[i].client.request_snapshot(now);
        } else {
            // A batch the engine refuses (an element id over the limit): it
            // must be reported dropped and never applied.
            let bad = vec![Mutation::Delete {
                page: "p0".into(),
                element: "x".repeat(300).into(),
            }];
            if let Ok(batch) = self.clients[i].client.mutate(now, bad) {
                trace!(self, "client {i} mutates bad {batch}");
                self.ledger.lens.insert(batch.clone(), 1);
                self.ledger.made.push((i, batch, 1));
            }
        }
        self.client_outputs(i);
    }

    fn mutation(&mut self, i: usize) -> Mutation {
        let page = format!("p{}", self.rng.below(2));
        let element = format!("e{}", self.rng.below(12));
        if self.rng.chance(0.2) {
            Mutation::Delete {
                page: page.into(),
                element: element.into(),
            }
        } else {
            self.ledger.value += 1;
            let data = format!(r#"{{"v":{},"by":{i}}}"#, self.ledger.value);
            Mutation::Upsert {
                page: page.into(),
                element: element.into(),
                data: Payload::from(data.as_str()),
            }
        }
    }

    /// Nobody acts before `until` (a clock jump).
    pub fn postpone_actions(&mut self, until: huddle_core::Timestamp) {
        for c in &mut self.clients {
            c.next_action = c.next_action.max(until);
        }
    }

    /// Runs a client's timers, hook and reconnect when due.
    pub fn client_timers(&mut self, i: usize) {
        let now = self.clock.now;
        if self.clients[i]
            .client
            .poll_timeout()
            .is_some_and(|t| t <= now)
        {
            self.clients[i].client.handle_timeout(now);
            self.client_outputs(i);
        }
        if self.clients[i].credentials_due.is_some_and(|t| t <= now) {
            self.clients[i].credentials_due = None;
            let _ = self.clients[i]
                .client
                .provide_credentials(now, Credentials::new(format!("token-{i}")));
            self.client_outputs(i);
        }
        if self.clients[i].reconnect_due.is_some_and(|t| t <= now) {
            self.clients[i].reconnect_due = None;
            self.connect(i);
        }
    }

    /// The earliest time a client needs attention.
    pub fn client_due(&self, i: usize) -> Option<huddle_core::Timestamp> {
        let c = &self.clients[i];
        let mut due = [
            c.client.poll_timeout(),
            c.credentials_due,
            c.reconnect_due,
            self.chaos.then_some(c.next_action),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(t) = due.as_mut() {
            *t = (*t).max(self.clock.now);
        }
        due
    }

    /// A client process dies and starts again: its sockets drop (the
    /// server learns late), and a new machine with the same client id
    /// imports the old one's recovery data (its unacknowledged batches),
    /// then reconnects. Nothing may be applied twice or lost.
    pub fn restart_client(&mut self, i: usize) {
        let now = self.clock.now;
        self.counters.client_restarts += 1;
        trace!(self, "client {i} restarts");
        let recovery = self.clients[i].client.export_recovery(now);
        let conns: Vec<_> = self
            .net
            .by_transport
            .iter()
            .filter(|((c, _), _)| *c == i)
            .map(|(_, conn)| *conn)
            .collect();
        for conn in conns {
            self.cut(conn);
        }
        // The old process's sockets are gone with it: nothing more reaches
        // the new one through them (its transport ids start again).
        self.net.by_transport.retain(|(c, _), _| *c != i);
        self.net.queue.retain(|_, p| match p {
            Packet::ToClient(c, ..)
            | Packet::Opened(c, _)
            | Packet::OpenFailed(c, _)
            | Packet::Closed(c, ..) => *c != i,
            _ => true,
        });
        let board = self.boards[self.clients[i].board].id.clone();
        let mut client = Client::new(self.client_config.clone(), board, self.rng.next_u64());
        client.set_client_id(self.clients[i].client.client_id().to_owned());
        if let Err(e) = client.import_recovery(now, recovery) {
            return self.fail(format!(
                "client {i}: its own fresh recovery data refused: {e}"
            ));
        }
        let c = &mut self.clients[i];
        c.client = client;
        c.credentials_due = None;
        c.reconnect_due = Some(now.saturating_add(self.rng.millis(10, 30_000)));
        self.client_outputs(i);
    }
}
