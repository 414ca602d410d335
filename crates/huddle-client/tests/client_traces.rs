//! Scenario traces of the client connection machine, for the JavaScript
//! client (`clients/js`, npm package `huddle-client`), which must behave
//! the same: each trace is a list of inputs in virtual time and, after
//! every input, what the Rust machine answered (the call's result, every
//! output drained, the state, the next deadline, the unacknowledged work
//! and the replica). The JS client replays every trace in its own tests
//! (`clients/js/test/traces.test.js`) and must produce the same.
//!
//! This test builds the scenarios and compares the JSON with the committed
//! files in `clients/js/test/traces/`: any difference fails, so a change to
//! the Rust machine that the JS client does not follow shows here, and one
//! to the JS client shows in its tests. After a deliberate change,
//! `HUDDLE_BLESS=1 cargo test -p huddle-client --test client_traces` rewrites
//! the files (then run the JS tests).
//!
//! Self-contained on purpose: it uses only the public client and wire API
//! (and `Timestamp`), so it can move with the client into its own crate.
//!
//! The trace format (version 1), all times in ms since the epoch:
//!
//! ```text
//! { "format": 1, "name", "description", "board", "seed": "<u64>",
//!   "config": { "backoff": { "firstDelay", "baseDelay", "multiplier",
//!               "maxDelay", "maxAttempts", "jitter" }, "attemptTimeout",
//!               "maxUnackedMutations", "maxBatchLen", "maxBatchRetries",
//!               "batchRetryDelay", "recoveryMaxAge", "cursorInterval",
//!               "pingInterval" (null: none), "pongTimeout" },
//!   "steps": [ { "now", "input": { "op", ... }, "result",
//!                "outputs": [...], "state", "timeout", "unacked",
//!                "replica": { "sequence", "pages", "participants" } } ] }
//! ```
//!
//! Inputs (`op`): `connect {token}`, `provide_credentials {token}`,
//! `retry_now`, `close`, `mutate {mutations}`, `cursor {x, y}`,
//! `request_snapshot`, `export_recovery`, `import_recovery {recovery}`,
//! `set_client_id {id}`, `transport_open {transport}`, `transport_failed
//! {transport, failure: "unauthorized" | "network"}`, `transport_closed
//! {transport, code}`, `message {transport, frame}` (a server frame, as
//! JSON), `timeout`. Results: `{"ok": value}` or `{"error": kind, ...}`.
//! Outputs and events are written in the JS client's shapes
//! (`{"type":"connect","transport","credentials":{"token"}}`,
//! `{"type":"event","event":{"type":"reconnecting","attempt":1}}`, ...).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use huddle_client::{
    Backoff, Client, ClientConfig, ClientError, ClientOutput, ClientSignal, ConnectFailure,
    ConnectionState, Credentials, DisconnectReason, Recovery, RecoveryError, TransportId,
};
use huddle_core::Timestamp;
use huddle_wire::{ClientMessage, PartError, ServerMessage};
use serde_json::{json, Value};

const T0: u64 = 1_700_000_000_000;
const BOARD: &str = "board-1";

// ---- the recorder -------------------------------------------------------

struct Tracer {
    name: &'static str,
    description: &'static str,
    seed: u64,
    config: Value,
    client: Client,
    now: u64,
    steps: Vec<Value>,
}

impl Tracer {
    fn new(name: &'static str, description: &'static str, seed: u64, config: Value) -> Self {
        let client = Client::new(client_config(&config), BOARD, seed);
        Tracer {
            name,
            description,
            seed,
            config,
            client,
            now: T0,
            steps: Vec::new(),
        }
    }

    /// Moves the clock forward by `ms`.
    fn wait(&mut self, ms: u64) -> &mut Self {
        self.now += ms;
        self
    }

    /// One input at the current time; records the step and returns the
    /// outputs it produced.
    fn input(&mut self, input: Value) -> Vec<Value> {
        let now = Timestamp::from_millis(self.now);
        let result = apply(&mut self.client, now, &input);
        let mut outputs = Vec::new();
        while let Some(o) = self.client.poll_output() {
            outputs.push(output_json(&o));
        }
        let timeout = self.client.poll_timeout().map(|t| t.as_millis());
        self.steps.push(json!({
            "now": self.now,
            "input": input,
            "result": result,
            "outputs": outputs,
            "state": state_json(self.client.state()),
            "timeout": timeout,
            "unacked": [self.client.unacked_batches(), self.client.unacked_mutations()],
            "replica": replica_json(&self.client),
        }));
        outputs
    }

    /// Advances to the next deadline (if any) and handles it.
    fn timeout(&mut self) -> Vec<Value> {
        if let Some(t) = self.client.poll_timeout() {
            self.now = self.now.max(t.as_millis());
        }
        self.input(json!({"op": "timeout"}))
    }

    fn connect(&mut self, token: &str) -> Vec<Value> {
        self.input(json!({"op": "connect", "token": token}))
    }
    fn creds(&mut self, token: &str) -> Vec<Value> {
        self.input(json!({"op": "provide_credentials", "token": token}))
    }
    fn open(&mut self, transport: u64) -> Vec<Value> {
        self.input(json!({"op": "transport_open", "transport": transport}))
    }
    fn failed(&mut self, transport: u64, failure: &str) -> Vec<Value> {
        self.input(json!({"op": "transport_failed", "transport": transport, "failure": failure}))
    }
    fn closed(&mut self, transport: u64, code: Option<u16>) -> Vec<Value> {
        self.input(json!({"op": "transport_closed", "transport": transport, "code": code}))
    }
    fn msg(&mut self, transport: u64, frame: Value) -> Vec<Value> {
        self.input(json!({"op": "message", "transport": transport, "frame": frame}))
    }
    fn mutate(&mut self, mutations: Value) -> Vec<Value> {
        self.input(json!({"op": "mutate", "mutations": mutations}))
    }

    /// The step's `result` of the last input.
    fn last_result(&self) -> Value {
        self.steps
            .last()
            .map(|s| s["result"].clone())
            .unwrap_or(Value::Null)
    }

    fn finish(&self) -> Value {
        json!({
            "format": 1,
            "name": self.name,
            "description": self.description,
            "board": BOARD,
            "seed": self.seed.to_string(),
            "config": self.config,
            "steps": self.steps,
        })
    }
}

// ---- inputs -------------------------------------------------------------

fn apply(client: &mut Client, now: Timestamp, input: &Value) -> Value {
    let op = input["op"].as_str().unwrap_or_default();
    let transport = || TransportId(input["transport"].as_u64().unwrap_or_default());
    let token = || Credentials::new(input["token"].as_str().unwrap_or_default());
    match op {
        "connect" => unit(client.connect(now, token()).map_err(client_error)),
        "provide_credentials" => unit(
            client
                .provide_credentials(now, token())
                .map_err(client_error),
        ),
        "retry_now" => json!({"ok": client.retry_now(now)}),
        "close" => {
            client.close(now);
            json!({"ok": null})
        }
        "mutate" => {
            let frame = json!({"type": "mutate", "batch": "x", "mutations": input["mutations"]});
            let decoded = ClientMessage::from_json(frame.to_string().as_bytes());
            let Ok(ClientMessage::Mutate { mutations, .. }) = decoded else {
                panic!("bad mutations in a scenario: {input}");
            };
            match client.mutate(now, mutations) {
                Ok(batch) => json!({"ok": batch.as_str()}),
                Err(e) => client_error(e),
            }
        }
        "cursor" => {
            let (x, y) = (input["x"].as_f64(), input["y"].as_f64());
            let (Some(x), Some(y)) = (x, y) else {
                panic!("bad cursor in a scenario: {input}");
            };
            unit(client.cursor(now, x, y).map_err(client_error))
        }
        "request_snapshot" => unit(client.request_snapshot(now).map_err(client_error)),
        "export_recovery" => {
            let text = client
                .export_recovery(now)
                .to_json()
                .expect("recovery encodes");
            json!({"ok": serde_json::from_str::<Value>(&text).expect("recovery is JSON")})
        }
        "import_recovery" => {
            let text = input["recovery"].to_string();
            match Recovery::from_json(text.as_bytes()) {
                Ok(recovery) => match client.import_recovery(now, recovery) {
                    Ok(n) => json!({"ok": n}),
                    Err(e) => recovery_error(e),
                },
                Err(e) => recovery_error(e),
            }
        }
        "set_client_id" => {
            client.set_client_id(input["id"].as_str().unwrap_or_default());
            json!({"ok": null})
        }
        "transport_open" => {
            client.transport_open(now, transport());
            json!({"ok": null})
        }
        "transport_failed" => {
            let failure = match input["failure"].as_str() {
                Some("unauthorized") => ConnectFailure::Unauthorized,
                _ => ConnectFailure::Network("connection refused".into()),
            };
            client.transport_failed(now, transport(), failure);
            json!({"ok": null})
        }
        "transport_closed" => {
            let code = input["code"].as_u64().and_then(|c| u16::try_from(c).ok());
            client.transport_closed(now, transport(), code);
            json!({"ok": null})
        }
        "message" => {
            let frame = input["frame"].to_string();
            let message = ServerMessage::from_json(frame.as_bytes())
                .unwrap_or_else(|e| panic!("a scenario's frame does not decode: {e}: {frame}"));
            client.handle_message(now, transport(), message);
            json!({"ok": null})
        }
        "timeout" => {
            client.handle_timeout(now);
            json!({"ok": null})
        }
        other => panic!("unknown scenario input {other}"),
    }
}

fn unit(r: Result<(), Value>) -> Value {
    match r {
        Ok(()) => json!({"ok": null}),
        Err(e) => e,
    }
}

fn client_error(e: ClientError) -> Value {
    match e {
        ClientError::EmptyBatch => json!({"error": "EmptyBatch"}),
        ClientError::BatchTooLong { len, max } => {
            json!({"error": "BatchTooLong", "len": len, "max": max})
        }
        ClientError::DataNotJson { index } => json!({"error": "DataNotJson", "index": index}),
        ClientError::QueueFull { held, limit } => {
            json!({"error": "QueueFull", "held": held, "limit": limit})
        }
        ClientError::NotConnected => json!({"error": "NotConnected"}),
        ClientError::InvalidCoordinate => json!({"error": "InvalidCoordinate"}),
        ClientError::AlreadyActive => json!({"error": "AlreadyActive"}),
        ClientError::NoCredentialsRequested => json!({"error": "NoCredentialsRequested"}),
        ClientError::BatchIdsExhausted => json!({"error": "BatchIdsExhausted"}),
        other => panic!("a client error the trace format does not name: {other:?}"),
    }
}

fn recovery_error(e: RecoveryError) -> Value {
    match e {
        RecoveryError::Stale { age, max_age } => json!({
            "error": "Stale",
            "ageMs": millis(age),
            "maxAgeMs": millis(max_age),
        }),
        RecoveryError::WrongBoard { expected, found } => json!({
            "error": "WrongBoard",
            "expected": expected.as_str(),
            "found": found.as_str(),
        }),
        RecoveryError::NotEmpty => json!({"error": "NotEmpty"}),
        RecoveryError::TooLarge { held, limit } => {
            json!({"error": "TooLarge", "held": held, "limit": limit})
        }
        RecoveryError::Malformed(_) => json!({"error": "Malformed"}),
        other => panic!("a recovery error the trace format does not name: {other:?}"),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

// ---- outputs ------------------------------------------------------------

fn output_json(o: &ClientOutput) -> Value {
    match o {
        ClientOutput::Connect {
            transport,
            credentials,
            url,
        } => {
            let mut o = json!({"type": "connect", "transport": transport.0,
                               "credentials": {"token": credentials.token}});
            // Only after a redirect (the configured URL is the host's).
            if let Some(url) = url {
                o["url"] = json!(url);
            }
            o
        }
        ClientOutput::Send { transport, message } => {
            let text = message.to_json().expect("client message encodes");
            let message: Value = serde_json::from_str(&text).expect("client message is JSON");
            json!({"type": "send", "transport": transport.0, "message": message})
        }
        ClientOutput::Close { transport } => json!({"type": "close", "transport": transport.0}),
        ClientOutput::NeedCredentials { attempt } => {
            json!({"type": "needCredentials", "attempt": attempt})
        }
        ClientOutput::Signal(e) => json!({"type": "event", "event": event_json(e)}),
    }
}

fn participant_json(user: &str, display_name: &str, color: &str) -> Value {
    json!({"user_id": user, "display_name": display_name, "color": color})
}

fn event_json(e: &ClientSignal) -> Value {
    match e {
        ClientSignal::Connected => json!({"type": "connected"}),
        ClientSignal::Disconnected { reason } => {
            json!({"type": "disconnected", "reason": reason_json(reason)})
        }
        ClientSignal::Reconnecting { attempt } => {
            json!({"type": "reconnecting", "attempt": attempt})
        }
        ClientSignal::Reconnected => json!({"type": "reconnected"}),
        ClientSignal::Redirected { node, url, hop } => {
            json!({"type": "redirected", "node": node, "url": url, "hop": hop})
        }
        ClientSignal::Failed => json!({"type": "failed"}),
        ClientSignal::AuthFailed => json!({"type": "authFailed"}),
        ClientSignal::Synced { sequence, full } => json!({
            "type": "synced",
            "sequence": sequence,
            "full": full.map(|r| serde_json::to_value(r).expect("reason encodes")),
        }),
        ClientSignal::Changed { sequence } => json!({"type": "changed", "sequence": sequence}),
        ClientSignal::Acked { batch, sequence } => {
            json!({"type": "acked", "batch": batch.as_str(), "sequence": sequence})
        }
        ClientSignal::Dropped {
            batch,
            mutations,
            code,
            message,
        } => json!({
            "type": "dropped",
            "batch": batch.as_str(),
            "mutations": mutations_json(mutations.clone()),
            "code": code.as_str(),
            "message": message,
        }),
        ClientSignal::ParticipantJoined(p) => json!({
            "type": "participantJoined",
            "participant": participant_json(p.user.as_str(), &p.display_name, p.color.hex()),
        }),
        ClientSignal::ParticipantLeft(p) => json!({
            "type": "participantLeft",
            "participant": participant_json(p.user.as_str(), &p.display_name, p.color.hex()),
        }),
        ClientSignal::Cursor { user, x, y } => {
            json!({"type": "cursor", "user": user.as_str(), "x": x, "y": y})
        }
        ClientSignal::Snapshot(info) => json!({
            "type": "snapshot",
            "snapshot": {
                "id": info.id.as_str(),
                "version": info.version,
                "created_at": info.created_at.to_string(),
                "created_by": serde_json::to_value(info.created_by).expect("cause encodes"),
            },
        }),
        ClientSignal::ServerError { code, message } => {
            json!({"type": "serverError", "code": code.as_str(), "message": message})
        }
        ClientSignal::ProtocolError { error } => {
            json!({"type": "protocolError", "error": part_error_json(error)})
        }
    }
}

/// A `PartError` as the JS client reports it (session ids are not
/// compared across the two: the JS client keeps them as received).
fn part_error_json(e: &PartError) -> Value {
    match e {
        PartError::Unexpected => json!({"kind": "unexpected"}),
        PartError::OutOfOrder { expected, got } => {
            json!({"kind": "outOfOrder", "expected": expected, "got": got})
        }
        PartError::OtherSession { .. } => json!({"kind": "otherSession"}),
        PartError::WrongContent { expected, got } => {
            json!({"kind": "wrongContent", "expected": expected, "got": got})
        }
        PartError::WrongLast { part, last, parts } => {
            json!({"kind": "wrongLast", "part": part, "last": last, "parts": parts})
        }
        other => json!({"kind": format!("{other:?}")}),
    }
}

/// Mutations in wire form, through the wire encoder.
fn mutations_json(mutations: Vec<huddle_core::Mutation>) -> Value {
    let message = ClientMessage::Mutate {
        batch: "x".into(),
        mutations,
    };
    let text = message.to_json().expect("mutations encode");
    let v: Value = serde_json::from_str(&text).expect("mutations are JSON");
    v["mutations"].clone()
}

fn reason_json(r: &DisconnectReason) -> Value {
    match r {
        DisconnectReason::Unexpected => json!({"kind": "unexpected"}),
        DisconnectReason::ServerClosed { code } => json!({"kind": "serverClosed", "code": code}),
        DisconnectReason::SessionTimeout => json!({"kind": "sessionTimeout"}),
        DisconnectReason::SessionClosed => json!({"kind": "sessionClosed"}),
        DisconnectReason::SessionMoved => json!({"kind": "sessionMoved"}),
        DisconnectReason::JoinRefused { code } => {
            json!({"kind": "joinRefused", "code": code.as_str()})
        }
        DisconnectReason::TooManyRedirects { hops } => {
            json!({"kind": "tooManyRedirects", "hops": hops})
        }
        DisconnectReason::Unauthorized => json!({"kind": "unauthorized"}),
        DisconnectReason::CredentialsExpired => json!({"kind": "credentialsExpired"}),
        DisconnectReason::Local => json!({"kind": "local"}),
    }
}

fn state_json(s: ConnectionState) -> Value {
    match s {
        ConnectionState::Disconnected => json!({"status": "disconnected"}),
        ConnectionState::Connecting => json!({"status": "connecting"}),
        ConnectionState::Connected => json!({"status": "connected"}),
        ConnectionState::Reconnecting { attempt } => {
            json!({"status": "reconnecting", "attempt": attempt})
        }
        ConnectionState::Failed => json!({"status": "failed"}),
        ConnectionState::AuthFailed => json!({"status": "authFailed"}),
    }
}

fn replica_json(client: &Client) -> Value {
    let replica = client.replica();
    let mut pages = serde_json::Map::new();
    for (page, elements) in replica.pages().iter() {
        let mut els = serde_json::Map::new();
        for (element, data) in elements {
            let v: Value = serde_json::from_slice(data.as_bytes()).expect("replica data is JSON");
            els.insert(element.as_str().to_owned(), v);
        }
        pages.insert(page.as_str().to_owned(), Value::Object(els));
    }
    let participants: Vec<Value> = replica
        .participants()
        .iter()
        .map(|p| participant_json(p.user.as_str(), &p.display_name, p.color.hex()))
        .collect();
    json!({"sequence": replica.sequence(), "pages": pages, "participants": participants})
}

// ---- configuration ------------------------------------------------------

/// The defaults in the trace's (JS) form; without pings unless a scenario
/// is about them, so that deadlines stay readable.
fn config(edit: impl FnOnce(&mut Value)) -> Value {
    let mut c = json!({
        "backoff": {"firstDelay": 1000, "baseDelay": 2000, "multiplier": 2,
                    "maxDelay": 16000, "maxAttempts": 5, "jitter": 0.0},
        "attemptTimeout": 10000,
        "maxUnackedMutations": 10000,
        "maxBatchLen": 1000,
        "maxBatchRetries": 3,
        "batchRetryDelay": 1000,
        "recoveryMaxAge": 300000,
        "cursorInterval": 50,
        "pingInterval": null,
        "pongTimeout": 10000,
    });
    edit(&mut c);
    c
}

fn client_config(c: &Value) -> ClientConfig {
    let ms = |v: &Value| Duration::from_millis(v.as_u64().expect("a duration in ms"));
    let n = |v: &Value| v.as_u64().expect("a count");
    let b = &c["backoff"];
    ClientConfig {
        backoff: Backoff {
            first_delay: ms(&b["firstDelay"]),
            base_delay: ms(&b["baseDelay"]),
            multiplier: u32::try_from(n(&b["multiplier"])).expect("multiplier"),
            max_delay: ms(&b["maxDelay"]),
            max_attempts: u32::try_from(n(&b["maxAttempts"])).expect("attempts"),
            jitter: b["jitter"].as_f64().expect("jitter"),
        },
        attempt_timeout: ms(&c["attemptTimeout"]),
        max_unacked_mutations: usize::try_from(n(&c["maxUnackedMutations"])).expect("max"),
        max_batch_len: usize::try_from(n(&c["maxBatchLen"])).expect("max"),
        max_batch_retries: u32::try_from(n(&c["maxBatchRetries"])).expect("retries"),
        batch_retry_delay: ms(&c["batchRetryDelay"]),
        recovery_max_age: ms(&c["recoveryMaxAge"]),
        cursor_interval: ms(&c["cursorInterval"]),
        ping_interval: (!c["pingInterval"].is_null()).then(|| ms(&c["pingInterval"])),
        pong_timeout: ms(&c["pongTimeout"]),
        // Absent from traces older than routing: the default.
        max_redirects: c
            .get("maxRedirects")
            .map_or(3, |v| u32::try_from(n(v)).expect("redirects")),
    }
}

// ---- frames -------------------------------------------------------------

const ALICE: (&str, &str, &str) = ("alice", "Alice", "#FF6B6B");
const BOB: (&str, &str, &str) = ("bob", "Bob", "#4ECDC4");

fn who(p: (&str, &str, &str)) -> Value {
    participant_json(p.0, p.1, p.2)
}

fn joined_full(sequence: u64, reason: &str, pages: Value, participants: Value) -> Value {
    json!({"type": "joined", "session_id": "00000000000000a1", "board": BOARD,
           "color": "#FF6B6B", "participants": participants, "sequence": sequence,
           "history_from": 0, "sync": {"kind": "full", "reason": reason, "pages": pages}})
}

fn joined_delta(sequence: u64, events: Value) -> Value {
    json!({"type": "joined", "session_id": "00000000000000a2", "board": BOARD,
           "color": "#FF6B6B", "participants": [who(ALICE), who(BOB)], "sequence": sequence,
           "history_from": 0, "sync": {"kind": "delta", "events": events}})
}

fn upsert(page: &str, element: &str, data: Value) -> Value {
    json!({"op": "upsert", "page": page, "element": element, "data": data})
}

fn delete(page: &str, element: &str) -> Value {
    json!({"op": "delete", "page": page, "element": element})
}

fn event(seq: u64, user: &str, mutation: Value) -> Value {
    let mut e = mutation;
    e["seq"] = json!(seq);
    e["user"] = json!(user);
    e
}

fn ack(batch: &str, sequence: u64) -> Value {
    json!({"type": "ack", "batch": batch, "sequence": sequence})
}

fn error(code: &str, batch: Option<&str>) -> Value {
    let mut e = json!({"type": "error", "code": code, "message": format!("{code} for the test")});
    if let Some(b) = batch {
        e["batch"] = json!(b);
    }
    e
}

fn ok_batch(t: &Tracer) -> String {
    t.last_result()["ok"]
        .as_str()
        .expect("mutate succeeded")
        .to_owned()
}

/// connect, open transport 1, initial full sync at `sequence`.
fn joined_client(t: &mut Tracer, sequence: u64, pages: Value) {
    t.connect("token-1");
    t.open(1);
    t.msg(
        1,
        joined_full(sequence, "initial", pages, json!([who(ALICE)])),
    );
}

// ---- scenarios ----------------------------------------------------------

fn connect_and_sync() -> Value {
    let mut t = Tracer::new(
        "connect_and_sync",
        "first join with a full sync, own batches acked into the replica, others' events, presence, snapshots, pings, close",
        1,
        config(|c| c["pingInterval"] = json!(20000)),
    );
    t.connect("token-1");
    t.wait(30).open(1);
    t.wait(20).msg(
        1,
        joined_full(
            2,
            "initial",
            json!({"p1": {"e1": {"x": 1, "tags": ["a"]}, "e2": "two"}}),
            json!([who(ALICE)]),
        ),
    );
    t.wait(5).mutate(json!([
        upsert("p1", "e3", json!({"w": 10})),
        delete("p1", "e2")
    ]));
    let b1 = ok_batch(&t);
    t.wait(5).msg(1, ack(&b1, 4));
    t.msg(1, ack(&b1, 4)); // a duplicate ack: harmless
    t.wait(1).msg(
        1,
        json!({"type": "events", "events": [event(5, "bob", upsert("p2", "n1", json!("hi"))),
                                             event(6, "bob", delete("p1", "e1"))]}),
    );
    t.msg(
        1,
        json!({"type": "events", "events": [event(6, "bob", delete("p1", "e1"))]}),
    );
    t.msg(1, json!({"type": "participant_joined", "user_id": "bob", "display_name": "Bob", "color": "#4ecdc4"}));
    t.msg(1, json!({"type": "participant_joined", "user_id": "bob", "display_name": "Bob", "color": "#4ECDC4"}));
    t.msg(
        1,
        json!({"type": "cursor", "user_id": "bob", "x": 10.5, "y": -3.25}),
    );
    t.input(json!({"op": "request_snapshot"}));
    t.msg(
        1,
        json!({"type": "snapshot", "id": "snap-1", "version": 6,
                    "created_at": "2026-12-01T21:30:38.616+01:00", "created_by": "manual"}),
    );
    t.msg(1, error("INVALID_MESSAGE", None));
    t.msg(1, json!({"type": "participant_left", "user_id": "bob", "display_name": "Bob", "color": "#4ECDC4"}));
    t.msg(1, json!({"type": "participant_left", "user_id": "bob", "display_name": "Bob", "color": "#4ECDC4"}));
    t.timeout(); // ping
    t.wait(100).msg(1, json!({"type": "pong"}));
    t.timeout(); // next ping
    t.input(json!({"op": "close"}));
    t.input(json!({"op": "close"}));
    t.input(json!({"op": "request_snapshot"}));
    t.finish()
}

/// A `joined_part` of session `session` (as `joined_full`'s and
/// `joined_delta`'s: `a1`, `a2`).
fn part(session: &str, index: u32, last: bool, field: &str, content: Value) -> Value {
    let mut p = json!({"type": "joined_part", "session_id": format!("00000000000000{session}"),
                       "board": BOARD, "part": index, "last": last});
    p[field] = content;
    p
}

fn with_parts(mut joined: Value, parts: u32) -> Value {
    joined["sync"]["parts"] = json!(parts);
    joined
}

fn joined_in_parts() -> Value {
    let mut t = Tracer::new(
        "joined_in_parts",
        "a full sync and a delta in parts: nothing counts before the last part, each part restarts the attempt's timeout; parts that do not continue the sync are protocol errors that reconnect",
        5,
        config(|c| {
            c["pingInterval"] = Value::Null;
            c["backoff"]["maxAttempts"] = json!(10);
        }),
    );
    t.connect("token-1");
    t.open(1);
    let head = joined_full(4, "initial", json!({"p": {"a": 1}}), json!([who(ALICE)]));
    t.wait(10).msg(1, with_parts(head, 2));
    t.wait(9000).msg(
        1,
        part(
            "a1",
            1,
            false,
            "pages",
            json!({"p": {"b": 2}, "q": {"c": 3}}),
        ),
    );
    // Not timed out: the part restarted the attempt's timeout.
    t.wait(9000).input(json!({"op": "timeout"}));
    t.mutate(json!([upsert("q", "mine", json!(true))]));
    let b1 = ok_batch(&t);
    t.wait(10)
        .msg(1, part("a1", 2, true, "pages", json!({"q": {"d": 4}})));
    t.msg(1, ack(&b1, 5));
    // A part once live: a protocol error, and a reconnect.
    t.wait(10).msg(1, part("a1", 3, true, "pages", json!({})));
    t.timeout();
    t.creds("token-2");
    t.open(2);
    // A delta in parts, then the wrong parts on the next connections.
    let head = joined_delta(7, json!([event(6, "bob", upsert("p", "e", json!(6)))]));
    t.wait(10).msg(2, with_parts(head, 1));
    t.msg(
        2,
        part(
            "a2",
            1,
            true,
            "events",
            json!([event(7, "bob", delete("p", "a"))]),
        ),
    );
    t.closed(2, None);
    for (i, bad) in [
        part("a2", 2, false, "events", json!([])),
        part("a2", 1, true, "events", json!([])),
        part("a2", 1, false, "pages", json!({})),
        part("b7", 1, false, "events", json!([])),
        joined_delta(7, json!([])),
    ]
    .into_iter()
    .enumerate()
    {
        let transport = 3 + i as u64;
        t.timeout();
        t.creds("token-3");
        t.open(transport);
        t.msg(transport, with_parts(joined_delta(7, json!([])), 2));
        t.msg(transport, bad);
    }
    t.finish()
}

fn backoff_until_failed() -> Value {
    let mut t = Tracer::new(
        "backoff_until_failed",
        "an unexpected drop, 1, 2, 4, 8, 16 s of backoff with the credentials hook, every attempt failing, then failed and a manual reconnect",
        2,
        config(|_| {}),
    );
    joined_client(&mut t, 0, json!({}));
    t.mutate(json!([upsert("p", "a", json!(1))]));
    t.wait(500).closed(1, None);
    let mut transport = 1;
    for attempt in 1..=5u64 {
        t.timeout(); // backoff over: NeedCredentials
        t.wait(3).creds(&format!("token-{}", attempt + 1));
        transport += 1;
        if attempt % 2 == 0 {
            t.wait(40).failed(transport, "network");
        } else {
            t.wait(40).open(transport);
            t.timeout(); // the attempt timeout
        }
    }
    t.input(json!({"op": "provide_credentials", "token": "late"}));
    t.input(json!({"op": "retry_now"}));
    t.wait(60_000).connect("token-9");
    t.connect("token-10");
    t.open(transport + 1);
    t.msg(transport + 1, joined_delta(0, json!([])));
    t.finish()
}

fn jittered_backoff() -> Value {
    let mut t = Tracer::new(
        "jittered_backoff",
        "seeded jitter (SplitMix64) over several drops: the delays must match to the millisecond",
        0xDEAD_BEEF_1234_5678,
        config(|c| {
            c["backoff"]["jitter"] = json!(0.5);
            c["backoff"]["maxAttempts"] = json!(8);
            c["backoff"]["firstDelay"] = json!(1234);
            c["backoff"]["baseDelay"] = json!(1777);
            c["backoff"]["multiplier"] = json!(3);
            c["backoff"]["maxDelay"] = json!(30001);
        }),
    );
    joined_client(&mut t, 0, json!({}));
    t.closed(1, Some(1006));
    let mut transport = 1;
    for _ in 0..8 {
        t.timeout();
        t.creds("token-x");
        transport += 1;
        t.wait(7).failed(transport, "network");
    }
    t.connect("token-y");
    transport += 1;
    t.open(transport);
    t.msg(transport, joined_delta(0, json!([])));
    for code in [1001u16, 1012, 1008, 1011] {
        t.wait(11).closed(transport, Some(code));
        t.input(json!({"op": "retry_now"}));
        t.creds("token-z");
        transport += 1;
        t.open(transport);
        t.msg(transport, joined_delta(0, json!([])));
    }
    t.finish()
}

fn auth_and_deliberate_closes() -> Value {
    let mut t = Tracer::new(
        "auth_and_deliberate_closes",
        "auth_failed from HTTP 401, close 4001 before joining and join UNAUTHORIZED; closes that are not retried (1000, 4002, 4xxx, session_timeout, session_closed, join refused)",
        3,
        config(|_| {}),
    );
    t.connect("bad");
    t.failed(1, "unauthorized");
    t.connect("good");
    t.open(2);
    // Before `joined`: 4001 on a joined connection refreshes the
    // credentials instead (token_expiry_and_join_timeout).
    t.closed(2, Some(4001));
    t.mutate(json!([upsert("p", "q", json!(true))]));
    t.connect("good-2");
    t.open(3);
    t.msg(3, error("UNAUTHORIZED", None));
    let mut transport = 3;
    for code in [Some(1000u16), Some(4002), Some(4100), None] {
        t.connect("good-3");
        transport += 1;
        t.open(transport);
        t.msg(transport, joined_delta(0, json!([])));
        if let Some(code) = code {
            t.closed(transport, Some(code));
        } else {
            t.msg(
                transport,
                json!({"type": "session_timeout", "board": BOARD}),
            );
        }
    }
    t.connect("good-4");
    transport += 1;
    t.open(transport);
    t.msg(transport, joined_delta(0, json!([])));
    t.msg(transport, json!({"type": "session_closed", "board": BOARD}));
    t.connect("good-5");
    transport += 1;
    t.open(transport);
    t.msg(transport, error("BOARD_NOT_FOUND", None));
    t.connect("good-6");
    transport += 1;
    t.open(transport);
    t.msg(transport, error("UNAVAILABLE", None));
    t.timeout();
    t.creds("good-7");
    transport += 1;
    t.open(transport);
    t.msg(transport, error("ROOM_FULL", None));
    t.finish()
}

fn token_expiry_and_join_timeout() -> Value {
    let mut t = Tracer::new(
        "token_expiry_and_join_timeout",
        "close 4001 on a joined connection (the token expired): fresh credentials through the hook, reconnect at once, unacked batch re-sent; 4001 again before joining is auth_failed; close 4006 (no join in time) is retried with backoff",
        7,
        config(|_| {}),
    );
    t.connect("tok-1");
    t.open(1);
    t.msg(1, joined_full(0, "initial", json!({}), json!([who(ALICE)])));
    t.mutate(json!([upsert("p", "a", json!(1))]));
    let first = ok_batch(&t);
    t.wait(10).closed(1, Some(4001));
    t.wait(5).creds("tok-2");
    t.open(2);
    t.msg(2, joined_delta(0, json!([])));
    t.msg(2, ack(&first, 1));
    t.wait(10).closed(2, Some(4006));
    t.timeout();
    t.creds("tok-3");
    t.open(3);
    t.closed(3, Some(4006));
    t.timeout();
    t.creds("tok-4");
    t.open(4);
    t.msg(4, joined_delta(1, json!([])));
    t.closed(4, Some(4001));
    t.creds("tok-expired-too");
    t.open(5);
    t.closed(5, Some(4001));
    t.finish()
}

fn session_moved() -> Value {
    let mut t = Tracer::new(
        "session_moved",
        "session_closed with reason moved or failed: reconnect at once, re-send the unacked batch with its id; a second one while reconnecting backs off; reason closed stops",
        5,
        config(|_| {}),
    );
    t.connect("tok");
    t.open(1);
    t.msg(1, joined_full(0, "initial", json!({}), json!([who(ALICE)])));
    t.mutate(json!([upsert("p", "a", json!(1))]));
    let first = ok_batch(&t);
    t.msg(
        1,
        json!({"type": "session_closed", "board": BOARD, "reason": "moved"}),
    );
    t.creds("tok-2");
    t.open(2);
    t.msg(2, joined_delta(0, json!([])));
    t.msg(2, ack(&first, 1));
    t.mutate(json!([upsert("p", "b", json!(2))]));
    t.msg(
        2,
        json!({"type": "session_closed", "board": BOARD, "reason": "failed"}),
    );
    t.creds("tok-3");
    t.open(3);
    t.msg(
        3,
        json!({"type": "session_closed", "board": BOARD, "reason": "moved"}),
    );
    t.timeout();
    t.creds("tok-4");
    t.open(4);
    t.msg(4, joined_delta(1, json!([])));
    t.msg(
        4,
        json!({"type": "session_closed", "board": BOARD, "reason": "closed"}),
    );
    t.finish()
}

fn redirect_frame(node: &str, url: &str) -> Value {
    json!({"type": "redirect", "board": BOARD, "node": node, "url": url})
}

fn redirect() -> Value {
    let mut t = Tracer::new(
        "redirect",
        "a join answered with redirect: connect to the owner's URL at once (same token, no backoff, not an attempt), the 4003 close of the old socket ignored; joined there, a later drop goes back to the configured URL; a failed connection to the owner too; more than maxRedirects in a row stop with tooManyRedirects",
        6,
        config(|c| c["maxRedirects"] = json!(2)),
    );
    t.connect("tok");
    t.wait(10).open(1);
    t.mutate(json!([upsert("p", "a", json!(1))]));
    let first = ok_batch(&t);
    t.wait(5)
        .msg(1, redirect_frame("node-b", "ws://10.0.0.2:8080/ws"));
    t.closed(1, Some(4003)); // the old socket's close: already left
    t.wait(10).open(2);
    t.wait(5)
        .msg(2, joined_full(0, "initial", json!({}), json!([who(ALICE)])));
    t.msg(2, ack(&first, 1));
    // An unexpected drop: back through the configured URL (after backoff).
    t.wait(1000).closed(2, Some(1006));
    t.timeout();
    t.creds("tok");
    t.open(3);
    // Redirected twice in a row, then joined at the second owner.
    t.msg(3, redirect_frame("node-b", "ws://10.0.0.2:8080/ws"));
    t.open(4);
    t.msg(4, redirect_frame("node-c", "ws://10.0.0.3:8080/ws"));
    t.open(5);
    t.msg(5, joined_delta(1, json!([])));
    // The owner's URL fails: the retry goes to the configured URL.
    t.wait(1000).closed(5, None);
    t.timeout();
    t.creds("tok");
    t.open(6);
    t.msg(6, redirect_frame("node-c", "ws://10.0.0.3:8080/ws"));
    t.failed(7, "network");
    t.timeout();
    t.creds("tok");
    t.open(8);
    // A routing loop: the third redirect in a row stops the client.
    t.msg(8, redirect_frame("node-b", "ws://10.0.0.2:8080/ws"));
    t.open(9);
    t.msg(9, redirect_frame("node-c", "ws://10.0.0.3:8080/ws"));
    t.open(10);
    t.msg(10, redirect_frame("node-b", "ws://10.0.0.2:8080/ws"));
    t.input(json!({"op": "mutate", "mutations": [upsert("p", "b", json!(2))]}));
    // connect starts over, at the configured URL.
    t.connect("tok");
    t.open(11);
    t.msg(11, joined_delta(1, json!([])));
    t.finish()
}

fn delta_resync_and_queue() -> Value {
    let mut t = Tracer::new(
        "delta_resync_and_queue",
        "offline edits queue in order; a reconnect joins with last_sequence, applies the delta, re-sends every batch with its id before `reconnected`; gaps and inconsistent deltas force a full re-sync",
        4,
        config(|_| {}),
    );
    joined_client(&mut t, 3, json!({"p": {"a": 1, "b": 2, "c": 3}}));
    t.mutate(json!([upsert("p", "d", json!(4))]));
    let b1 = ok_batch(&t);
    t.wait(10).closed(1, Some(1006));
    t.mutate(json!([delete("p", "a")]));
    let b2 = ok_batch(&t);
    t.mutate(json!([
        upsert("q", "x", json!({"k": [1, 2]})),
        upsert("q", "y", json!(null))
    ]));
    let b3 = ok_batch(&t);
    t.input(json!({"op": "cursor", "x": 1.0, "y": 2.0}));
    t.timeout();
    t.creds("token-2");
    t.open(2);
    t.msg(
        2,
        joined_delta(
            5,
            json!([
                event(4, "bob", upsert("p", "z", json!(26))),
                event(5, "bob", delete("p", "b"))
            ]),
        ),
    );
    t.msg(2, ack(&b1, 6));
    t.msg(2, ack(&b2, 7));
    t.msg(2, ack(&b3, 9));
    // A gap in events: re-join.
    t.msg(
        2,
        json!({"type": "events", "events": [event(11, "bob", upsert("p", "g", json!(0)))]}),
    );
    t.timeout();
    t.creds("token-3");
    t.open(3);
    // A delta that does not end at the announced sequence: full re-sync.
    t.msg(
        3,
        joined_delta(12, json!([event(10, "bob", upsert("p", "g", json!(0)))])),
    );
    t.timeout();
    t.creds("token-4");
    t.open(4);
    t.msg(
        4,
        joined_full(
            12,
            "too_old",
            json!({"p": {"c": 3, "g": 0}}),
            json!([who(ALICE), who(BOB)]),
        ),
    );
    // An ack beyond the replica for a batch this client does not hold.
    t.msg(4, ack("someone-else-1", 20));
    t.timeout();
    t.creds("token-5");
    t.open(5);
    t.msg(5, joined_delta(12, json!([])));
    // A duplicated `joined` and a late message on an old transport.
    t.msg(5, joined_delta(12, json!([])));
    t.msg(4, ack("x", 99));
    t.closed(3, None);
    t.open(3);
    t.finish()
}

fn retries_and_drops() -> Value {
    let mut t = Tracer::new(
        "retries_and_drops",
        "retryable rejections re-sent after 1 s up to 3 times then dropped; non-retryable dropped at once; NOT_JOINED re-joins; SESSION_EXPIRED waits; an ack for a dropped batch; duplicated error frames; the queue's limits",
        5,
        config(|c| {
            c["maxUnackedMutations"] = json!(5);
            c["maxBatchLen"] = json!(3);
        }),
    );
    joined_client(&mut t, 0, json!({}));
    t.mutate(json!([upsert("p", "a", json!(1))]));
    let b1 = ok_batch(&t);
    t.mutate(json!([upsert("p", "b", json!(2))]));
    let b2 = ok_batch(&t);
    for _ in 0..3 {
        t.msg(1, error("RATE_LIMITED", Some(&b1)));
        t.msg(1, error("RATE_LIMITED", Some(&b1))); // duplicate: ignored
        t.timeout();
    }
    t.msg(1, error("UNAVAILABLE", Some(&b1)));
    t.msg(1, error("PAYLOAD_TOO_LARGE", Some(&b2)));
    t.msg(1, ack(&b1, 1)); // the server applied it after all
    t.msg(1, error("RATE_LIMITED", Some("unknown-batch")));
    t.mutate(json!([]));
    t.mutate(json!([
        upsert("p", "1", json!(1)),
        upsert("p", "2", json!(2)),
        upsert("p", "3", json!(3)),
        upsert("p", "4", json!(4))
    ]));
    t.mutate(json!([
        upsert("p", "c", json!(3)),
        upsert("p", "d", json!(4)),
        upsert("p", "e", json!(5))
    ]));
    let b3 = ok_batch(&t);
    t.mutate(json!([
        upsert("p", "f", json!(6)),
        upsert("p", "g", json!(7))
    ]));
    t.mutate(json!([
        upsert("p", "f", json!(6)),
        upsert("p", "g", json!(7)),
        upsert("p", "h", json!(8))
    ]));
    t.msg(1, error("SESSION_EXPIRED", Some(&b3)));
    t.msg(1, error("NOT_JOINED", Some(&b3)));
    t.timeout();
    t.creds("token-2");
    t.open(2);
    t.msg(2, joined_delta(1, json!([])));
    t.msg(2, error("NOT_JOINED", Some(&b3)));
    t.timeout();
    t.creds("token-3");
    t.open(3);
    t.msg(3, joined_delta(1, json!([])));
    t.msg(3, ack(&b3, 4));
    t.finish()
}

fn recovery_export_import() -> Value {
    let mut t = Tracer::new(
        "recovery_export_import",
        "export of unacknowledged work; import into a fresh client keeps batch ids and numbering; stale, wrong board, not empty, too large and malformed data are refused",
        6,
        config(|c| c["maxUnackedMutations"] = json!(4)),
    );
    let other = {
        let mut o = Client::new(client_config(&config(|_| {})), BOARD, 77);
        let now = Timestamp::from_millis(T0);
        let up = |e: &str| {
            let frame = json!({"type": "mutate", "batch": "x", "mutations": [upsert("p", e, json!({"v": e}))]});
            match ClientMessage::from_json(frame.to_string().as_bytes()) {
                Ok(ClientMessage::Mutate { mutations, .. }) => mutations,
                _ => panic!("mutations decode"),
            }
        };
        o.mutate(now, up("a")).expect("queued");
        o.mutate(now, up("b")).expect("queued");
        let text = o.export_recovery(now).to_json().expect("encodes");
        serde_json::from_str::<Value>(&text).expect("json")
    };
    let mut stale = other.clone();
    stale["exported_at"] = json!("2023-11-14T22:08:19.999Z"); // T0 - 301 s
    t.input(json!({"op": "import_recovery", "recovery": stale}));
    let mut wrong = other.clone();
    wrong["board"] = json!("board-2");
    t.input(json!({"op": "import_recovery", "recovery": wrong}));
    let mut big = other.clone();
    big["batches"][0]["mutations"] = json!([
        upsert("p", "1", json!(1)),
        upsert("p", "2", json!(2)),
        upsert("p", "3", json!(3)),
        upsert("p", "4", json!(4))
    ]);
    t.input(json!({"op": "import_recovery", "recovery": big}));
    let mut empty = other.clone();
    empty["batches"][1]["mutations"] = json!([]);
    t.input(json!({"op": "import_recovery", "recovery": empty}));
    let mut extra = other.clone();
    extra["surprise"] = json!(1);
    t.input(json!({"op": "import_recovery", "recovery": extra}));
    let mut format = other.clone();
    format["format"] = json!(2);
    t.input(json!({"op": "import_recovery", "recovery": format}));
    t.wait(299_000)
        .input(json!({"op": "import_recovery", "recovery": other.clone()}));
    t.input(json!({"op": "import_recovery", "recovery": other.clone()}));
    t.mutate(json!([upsert("p", "c", json!(3))]));
    t.input(json!({"op": "export_recovery"}));
    t.connect("token-1");
    t.open(1);
    t.msg(1, joined_full(0, "initial", json!({}), json!([who(ALICE)])));
    t.input(json!({"op": "export_recovery"}));
    t.finish()
}

fn cursor_and_keepalive() -> Value {
    let mut t = Tracer::new(
        "cursor_and_keepalive",
        "cursor moves throttled to one per 50 ms (the latest sent when the interval ends), never queued offline; pings and a missing pong that counts as a drop; an attempt that never opens; a first delay of 0",
        7,
        config(|c| {
            c["pingInterval"] = json!(20000);
            c["backoff"]["firstDelay"] = json!(0);
        }),
    );
    t.input(json!({"op": "cursor", "x": 1, "y": 1}));
    joined_client(&mut t, 0, json!({}));
    t.input(json!({"op": "cursor", "x": 1, "y": 1}));
    t.wait(10).input(json!({"op": "cursor", "x": 2, "y": 2}));
    t.wait(10)
        .input(json!({"op": "cursor", "x": 3.5, "y": 3.5}));
    t.timeout();
    t.wait(60).input(json!({"op": "cursor", "x": 4, "y": 4}));
    t.timeout(); // ping
    t.timeout(); // pong timeout: dropped; first delay 0 asks at once
    t.creds("token-2");
    t.timeout(); // attempt timeout: never opened
    t.timeout();
    t.creds("token-3");
    t.open(4);
    t.open(3); // a socket given up on opened late
    t.msg(4, joined_delta(0, json!([])));
    t.input(json!({"op": "set_client_id", "id": "my-app-client"}));
    t.mutate(json!([upsert("p", "a", json!(1))]));
    t.finish()
}

// ---- a randomised session against a small server model ------------------

/// A deterministic source for the random scenario (not the client's).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The server side as the random scenario plays it: a board with an event
/// log, batch deduplication, and the socket the client asked for.
#[derive(Default)]
struct Model {
    log: Vec<Value>,
    pages: serde_json::Map<String, Value>,
    applied: HashMap<String, u64>,
    /// The transport asked for and whether it is opening / joining / live.
    transport: Option<(u64, &'static str)>,
    last_sequence: Option<u64>,
    /// Batches sent on the current transport, waiting for an answer.
    in_flight: Vec<(String, Vec<Value>)>,
    wants_credentials: bool,
}

impl Model {
    fn apply(&mut self, user: &str, mutation: &Value) -> u64 {
        let seq = self.log.len() as u64 + 1;
        self.log.push(event(seq, user, mutation.clone()));
        let page = mutation["page"].as_str().unwrap_or_default().to_owned();
        let element = mutation["element"].as_str().unwrap_or_default().to_owned();
        if mutation["op"] == "upsert" {
            let entry = self.pages.entry(page).or_insert_with(|| json!({}));
            entry[&element] = mutation["data"].clone();
        } else if let Some(Value::Object(els)) = self.pages.get_mut(&page) {
            els.remove(&element);
            if els.is_empty() {
                self.pages.remove(&page);
            }
        }
        seq
    }

    fn observe(&mut self, outputs: &[Value]) {
        for o in outputs {
            match o["type"].as_str() {
                Some("connect") => {
                    self.transport = o["transport"].as_u64().map(|t| (t, "opening"));
                    self.in_flight.clear();
                    self.wants_credentials = false;
                }
                Some("needCredentials") => self.wants_credentials = true,
                Some("close") if self.transport.map(|(t, _)| t) == o["transport"].as_u64() => {
                    self.transport = None;
                    self.in_flight.clear();
                }
                Some("send") => {
                    let m = &o["message"];
                    match m["type"].as_str() {
                        Some("join") => {
                            if let Some((t, _)) = self.transport {
                                self.transport = Some((t, "joining"));
                            }
                            self.last_sequence = m["last_sequence"].as_u64();
                        }
                        Some("mutate") => {
                            let batch = m["batch"].as_str().unwrap_or_default().to_owned();
                            let muts = m["mutations"].as_array().cloned().unwrap_or_default();
                            self.in_flight.push((batch, muts));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
}

fn random_session(name: &'static str, seed: u64, steps: usize) -> Value {
    let mut dice = Dice(seed);
    let jitter = [0.0, 0.3, 1.0][usize::try_from(seed % 3).unwrap_or(0)];
    let mut t = Tracer::new(
        name,
        "a randomised session against a small server model: edits online and offline, acks, duplicates, rejections, drops with random close codes, failed attempts, re-syncs, timeouts",
        seed,
        config(|c| {
            c["backoff"]["jitter"] = json!(jitter);
            c["pingInterval"] = json!(5000);
            c["pongTimeout"] = json!(2000);
            c["maxUnackedMutations"] = json!(40);
            c["maxBatchRetries"] = json!(2);
        }),
    );
    let mut m = Model::default();
    let mut element = 0u64;
    let outputs = t.connect("token-0");
    m.observe(&outputs);
    for _ in 0..steps {
        let roll = dice.below(100);
        let outputs = match m.transport {
            _ if m.wants_credentials && roll < 60 => t.wait(dice.below(50)).creds("token-r"),
            Some((tr, "opening")) if roll < 70 => t.wait(dice.below(200)).open(tr),
            Some((tr, "opening")) if roll < 85 => t.wait(dice.below(200)).failed(tr, "network"),
            Some((tr, "opening")) if roll < 87 => t.failed(tr, "unauthorized"),
            Some((tr, "joining")) if roll < 75 => {
                let seq = m.log.len() as u64;
                let frame = match m.last_sequence {
                    Some(last) if last <= seq && dice.chance(80) => {
                        let events: Vec<Value> =
                            m.log[usize::try_from(last).unwrap_or(0)..].to_vec();
                        joined_delta(seq, Value::Array(events))
                    }
                    Some(last) if last > seq => joined_full(
                        seq,
                        "ahead",
                        Value::Object(m.pages.clone()),
                        json!([who(ALICE), who(BOB)]),
                    ),
                    Some(_) => joined_full(
                        seq,
                        "too_old",
                        Value::Object(m.pages.clone()),
                        json!([who(ALICE), who(BOB)]),
                    ),
                    None => joined_full(
                        seq,
                        "initial",
                        Value::Object(m.pages.clone()),
                        json!([who(ALICE)]),
                    ),
                };
                let out = t.wait(dice.below(30)).msg(tr, frame);
                m.transport = Some((tr, "live"));
                out
            }
            Some((tr, "joining")) if roll < 80 => t.msg(tr, error("UNAVAILABLE", None)),
            Some((tr, "live")) if roll < 40 && !m.in_flight.is_empty() => {
                // The server answers the oldest batch in flight.
                let (batch, muts) = m.in_flight.remove(0);
                let frame = if dice.chance(12) {
                    error(
                        ["RATE_LIMITED", "UNAVAILABLE", "PAYLOAD_TOO_LARGE"]
                            [usize::try_from(dice.below(3)).unwrap_or(0)],
                        Some(&batch),
                    )
                } else {
                    let seq = match m.applied.get(&batch) {
                        Some(seq) => *seq,
                        None => {
                            let mut last = 0;
                            for mu in &muts {
                                last = m.apply("alice", mu);
                            }
                            m.applied.insert(batch.clone(), last);
                            last
                        }
                    };
                    ack(&batch, seq)
                };
                let out = t.wait(dice.below(20)).msg(tr, frame.clone());
                if dice.chance(5) {
                    t.msg(tr, frame); // a duplicated frame
                }
                out
            }
            Some((tr, "live")) if roll < 42 => {
                element += 1;
                let mu = if dice.chance(70) {
                    upsert("p", &format!("o{}", dice.below(6)), json!({"n": element}))
                } else {
                    delete("p", &format!("o{}", dice.below(6)))
                };
                let seq = m.apply("bob", &mu);
                t.wait(dice.below(20)).msg(tr, json!({"type": "events", "events": [m.log[usize::try_from(seq - 1).unwrap_or(0)].clone()]}))
            }
            Some((tr, "live")) if roll < 46 => {
                let code = [
                    None,
                    Some(1006u16),
                    Some(1012),
                    Some(1008),
                    Some(1000),
                    Some(4002),
                ][usize::try_from(dice.below(6)).unwrap_or(0)];
                t.wait(dice.below(100)).closed(tr, code)
            }
            Some((tr, "live")) if roll < 50 => t.msg(tr, json!({"type": "pong"})),
            Some((tr, "live")) if roll < 53 => t.msg(
                tr,
                json!({"type": "cursor", "user_id": "bob", "x": dice.below(500), "y": 7.5}),
            ),
            _ if roll < 66 => {
                element += 1;
                let n = 1 + dice.below(3);
                let muts: Vec<Value> = (0..n)
                    .map(|i| {
                        upsert(
                            "p",
                            &format!("a{}", (element + i) % 8),
                            json!({"by": "me", "n": element}),
                        )
                    })
                    .collect();
                t.wait(dice.below(40)).mutate(Value::Array(muts))
            }
            _ if roll < 76 => t
                .wait(dice.below(30))
                .input(json!({"op": "cursor", "x": dice.below(100), "y": 2})),
            _ if roll < 78 => t.input(json!({"op": "retry_now"})),
            _ if roll < 80
                && matches!(
                    t.client.state(),
                    ConnectionState::Disconnected
                        | ConnectionState::Failed
                        | ConnectionState::AuthFailed
                ) =>
            {
                t.wait(dice.below(1000)).connect("token-n")
            }
            _ => t.timeout(),
        };
        m.observe(&outputs);
    }
    t.finish()
}

// ---- the comparison -----------------------------------------------------

fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/js/test/traces")
}

fn all_traces() -> Vec<Value> {
    vec![
        connect_and_sync(),
        backoff_until_failed(),
        jittered_backoff(),
        auth_and_deliberate_closes(),
        session_moved(),
        token_expiry_and_join_timeout(),
        redirect(),
        delta_resync_and_queue(),
        retries_and_drops(),
        recovery_export_import(),
        cursor_and_keepalive(),
        joined_in_parts(),
        random_session("random_a", 11, 300),
        random_session("random_b", 12, 300),
        random_session("random_c", 13, 300),
    ]
}

/// The file's text: the header fields, then one step per line (small
/// diffs when a behaviour changes).
fn trace_text(trace: &Value) -> String {
    let mut header = trace.clone();
    let steps = header
        .as_object_mut()
        .and_then(|o| o.remove("steps"))
        .unwrap_or_default();
    let mut text = serde_json::to_string_pretty(&header).expect("encodes");
    text.truncate(text.trim_end_matches('}').trim_end().len());
    text.push_str(",\n  \"steps\": [\n");
    let lines: Vec<String> = steps
        .as_array()
        .map(|a| a.iter().map(|s| format!("    {s}")).collect())
        .unwrap_or_default();
    text.push_str(&lines.join(",\n"));
    text.push_str("\n  ]\n}\n");
    text
}

#[test]
fn traces_match_the_committed_files() {
    let dir = traces_dir();
    let bless = std::env::var_os("HUDDLE_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for trace in all_traces() {
        let name = trace["name"].as_str().expect("named").to_owned();
        let path = dir.join(format!("{name}.json"));
        let text = trace_text(&trace);
        if bless {
            std::fs::create_dir_all(&dir).expect("traces dir");
            std::fs::write(&path, &text).expect("write trace");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == text => {}
            Ok(_) => stale.push(format!("{name}: differs")),
            Err(e) => stale.push(format!("{name}: {e}")),
        }
    }
    assert!(
        stale.is_empty(),
        "the client's traces differ from clients/js/test/traces/ ({stale:?}); if the change is \
         deliberate, rewrite them with HUDDLE_BLESS=1 cargo test -p huddle-core --test \
         client_traces and make the JS client pass them"
    );
}

#[test]
fn no_stray_trace_files() {
    let names: Vec<String> = all_traces()
        .iter()
        .map(|t| format!("{}.json", t["name"].as_str().unwrap_or_default()))
        .collect();
    let Ok(entries) = std::fs::read_dir(traces_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        assert!(
            names.contains(&file),
            "{file} is not generated by this test: remove it"
        );
    }
}

#[test]
fn every_scenario_is_deterministic() {
    assert_eq!(all_traces(), all_traces());
}
