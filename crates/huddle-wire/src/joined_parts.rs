//! A `joined` answer in frames that each fit a frame limit
//! (`docs/protocol.md`, "Large syncs in parts").
//!
//! The [`Splitter`] takes the sync's content (a full sync's elements page
//! by page, or a delta's events) as byte fragments that are already JSON
//! (the kept encodings of element runs and batches, sliced at element and
//! event boundaries, never inside one) and packs them greedily: into the
//! `joined` frame while it has room, then into `joined_part` frames. A
//! page whose elements span frames appears in each with the elements it
//! holds there. Every frame's bytes are counted exactly, so each is at
//! most the limit, unless one fragment alone is larger than an empty
//! frame can hold (which the startup check of `frame_limit` rules out):
//! it then goes alone into a frame of its own.
//!
//! Without a limit (`usize::MAX`) everything stays in the `joined` frame
//! and the bytes are those of the unsplit frame: no `parts` field.

use std::io::Write as _;
use std::ops::Range;

use super::json_text::{number, number_len, string};
use super::EncodeError;
use huddle_core::{BoardId, PageId, UserSessionId};

/// The most digits of a part count or index (a `u32`).
pub(crate) const PART_DIGITS: usize = 10;

/// `,"parts":`, written into the `joined` frame's `sync` when parts follow.
pub(crate) const PARTS_FIELD: &[u8] = br#","parts":"#;
/// A part's prefix up to its session id.
pub(crate) const PART_START: &[u8] = br#"{"type":"joined_part","session_id":""#;
/// Between a part's session id and its board.
pub(crate) const PART_BOARD: &[u8] = br#"","board":"#;
/// Between a part's board and its index.
pub(crate) const PART_INDEX: &[u8] = br#","part":"#;
/// The end of a part that more parts follow.
pub(crate) const PART_NOT_LAST: &[u8] = br#","last":false}"#;
/// The end of the last part.
pub(crate) const PART_LAST: &[u8] = br#","last":true}"#;
/// The end of the `joined` frame after its sync's content.
pub(crate) const JOINED_END: &[u8] = b"}}";

/// What a sync carries: a full sync's pages or a delta's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncContent {
    /// `"pages":{page:{element:data}}`.
    Pages,
    /// `"events":[event, ...]`.
    Events,
}

impl SyncContent {
    /// The field name and the opening bracket.
    pub(crate) fn open(self) -> &'static [u8] {
        match self {
            SyncContent::Pages => br#","pages":{"#,
            SyncContent::Events => br#","events":["#,
        }
    }

    /// The closing bracket.
    pub(crate) fn close(self) -> u8 {
        match self {
            SyncContent::Pages => b'}',
            SyncContent::Events => b']',
        }
    }
}

/// The page whose elements are being added.
struct OpenPage {
    /// `"page"`, escaped.
    key: Vec<u8>,
    /// Its `"page":{` is written in the current frame (and its `}` is due).
    in_frame: bool,
    /// It was written in some frame (an empty page is still sent once).
    written: bool,
}

/// Packs a sync's fragments into the `joined` frame and its parts.
pub(crate) struct Splitter {
    limit: usize,
    content: SyncContent,
    /// `{"type":"joined_part","session_id":"...","board":...,"part":`.
    part_head: Vec<u8>,
    /// Where `,"parts":N` goes in the `joined` frame.
    parts_at: usize,
    /// The `joined` frame, once closed (parts follow).
    joined: Option<Vec<u8>>,
    /// Closed parts.
    parts: Vec<Vec<u8>>,
    /// The frame being filled.
    frame: Vec<u8>,
    /// Where its content starts.
    content_start: usize,
    /// The most bytes it may hold before its closing bytes.
    frame_end: usize,
    page: Option<OpenPage>,
    /// Bytes of content still to come, as estimated (for allocations).
    estimate_left: usize,
}

impl Splitter {
    /// A splitter whose `joined` frame starts with `head` (everything up
    /// to the sync's content field: `...,"sync":{"kind":"full","reason":"initial"`);
    /// `estimate` is about how many bytes the content takes.
    pub(crate) fn new(
        limit: usize,
        content: SyncContent,
        session_id: UserSessionId,
        board: &BoardId,
        mut head: Vec<u8>,
        estimate: usize,
    ) -> Result<Self, EncodeError> {
        let mut part_head = Vec::with_capacity(PART_START.len() + 32 + board.as_str().len());
        part_head.extend_from_slice(PART_START);
        write!(part_head, "{session_id}").map_err(serde_json::Error::io)?;
        part_head.extend_from_slice(PART_BOARD);
        string(&mut part_head, board.as_str())?;
        part_head.extend_from_slice(PART_INDEX);
        let parts_at = head.len();
        // Room kept for `,"parts":N` and the frame's end.
        let reserved = parts_at + PARTS_FIELD.len() + PART_DIGITS + content.open().len();
        let frame_end =
            limit.saturating_sub(1 + JOINED_END.len() + PARTS_FIELD.len() + PART_DIGITS);
        head.reserve(estimate.min(limit.saturating_sub(reserved)) + content.open().len() + 3);
        head.extend_from_slice(content.open());
        Ok(Splitter {
            limit,
            content,
            part_head,
            parts_at,
            joined: None,
            parts: Vec::new(),
            content_start: head.len(),
            frame: head,
            frame_end,
            page: None,
            estimate_left: estimate,
        })
    }

    fn has_content(&self) -> bool {
        self.frame.len() > self.content_start
    }

    /// Bytes a fragment needs besides its own in the current frame: the
    /// separator, the page's key (if not open in this frame yet) and the
    /// page's closing brace.
    fn overhead(&self) -> usize {
        let comma = usize::from(self.has_content());
        match &self.page {
            Some(p) if p.in_frame => 2,
            Some(p) => comma + p.key.len() + 3,
            None => comma,
        }
    }

    /// Bytes of fragments the current frame still takes.
    fn room(&self) -> usize {
        self.frame_end
            .saturating_sub(self.frame.len().saturating_add(self.overhead()))
    }

    /// Starts the elements of `page` (pages only).
    pub(crate) fn begin_page(&mut self, page: &PageId) -> Result<(), EncodeError> {
        let mut key = Vec::with_capacity(page.as_str().len() + 2);
        string(&mut key, page.as_str())?;
        self.page = Some(OpenPage {
            key,
            in_frame: false,
            written: false,
        });
        Ok(())
    }

    /// Ends the current page: closes it, or writes it empty if none of
    /// its elements was written.
    pub(crate) fn end_page(&mut self) {
        let Some(page) = self.page.take() else {
            return;
        };
        if page.in_frame {
            self.frame.push(b'}');
            return;
        }
        if !page.written {
            let need = usize::from(self.has_content()) + page.key.len() + 3;
            let fits = self.frame.len().saturating_add(need) <= self.frame_end;
            if !fits && (self.has_content() || self.joined.is_none()) {
                self.next_frame();
            }
            if self.has_content() {
                self.frame.push(b',');
            }
            self.frame.extend_from_slice(&page.key);
            self.frame.extend_from_slice(b":{}");
        }
    }

    /// Appends fragments (already joined by commas) to the current frame.
    fn put(&mut self, bytes: &[u8]) {
        let has_content = self.has_content();
        match &mut self.page {
            Some(p) if p.in_frame => self.frame.push(b','),
            Some(p) => {
                if has_content {
                    self.frame.push(b',');
                }
                self.frame.extend_from_slice(&p.key);
                self.frame.extend_from_slice(b":{");
                p.in_frame = true;
                p.written = true;
            }
            None => {
                if has_content {
                    self.frame.push(b',');
                }
            }
        }
        self.frame.extend_from_slice(bytes);
        self.estimate_left = self.estimate_left.saturating_sub(bytes.len());
    }

    /// Adds fragments `range` of `bytes`, whose fragment `i` ends at
    /// `end(i)` and starts one separator byte after the previous one ends
    /// (at 0 for the first): as many as fit into each frame, in order.
    pub(crate) fn add_fragments(
        &mut self,
        bytes: &[u8],
        end: impl Fn(usize) -> Option<usize>,
        range: Range<usize>,
    ) {
        let mut i = range.start;
        while i < range.end {
            let start = match i {
                0 => 0,
                _ => end(i - 1).map_or(0, |e| e + 1),
            };
            let room = self.room();
            let end_of = |j: usize| end(j).unwrap_or(start).max(start);
            // As many fragments as fit, from `i` on.
            let mut j = i;
            while j < range.end && end_of(j) - start <= room {
                j += 1;
            }
            if j == i {
                // The `joined` frame (its participants take room) may be
                // too full for a fragment that a part takes.
                if self.has_content() || self.joined.is_none() {
                    self.next_frame();
                    continue;
                }
                // Larger than an empty part: alone, over the limit.
                j = i + 1;
            }
            if let Some(piece) = bytes.get(start..end_of(j - 1)) {
                self.put(piece);
            }
            i = j;
            if i < range.end {
                self.next_frame();
            }
        }
    }

    /// Adds fragments joined by commas if they all fit into the current
    /// frame; `false` (nothing added) otherwise.
    pub(crate) fn add_if_fits(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.room() {
            return false;
        }
        self.put(bytes);
        true
    }

    /// Closes the current frame (more content follows) and starts a part.
    fn next_frame(&mut self) {
        let closed = std::mem::take(&mut self.frame);
        self.close_into(closed, false);
        let mut part = Vec::with_capacity(
            self.estimate_left
                .saturating_add(self.part_head.len() + 32)
                .min(self.limit),
        );
        part.extend_from_slice(&self.part_head);
        number(&mut part, self.parts.len() as u64 + 1);
        part.extend_from_slice(self.content.open());
        self.frame = part;
        self.content_start = self.frame.len();
        self.frame_end = self.limit.saturating_sub(1 + PART_NOT_LAST.len());
        if let Some(p) = &mut self.page {
            p.in_frame = false;
        }
    }

    /// Ends a closed frame: the open page's brace, the content's bracket,
    /// and the frame's end.
    fn close_into(&mut self, mut frame: Vec<u8>, last: bool) {
        if self.page.as_ref().is_some_and(|p| p.in_frame) {
            frame.push(b'}');
        }
        frame.push(self.content.close());
        if self.joined.is_none() {
            frame.extend_from_slice(JOINED_END);
            self.joined = Some(frame);
        } else {
            frame.extend_from_slice(if last { PART_LAST } else { PART_NOT_LAST });
            self.parts.push(frame);
        }
    }

    /// The frames: the `joined` frame (with `parts` if any follow), then
    /// the parts in order.
    pub(crate) fn finish(mut self) -> Vec<Vec<u8>> {
        let frame = std::mem::take(&mut self.frame);
        self.close_into(frame, true);
        self.page = None;
        let mut joined = self.joined.take().unwrap_or_default();
        let count = self.parts.len();
        if count > 0 {
            let mut field = Vec::with_capacity(PARTS_FIELD.len() + number_len(count as u64));
            field.extend_from_slice(PARTS_FIELD);
            number(&mut field, count as u64);
            let at = self.parts_at.min(joined.len());
            joined.splice(at..at, field);
        }
        let mut frames = Vec::with_capacity(1 + count);
        frames.push(joined);
        frames.append(&mut self.parts);
        frames
    }
}
