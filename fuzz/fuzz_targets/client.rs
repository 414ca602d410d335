//! The client connection machine driven by arbitrary inputs: application
//! calls, transport events (for the current transport or stale ones),
//! server messages (raw frames through `ServerMessage::from_json`, and
//! structured ones near the replica's sequence: joins, acks for its own
//! batches, events with gaps, errors), timeouts with a clock that may go
//! back, and recovery imports (arbitrary bytes, and structured data with
//! arbitrary counters).
//!
//! After each input: no panic, every frame the client sends encodes and
//! decodes to itself, and nothing is still due right after
//! `handle_timeout`.
#![no_main]

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use huddle_client::*;
use huddle_core::*;
use huddle_wire::{ClientMessage, JoinedMessage, ServerMessage, WireEvent, WireSync};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, Copy)]
struct Num(u64);

impl<'a> Arbitrary<'a> for Num {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Num(match u.int_in_range(0u8..=7)? {
            0 => u64::MAX - u64::from(u.arbitrary::<u8>()? % 4),
            1 => u.arbitrary()?,
            _ => u64::from(u.arbitrary::<u8>()? % 16),
        }))
    }
}

#[derive(Arbitrary, Debug)]
enum Mut {
    Upsert { page: u8, element: u8, n: u8 },
    Delete { page: u8, element: u8 },
    Raw { data: Vec<u8> },
}

impl Mut {
    fn build(&self) -> Mutation {
        match self {
            Mut::Upsert { page, element, n } => Mutation::Upsert {
                page: format!("p{}", page % 3).into(),
                element: format!("e{}", element % 6).into(),
                data: Payload::from(n.to_string().as_str()),
            },
            Mut::Delete { page, element } => Mutation::Delete {
                page: format!("p{}", page % 3).into(),
                element: format!("e{}", element % 6).into(),
            },
            Mut::Raw { data } => Mutation::Upsert {
                page: "p0".into(),
                element: "e0".into(),
                data: Payload::from(data.clone()),
            },
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Which {
    Current,
    Stale(u8),
}

#[derive(Arbitrary, Debug)]
enum Code {
    BoardNotFound,
    NotJoined,
    SessionExpired,
    InvalidMessage,
    PayloadTooLarge,
    RateLimited,
    RoomFull,
    Unauthorized,
    Unavailable,
    SlowConsumer,
    DataTooDeep,
    BatchIdReused,
    SnapshotUnchanged,
    BoardTooLarge,
    SnapshotTooLarge,
}

impl Code {
    fn code(&self) -> ErrorCode {
        match self {
            Code::BoardNotFound => ErrorCode::BoardNotFound,
            Code::NotJoined => ErrorCode::NotJoined,
            Code::SessionExpired => ErrorCode::SessionExpired,
            Code::InvalidMessage => ErrorCode::InvalidMessage,
            Code::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Code::RateLimited => ErrorCode::RateLimited,
            Code::RoomFull => ErrorCode::RoomFull,
            Code::Unauthorized => ErrorCode::Unauthorized,
            Code::Unavailable => ErrorCode::Unavailable,
            Code::SlowConsumer => ErrorCode::SlowConsumer,
            Code::DataTooDeep => ErrorCode::DataTooDeep,
            Code::BatchIdReused => ErrorCode::BatchIdReused,
            Code::SnapshotUnchanged => ErrorCode::SnapshotUnchanged,
            Code::BoardTooLarge => ErrorCode::BoardTooLarge,
            Code::SnapshotTooLarge => ErrorCode::SnapshotTooLarge,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Raw(Vec<u8>),
    /// `joined` with a delta of `count` events from `skip` after the
    /// replica's sequence (0: exactly what it asked for).
    JoinedDelta {
        skip: u8,
        count: u8,
        sequence: Option<Num>,
    },
    JoinedFull {
        sequence: Num,
        elements: Vec<(u8, u8, u8)>,
        reason: u8,
    },
    /// An ack for the `pick`-th batch sent, at the replica's sequence plus
    /// `ahead` (or an arbitrary sequence).
    Ack {
        pick: u8,
        ahead: u8,
        raw: Option<Num>,
    },
    /// Events starting `skip` after the replica's sequence (0: no gap).
    Events {
        skip: i8,
        count: u8,
    },
    Error {
        code: Code,
        batch: Option<u8>,
    },
    Participant {
        joined: bool,
        user: u8,
    },
    Cursor {
        x: f64,
        y: f64,
    },
    Snapshot {
        version: Num,
    },
    SessionTimeout,
    /// With a reason: closed, moved (reconnect now) or failed.
    SessionClosed(u8),
    Pong,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Connect(String),
    ProvideCredentials,
    RetryNow,
    Close,
    Mutate(Vec<Mut>),
    Cursor(f64, f64),
    Snapshot,
    Open(Which),
    Failed {
        which: Which,
        unauthorized: bool,
    },
    Closed {
        which: Which,
        code: Option<u16>,
    },
    Message {
        which: Which,
        msg: Msg,
    },
    Advance(u32),
    Back(u32),
    ToDeadline,
    Timeout,
    /// Export, then import into a fresh client (a restart).
    Restart {
        age_ms: u32,
    },
    ImportRaw(Vec<u8>),
    /// A fresh client importing structured, possibly hostile data.
    Import {
        fresh: bool,
        age_ms: u32,
        future: bool,
        next_batch: Num,
        batches: Vec<(u8, Vec<Mut>, u32)>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    zero_first_delay: bool,
    jitter: u8,
    ops: Vec<Op>,
}

struct Host {
    client: Client,
    config: ClientConfig,
    now: Timestamp,
    transport: Option<TransportId>,
    sent: Vec<BatchId>,
    seed: u64,
}

const BOARD: &str = "board";

impl Host {
    fn drain(&mut self) {
        while let Some(out) = self.client.poll_output() {
            match out {
                ClientOutput::Connect { transport, .. } => self.transport = Some(transport),
                ClientOutput::Send { message, .. } => {
                    let json = message.to_json().expect("the client sends what encodes");
                    let back = ClientMessage::from_json(json.as_bytes())
                        .unwrap_or_else(|e| panic!("the client sent {json}, which fails: {e}"));
                    assert_eq!(back, message);
                    if let ClientMessage::Mutate { batch, mutations } = message {
                        assert!(!mutations.is_empty());
                        if !self.sent.contains(&batch) {
                            self.sent.push(batch);
                        }
                    }
                }
                ClientOutput::Close { .. }
                | ClientOutput::NeedCredentials { .. }
                | ClientOutput::Signal(_) => {}
            }
        }
        let _ = (
            self.client.state(),
            self.client.unacked_batches(),
            self.client.unacked_mutations(),
        );
    }

    fn which(&self, w: &Which) -> TransportId {
        match (w, self.transport) {
            (Which::Current, Some(t)) => t,
            (Which::Current, None) => TransportId(1),
            (Which::Stale(n), _) => TransportId(u64::from(*n % 8)),
        }
    }

    fn seq(&self) -> u64 {
        self.client.replica().sequence().unwrap_or(0)
    }

    fn event(seq: u64, i: u64) -> WireEvent {
        WireEvent {
            seq,
            user: "other".into(),
            mutation: Mutation::Upsert {
                page: "p0".into(),
                element: format!("e{}", i % 6).into(),
                data: Payload::from(i.to_string().as_str()),
            },
        }
    }

    fn message(&self, msg: &Msg) -> Option<ServerMessage> {
        let cur = self.seq();
        let joined = |sequence: u64, sync: WireSync| {
            ServerMessage::Joined(Box::new(JoinedMessage {
                session_id: UserSessionId(7),
                board: BOARD.into(),
                color: Color::from_index(1),
                participants: vec![ParticipantInfo {
                    user: "me".into(),
                    display_name: "Me".into(),
                    color: Color::from_index(1),
                }],
                sequence,
                history_from: 0,
                sync,
                parts: 0,
            }))
        };
        Some(match msg {
            Msg::Raw(bytes) => ServerMessage::from_json(bytes).ok()?,
            Msg::JoinedDelta {
                skip,
                count,
                sequence,
            } => {
                let start = cur.saturating_add(u64::from(*skip)).saturating_add(1);
                let events: Vec<WireEvent> = (0..u64::from(*count % 8))
                    .map(|i| Self::event(start.saturating_add(i), i))
                    .collect();
                let end = events.last().map_or(cur, |e| e.seq);
                joined(sequence.map_or(end, |s| s.0), WireSync::Delta { events })
            }
            Msg::JoinedFull {
                sequence,
                elements,
                reason,
            } => joined(
                sequence.0,
                WireSync::Full {
                    reason: match reason % 4 {
                        0 => FullSyncReason::Initial,
                        1 => FullSyncReason::TooOld,
                        2 => FullSyncReason::Ahead,
                        _ => FullSyncReason::NoHistory,
                    },
                    pages: Pages::from_elements(elements.iter().take(16).map(|(p, e, d)| {
                        (
                            format!("p{}", p % 3).into(),
                            format!("e{}", e % 6).into(),
                            Payload::from(d.to_string().as_str()),
                        )
                    })),
                },
            ),
            Msg::Ack { pick, ahead, raw } => {
                let batch = if self.sent.is_empty() {
                    BatchId::from("nobody")
                } else {
                    self.sent[usize::from(*pick) % self.sent.len()].clone()
                };
                let sequence = raw.map_or(cur.saturating_add(u64::from(*ahead)), |n| n.0);
                ServerMessage::Ack { batch, sequence }
            }
            Msg::Events { skip, count } => {
                let start = cur
                    .saturating_add_signed(i64::from(*skip))
                    .saturating_add(1);
                ServerMessage::Events {
                    events: (0..u64::from(*count % 8))
                        .map(|i| Self::event(start.saturating_add(i), i))
                        .collect(),
                }
            }
            Msg::Error { code, batch } => ServerMessage::Error {
                code: code.code(),
                message: "fuzz".into(),
                batch: batch.and_then(|b| {
                    if self.sent.is_empty() {
                        None
                    } else {
                        Some(self.sent[usize::from(b) % self.sent.len()].clone())
                    }
                }),
            },
            Msg::Participant { joined, user } => {
                let p = ParticipantInfo {
                    user: format!("u{}", user % 3).into(),
                    display_name: "U".into(),
                    color: Color::from_index(usize::from(*user)),
                };
                if *joined {
                    ServerMessage::ParticipantJoined(p)
                } else {
                    ServerMessage::ParticipantLeft(p)
                }
            }
            Msg::Cursor { x, y } => ServerMessage::Cursor {
                user: "u1".into(),
                x: *x,
                y: *y,
            },
            Msg::Snapshot { version } => ServerMessage::Snapshot(SnapshotInfo {
                id: "s".into(),
                version: version.0,
                created_at: self.now,
                created_by: SnapshotCause::Manual,
            }),
            Msg::SessionTimeout => ServerMessage::SessionTimeout {
                board: BOARD.into(),
            },
            Msg::SessionClosed(reason) => ServerMessage::SessionClosed {
                board: BOARD.into(),
                reason: [CloseReason::Closed, CloseReason::Moved, CloseReason::Failed]
                    [usize::from(*reason % 3)],
            },
            Msg::Pong => ServerMessage::Pong,
        })
    }

    fn timeout(&mut self) {
        self.client.handle_timeout(self.now);
        self.drain();
        // The client's clock: the latest `now` it was given.
        let clock = self.client.export_recovery(Timestamp::EPOCH).exported_at;
        if let Some(next) = self.client.poll_timeout() {
            assert!(
                next > clock,
                "deadline {next:?} still due after handle_timeout at {:?}",
                clock
            );
        }
    }

    fn fresh(&mut self) {
        self.seed = self.seed.wrapping_add(1);
        self.client = Client::new(self.config.clone(), BOARD, self.seed);
        self.transport = None;
        self.sent.clear();
    }

    fn step(&mut self, op: &Op) {
        let now = self.now;
        match op {
            Op::Connect(token) => {
                let _ = self.client.connect(now, Credentials::new(token.as_str()));
            }
            Op::ProvideCredentials => {
                let _ = self.client.provide_credentials(now, Credentials::new("t"));
            }
            Op::RetryNow => {
                self.client.retry_now(now);
            }
            Op::Close => self.client.close(now),
            Op::Mutate(muts) => {
                let _ = self
                    .client
                    .mutate(now, muts.iter().take(8).map(Mut::build).collect());
            }
            Op::Cursor(x, y) => {
                let _ = self.client.cursor(now, *x, *y);
            }
            Op::Snapshot => {
                let _ = self.client.request_snapshot(now);
            }
            Op::Open(w) => self.client.transport_open(now, self.which(w)),
            Op::Failed {
                which,
                unauthorized,
            } => {
                let failure = if *unauthorized {
                    ConnectFailure::Unauthorized
                } else {
                    ConnectFailure::Network("fuzz".into())
                };
                self.client
                    .transport_failed(now, self.which(which), failure);
            }
            Op::Closed { which, code } => {
                self.client.transport_closed(now, self.which(which), *code)
            }
            Op::Message { which, msg } => {
                if let Some(m) = self.message(msg) {
                    self.client.handle_message(now, self.which(which), m);
                }
            }
            Op::Advance(ms) => {
                self.now = self
                    .now
                    .saturating_add(Duration::from_millis(u64::from(*ms)));
                self.timeout();
            }
            Op::Back(ms) => {
                self.now = self
                    .now
                    .saturating_sub(Duration::from_millis(u64::from(*ms)));
                self.client.handle_timeout(self.now);
            }
            Op::ToDeadline => {
                if let Some(d) = self.client.poll_timeout() {
                    self.now = self.now.max(d);
                    self.timeout();
                }
            }
            Op::Timeout => self.timeout(),
            Op::Restart { age_ms } => {
                let exported = self.client.export_recovery(now);
                let json = exported.to_json().expect("an export encodes");
                let back = Recovery::from_json(json.as_bytes()).expect("an export decodes");
                assert_eq!(back, exported);
                self.fresh();
                let later = now.saturating_add(Duration::from_millis(u64::from(*age_ms)));
                let _ = self.client.import_recovery(later, back);
            }
            Op::ImportRaw(bytes) => {
                if let Ok(r) = Recovery::from_json(bytes) {
                    let _ = self.client.import_recovery(now, r);
                }
            }
            Op::Import {
                fresh,
                age_ms,
                future,
                next_batch,
                batches,
            } => {
                if *fresh {
                    self.fresh();
                }
                let age = Duration::from_millis(u64::from(*age_ms));
                let recovery = Recovery {
                    exported_at: if *future {
                        now.saturating_add(age)
                    } else {
                        now.saturating_sub(age)
                    },
                    board: BOARD.into(),
                    client_id: "c".into(),
                    next_batch: next_batch.0,
                    batches: batches
                        .iter()
                        .take(8)
                        .map(|(b, muts, retries)| RecoveredBatch {
                            batch: format!("c-{b}").into(),
                            mutations: muts.iter().take(8).map(Mut::build).collect(),
                            retries: *retries,
                        })
                        .collect(),
                };
                let _ = self.client.import_recovery(now, recovery);
            }
        }
        self.drain();
    }
}

fuzz_target!(|input: Input| {
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("{input:#?}");
    }
    let mut config = ClientConfig::default();
    if input.zero_first_delay {
        config.backoff.first_delay = Duration::ZERO;
    }
    config.backoff.jitter = f64::from(input.jitter % 101) / 100.0;
    let mut host = Host {
        client: Client::new(config.clone(), BOARD, input.seed),
        config,
        now: Timestamp::from_millis(1_767_225_600_000),
        transport: None,
        sent: Vec::new(),
        seed: input.seed,
    };
    for op in input.ops.iter().take(256) {
        host.step(op);
    }
});
