//! What a fuzzing input says, and how its bytes decode (`arbitrary`): the
//! operations a host performs on the engine (joins, mutations, raw wire
//! frames, presence, snapshots, flushes, closes, clock moves, storage
//! reports, restarts, a shutdown), the mutations and element data they
//! carry, the storage reports a broken or hostile store could give
//! (including malformed loaded boards) and the engine configuration the
//! input picks.
//!
//! The order of fields and variants here is the decoding order: changing
//! it changes what every input of the committed corpus means.

use arbitrary::{Arbitrary, Unstructured};
use huddle_core::*;
use huddle_wire as wire;

/// A sequence number: mostly small, sometimes at the edges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seq(pub(crate) u64);

impl<'a> Arbitrary<'a> for Seq {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Seq(match u.int_in_range(0u8..=9)? {
            0 => u64::MAX - u64::from(u.arbitrary::<u8>()? % 4),
            1 => i64::MAX as u64 + u64::from(u.arbitrary::<u8>()? % 4) - 1,
            2 => u.arbitrary()?,
            _ => u64::from(u.arbitrary::<u8>()? % 40),
        }))
    }
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Mut {
    Upsert {
        page: u8,
        element: u8,
        data: Data,
    },
    Delete {
        page: u8,
        element: u8,
    },
    Raw {
        page: String,
        element: String,
        data: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Data {
    Num(u16),
    Str(u8),
    Big(u16),
    Empty,
}

impl Mut {
    pub(crate) fn build(&self) -> Mutation {
        let id = |p: u8| format!("p{}", p % 4);
        let el = |e: u8| format!("e{}", e % 8);
        match self {
            Mut::Upsert {
                page,
                element,
                data,
            } => Mutation::Upsert {
                page: id(*page).into(),
                element: el(*element).into(),
                data: match data {
                    Data::Num(n) => Payload::from(format!("{{\"x\":{n}}}").as_str()),
                    Data::Str(n) => {
                        Payload::from(format!("\"{}\"", "s".repeat(usize::from(*n))).as_str())
                    }
                    Data::Big(n) => Payload::from(vec![b'1'; usize::from(*n) * 8]),
                    Data::Empty => Payload::default(),
                },
            },
            Mut::Delete { page, element } => Mutation::Delete {
                page: id(*page).into(),
                element: el(*element).into(),
            },
            Mut::Raw {
                page,
                element,
                data,
            } => Mutation::Upsert {
                page: page.as_str().into(),
                element: element.as_str().into(),
                data: Payload::from(data.clone()),
            },
        }
    }
}

/// A loaded board as a broken or hostile store could return it.
#[derive(Arbitrary, Debug)]
pub(crate) struct ArbLoaded {
    pub(crate) persistent: Option<bool>,
    pub(crate) pages: Vec<(u8, u8, u16)>,
    pub(crate) pages_sequence: Seq,
    pub(crate) first_seq: Seq,
    pub(crate) events: Vec<(u8, u8, Option<Mut>)>,
    /// Index of an event whose sequence is replaced (a hole or a repeat).
    pub(crate) bend: Option<(u8, Seq)>,
    pub(crate) snapshot_count: u16,
    pub(crate) last_snapshot_version: Option<Seq>,
    pub(crate) batches: Vec<(u8, u8, Seq)>,
}

impl ArbLoaded {
    pub(crate) fn build(&self, at: Timestamp) -> LoadedBoard {
        let mut events: Vec<Event> = self
            .events
            .iter()
            .take(64)
            .enumerate()
            .map(|(i, (user, batch, m))| Event {
                seq: self.first_seq.0.wrapping_add(i as u64),
                author: format!("u{}", user % 4).into(),
                batch: format!("b{}", batch % 8).into(),
                at,
                mutation: m.as_ref().map_or(
                    Mutation::Delete {
                        page: "p0".into(),
                        element: "e0".into(),
                    },
                    Mut::build,
                ),
            })
            .collect();
        if let Some((i, seq)) = self.bend {
            if let Some(e) = events.get_mut(usize::from(i)) {
                e.seq = seq.0;
            }
        }
        LoadedBoard {
            session_type: self.persistent.map(|p| {
                if p {
                    SessionType::Persistent
                } else {
                    SessionType::Ephemeral
                }
            }),
            pages: Pages::from_elements(self.pages.iter().take(32).map(|(p, e, d)| {
                (
                    format!("p{}", p % 4).into(),
                    format!("e{}", e % 8).into(),
                    Payload::from(d.to_string().as_str()),
                )
            })),
            pages_sequence: self.pages_sequence.0,
            events,
            snapshot_count: usize::from(self.snapshot_count),
            last_snapshot_version: self.last_snapshot_version.map(|s| s.0),
            batches: self
                .batches
                .iter()
                .take(16)
                .map(|(u, b, s)| BatchRecord {
                    user: format!("u{}", u % 4).into(),
                    batch: format!("b{}", b % 8).into(),
                    last_seq: s.0,
                    digest: Some(huddle_core::BatchDigest::from_bits(s.0)),
                    at: huddle_core::Timestamp::from_millis(s.0),
                })
                .collect(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Report {
    /// What the testkit's store does with it.
    Honest,
    Failed,
    Stored,
    NotFound,
    SnapshotStored,
    Loaded(Box<ArbLoaded>),
    /// The honest load, then one thing broken in it.
    Mangled(Mangle),
    /// Another owner holds the board.
    Fenced,
    /// Invalid request or corrupt data.
    Invalid,
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Mangle {
    DropEvent(u8),
    DuplicateEvent(u8),
    ShiftSequences(Seq),
    PagesSequence(Seq),
    Truncate(u8),
    BatchAt(Seq),
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Op {
    Join {
        conn: u8,
        board: u8,
        user: u8,
        /// `None`: full sync; `Some(None)`: the replica's own sequence.
        last: Option<Option<Seq>>,
        persistent: Option<bool>,
    },
    JoinRaw {
        conn: u8,
        board: String,
        user: String,
        name: String,
    },
    Mutate {
        conn: u8,
        batch: u8,
        mutations: Vec<Mut>,
    },
    Frame {
        conn: u8,
        user: u8,
        frame: Vec<u8>,
    },
    Leave(u8),
    Disconnect(u8),
    Ping(u8),
    Cursor {
        conn: u8,
        x: f64,
        y: f64,
    },
    Snapshot(u8),
    Flush(u8),
    Close(u8),
    Advance(u32),
    AdvanceLong(u16),
    Back(u32),
    ToDeadline,
    Timeout,
    /// Reports an outstanding effect (chosen by index).
    Report {
        pick: u8,
        report: Report,
    },
    /// Reports every outstanding effect honestly, oldest first.
    ReportAll,
    /// Reports an effect id the engine never made, or one already reported.
    ReportRaw {
        id: Seq,
        report: Report,
    },
    Reconfirm {
        pick: u8,
        report: Report,
    },
    /// Forgets the engine: a restart on the same store.
    Crash,
    /// `Engine::shutdown`.
    Shutdown,
}

#[derive(Arbitrary, Debug)]
pub(crate) struct Input {
    pub(crate) small: bool,
    pub(crate) ack_on_apply: bool,
    pub(crate) least_used: bool,
    pub(crate) strict_store: bool,
    /// `appends_in_flight` is 1 + this % 4: reports in any order then
    /// exercise overtaking confirmations and gaps refused. Bit 4 switches
    /// user session records on (`Config::store_user_sessions`).
    pub(crate) pipeline: u8,
    pub(crate) ops: Vec<Op>,
}

pub(crate) fn config(input: &Input) -> Config {
    let mut c = Config::default();
    if input.small {
        c.delta_threshold = 8;
        c.history_len = 8;
        c.snapshot_retention = 2;
        c.flush_threshold = 4;
        c.dedup_window = 4;
        c.limits.max_payload_bytes = 512;
        c.limits.max_batch_len = 6;
        c.limits.max_pending_per_board = 24;
        c.limits.max_participants = 3;
        c.limits.max_id_bytes = 16;
        c.limits.max_display_name_bytes = 16;
    }
    if input.ack_on_apply {
        c.durability = Durability::AckOnApply;
    }
    if input.least_used {
        c.color_policy = ColorPolicy::LeastUsed;
    }
    c.appends_in_flight = 1 + usize::from(input.pipeline % 4);
    c.store_user_sessions = input.pipeline & 0x10 != 0;
    c
}

pub(crate) fn mut_is_opaque(m: &Mut) -> bool {
    m.build().data().is_some_and(|d| !wire::is_json(d))
}

pub(crate) fn op_has_opaque_data(op: &Op) -> bool {
    let opaque = |r: &Report| match r {
        Report::Loaded(l) => l
            .events
            .iter()
            .any(|(_, _, m)| m.as_ref().is_some_and(mut_is_opaque)),
        _ => false,
    };
    match op {
        Op::Mutate { mutations, .. } => mutations.iter().take(10).any(mut_is_opaque),
        Op::Report { report, .. } | Op::ReportRaw { report, .. } | Op::Reconfirm { report, .. } => {
            opaque(report)
        }
        _ => false,
    }
}
