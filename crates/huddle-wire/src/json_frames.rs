//! The hot JSON frames, written by hand: `events` (the broadcasts of one
//! or more consecutive batches: [`crate::EventsFrame`]), `joined` (with its delta or full sync), `ack` and `pong`.
//!
//! What they cost is copying bytes, not serializing:
//! - An event's wire form is written once per committed batch into the
//!   batch's [`EncodedEvents`] (which the engine shares between the
//!   broadcast and the history): the `events` frame is a prefix, the
//!   chunks of its batches joined by commas and a suffix, and a delta splices the chunks of the batches it
//!   spans (the first one from the client's first missed event on).
//! - A full sync writes each element as its escaped id, `:` and its data
//!   (JSON text kept verbatim; ids are checked for characters that need
//!   escaping and copied when clean), a run of up to 64 elements at a
//!   time into the run's [`huddle_core::EncodedElements`]: the engine
//!   keeps it until one of the run's elements changes, so the next full
//!   sync copies it (see `docs/decisions.md`, "Encode once").
//!
//! The bytes are exactly what the serde path ([`super::notice_frame`],
//! `ServerMessage`'s `Serialize`) writes: the golden-frame and round-trip
//! tests encode every notice both ways.

use std::io::Write as _;

use super::joined_parts::{Splitter, SyncContent};
use super::json_text::{data, number, string, string_len};
use super::EncodeError;
use huddle_core::{
    BatchId, CommittedEvents, DeltaEvents, ElementId, EncodedChunk, EncodedEvents, FullSyncReason,
    JoinSync, Joined, Mutation, PageRun, Pages, Payload, UserId,
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

const EVENTS_PREFIX: &[u8] = br#"{"type":"events","events":["#;
const EVENTS_SUFFIX: &[u8] = b"]}";

/// The bytes of an `events` frame besides its events.
pub(crate) const EVENTS_OVERHEAD: usize = EVENTS_PREFIX.len() + EVENTS_SUFFIX.len();

/// The batch's kept encoding, made now if nobody made it yet (`None` only
/// if it could not be kept: the caller writes the events itself).
fn kept(events: &CommittedEvents) -> Result<Option<&EncodedChunk>, EncodeError> {
    let all = events.iter().map(|e| (e.seq, &e.author, &e.mutation));
    cached(events.encoded(), events.len(), all)
}

/// Writes a batch's events, joined by commas, without its kept encoding.
fn write_batch(out: &mut Vec<u8>, events: &CommittedEvents) -> Result<(), EncodeError> {
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        event(out, e.seq, &e.author, &e.mutation)?;
    }
    Ok(())
}

/// The bytes a batch's events take in an `events` frame (without a
/// separator): its kept encoding's, made now if nobody made it yet.
pub(crate) fn batch_bytes(events: &CommittedEvents) -> Result<usize, EncodeError> {
    match kept(events)? {
        Some(chunk) => Ok(chunk.bytes().len()),
        None => {
            let mut out = Vec::with_capacity(events.len() * 128);
            write_batch(&mut out, events)?;
            Ok(out.len())
        }
    }
}

/// `{"type":"events","events":[...]}` with the events of `batches`, in
/// the order given: a prefix, each batch's kept encoding (the batches
/// joined by commas; an empty batch adds nothing), a suffix.
pub(crate) fn events(batches: &[CommittedEvents]) -> Result<Vec<u8>, EncodeError> {
    let mut size = EVENTS_OVERHEAD;
    for batch in batches {
        size += kept(batch)?.map_or(128 * batch.len(), |c| c.bytes().len()) + 1;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(EVENTS_PREFIX);
    let mut first = true;
    for batch in batches.iter().filter(|b| !b.is_empty()) {
        if !first {
            out.push(b',');
        }
        first = false;
        match kept(batch)? {
            Some(chunk) => out.extend_from_slice(chunk.bytes()),
            None => write_batch(&mut out, batch)?,
        }
    }
    out.extend_from_slice(EVENTS_SUFFIX);
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

/// The `joined` answer, with its sync, in frames of at most `limit`
/// bytes each: the `joined` frame, then its `joined_part`s
/// (`joined_parts`). `usize::MAX`: one frame.
pub(crate) fn joined(j: &Joined, limit: usize) -> Result<Vec<Vec<u8>>, EncodeError> {
    let estimate = match &j.sync {
        JoinSync::Delta { events } => delta_size(events)?,
        JoinSync::Full { pages, .. } => pages_size(pages)?,
    };
    let mut head = Vec::with_capacity(256 + 96 * j.participants.len());
    head.extend_from_slice(br#"{"type":"joined","session_id":""#);
    // 16 hex digits: nothing to escape.
    write!(head, "{}", j.session_id).map_err(serde_json::Error::io)?;
    head.extend_from_slice(br#"","board":"#);
    string(&mut head, j.board.as_str())?;
    head.extend_from_slice(br#","color":"#);
    string(&mut head, j.color.hex())?;
    head.extend_from_slice(br#","participants":["#);
    for (i, p) in j.participants.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        head.extend_from_slice(br#"{"user_id":"#);
        string(&mut head, p.user.as_str())?;
        head.extend_from_slice(br#","display_name":"#);
        string(&mut head, &p.display_name)?;
        head.extend_from_slice(br#","color":"#);
        string(&mut head, p.color.hex())?;
        head.push(b'}');
    }
    head.extend_from_slice(br#"],"sequence":"#);
    number(&mut head, j.sequence);
    head.extend_from_slice(br#","history_from":"#);
    number(&mut head, j.history_from);
    match &j.sync {
        JoinSync::Delta { events } => {
            head.extend_from_slice(br#","sync":{"kind":"delta""#);
            let mut frames = Splitter::new(
                limit,
                SyncContent::Events,
                j.session_id,
                &j.board,
                head,
                estimate,
            )?;
            delta(&mut frames, events)?;
            Ok(frames.finish())
        }
        JoinSync::Full { reason, pages } => {
            head.extend_from_slice(br#","sync":{"kind":"full","reason":""#);
            head.extend_from_slice(reason_text(*reason).as_bytes());
            head.push(b'"');
            let mut frames = Splitter::new(
                limit,
                SyncContent::Pages,
                j.session_id,
                &j.board,
                head,
                estimate,
            )?;
            full(&mut frames, pages)?;
            Ok(frames.finish())
        }
    }
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

/// The delta's events: each run's stored encoding spliced (sliced at
/// event boundaries where a frame ends), or (a run without a place)
/// encoded here.
fn delta(frames: &mut Splitter, delta: &DeltaEvents) -> Result<(), EncodeError> {
    for run in delta.runs() {
        let range = run.start..run.start + run.len;
        let kept = run
            .encoded
            .and_then(EncodedEvents::get)
            .filter(|c| c.len() == run.mutations.len());
        if let Some(chunk) = kept {
            if !chunk
                .range(run.start, run.len)
                .is_some_and(|bytes| frames.add_if_fits(bytes))
            {
                frames.add_fragments(chunk.bytes(), |i| chunk_end(chunk, i), range);
            }
            continue;
        }
        let events = range
            .clone()
            .map(|i| {
                let mutation = run.mutations.get(i).ok_or_else(cut_short)?;
                Ok((run.first_seq.saturating_add(i as u64), run.author, mutation))
            })
            .collect::<Result<Vec<_>, EncodeError>>()?;
        if let Some(chunk) = encode_run(events.into_iter())? {
            frames.add_fragments(chunk.bytes(), |i| chunk_end(&chunk, i), 0..chunk.len());
        }
    }
    Ok(())
}

/// Where event `i` of a batch's encoding ends.
fn chunk_end(chunk: &EncodedChunk, i: usize) -> Option<usize> {
    chunk.range(0, i.checked_add(1)?).map(<[u8]>::len)
}

/// The bytes a full sync of `pages` takes: exact for the runs whose
/// encoding is kept (made here for those that have none yet).
fn pages_size(pages: &Pages) -> Result<usize, EncodeError> {
    let mut size = 2;
    for (page, elements) in pages.iter() {
        size += page.as_str().len() + 6;
        for run in elements.runs() {
            size += run_encoding(&run)?.map_or(96 * run.len(), <[u8]>::len) + 1;
        }
    }
    Ok(size)
}

/// A run's kept encoding, made now if nobody made it yet.
fn run_encoding<'a>(run: &PageRun<'a>) -> Result<Option<&'a [u8]>, EncodeError> {
    let mut failed = None;
    let bytes = run.encoded().get_or_make(|| {
        let mut out = Vec::with_capacity(run.len() * 96);
        match elements(&mut out, run.iter()) {
            Ok(()) => Some(out),
            Err(e) => {
                failed = Some(e);
                None
            }
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(bytes),
    }
}

/// `"element":data`, joined by commas.
fn elements<'a>(
    out: &mut Vec<u8>,
    elements: impl Iterator<Item = (&'a ElementId, &'a Payload)>,
) -> Result<(), EncodeError> {
    for (e, (element, payload)) in elements.enumerate() {
        if e > 0 {
            out.push(b',');
        }
        string(out, element.as_str())?;
        out.push(b':');
        data(out, payload)?;
    }
    Ok(())
}

/// Where each element of a run ends in its encoding (`"element":data`,
/// joined by commas), from the ids' and payloads' lengths: `None` if
/// that does not add up to the encoding's length.
fn element_ends(run: &PageRun<'_>, encoded: &[u8]) -> Result<Option<Vec<usize>>, EncodeError> {
    let mut ends = Vec::with_capacity(run.len());
    let mut at = 0usize;
    for (i, (element, payload)) in run.iter().enumerate() {
        if i > 0 {
            at += 1;
        }
        at += string_len(element.as_str())? + 1 + payload.as_bytes().len();
        ends.push(at);
    }
    Ok((at == encoded.len()).then_some(ends))
}

/// `{page: {element: data}}`: each run of elements copied from its kept
/// encoding, sliced at element boundaries where a frame ends (or written
/// here, if it could not be kept).
fn full(frames: &mut Splitter, pages: &Pages) -> Result<(), EncodeError> {
    for (page, page_elements) in pages.iter() {
        frames.begin_page(page)?;
        for run in page_elements.runs().filter(|r| !r.is_empty()) {
            let written;
            let bytes = match run_encoding(&run)? {
                Some(bytes) => bytes,
                None => {
                    let mut out = Vec::with_capacity(run.len() * 96);
                    elements(&mut out, run.iter())?;
                    written = out;
                    &written
                }
            };
            if frames.add_if_fits(bytes) {
                continue;
            }
            match element_ends(&run, bytes)? {
                Some(ends) => frames.add_fragments(bytes, |i| ends.get(i).copied(), 0..ends.len()),
                None => {
                    // A kept encoding that is not the run's (never made
                    // by this encoder): write the elements one by one.
                    for (element, payload) in run.iter() {
                        let mut one = Vec::new();
                        elements(&mut one, std::iter::once((element, payload)))?;
                        let end = one.len();
                        frames.add_fragments(&one, |_| Some(end), 0..1);
                    }
                }
            }
        }
        frames.end_page();
    }
    Ok(())
}
