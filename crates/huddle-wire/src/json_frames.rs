//! The hot JSON frames, written by hand: `events` (every broadcast of a
//! batch), `joined` (with its delta or full sync), `ack` and `pong`.
//!
//! What they cost is copying bytes, not serializing:
//! - An event's wire form is written once per committed batch into the
//!   batch's [`EncodedEvents`] (which the engine shares between the
//!   broadcast and the history): the `events` frame is a prefix, that
//!   chunk and a suffix, and a delta splices the chunks of the batches it
//!   spans (the first one from the client's first missed event on).
//! - A full sync writes each element as its escaped id, `:` and its data,
//!   which is JSON text kept verbatim: ids are checked for characters
//!   that need escaping and copied when clean (see `docs/decisions.md`,
//!   "Full sync: no per-element cache").
//!
//! The bytes are exactly what the serde path ([`super::notice_frame`],
//! `ServerMessage`'s `Serialize`) writes: the golden-frame and round-trip
//! tests encode every notice both ways.

use std::io::Write as _;

use super::json_text::{data, number, string};
use super::EncodeError;
use huddle_core::{
    BatchId, CommittedEvents, DeltaEvents, EncodedChunk, EncodedEvents, FullSyncReason, JoinSync,
    Joined, Mutation, Pages, UserId,
};

/// Writes one event: `{"seq","user","op","page","element","data"?}`.
fn event(
    out: &mut Vec<u8>,
    seq: u64,
    user: &UserId,
    mutation: &Mutation,
) -> Result<(), EncodeError> {
    out.extend_from_slice(br#"{"seq":"#);
    number(out, seq);
    out.extend_from_slice(br#","user":"#);
    string(out, user.as_str())?;
    match mutation {
        Mutation::Upsert {
            page,
            element,
            data: payload,
        } => {
            out.extend_from_slice(br#","op":"upsert","page":"#);
            string(out, page.as_str())?;
            out.extend_from_slice(br#","element":"#);
            string(out, element.as_str())?;
            out.extend_from_slice(br#","data":"#);
            data(out, payload)?;
        }
        Mutation::Delete { page, element } => {
            out.extend_from_slice(br#","op":"delete","page":"#);
            string(out, page.as_str())?;
            out.extend_from_slice(br#","element":"#);
            string(out, element.as_str())?;
        }
    }
    out.push(b'}');
    Ok(())
}

/// Writes events `first_seq + i` for `i` in `range`, joined by commas.
fn events_of_run(
    out: &mut Vec<u8>,
    first_seq: u64,
    user: &UserId,
    mutations: &[Mutation],
    range: std::ops::Range<usize>,
) -> Result<(), EncodeError> {
    for i in range.clone() {
        if i > range.start {
            out.push(b',');
        }
        let mutation = mutations.get(i).ok_or_else(cut_short)?;
        event(out, first_seq.saturating_add(i as u64), user, mutation)?;
    }
    Ok(())
}

fn cut_short() -> EncodeError {
    use serde::ser::Error as _;
    EncodeError::from(serde_json::Error::custom(
        "a run holds fewer events than it says",
    ))
}

/// The encoding of a run of events, as the batch's place keeps it.
fn encode_run<'a>(
    events: impl ExactSizeIterator<Item = (u64, &'a UserId, &'a Mutation)>,
) -> Result<Option<EncodedChunk>, EncodeError> {
    let mut bytes = Vec::with_capacity(events.len() * 128);
    let mut ends = Vec::with_capacity(events.len());
    for (i, (seq, user, mutation)) in events.enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        event(&mut bytes, seq, user, mutation)?;
        ends.push(bytes.len());
    }
    Ok(EncodedChunk::new(bytes, ends))
}

/// The batch's encoding of its `len` events, made now if nobody made it
/// yet (`None` only if it could not be kept: the caller writes the events
/// itself).
fn cached<'a, 'e>(
    place: &'a EncodedEvents,
    len: usize,
    events: impl ExactSizeIterator<Item = (u64, &'e UserId, &'e Mutation)>,
) -> Result<Option<&'a EncodedChunk>, EncodeError> {
    let mut failed = None;
    let chunk = place.get_or_make(|| match encode_run(events) {
        Ok(chunk) => chunk,
        Err(e) => {
            failed = Some(e);
            None
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    // A place belongs to its events; a mismatch is never spliced.
    Ok(chunk.filter(|c| c.len() == len))
}

/// `{"type":"events","events":[...]}`: the batch's encoding between a
/// prefix and a suffix.
pub(crate) fn events(events: &CommittedEvents) -> Result<Vec<u8>, EncodeError> {
    let all = events.iter().map(|e| (e.seq, &e.author, &e.mutation));
    let chunk = cached(events.encoded(), events.len(), all)?;
    const PREFIX: &[u8] = br#"{"type":"events","events":["#;
    let mut out = Vec::with_capacity(PREFIX.len() + chunk.map_or(0, |c| c.bytes().len()) + 2);
    out.extend_from_slice(PREFIX);
    match chunk {
        Some(chunk) => out.extend_from_slice(chunk.bytes()),
        None => {
            for (i, e) in events.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                event(&mut out, e.seq, &e.author, &e.mutation)?;
            }
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// `{"type":"ack","batch":...,"sequence":...}`.
pub(crate) fn ack(batch: &BatchId, sequence: u64) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(48 + batch.as_str().len());
    out.extend_from_slice(br#"{"type":"ack","batch":"#);
    string(&mut out, batch.as_str())?;
    out.extend_from_slice(br#","sequence":"#);
    number(&mut out, sequence);
    out.push(b'}');
    Ok(out)
}

/// `{"type":"pong"}`.
pub(crate) fn pong() -> Vec<u8> {
    br#"{"type":"pong"}"#.to_vec()
}

/// The `joined` frame, with its sync.
pub(crate) fn joined(j: &Joined) -> Result<Vec<u8>, EncodeError> {
    let sync_bytes = match &j.sync {
        JoinSync::Delta { events } => delta_size(events)?,
        JoinSync::Full { pages, .. } => pages_size(pages),
    };
    let mut out = Vec::with_capacity(256 + 96 * j.participants.len() + sync_bytes);
    out.extend_from_slice(br#"{"type":"joined","session_id":""#);
    // 16 hex digits: nothing to escape.
    write!(out, "{}", j.session_id).map_err(serde_json::Error::io)?;
    out.extend_from_slice(br#"","board":"#);
    string(&mut out, j.board.as_str())?;
    out.extend_from_slice(br#","color":"#);
    string(&mut out, j.color.hex())?;
    out.extend_from_slice(br#","participants":["#);
    for (i, p) in j.participants.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"user_id":"#);
        string(&mut out, p.user.as_str())?;
        out.extend_from_slice(br#","display_name":"#);
        string(&mut out, &p.display_name)?;
        out.extend_from_slice(br#","color":"#);
        string(&mut out, p.color.hex())?;
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"sequence":"#);
    number(&mut out, j.sequence);
    out.extend_from_slice(br#","history_from":"#);
    number(&mut out, j.history_from);
    match &j.sync {
        JoinSync::Delta { events } => {
            out.extend_from_slice(br#","sync":{"kind":"delta","events":["#);
            delta(&mut out, events)?;
            out.extend_from_slice(b"]}}");
        }
        JoinSync::Full { reason, pages } => {
            out.extend_from_slice(br#","sync":{"kind":"full","reason":""#);
            out.extend_from_slice(reason_text(*reason).as_bytes());
            out.extend_from_slice(br#"","pages":"#);
            full(&mut out, pages)?;
            out.extend_from_slice(b"}}");
        }
    }
    Ok(out)
}

fn reason_text(reason: FullSyncReason) -> &'static str {
    match reason {
        FullSyncReason::Initial => "initial",
        FullSyncReason::TooOld => "too_old",
        FullSyncReason::Ahead => "ahead",
        FullSyncReason::NoHistory => "no_history",
    }
}

/// Makes the encodings of the delta's runs that have a place and none
/// yet, and returns the bytes the delta will take (exact for those, an
/// estimate for the others).
fn delta_size(delta: &DeltaEvents) -> Result<usize, EncodeError> {
    let mut size = 0;
    for run in delta.runs() {
        let spliced = match run.encoded {
            Some(place) => cached(place, run.mutations.len(), run_events(&run))?
                .and_then(|c| c.range(run.start, run.len)),
            None => None,
        };
        size += spliced.map_or(128 * run.len, <[u8]>::len) + 1;
    }
    Ok(size)
}

fn run_events<'a>(
    run: &huddle_core::DeltaRun<'a>,
) -> impl ExactSizeIterator<Item = (u64, &'a UserId, &'a Mutation)> + 'a {
    let (first, author) = (run.first_seq, run.author);
    run.mutations
        .iter()
        .enumerate()
        .map(move |(i, m)| (first.saturating_add(i as u64), author, m))
}

/// The delta's events, joined by commas: each run's stored encoding
/// spliced, or (a run without a place) written here.
fn delta(out: &mut Vec<u8>, delta: &DeltaEvents) -> Result<(), EncodeError> {
    for (i, run) in delta.runs().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let spliced = run
            .encoded
            .and_then(EncodedEvents::get)
            .filter(|c| c.len() == run.mutations.len())
            .and_then(|c| c.range(run.start, run.len));
        match spliced {
            Some(bytes) => out.extend_from_slice(bytes),
            None => events_of_run(
                out,
                run.first_seq,
                run.author,
                run.mutations,
                run.start..run.start + run.len,
            )?,
        }
    }
    Ok(())
}

/// The bytes a full sync of `pages` takes (exact when no id needs
/// escaping).
fn pages_size(pages: &Pages) -> usize {
    let mut size = 2;
    for (page, elements) in pages.iter() {
        size += page.as_str().len() + 6;
        for (element, payload) in elements {
            size += element.as_str().len() + payload.as_bytes().len() + 4;
        }
    }
    size
}

/// `{page: {element: data}}`, data verbatim.
fn full(out: &mut Vec<u8>, pages: &Pages) -> Result<(), EncodeError> {
    out.push(b'{');
    for (p, (page, elements)) in pages.iter().enumerate() {
        if p > 0 {
            out.push(b',');
        }
        string(out, page.as_str())?;
        out.extend_from_slice(b":{");
        for (e, (element, payload)) in elements.into_iter().enumerate() {
            if e > 0 {
                out.push(b',');
            }
            string(out, element.as_str())?;
            out.push(b':');
            data(out, payload)?;
        }
        out.push(b'}');
    }
    out.push(b'}');
    Ok(())
}
