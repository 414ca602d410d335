//! Helpers shared by the driver's tests: identities, a client that reads
//! decoded frames with a timeout, small configs.

#![allow(dead_code)]

use std::time::Duration;

use huddle_core::{Config, SessionType};
use huddle_store::Store;
use huddle_tokio::{Connection, Driver, DriverConfig, Member, Outbound};
use huddle_wire::{ClientMessage, ServerMessage};

pub fn identity(user: &str, board: &str) -> Member {
    Member::new(board, user, user.to_uppercase())
}

pub fn config(shards: usize) -> DriverConfig {
    DriverConfig::new().shards(shards)
}

pub fn msg(json: &str) -> ClientMessage {
    ClientMessage::from_json(json.as_bytes()).expect("a valid client message")
}

pub fn mutate(batch: &str, element: &str, value: u32) -> ClientMessage {
    msg(&format!(
        r#"{{"type":"mutate","batch":"{batch}","mutations":[{{"op":"upsert","page":"p","element":"{element}","data":{{"v":{value}}}}}]}}"#
    ))
}

/// A decoded frame, or a close.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Msg(ServerMessage),
    Close(u16),
}

pub struct Client {
    pub conn: Connection,
}

impl Client {
    pub fn connect<S: Store + 'static>(driver: &Driver<S>, user: &str, board: &str) -> Client {
        let conn = driver.connect(identity(user, board)).expect("connect");
        Client { conn }
    }

    /// Connects and joins `board`; returns after `joined`.
    pub async fn join<S: Store + 'static>(driver: &Driver<S>, user: &str, board: &str) -> Client {
        let mut c = Client::connect(driver, user, board);
        c.send(msg(&format!(r#"{{"type":"join","board":"{board}"}}"#)));
        match c.next().await {
            Frame::Msg(ServerMessage::Joined(_)) => {}
            other => panic!("{user} expected joined, got {other:?}"),
        }
        c
    }

    pub fn send(&self, m: ClientMessage) {
        self.conn.sender.send(m).expect("send");
    }

    /// The next frame (panics after 30 s, of virtual time under a paused
    /// clock).
    pub async fn next(&mut self) -> Frame {
        self.try_next(Duration::from_secs(30))
            .await
            .expect("a frame within 30 s")
    }

    pub async fn try_next(&mut self, within: Duration) -> Option<Frame> {
        let frame = tokio::time::timeout(within, self.conn.outbound.recv())
            .await
            .ok()??;
        Some(decode(frame))
    }

    /// Skips frames until one matches.
    pub async fn until(&mut self, pred: impl Fn(&Frame) -> bool) -> Frame {
        loop {
            let f = self.next().await;
            if pred(&f) {
                return f;
            }
        }
    }

    /// Frames already queued, without waiting.
    pub fn queued(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Ok(f) = self.conn.outbound.try_recv() {
            out.push(decode(f));
        }
        out
    }
}

pub fn decode(frame: Outbound) -> Frame {
    match frame {
        Outbound::Text(bytes) => Frame::Msg(
            ServerMessage::from_json(&bytes)
                .unwrap_or_else(|e| panic!("undecodable frame {bytes:?}: {e}")),
        ),
        Outbound::Close { code, .. } => Frame::Close(code),
    }
}

pub fn is_ack(f: &Frame) -> bool {
    matches!(f, Frame::Msg(ServerMessage::Ack { .. }))
}

pub fn ack_of(f: &Frame) -> Option<(String, u64)> {
    match f {
        Frame::Msg(ServerMessage::Ack { batch, sequence }) => {
            Some((batch.as_str().to_string(), *sequence))
        }
        _ => None,
    }
}

/// An engine config with short timings for tests.
pub fn short_timings() -> Config {
    Config::new()
        .idle_timeout_ephemeral(Duration::from_secs(5))
        .idle_timeout_persistent(Duration::from_secs(10))
        .inactivity_timeout(Duration::from_secs(20))
        .default_session_type(SessionType::Ephemeral)
}

/// Writer `u` sends `batches` batches (ids `u{u}-{i}`), then reads until
/// all its acks and `others` events of other writers arrived: its acks come
/// once each, in order, with growing sequences, and the events in sequence
/// order.
pub async fn write_and_check(mut c: Client, u: usize, batches: u32, others: usize) {
    for i in 0..batches {
        c.send(mutate(&format!("u{u}-{i}"), &format!("e{u}"), i));
    }
    let mut acks = Vec::new();
    let mut seen = Vec::new();
    while acks.len() < batches as usize || seen.len() < others {
        match c.next().await {
            Frame::Msg(ServerMessage::Ack { batch, sequence }) => {
                acks.push((batch.as_str().to_string(), sequence))
            }
            Frame::Msg(ServerMessage::Events { events }) => {
                seen.extend(events.iter().map(|e| e.seq))
            }
            Frame::Msg(ServerMessage::ParticipantJoined(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let ids: Vec<String> = acks.iter().map(|a| a.0.clone()).collect();
    let expected: Vec<String> = (0..batches).map(|i| format!("u{u}-{i}")).collect();
    assert_eq!(ids, expected, "acks in order, once each");
    assert!(acks.windows(2).all(|w| w[0].1 < w[1].1));
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "events in order");
}

/// The value of the sample `series` (name and labels, as written) of a
/// Prometheus text page; panics if it is not there.
pub fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in\n{page}"))
}
