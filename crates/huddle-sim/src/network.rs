//! The simulated network: sockets between clients and the engine's host.
//!
//! Frames of one socket stay in order (a WebSocket runs over TCP), but
//! each is delayed by a seeded amount, so frames of different sockets and
//! of the two directions reorder freely. A frame may be delivered twice.
//! A socket may drop: frames in flight are lost, and each side learns of
//! it late and independently. Connection attempts may fail.

use std::collections::BTreeMap;

use huddle_client::TransportId;
use huddle_core::{ConnId, Timestamp};

/// Something the network delivers at a time.
#[derive(Clone, Debug)]
pub enum Packet {
    /// A frame to the engine's host on a connection.
    ToServer(ConnId, Vec<u8>),
    /// The engine's host notices the connection closed.
    ServerDisconnect(ConnId),
    /// A frame to a client.
    ToClient(usize, TransportId, Vec<u8>),
    /// A client's socket opened.
    Opened(usize, TransportId),
    /// A client's connection attempt failed.
    OpenFailed(usize, TransportId),
    /// A client's socket closed (with the close code, if any).
    Closed(usize, TransportId, Option<u16>),
}

/// One socket between a client and the engine's host.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    /// The client (index).
    pub client: usize,
    /// The client's name for it.
    pub transport: TransportId,
    /// Frames still flow (not dropped, not closed by either side).
    pub up: bool,
    /// The host it reaches (index, [`crate::cluster`]).
    pub host: usize,
    /// The engine instance that accepted it (a crash forgets every
    /// connection).
    pub instance: u64,
}

/// Sockets and the frames in flight.
#[derive(Debug, Default)]
pub struct Network {
    /// Deliveries by (time, issue order).
    pub queue: BTreeMap<(Timestamp, u64), Packet>,
    order: u64,
    /// Every socket ever opened.
    pub links: BTreeMap<ConnId, Link>,
    /// Sockets by the client's name for them.
    pub by_transport: BTreeMap<(usize, TransportId), ConnId>,
    /// Per direction of each socket, the last delivery time (frames of a
    /// socket stay in order). `true`: towards the client.
    tail: BTreeMap<(ConnId, bool), Timestamp>,
    next_conn: u64,
}

impl Network {
    /// Schedules a delivery.
    pub fn schedule(&mut self, at: Timestamp, packet: Packet) {
        self.order += 1;
        self.queue.insert((at, self.order), packet);
    }

    /// When the next delivery is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    /// Takes the next delivery due at or before `now`.
    pub fn take_due(&mut self, now: Timestamp) -> Option<Packet> {
        let (&key, _) = self.queue.iter().next().filter(|((t, _), _)| *t <= now)?;
        self.queue.remove(&key)
    }

    /// Opens a socket for a client's transport.
    pub fn open(
        &mut self,
        client: usize,
        transport: TransportId,
        host: usize,
        instance: u64,
    ) -> ConnId {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.links.insert(
            conn,
            Link {
                client,
                transport,
                up: true,
                host,
                instance,
            },
        );
        self.by_transport.insert((client, transport), conn);
        conn
    }

    /// Schedules a frame on one direction of a socket, after the frames
    /// already on it, `delay` from `now`; returns when it arrives.
    pub fn send_on(
        &mut self,
        now: Timestamp,
        delay: std::time::Duration,
        conn: ConnId,
        to_client: bool,
        packet: Packet,
    ) -> Timestamp {
        let tail = self
            .tail
            .get(&(conn, to_client))
            .copied()
            .unwrap_or(Timestamp::EPOCH);
        let at = now.saturating_add(delay).max(tail);
        self.tail.insert((conn, to_client), at);
        self.schedule(at, packet);
        at
    }

    /// Drops frames in flight on a socket (both directions).
    pub fn lose_in_flight(&mut self, conn: ConnId) {
        let Some(link) = self.links.get(&conn).copied() else {
            return;
        };
        self.queue.retain(|_, p| match p {
            Packet::ToServer(c, _) => *c != conn,
            Packet::ToClient(ci, t, _) => !(*ci == link.client && *t == link.transport),
            _ => true,
        });
    }

    /// Live sockets, in id order.
    pub fn up_links(&self) -> Vec<ConnId> {
        self.links
            .iter()
            .filter(|(_, l)| l.up)
            .map(|(c, _)| *c)
            .collect()
    }

    /// The host a delivery goes to (`None`: it goes to a client).
    pub fn host_of(&self, packet: &Packet) -> Option<usize> {
        match packet {
            Packet::ToServer(conn, _) | Packet::ServerDisconnect(conn) => {
                self.links.get(conn).map(|l| l.host)
            }
            _ => None,
        }
    }

    /// A client's live socket, if any (the newest).
    pub fn client_link(&self, client: usize) -> Option<(ConnId, Link)> {
        self.links
            .iter()
            .rev()
            .find(|(_, l)| l.up && l.client == client)
            .map(|(c, l)| (*c, *l))
    }
}
