//! The task that owns the machine: it performs the machine's outputs,
//! feeds back what the sockets deliver, and wakes at its deadlines.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use huddle_core::Timestamp;
use tokio::sync::mpsc;

use super::socket::{self, Io, Socket};
use super::{Command, NetConfig, Observed};
use crate::{Client, ClientOutput, ClientSignal, TransportId};

/// The wall clock as the machine's time.
fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Timestamp::from_millis(millis)
}

pub(super) async fn run(
    config: NetConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    signals: mpsc::UnboundedSender<ClientSignal>,
) {
    let mut client = Client::new(config.client.clone(), config.board.clone(), config.seed);
    let (io_tx, mut io_rx) = mpsc::unbounded_channel::<Io>();
    let mut sockets: HashMap<TransportId, Socket> = HashMap::new();
    // The credentials hook's answer for a reconnect attempt.
    let (cred_tx, mut cred_rx) = mpsc::unbounded_channel();
    if client.connect(now(), config.credentials.clone()).is_err() {
        return;
    }
    loop {
        while let Some(output) = client.poll_output() {
            match output {
                ClientOutput::Connect {
                    transport,
                    credentials,
                    url,
                } => {
                    let base = url.as_deref().unwrap_or(&config.url);
                    let url = super::with_token(base, &credentials.token);
                    let s = socket::open(transport, url, config.max_frame_bytes, io_tx.clone());
                    sockets.insert(transport, s);
                }
                ClientOutput::Send { transport, message } => {
                    if let Some(s) = sockets.get(&transport) {
                        s.send(&message);
                    }
                }
                ClientOutput::Close { transport } => {
                    if let Some(s) = sockets.remove(&transport) {
                        s.close();
                    }
                }
                ClientOutput::NeedCredentials { attempt } => match &config.credentials_hook {
                    Some(hook) => {
                        let answer = hook(attempt);
                        let tx = cred_tx.clone();
                        tokio::spawn(async move {
                            let _ = tx.send(answer.await);
                        });
                    }
                    None => {
                        let _ = client.provide_credentials(now(), config.credentials.clone());
                    }
                },
                ClientOutput::Signal(signal) => {
                    // Nobody listening is fine: the handle may ignore signals.
                    let _ = signals.send(signal);
                }
            }
        }
        let sleep = match client.poll_timeout() {
            Some(deadline) => {
                let wait = deadline.as_millis().saturating_sub(now().as_millis());
                Duration::from_millis(wait)
            }
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Mutate(mutations, answer)) => {
                    let _ = answer.send(client.mutate(now(), mutations));
                }
                Some(Command::Observe(answer)) => {
                    let _ = answer.send(Observed {
                        state: client.state(),
                        replica: client.replica().clone(),
                        unacked_batches: client.unacked_batches(),
                    });
                }
                Some(Command::Close(done)) => {
                    client.close(now());
                    // Send the `leave`, then close every socket.
                    while let Some(output) = client.poll_output() {
                        if let ClientOutput::Send { transport, message } = output {
                            if let Some(s) = sockets.get(&transport) {
                                s.send(&message);
                            }
                        }
                    }
                    for (_, s) in sockets.drain() {
                        s.close();
                    }
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
            Some(io) = io_rx.recv() => {
                let now = now();
                match io {
                    Io::Open(t) => client.transport_open(now, t),
                    Io::Failed(t, failure) => {
                        sockets.remove(&t);
                        client.transport_failed(now, t, failure);
                    }
                    Io::Message(t, message) => client.handle_message(now, t, message),
                    Io::Closed(t, code) => {
                        sockets.remove(&t);
                        client.transport_closed(now, t, code);
                    }
                }
            }
            Some(credentials) = cred_rx.recv() => {
                let _ = client.provide_credentials(now(), credentials);
            }
            () = tokio::time::sleep(sleep) => client.handle_timeout(now()),
        }
    }
}
