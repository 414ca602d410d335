//! A Rust client surviving a bad network, in virtual time: the client
//! machine talks JSON frames to an engine over an in-memory "socket" that
//! the host can cut. It joins, edits, loses its connection while it keeps
//! editing offline, refreshes its credentials in the pre-reconnect hook,
//! re-syncs by delta and re-sends its queued work; then it exports its
//! unacknowledged work, "restarts", and imports it again.
//!
//! Run: `cargo run -p huddle-client --example client`

use std::collections::VecDeque;
use std::time::Duration;

use huddle_client::{
    Client, ClientConfig, ClientOutput, ClientSignal, ConnectionState, Credentials, TransportId,
};
use huddle_core::{
    Config, ConnId, Effect, Engine, LoadedBoard, Mutation, Notice, Output, SnapshotId,
    StorageOutcome, Timestamp,
};
use huddle_wire::{ClientMessage, Identity, ServerMessage};

/// The server side: an engine whose store accepts everything at once.
struct Server {
    engine: Engine,
    log: Vec<huddle_core::Event>,
    /// Frames for the client, with the transport they travel on.
    outbox: VecDeque<(TransportId, Vec<u8>)>,
    /// Which engine connection serves which client transport.
    conn: Option<(TransportId, ConnId)>,
    next_conn: u64,
}

impl Server {
    /// Encodes a notice for the client, if `conn` is its connection.
    fn send(&mut self, conn: ConnId, notice: &Notice) {
        if let Some((transport, c)) = self.conn {
            if c == conn {
                let frame = huddle_wire::encode_notice(notice).expect("JSON data");
                self.outbox.push_back((transport, frame));
            }
        }
    }

    fn drain(&mut self, now: Timestamp) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Notify { conn, notice } => self.send(conn, &notice),
                // One client here: a broadcast reaches it if it is listed.
                Output::Broadcast { conns, notice } => {
                    for conn in conns {
                        self.send(conn, &notice);
                    }
                }
                Output::Effect(effect) => {
                    let outcome = match &effect {
                        Effect::LoadBoard { .. } => {
                            let mut loaded = LoadedBoard::empty();
                            loaded.events = self.log.clone();
                            StorageOutcome::Loaded(Box::new(loaded))
                        }
                        Effect::AppendEvents { events, .. } => {
                            self.log.extend(events.iter().cloned());
                            StorageOutcome::Stored
                        }
                        Effect::StoreSnapshot { .. } => {
                            StorageOutcome::SnapshotStored(SnapshotId::from("s"))
                        }
                        _ => StorageOutcome::Stored,
                    };
                    self.engine
                        .handle_storage(now, effect.id(), outcome)
                        .expect("our own effect");
                }
                Output::Signal(_) | Output::Released { .. } | Output::Drained => {}
            }
        }
    }

    fn receive(&mut self, now: Timestamp, frame: &[u8]) {
        let Some((_, conn)) = self.conn else { return };
        let message = ClientMessage::from_json(frame).expect("the client sends valid frames");
        let identity = Identity::new("bot", "Bot").board("board-1");
        if let Some(reply) = huddle_wire::dispatch(&mut self.engine, now, conn, &identity, message)
        {
            let transport = self.conn.map(|(t, _)| t).expect("connected");
            self.outbox
                .push_back((transport, reply.to_json().expect("JSON").into_bytes()));
        }
        self.drain(now);
    }
}

/// Runs the client's outputs against the server until both are quiet.
fn pump(now: Timestamp, client: &mut Client, server: &mut Server, network_up: bool) {
    loop {
        let mut busy = false;
        while let Some(output) = client.poll_output() {
            busy = true;
            match output {
                ClientOutput::Connect {
                    transport,
                    credentials,
                    ..
                } => {
                    println!(
                        "  host: opening socket {transport:?} with token {:?}",
                        credentials.token
                    );
                    if network_up {
                        server.conn = Some((transport, ConnId(server.next_conn)));
                        server.next_conn += 1;
                        client.transport_open(now, transport);
                    } else {
                        client.transport_failed(
                            now,
                            transport,
                            huddle_client::ConnectFailure::Network("unreachable".into()),
                        );
                    }
                }
                ClientOutput::Send { message, .. } => {
                    let frame = message.to_json().expect("JSON");
                    println!("  -> {frame}");
                    server.receive(now, frame.as_bytes());
                }
                ClientOutput::Close { .. } => {}
                ClientOutput::NeedCredentials { attempt } => {
                    println!(
                        "  host: attempt {attempt} asks for credentials; refreshing the token"
                    );
                    client
                        .provide_credentials(
                            now,
                            Credentials::new(format!("token-v{}", attempt + 1)),
                        )
                        .expect("asked");
                }
                ClientOutput::Signal(event) => print_event(&event),
            }
        }
        while let Some((transport, frame)) = server.outbox.pop_front() {
            busy = true;
            println!("  <- {}", String::from_utf8_lossy(&frame));
            let message = ServerMessage::from_json(&frame).expect("the server sends valid frames");
            client.handle_message(now, transport, message);
        }
        if !busy {
            return;
        }
    }
}

fn print_event(event: &ClientSignal) {
    match event {
        ClientSignal::Acked { batch, sequence } => {
            println!("  event: batch {batch} acked at {sequence}")
        }
        other => println!("  event: {other:?}"),
    }
}

fn upsert(element: &str, data: &str) -> Mutation {
    Mutation::Upsert {
        page: "page-1".into(),
        element: element.into(),
        data: data.into(),
    }
}

fn main() {
    let mut now = Timestamp::from_millis(1_767_225_600_000);
    let mut server = Server {
        engine: Engine::new(Config::default(), 1),
        log: Vec::new(),
        outbox: VecDeque::new(),
        conn: None,
        next_conn: 1,
    };
    let mut client = Client::new(ClientConfig::default(), "board-1", 0x5eed);

    println!("1. connect and join");
    client
        .connect(now, Credentials::new("token-v1"))
        .expect("disconnected");
    pump(now, &mut client, &mut server, true);
    assert_eq!(client.state(), ConnectionState::Connected);

    println!("\n2. an edit, acknowledged once stored");
    client
        .mutate(now, vec![upsert("sticky", r#"{"text":"hello"}"#)])
        .expect("valid");
    pump(now, &mut client, &mut server, true);

    println!("\n3. the network drops; the client keeps editing offline");
    let (_, conn) = server.conn.take().expect("connected");
    server.engine.disconnect(now, conn);
    server.drain(now);
    client.transport_closed(now, TransportId(1), None);
    client
        .mutate(now, vec![upsert("sticky", r#"{"text":"hello, offline"}"#)])
        .expect("queued");
    client
        .mutate(now, vec![upsert("arrow", r#"{"from":"sticky"}"#)])
        .expect("queued");
    pump(now, &mut client, &mut server, false);
    println!(
        "  {} batches wait in the offline queue",
        client.unacked_batches()
    );

    println!("\n4. backoff: the first attempt fails, the second one gets through");
    now = client.poll_timeout().expect("an attempt is scheduled");
    client.handle_timeout(now);
    pump(now, &mut client, &mut server, false);
    now = client.poll_timeout().expect("another attempt is scheduled");
    client.handle_timeout(now);
    pump(now, &mut client, &mut server, true);
    assert_eq!(client.state(), ConnectionState::Connected);
    assert_eq!(client.unacked_batches(), 0);

    println!("\n5. work made just before a crash is exported, then imported on restart");
    let (_, conn) = server.conn.take().expect("connected");
    server.engine.disconnect(now, conn);
    server.drain(now);
    client.transport_closed(now, TransportId(3), None);
    client
        .mutate(now, vec![upsert("circle", r#"{"r":3}"#)])
        .expect("queued");
    let saved = client.export_recovery(now).to_json().expect("JSON");
    println!("  saved: {saved}");
    now = now.saturating_add(Duration::from_secs(90));
    let mut restarted = Client::new(ClientConfig::default(), "board-1", 0xbeef);
    let recovery = huddle_client::Recovery::from_json(saved.as_bytes()).expect("valid");
    let n = restarted
        .import_recovery(now, recovery)
        .expect("fresh enough");
    println!("  imported {n} batch(es); connecting");
    restarted
        .connect(now, Credentials::new("token-v9"))
        .expect("disconnected");
    pump(now, &mut restarted, &mut server, true);
    assert_eq!(restarted.unacked_batches(), 0);

    let replica = restarted.replica();
    println!(
        "\nthe restarted client's replica: sequence {:?}, {} elements; the server's log: {} events",
        replica.sequence(),
        replica.pages().element_count(),
        server.log.len()
    );
    assert_eq!(server.engine.pages("board-1"), Some(replica.pages()));
}
