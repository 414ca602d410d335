//! [`TextFrame`]: one encoded JSON text frame, shared by every recipient.
//!
//! A broadcast is encoded once and its frame queued for each recipient;
//! the frame is checked as UTF-8 once, when it is made, and never again:
//! with the `axum` feature it is the WebSocket layer's own text type, so
//! the pump hands it to the socket as it is (no check per recipient).

use core::fmt;
use core::ops::Deref;

#[cfg(feature = "axum")]
type Repr = axum::extract::ws::Utf8Bytes;
#[cfg(not(feature = "axum"))]
type Repr = std::sync::Arc<str>;

/// One JSON text frame (valid UTF-8). Cloning shares the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct TextFrame(Repr);

impl TextFrame {
    /// The frame from encoded bytes, if they are UTF-8.
    pub fn from_utf8(bytes: Vec<u8>) -> Result<Self, std::string::FromUtf8Error> {
        String::from_utf8(bytes).map(TextFrame::from)
    }

    /// The frame's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The WebSocket layer's text, as it is.
    #[cfg(feature = "axum")]
    pub(crate) fn into_axum(self) -> axum::extract::ws::Utf8Bytes {
        self.0
    }
}

impl From<String> for TextFrame {
    fn from(text: String) -> Self {
        TextFrame(text.into())
    }
}

/// The frame's bytes (what a socket writes).
impl Deref for TextFrame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl fmt::Debug for TextFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TextFrame({:?})", self.as_str())
    }
}
