//! The reader of client frames: one pass over the frame's bytes, by hand.
//!
//! Every client frame goes through here, `mutate` above all, so the reader
//! borrows what it can: a string without escapes is a slice of the frame
//! (an id is copied once, into the engine's shared `Arc<str>`), an
//! upsert's `data` is the raw JSON slice (copied once, into its
//! [`Payload`](huddle_core::Payload)), and the depth of `data` is measured
//! while it is skipped ([`crate::DecodeLimits`]). No JSON tree, no
//! intermediate list of decoded fields.
//!
//! It accepts and rejects exactly what serde_json's derived decoding of
//! the same shape does (a test keeps that decoder as the reference and
//! compares the two on generated frames), with the same [`DecodeError`]
//! kinds: any malformed JSON, a frame that is not one object, a duplicate
//! known field, or a known field of the wrong JSON type is
//! [`DecodeError::Json`] (whatever else is wrong with the frame); then a
//! missing `type`, an unknown one, a missing field, an unknown `op`, in
//! that order; `DATA_TOO_DEEP` last. Unknown fields are skipped but must
//! be well-formed JSON. The rare parts (a string with escapes, a number)
//! are handed to serde_json's own decoder on their slice, so their rules
//! (surrogates, number ranges, rounding) are serde_json's.

use std::borrow::Cow;

use huddle_core::{BatchId, Mutation, PageId, Payload};

use super::client_message::ClientMessage;
use super::depth::DecodeLimits;
use super::DecodeError;

/// Decodes one client frame; `text` is the frame as text if it is UTF-8.
/// (Outside strings only ASCII is valid JSON, and the strings that are
/// used are checked one by one: a frame that is UTF-8 as a whole, as every
/// text frame is, needs no check per string.)
pub(crate) fn read_client(
    frame: &[u8],
    text: Option<&str>,
    limits: &DecodeLimits,
) -> Result<ClientMessage, DecodeError> {
    let mut reader = Reader {
        bytes: frame,
        text,
        pos: 0,
        open: Vec::new(),
    };
    let fields = reader.frame(limits.max_data_depth)?;
    fields.message(limits.max_data_depth)
}

/// A syntax or type error: the frame is not the JSON the message needs.
fn malformed(what: &str, at: usize) -> DecodeError {
    DecodeError::Json(format!("{what} at byte {at}"))
}

/// The fields of a frame's object, as read; `Some(None)` is a field that
/// was present as `null`.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<Option<Cow<'a, str>>>,
    board: Option<Option<Cow<'a, str>>>,
    last_sequence: Option<Option<u64>>,
    batch: Option<Option<Cow<'a, str>>>,
    mutations: Option<Option<Mutations>>,
    x: Option<Option<f64>>,
    y: Option<Option<f64>>,
}

/// A `mutations` array as read: the mutations up to the first that is
/// refused, that refusal, and the first upsert whose `data` is too deep.
#[derive(Default)]
struct Mutations {
    list: Vec<Mutation>,
    refused: Option<DecodeError>,
    too_deep: Option<usize>,
}

/// The fields of one mutation object.
#[derive(Default)]
struct MutationFields<'a> {
    seq: Option<Option<u64>>,
    user: Option<Option<Cow<'a, str>>>,
    op: Option<Option<Cow<'a, str>>>,
    page: Option<Option<Cow<'a, str>>>,
    element: Option<Option<Cow<'a, str>>>,
    /// The raw JSON of `data` (`null` included) and its depth.
    data: Option<(&'a str, usize)>,
}

impl MutationFields<'_> {
    /// The mutation, or why it is refused (the checks and their order of
    /// the server's decoding of events, `event::MutationFields`). A page
    /// id equal to `last_page` (the previous mutation's: a batch usually
    /// writes one page) shares its allocation instead of a copy.
    fn mutation(&self, last_page: Option<&PageId>) -> Result<Mutation, DecodeError> {
        let field = |field: &'static str| DecodeError::MissingField {
            kind: "mutate",
            field,
        };
        let op = self
            .op
            .as_ref()
            .and_then(Option::as_deref)
            .ok_or(field("op"))?;
        let page = self
            .page
            .as_ref()
            .and_then(Option::as_deref)
            .ok_or(field("page"))?;
        let element = (self.element.as_ref().and_then(Option::as_deref)).ok_or(field("element"))?;
        let page = match last_page {
            Some(last) if last.as_str() == page => last.clone(),
            _ => PageId::from(page),
        };
        match op {
            "upsert" => {
                let (data, _) = self.data.ok_or(field("data"))?;
                Ok(Mutation::Upsert {
                    page,
                    element: element.into(),
                    data: Payload::from(data),
                })
            }
            "delete" => Ok(Mutation::Delete {
                page,
                element: element.into(),
            }),
            other => Err(DecodeError::UnknownOp(other.to_owned())),
        }
    }
}

impl<'a> Fields<'a> {
    /// The message, once the whole frame was read.
    fn message(self, max_depth: usize) -> Result<ClientMessage, DecodeError> {
        let kind = self.kind.flatten().ok_or(DecodeError::MissingType)?;
        let missing =
            |kind: &'static str, field: &'static str| DecodeError::MissingField { kind, field };
        Ok(match &*kind {
            "mutate" => {
                let batch = self.batch.flatten().ok_or(missing("mutate", "batch"))?;
                let mutations = self
                    .mutations
                    .flatten()
                    .ok_or(missing("mutate", "mutations"))?;
                if let Some(refused) = mutations.refused {
                    return Err(refused);
                }
                if let Some(index) = mutations.too_deep {
                    return Err(DecodeError::DataTooDeep {
                        batch: batch.into_owned(),
                        index,
                        max: max_depth,
                    });
                }
                ClientMessage::Mutate {
                    batch: BatchId::from(&*batch),
                    mutations: mutations.list,
                }
            }
            "join" => ClientMessage::Join {
                board: (&*self.board.flatten().ok_or(missing("join", "board"))?).into(),
                last_sequence: self.last_sequence.flatten(),
            },
            "cursor" => ClientMessage::Cursor {
                x: self.x.flatten().ok_or(missing("cursor", "x"))?,
                y: self.y.flatten().ok_or(missing("cursor", "y"))?,
            },
            "snapshot" => ClientMessage::Snapshot,
            "leave" => ClientMessage::Leave,
            "ping" => ClientMessage::Ping,
            other => return Err(DecodeError::UnknownType(other.to_owned())),
        })
    }
}

/// A cursor over the frame.
struct Reader<'a> {
    bytes: &'a [u8],
    /// The frame as text, if it is UTF-8 as a whole.
    text: Option<&'a str>,
    pos: usize,
    /// The containers open in the value being skipped, innermost last
    /// (`true` for an object); kept for the next value.
    open: Vec<bool>,
}

/// Sets a field read once; a second occurrence is malformed, as with
/// serde's derived decoding.
fn once<T>(slot: &mut Option<T>, value: T, name: &str, at: usize) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(malformed(&format!("duplicate field `{name}`"), at));
    }
    *slot = Some(value);
    Ok(())
}

impl<'a> Reader<'a> {
    /// The whole frame: one object, nothing after it but whitespace.
    fn frame(&mut self, max_depth: usize) -> Result<Fields<'a>, DecodeError> {
        let mut fields = Fields::default();
        self.expect_value_start(b'{', "a JSON object")?;
        self.object(|reader, key, at| match key {
            "type" => once(&mut fields.kind, reader.opt_str()?, key, at),
            "board" => once(&mut fields.board, reader.opt_str()?, key, at),
            "last_sequence" => once(&mut fields.last_sequence, reader.opt_number()?, key, at),
            "batch" => once(&mut fields.batch, reader.opt_str()?, key, at),
            "mutations" => {
                let mutations = reader.opt_mutations(max_depth)?;
                once(&mut fields.mutations, mutations, key, at)
            }
            "x" => once(&mut fields.x, reader.opt_number()?, key, at),
            "y" => once(&mut fields.y, reader.opt_number()?, key, at),
            _ => reader.skip_value().map(drop),
        })?;
        if self.whitespace().is_some() {
            return Err(malformed("trailing characters", self.pos));
        }
        Ok(fields)
    }

    /// `mutations`: `null`, or an array of mutation objects.
    fn opt_mutations(&mut self, max_depth: usize) -> Result<Option<Mutations>, DecodeError> {
        if self.null()? {
            return Ok(None);
        }
        self.expect_value_start(b'[', "an array of mutations")?;
        let mut mutations = Mutations::default();
        if self.whitespace() == Some(b']') {
            self.pos += 1;
            return Ok(Some(mutations));
        }
        loop {
            self.expect_value_start(b'{', "a mutation object")?;
            let fields = self.mutation_fields()?;
            if mutations.refused.is_none() {
                match fields.mutation(mutations.list.last().map(Mutation::page)) {
                    Ok(mutation) => {
                        let index = mutations.list.len();
                        if matches!(fields.data, Some((_, depth)) if depth > max_depth)
                            && mutation.data().is_some()
                        {
                            mutations.too_deep.get_or_insert(index);
                        }
                        mutations.list.push(mutation);
                    }
                    Err(refused) => mutations.refused = Some(refused),
                }
            }
            match self.whitespace() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Some(mutations));
                }
                Some(_) => return Err(malformed("expected `,` or `]`", self.pos)),
                None => return Err(malformed("unexpected end in a list", self.pos)),
            }
        }
    }

    /// One mutation object's fields (its `{` already consumed).
    fn mutation_fields(&mut self) -> Result<MutationFields<'a>, DecodeError> {
        let mut fields = MutationFields::default();
        self.object(|reader, key, at| match key {
            "seq" => once(&mut fields.seq, reader.opt_number()?, key, at),
            "user" => once(&mut fields.user, reader.opt_str()?, key, at),
            "op" => once(&mut fields.op, reader.opt_str()?, key, at),
            "page" => once(&mut fields.page, reader.opt_str()?, key, at),
            "element" => once(&mut fields.element, reader.opt_str()?, key, at),
            "data" => {
                let start = reader.pos;
                let depth = reader.skip_value()?;
                let raw = reader
                    .text(start, reader.pos)
                    .ok_or_else(|| malformed("`data` is not UTF-8", start))?;
                once(&mut fields.data, (raw, depth), key, at)
            }
            _ => reader.skip_value().map(drop),
        })?;
        Ok(fields)
    }

    /// The members of an object whose `{` was consumed, up to its `}`:
    /// `member` reads each value (the reader at its first byte).
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &str, usize) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        match self.whitespace() {
            Some(b'}') => {
                self.pos += 1;
                return Ok(());
            }
            Some(_) => {}
            None => return Err(malformed("unexpected end in an object", self.pos)),
        }
        loop {
            let at = self.pos;
            match self.whitespace() {
                Some(b'"') => self.pos += 1,
                Some(_) => return Err(malformed("key must be a string", self.pos)),
                None => return Err(malformed("unexpected end in an object", self.pos)),
            }
            let key = self.string()?;
            match self.whitespace() {
                Some(b':') => self.pos += 1,
                Some(_) => return Err(malformed("expected `:`", self.pos)),
                None => return Err(malformed("unexpected end in an object", self.pos)),
            }
            if self.whitespace().is_none() {
                return Err(malformed("unexpected end, expected a value", self.pos));
            }
            member(self, &key, at)?;
            match self.whitespace() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => return Err(malformed("expected `,` or `}`", self.pos)),
                None => return Err(malformed("unexpected end in an object", self.pos)),
            }
        }
    }

    /// Skips whitespace; the next byte, if any.
    #[inline]
    fn whitespace(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Consumes `open` (after whitespace), or fails naming `what`.
    fn expect_value_start(&mut self, open: u8, what: &str) -> Result<(), DecodeError> {
        match self.whitespace() {
            Some(b) if b == open => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(malformed(&format!("expected {what}"), self.pos)),
            None => Err(malformed("unexpected end, expected a value", self.pos)),
        }
    }

    /// Consumes `null` if the value is one.
    fn null(&mut self) -> Result<bool, DecodeError> {
        if self.whitespace() != Some(b'n') {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    /// Consumes `word` exactly.
    fn literal(&mut self, word: &[u8]) -> Result<(), DecodeError> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(malformed("invalid literal", self.pos))
        }
    }

    /// A string field: `null` or a JSON string.
    fn opt_str(&mut self) -> Result<Option<Cow<'a, str>>, DecodeError> {
        if self.null()? {
            return Ok(None);
        }
        match self.whitespace() {
            Some(b'"') => {
                self.pos += 1;
                self.string().map(Some)
            }
            _ => Err(malformed("expected a string", self.pos)),
        }
    }

    /// A number field (`u64` or `f64`): `null` or a JSON number that fits
    /// (serde_json's number rules).
    fn opt_number<T: serde::de::DeserializeOwned>(&mut self) -> Result<Option<T>, DecodeError> {
        if self.null()? {
            return Ok(None);
        }
        let start = self.pos;
        match self.whitespace() {
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ => return Err(malformed("expected a number", self.pos)),
        }
        serde_json::from_slice(&self.bytes[start..self.pos])
            .map(Some)
            .map_err(DecodeError::json)
    }

    /// The rest of a string whose `"` was consumed. Without escapes it is
    /// a slice of the frame; with escapes serde_json decodes it.
    fn string(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let start = self.pos;
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    let end = self.pos;
                    self.pos += 1;
                    return (self.text(start, end).map(Cow::Borrowed))
                        .ok_or_else(|| malformed("invalid UTF-8 in a string", start));
                }
                Some(b'\\') => break,
                Some(&b) if b < 0x20 => {
                    return Err(malformed("control character in a string", self.pos))
                }
                Some(_) => self.pos += 1,
                None => return Err(malformed("unexpected end in a string", self.pos)),
            }
        }
        self.skip_string_rest()?;
        serde_json::from_slice::<String>(&self.bytes[start - 1..self.pos])
            .map(Cow::Owned)
            .map_err(DecodeError::json)
    }

    /// The bytes `start..end` as text: a slice of the frame's text when
    /// the frame is UTF-8 (the bounds are next to ASCII bytes, so on
    /// character boundaries), else checked.
    fn text(&self, start: usize, end: usize) -> Option<&'a str> {
        match self.text {
            Some(text) => text.get(start..end),
            None => std::str::from_utf8(&self.bytes[start..end]).ok(),
        }
    }

    /// Skips the rest of a string (escapes checked, UTF-8 not: serde_json
    /// does not check the strings it skips either).
    fn skip_string_rest(&mut self) -> Result<(), DecodeError> {
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.bytes.get(self.pos) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(malformed("invalid escape", self.pos));
                            }
                            self.pos += 5;
                        }
                        _ => return Err(malformed("invalid escape", self.pos)),
                    }
                }
                Some(&b) if b < 0x20 => {
                    return Err(malformed("control character in a string", self.pos))
                }
                Some(_) => self.pos += 1,
                None => return Err(malformed("unexpected end in a string", self.pos)),
            }
        }
    }

    /// Skips a number: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?
    fn number(&mut self) -> Result<(), DecodeError> {
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(malformed("invalid number", self.pos));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(malformed("invalid number", self.pos)),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(malformed("invalid number", self.pos));
            }
            self.digits();
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(malformed("invalid number", self.pos));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
    }

    /// Skips one JSON value of any kind, without recursion; returns its
    /// depth (arrays and objects around its innermost value).
    fn skip_value(&mut self) -> Result<usize, DecodeError> {
        let mut open = std::mem::take(&mut self.open);
        open.clear();
        let skipped = self.skip_value_with(&mut open);
        self.open = open;
        skipped
    }

    fn skip_value_with(&mut self, open: &mut Vec<bool>) -> Result<usize, DecodeError> {
        let mut depth = 0usize;
        loop {
            // A value.
            match self.whitespace() {
                Some(b'n') => self.literal(b"null")?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b'"') => {
                    self.pos += 1;
                    self.skip_string_rest()?;
                }
                Some(b @ (b'[' | b'{')) => {
                    self.pos += 1;
                    open.push(b == b'{');
                    depth = depth.max(open.len());
                    let close = if b == b'{' { b'}' } else { b']' };
                    match self.whitespace() {
                        Some(c) if c == close => {
                            self.pos += 1;
                            open.pop();
                        }
                        Some(_) => {
                            if b == b'{' {
                                self.key()?;
                            }
                            continue;
                        }
                        None => return Err(malformed("unexpected end in a value", self.pos)),
                    }
                }
                Some(_) => return Err(malformed("expected a value", self.pos)),
                None => return Err(malformed("unexpected end, expected a value", self.pos)),
            }
            // After a value: a comma or the ends of its containers.
            loop {
                let Some(&object) = open.last() else {
                    return Ok(depth);
                };
                let close = if object { b'}' } else { b']' };
                match self.whitespace() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.pos += 1;
                        open.pop();
                    }
                    Some(_) => {
                        return Err(malformed("expected `,` or a closing bracket", self.pos))
                    }
                    None => return Err(malformed("unexpected end in a value", self.pos)),
                }
            }
        }
    }

    /// Skips an object key and its `:` inside a skipped value.
    fn key(&mut self) -> Result<(), DecodeError> {
        match self.whitespace() {
            Some(b'"') => self.pos += 1,
            Some(_) => return Err(malformed("key must be a string", self.pos)),
            None => return Err(malformed("unexpected end in an object", self.pos)),
        }
        self.skip_string_rest()?;
        match self.whitespace() {
            Some(b':') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(malformed("expected `:`", self.pos)),
            None => Err(malformed("unexpected end in an object", self.pos)),
        }
    }
}
