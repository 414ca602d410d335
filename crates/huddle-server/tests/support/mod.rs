//! Helpers of the black-box tests: the real `huddle serve` process (killed
//! on drop), an HTTP client with the admin key, and a WebSocket client
//! that waits for message types with timeouts.
//!
//! The store is a parameter: SQLite in the data dir by default, or a fresh
//! PostgreSQL database per server (`huddle serve --database-url`) with
//! [`Store::Postgres`] in [`Opts::store`], which is what every server gets
//! when `HUDDLE_TEST_STORE=postgres` is set; so any suite runs on both
//! stores without a copy of its tests:
//! `HUDDLE_TEST_STORE=postgres cargo test -p huddle-server --test durability`.
//!
//! Every wait is bounded (seconds, generous for a shared 2-core machine)
//! and polls for state rather than sleeping a fixed time.
//!
//! [`cluster`]: several nodes on one PostgreSQL database, and writers that
//! mutate continuously through any of them (the cluster suite).
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod cluster;

use std::collections::VecDeque;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use huddle_core::{Mutation, Payload};
use huddle_wire::{ClientMessage, JoinedMessage, ServerMessage};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The admin key every test server uses.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// A temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "huddle-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which store a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// SQLite in the data dir (the server's default).
    Sqlite,
    /// A fresh PostgreSQL database of `huddle_postgres::testing`.
    Postgres,
}

impl Store {
    /// `HUDDLE_TEST_STORE` (`sqlite`, the default, or `postgres`).
    pub fn from_env() -> Store {
        match std::env::var("HUDDLE_TEST_STORE").as_deref() {
            Ok("postgres") => Store::Postgres,
            Ok("sqlite") | Ok("") | Err(_) => Store::Sqlite,
            Ok(other) => panic!("HUDDLE_TEST_STORE={other}: expected sqlite or postgres"),
        }
    }
}

/// Flags of a test server; the defaults are short timings.
#[derive(Clone, Debug)]
pub struct Opts {
    pub flags: Vec<(String, String)>,
    /// The store (default: [`Store::from_env`]).
    pub store: Store,
    /// A descriptor limit for the process (`prlimit --nofile=N:N`).
    pub nofile: Option<u64>,
    /// A PostgreSQL database this server shares with others (several
    /// nodes); overrides `store`.
    pub shared_database: Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts::new()
            .flag("--idle-timeout-ephemeral", "1s")
            .flag("--idle-timeout-persistent", "1s")
            .flag("--inactivity-timeout", "5m")
            .flag("--autosave-interval", "500ms")
    }
}

impl Opts {
    /// No flags at all.
    pub fn new() -> Self {
        Opts {
            flags: Vec::new(),
            store: Store::from_env(),
            nofile: None,
            shared_database: None,
        }
    }

    /// Sets the store.
    pub fn store(mut self, store: Store) -> Self {
        self.store = store;
        self
    }

    /// Runs the server with at most `n` open descriptors.
    pub fn nofile(mut self, n: u64) -> Self {
        self.nofile = Some(n);
        self
    }

    /// Uses the PostgreSQL database at `url`, shared with other servers.
    pub fn shared_database(mut self, url: &str) -> Self {
        self.shared_database = Some(url.to_owned());
        self
    }

    /// Sets (or replaces) a flag.
    pub fn flag(mut self, name: &str, value: &str) -> Self {
        self.flags.retain(|(n, _)| n != name);
        self.flags.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A running `huddle serve`, killed (SIGKILL) on drop.
pub struct Server {
    child: Option<Child>,
    /// The PostgreSQL database of a [`Store::Postgres`] server.
    pub database: Option<huddle_postgres::testing::TestDatabase>,
    pub addr: String,
    pub opts: Opts,
    pub dir: TempDir,
    pub http: reqwest::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Server {
    /// Starts a server with the default short timings on a fresh data dir.
    pub async fn start() -> Server {
        Server::start_with(Opts::default()).await
    }

    /// Starts a server with `opts` on a fresh data dir.
    pub async fn start_with(opts: Opts) -> Server {
        let database = match opts.store {
            _ if opts.shared_database.is_some() => None,
            Store::Sqlite => None,
            Store::Postgres => match huddle_postgres::testing::database().await {
                Some(db) => Some(db),
                None => panic!("a PostgreSQL server was asked for, but none can be had"),
            },
        };
        let mut server = Server {
            child: None,
            database,
            addr: String::new(),
            opts,
            dir: TempDir::new("server"),
            http: reqwest::Client::new(),
        };
        server.spawn().await;
        server
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's output so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Spawns the process (on a new port, same data dir) and waits until
    /// `/healthz` answers.
    async fn spawn(&mut self) {
        self.addr = format!("127.0.0.1:{}", free_port());
        self.spawn_on_addr().await;
    }

    /// Spawns the process on `self.addr` (same data dir) and waits until
    /// `/healthz` answers.
    async fn spawn_on_addr(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        // HUDDLE_TEST_BIN runs the suite against another build (e.g. a
        // release binary or an experiment).
        let bin = std::env::var("HUDDLE_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_huddle").to_owned());
        let mut cmd = match self.opts.nofile {
            Some(n) => {
                let mut cmd = Command::new("prlimit");
                cmd.arg(format!("--nofile={n}:{n}")).arg(bin);
                cmd
            }
            None => Command::new(bin),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(&self.addr)
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--admin-key")
            .arg(ADMIN_KEY);
        if let Some(db) = &self.database {
            cmd.arg("--database-url").arg(&db.url);
        }
        if let Some(url) = &self.opts.shared_database {
            cmd.arg("--database-url").arg(url);
        }
        for (name, value) in &self.opts.flags {
            cmd.arg(name).arg(value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log));
        self.child = Some(cmd.spawn().expect("spawn huddle serve"));
        let url = self.url("/healthz");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("huddle serve exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "huddle serve did not become healthy:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, wait for the process, start again on the same data dir.
    pub async fn kill9_and_restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    /// SIGKILL, wait, start again on the same address and data dir (so
    /// clients that know the URL can come back).
    pub async fn kill9_and_restart_in_place(&mut self) {
        self.kill9();
        self.spawn_on_addr().await;
    }

    /// Starts the process again on the same address and data dir (after
    /// `kill9` or `sigterm`), so that clients that know its URL come back.
    pub async fn restart_in_place(&mut self) {
        assert!(self.child.is_none(), "server still running");
        self.spawn_on_addr().await;
    }

    /// SIGKILL and wait.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the running process.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("server running");
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{signal} failed");
    }

    /// SIGTERM; waits (bounded) for the exit status.
    pub async fn sigterm(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "server did not exit within 30 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the process again on the same data dir (after `sigterm`).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "server still running");
        self.spawn().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/ws?token={token}", self.addr)
    }

    /// A request with the admin key: `(status, body as JSON or as a JSON string)`.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("HTTP request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("HTTP body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, Some(ADMIN_KEY), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(ADMIN_KEY), Some(&body))
            .await
    }

    /// Raw text of a GET without auth (`/metrics`).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = self.http.get(self.url(path)).send().await.expect("GET");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// Creates a room; panics unless 201.
    pub async fn room(&self, id: &str, session_type: &str) -> Value {
        let (status, body) = self
            .post(
                "/rooms",
                json!({"id": id, "name": format!("room {id}"), "session_type": session_type}),
            )
            .await;
        assert_eq!(status, 201, "POST /rooms {id}: {body}");
        body
    }

    /// A token for `user` in `room`; panics unless 201.
    pub async fn token(&self, user: &str, room: &str) -> String {
        let (status, body) = self
            .post(
                "/users",
                json!({"user_id": user, "display_name": format!("User {user}"), "room_id": room}),
            )
            .await;
        assert_eq!(status, 201, "POST /users {user}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// `GET /rooms/{id}`; panics unless 200.
    pub async fn room_info(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/rooms/{id}")).await;
        assert_eq!(status, 200, "GET /rooms/{id}: {body}");
        body
    }

    /// The room's `sequence` as `GET /rooms/{id}` reports it.
    pub async fn sequence(&self, id: &str) -> u64 {
        self.room_info(id).await["sequence"]
            .as_u64()
            .expect("sequence")
    }

    /// Polls `GET /rooms/{id}` until `state` is `want`.
    pub async fn wait_state(&self, id: &str, want: &str) -> Value {
        poll(&format!("room {id} in state {want}"), || async {
            let info = self.room_info(id).await;
            (info["state"] == want).then_some(info)
        })
        .await
    }

    /// A connected (not yet joined) client for a fresh token of `user`.
    pub async fn connect(&self, user: &str, room: &str) -> Ws {
        let token = self.token(user, room).await;
        Ws::connect(&self.ws_url(&token)).await
    }

    /// A client of `user` joined to `room` (initial full sync).
    pub async fn joined(&self, user: &str, room: &str) -> (Ws, JoinedMessage) {
        let mut ws = self.connect(user, room).await;
        let joined = ws.join(room, None).await;
        (ws, joined)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `f` every 50 ms until it gives `Some`, for at most [`WAIT`].
pub async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the socket delivered.
#[derive(Debug)]
pub enum Incoming {
    Msg(ServerMessage),
    /// A close frame with its code (`None`: no code), or the end of the
    /// stream (`None` as well).
    Closed(Option<u16>),
}

/// A WebSocket test client. Messages skipped by [`Ws::recv_type`] are
/// kept and returned by later calls, so no message is lost.
pub struct Ws {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    queue: VecDeque<ServerMessage>,
    closed: Option<Option<u16>>,
    /// The largest text frame received, in bytes.
    pub largest_frame: usize,
}

impl Ws {
    pub async fn connect(url: &str) -> Ws {
        let (inner, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
            .expect("WebSocket upgrade");
        Ws {
            inner,
            queue: VecDeque::new(),
            closed: None,
            largest_frame: 0,
        }
    }

    /// Connects as a client that takes frames of at most `max_frame_bytes`
    /// (a larger one ends the stream: the socket counts as closed).
    pub async fn connect_with_limit(url: &str, max_frame_bytes: usize) -> Ws {
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(max_frame_bytes))
            .max_frame_size(Some(max_frame_bytes));
        let (inner, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async_with_config(url, Some(config), false),
        )
        .await
        .expect("connect timed out")
        .expect("WebSocket upgrade");
        Ws {
            inner,
            queue: VecDeque::new(),
            closed: None,
            largest_frame: 0,
        }
    }

    /// Connects, expecting the upgrade to be refused with HTTP `401`
    /// (`Err(401)`) or to be accepted (`Ok`).
    pub async fn try_connect(url: &str) -> Result<Ws, u16> {
        match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
        {
            Ok((inner, _)) => Ok(Ws {
                inner,
                queue: VecDeque::new(),
                closed: None,
                largest_frame: 0,
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("connect failed: {e}"),
        }
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        self.send_text(&msg.to_json().expect("encode")).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.inner
            .send(Message::Text(text.into()))
            .await
            .expect("send frame");
    }

    /// Sends a frame; `false` if the socket is gone.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.inner.send(Message::Text(text.into())).await.is_ok()
    }

    /// Whether a close (or the end of the stream) was seen.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// The next frame from the socket (not the queue); `None` on timeout.
    async fn next_incoming(&mut self, wait: Duration) -> Option<Incoming> {
        if let Some(code) = self.closed {
            return Some(Incoming::Closed(code));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.inner.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    self.largest_frame = self.largest_frame.max(text.len());
                    let msg = ServerMessage::from_json(text.as_bytes())
                        .unwrap_or_else(|e| panic!("undecodable frame {text}: {e}"));
                    return Some(Incoming::Msg(msg));
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code));
                    self.closed = Some(code);
                    return Some(Incoming::Closed(code));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    self.closed = Some(None);
                    return Some(Incoming::Closed(None));
                }
            }
        }
    }

    /// The next message (queued first); panics on timeout or close.
    pub async fn recv(&mut self) -> ServerMessage {
        if let Some(msg) = self.queue.pop_front() {
            return msg;
        }
        match self.next_incoming(WAIT).await {
            Some(Incoming::Msg(msg)) => msg,
            Some(Incoming::Closed(code)) => panic!("socket closed ({code:?}) while waiting"),
            None => panic!("no message within {WAIT:?}"),
        }
    }

    /// The first message of type `kind` (others stay queued); panics on
    /// timeout or close.
    pub async fn recv_type(&mut self, kind: &str) -> ServerMessage {
        if let Some(pos) = self.queue.iter().position(|m| m.kind() == kind) {
            return self.queue.remove(pos).expect("queued");
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Msg(msg)) if msg.kind() == kind => return msg,
                Some(Incoming::Msg(msg)) => self.queue.push_back(msg),
                Some(Incoming::Closed(code)) => {
                    panic!(
                        "socket closed ({code:?}) waiting for `{kind}`; queued: {:?}",
                        self.queue
                    )
                }
                None => panic!("no `{kind}` within {WAIT:?}; queued: {:?}", self.queue),
            }
        }
    }

    /// An `error` message's code (the first `error`, others stay queued).
    pub async fn recv_error(&mut self) -> (String, Option<String>) {
        match self.recv_type("error").await {
            ServerMessage::Error { code, batch, .. } => (
                code.as_str().to_owned(),
                batch.map(|b| b.as_str().to_owned()),
            ),
            _ => unreachable!(),
        }
    }

    /// Every message that arrives within `wait` (the queue included).
    pub async fn drain(&mut self, wait: Duration) -> Vec<ServerMessage> {
        let mut out: Vec<_> = self.queue.drain(..).collect();
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Msg(msg)) => out.push(msg),
                _ => return out,
            }
        }
    }

    /// Waits for the close; the close code (`None`: none or a dropped
    /// stream). Messages before it are queued.
    pub async fn closed(&mut self) -> Option<u16> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Msg(msg)) => self.queue.push_back(msg),
                Some(Incoming::Closed(code)) => return code,
                None => panic!("socket not closed within {WAIT:?}"),
            }
        }
    }

    /// Whether the socket is still open: a `ping` gets a `pong`.
    pub async fn assert_usable(&mut self) {
        self.send(&ClientMessage::Ping).await;
        let _ = self.recv_type("pong").await;
    }

    /// Sends `join` and waits for `joined` (panics on an `error`); a
    /// `joined` in parts is assembled from its `joined_part`s, which must
    /// follow it with no other frame in between.
    pub async fn join(&mut self, board: &str, last_sequence: Option<u64>) -> JoinedMessage {
        self.send(&ClientMessage::Join {
            board: board.into(),
            last_sequence,
        })
        .await;
        let deadline = Instant::now() + WAIT;
        let mut assembly: Option<huddle_wire::JoinAssembly> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Msg(ServerMessage::Joined(j))) if assembly.is_none() => {
                    let started = huddle_wire::JoinAssembly::new(*j);
                    if started.is_complete() {
                        return started.into_joined();
                    }
                    assembly = Some(started);
                }
                Some(Incoming::Msg(ServerMessage::JoinedPart(part))) => {
                    let Some(a) = assembly.as_mut() else {
                        panic!("a joined_part before joined: {part:?}")
                    };
                    a.add(*part).expect("the part continues the sync");
                    if a.is_complete() {
                        return assembly.take().expect("assembling").into_joined();
                    }
                }
                Some(Incoming::Msg(msg)) if assembly.is_some() => {
                    panic!("`{}` amid the parts of a joined", msg.kind())
                }
                Some(Incoming::Msg(ServerMessage::Error { code, message, .. })) => {
                    panic!("join {board} refused: {code} {message}")
                }
                Some(Incoming::Msg(msg)) => self.queue.push_back(msg),
                Some(Incoming::Closed(code)) => panic!("closed ({code:?}) before joined"),
                None => panic!("no joined within {WAIT:?}"),
            }
        }
    }

    /// Sends a batch.
    pub async fn send_batch(&mut self, batch: &str, mutations: Vec<Mutation>) {
        self.send(&ClientMessage::Mutate {
            batch: batch.into(),
            mutations,
        })
        .await;
    }

    /// Sends a batch and waits for its `ack`; the acked sequence.
    pub async fn mutate(&mut self, batch: &str, mutations: Vec<Mutation>) -> u64 {
        self.send_batch(batch, mutations).await;
        self.ack(batch).await
    }

    /// Waits for the `ack` of `batch` (panics on an error for it).
    pub async fn ack(&mut self, batch: &str) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(pos) = self.queue.iter().position(|m| is_answer(m, batch)) {
                let msg = self.queue.remove(pos).expect("queued");
                return ack_sequence(msg, batch);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Msg(msg)) if is_answer(&msg, batch) => {
                    return ack_sequence(msg, batch)
                }
                Some(Incoming::Msg(msg)) => self.queue.push_back(msg),
                Some(Incoming::Closed(code)) => panic!("closed ({code:?}) before ack {batch}"),
                None => panic!("no ack for {batch} within {WAIT:?}"),
            }
        }
    }

    /// The next `ack` or batch `error` (others stay queued): `(batch, Ok(sequence))`
    /// or `(batch, Err(code))`; `None` if the socket closes or nothing
    /// comes within [`WAIT`].
    pub async fn next_answer(&mut self) -> Option<(String, Result<u64, String>)> {
        let answer = |m: &ServerMessage| match m {
            ServerMessage::Ack { batch, sequence } => {
                Some((batch.as_str().to_owned(), Ok(*sequence)))
            }
            ServerMessage::Error {
                batch: Some(b),
                code,
                ..
            } => Some((b.as_str().to_owned(), Err(code.as_str().to_owned()))),
            _ => None,
        };
        if let Some(pos) = self.queue.iter().position(|m| answer(m).is_some()) {
            return self.queue.remove(pos).as_ref().and_then(answer);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Msg(msg)) => match answer(&msg) {
                    Some(a) => return Some(a),
                    None => self.queue.push_back(msg),
                },
                _ => return None,
            }
        }
    }

    /// Takes every queued message (and what arrives within `wait`) out of
    /// the queue, without panicking on a close.
    pub async fn take_all(&mut self, wait: Duration) -> Vec<ServerMessage> {
        self.drain(wait).await
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.inner.close(None).await;
    }
}

fn is_answer(msg: &ServerMessage, batch: &str) -> bool {
    match msg {
        ServerMessage::Ack { batch: b, .. } => b.as_str() == batch,
        ServerMessage::Error { batch: Some(b), .. } => b.as_str() == batch,
        _ => false,
    }
}

fn ack_sequence(msg: ServerMessage, batch: &str) -> u64 {
    match msg {
        ServerMessage::Ack { sequence, .. } => sequence,
        other => panic!("batch {batch} refused: {other:?}"),
    }
}

/// An upsert of `data` (JSON text).
pub fn upsert(page: &str, element: &str, data: &str) -> Mutation {
    Mutation::Upsert {
        page: page.into(),
        element: element.into(),
        data: Payload::from(data),
    }
}

/// A delete.
pub fn delete(page: &str, element: &str) -> Mutation {
    Mutation::Delete {
        page: page.into(),
        element: element.into(),
    }
}

/// Element data of a full sync, as JSON text (`None`: absent).
pub fn full_data(joined: &JoinedMessage, page: &str, element: &str) -> Option<String> {
    match &joined.sync {
        huddle_wire::WireSync::Full { pages, .. } => pages
            .get(page, element)
            .map(|p| String::from_utf8_lossy(p.as_bytes()).into_owned()),
        other => panic!("expected a full sync, got {other:?}"),
    }
}

/// The full sync's reason (`initial`, `too_old`, ...), `None` for a delta.
pub fn full_reason(joined: &JoinedMessage) -> Option<String> {
    match &joined.sync {
        huddle_wire::WireSync::Full { reason, .. } => Some(
            serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ),
        huddle_wire::WireSync::Delta { .. } => None,
    }
}

/// The delta's events as `(seq, user, element)`; panics on a full sync.
pub fn delta_events(joined: &JoinedMessage) -> Vec<(u64, String, String)> {
    match &joined.sync {
        huddle_wire::WireSync::Delta { events } => events
            .iter()
            .map(|e| {
                (
                    e.seq,
                    e.user.as_str().to_owned(),
                    e.mutation.element().as_str().to_owned(),
                )
            })
            .collect(),
        other => panic!("expected a delta sync, got {other:?}"),
    }
}

/// The Rust client machine on real sockets (`huddle_client::net`) for
/// `user` in `room`, starting at `server`'s URL and reconnecting quickly
/// (the tests kill and restart servers).
pub async fn net_client(server: &Server, user: &str, room: &str) -> huddle_client::net::NetClient {
    net_client_with_limit(server, user, room, 64 << 20).await
}

/// [`net_client`] taking frames of at most `max_frame_bytes`.
pub async fn net_client_with_limit(
    server: &Server,
    user: &str,
    room: &str,
    max_frame_bytes: usize,
) -> huddle_client::net::NetClient {
    let token = server.token(user, room).await;
    let mut config = huddle_client::net::NetConfig::new(
        format!("ws://{}/ws", server.addr),
        room,
        huddle_client::Credentials::new(token),
    );
    config.client = huddle_client::ClientConfig {
        backoff: huddle_client::Backoff {
            first_delay: Duration::from_millis(50),
            base_delay: Duration::from_millis(100),
            multiplier: 2,
            max_delay: Duration::from_millis(500),
            max_attempts: 1000,
            jitter: 0.0,
        },
        ..huddle_client::ClientConfig::default()
    };
    config.max_frame_bytes = max_frame_bytes;
    huddle_client::net::spawn(config)
}

/// Waits until `client` is connected, with nothing unacknowledged, at
/// `sequence`.
pub async fn settled(client: &huddle_client::net::NetClient, sequence: u64) {
    poll(&format!("client settled at {sequence}"), || async {
        let seen = client.observe().await.expect("client running");
        (seen.state == huddle_client::ConnectionState::Connected
            && seen.unacked_batches == 0
            && seen.replica.sequence() == Some(sequence))
        .then_some(())
    })
    .await
}
