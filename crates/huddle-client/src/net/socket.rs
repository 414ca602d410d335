//! One transport: a WebSocket opened with tokio-tungstenite, its frames
//! decoded and handed to the task, the task's messages encoded and sent.

use futures_util::{SinkExt, StreamExt};
use huddle_wire::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::{ConnectFailure, TransportId};

/// What a transport reports to the task.
pub(super) enum Io {
    Open(TransportId),
    Failed(TransportId, ConnectFailure),
    Message(TransportId, ServerMessage),
    Closed(TransportId, Option<u16>),
}

/// The task's side of one transport.
pub(super) struct Socket {
    outgoing: mpsc::UnboundedSender<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Socket {
    /// Sends `message` (dropped if the socket is gone: the machine learns
    /// of that from the close).
    pub(super) fn send(&self, message: &ClientMessage) {
        if let Ok(text) = message.to_json() {
            let _ = self.outgoing.send(text);
        }
    }

    /// Closes the socket; nothing more is reported of it.
    pub(super) fn close(self) {
        // Dropping the sender makes the socket task send a close frame;
        // one still connecting is stopped.
        drop(self.outgoing);
        let task = self.task;
        tokio::spawn(async move {
            // Time for the close frame; then make sure it ends.
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            task.abort();
        });
    }
}

/// Opens `url` as transport `id`; reports go to `io`.
pub(super) fn open(
    id: TransportId,
    url: String,
    max_frame_bytes: usize,
    io: mpsc::UnboundedSender<Io>,
) -> Socket {
    let (outgoing, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(id, url, max_frame_bytes, io, rx));
    Socket { outgoing, task }
}

async fn run(
    id: TransportId,
    url: String,
    max_frame_bytes: usize,
    io: mpsc::UnboundedSender<Io>,
    mut outgoing: mpsc::UnboundedReceiver<String>,
) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_frame_bytes))
        .max_frame_size(Some(max_frame_bytes));
    let ws = match tokio_tungstenite::connect_async_with_config(&url, Some(config), true).await {
        Ok((ws, _)) => ws,
        Err(WsError::Http(resp)) if resp.status().as_u16() == 401 => {
            let _ = io.send(Io::Failed(id, ConnectFailure::Unauthorized));
            return;
        }
        Err(e) => {
            let _ = io.send(Io::Failed(id, ConnectFailure::Network(e.to_string())));
            return;
        }
    };
    let _ = io.send(Io::Open(id));
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            text = outgoing.recv() => match text {
                Some(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        let _ = io.send(Io::Closed(id, None));
                        return;
                    }
                }
                None => {
                    // The task closed this transport: say goodbye politely.
                    let _ = sink.close().await;
                    return;
                }
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => match ServerMessage::from_json(text.as_bytes()) {
                    Ok(message) => {
                        let _ = io.send(Io::Message(id, message));
                    }
                    Err(_) => {
                        // A frame this client cannot read: the connection is
                        // not usable; the machine reconnects.
                        let _ = sink.close().await;
                        let _ = io.send(Io::Closed(id, None));
                        return;
                    }
                },
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code));
                    let _ = io.send(Io::Closed(id, code));
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    let _ = io.send(Io::Closed(id, None));
                    return;
                }
            },
        }
    }
}
