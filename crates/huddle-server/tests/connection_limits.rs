//! Black-box tests of the connection deadlines and caps (issue 17,
//! finding 1): partial, trickled and idle HTTP connections are closed, a
//! WebSocket without `join` is closed with 4006, one whose token expires
//! with 4001, connections over a cap are answered `503` with `Retry-After`
//! while `/healthz` keeps answering, and running out of descriptors does
//! not stop the server.

mod support;

use std::time::{Duration, Instant};

use support::{poll, Opts, Server, Ws, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; the bytes read and how
/// long it took. Panics if it stays open for `WAIT`.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, started.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {WAIT:?}; read {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

async fn tcp(server: &Server) -> TcpStream {
    TcpStream::connect(&server.addr).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_trickled_and_idle_http_connections_are_closed() {
    let server = Server::start_with(Opts::default().flag("--http-header-timeout", "1s")).await;

    // Says nothing at all.
    let mut silent = tcp(&server).await;
    // A partial head, then nothing.
    let mut partial = tcp(&server).await;
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A head trickled a byte every 200 ms (it would take 8 s).
    let trickled = tokio::spawn({
        let addr = server.addr.clone();
        async move {
            let mut stream = TcpStream::connect(&addr).await.unwrap();
            let started = Instant::now();
            for byte in b"GET /healthz HTTP/1.1\r\nHost: xyz\r\n\r\n" {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let (got, _) = read_until_closed(&mut stream).await;
            (got, started.elapsed())
        }
    });
    // A complete request, then idle on the kept-alive connection.
    let mut idle = tcp(&server).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    for (name, stream) in [("silent", &mut silent), ("partial", &mut partial)] {
        let (got, took) = read_until_closed(stream).await;
        assert!(!got.starts_with(b"HTTP/1.1 200"), "{name}: {got:?}");
        assert!(
            took < Duration::from_secs(5),
            "{name} closed after {took:?}"
        );
    }
    let (got, took) = read_until_closed(&mut idle).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#"{"status":"ok"}"#), "{text}");
    assert!(took < Duration::from_secs(5), "idle closed after {took:?}");
    let (got, took) = trickled.await.unwrap();
    assert!(!got.starts_with(b"HTTP/1.1 200"), "trickled: {got:?}");
    assert!(
        took < Duration::from_secs(5),
        "trickled closed after {took:?}"
    );

    // A request in time is served as before.
    assert_eq!(server.get_text("/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_without_join_is_closed_with_4006() {
    let server = Server::start_with(Opts::default().flag("--join-timeout", "1s")).await;
    server.room("r1", "ephemeral").await;
    let token = server.token("alice", "r1").await;
    let started = Instant::now();
    let mut idle = Ws::connect(&server.ws_url(&token)).await;
    let mut joins = Ws::connect(&server.ws_url(&token)).await;
    joins.join("r1", None).await;
    assert_eq!(idle.closed().await, Some(huddle_wire::close::JOIN_TIMEOUT));
    assert!(started.elapsed() < Duration::from_secs(5));
    // The one that joined stays, past the deadline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    joins.assert_usable().await;
    let (_, metrics) = server.get_text("/metrics").await;
    assert!(
        metrics.contains("huddle_ws_closed_total{reason=\"join_timeout\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_closed_with_4001_when_its_token_expires() {
    let server = Server::start().await;
    server.room("r1", "ephemeral").await;
    let (status, body) = server
        .post(
            "/users",
            serde_json::json!({"user_id": "alice", "display_name": "A", "room_id": "r1", "ttl_seconds": 2}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (mut bob, _) = server.joined("bob", "r1").await;
    let mut alice = Ws::connect(&server.ws_url(&token)).await;
    alice.join("r1", None).await;
    let started = Instant::now();
    assert_eq!(alice.closed().await, Some(huddle_wire::close::AUTH_FAILED));
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Alice's user session ended with the connection.
    let _ = bob.recv_type("participant_left").await;
    // The same token is refused now.
    assert_eq!(
        Ws::try_connect(&server.ws_url(&token)).await.err(),
        Some(401)
    );
}

fn retry_after(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A fresh client (no pooled connection), so every request opens one.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_a_cap_get_503_with_retry_after_and_healthz_still_answers() {
    for (flag, value, reason) in [
        ("--max-connections-per-ip", "3", "max_connections_per_ip"),
        ("--max-connections", "3", "max_connections"),
    ] {
        let server = Server::start_with(
            Opts::default()
                .flag(flag, value)
                .flag("--http-header-timeout", "60s"),
        )
        .await;
        // The regular places: the harness's pooled connection may hold
        // one; these idle ones take the rest.
        let mut held = Vec::new();
        // Fill the regular places with idle connections.
        while held.len() < 3 {
            held.push(tcp(&server).await);
        }
        let client = fresh_client();
        let resp = poll("a 503", || {
            let req = client
                .get(server.url("/stats"))
                .bearer_auth(support::ADMIN_KEY);
            async move {
                let resp = req.send().await.ok()?;
                (resp.status().as_u16() == 503).then_some(resp)
            }
        })
        .await;
        assert_eq!(retry_after(&resp).as_deref(), Some("1"), "{flag}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "UNAVAILABLE", "{flag}: {body}");
        // A health check is answered anyway.
        let health = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 200, "{flag}");
        // Places come back when connections close.
        held.clear();
        let metrics = poll("a place again", || {
            let req = client.get(server.url("/metrics"));
            async move {
                let resp = req.send().await.ok()?;
                if resp.status().as_u16() != 200 {
                    return None;
                }
                resp.text().await.ok()
            }
        })
        .await;
        assert!(
            metrics.contains(&format!("huddle_tcp_refused_total{{reason=\"{reason}\"}}")),
            "{flag}: {metrics}"
        );
    }
}

/// The tests that hold hundreds of connections take turns: this process
/// holds the client ends, and they share its descriptor limit.
static DESCRIPTOR_HUNGRY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opens connections and keeps them, until it holds `n` or `enough` says
/// so. A connect that hangs has met a full listen backlog: the server is
/// behind (a loaded machine) or has stopped accepting, so it waits a
/// little and tries again, for at most [`WAIT`] without progress. A
/// connect that fails is the test's own failure, said as such; this
/// process's descriptor limit is raised to its hard limit first.
async fn hold(server: &Server, n: usize, enough: impl Fn() -> bool) -> Vec<TcpStream> {
    let raised =
        rlimit::increase_nofile_limit(u64::MAX).expect("raise this process's descriptor limit");
    assert!(
        raised >= n as u64 + 128,
        "this test process may open only {raised} descriptors; it needs {} (ulimit -Hn)",
        n + 128
    );
    let mut held = Vec::with_capacity(n);
    let mut progress = Instant::now();
    while held.len() < n && !enough() {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&server.addr)).await {
            Ok(Ok(stream)) => {
                held.push(stream);
                progress = Instant::now();
            }
            Ok(Err(e)) => panic!("connect {} failed on the client side: {e}", held.len() + 1),
            Err(_) => {
                assert!(
                    progress.elapsed() < WAIT,
                    "no connect completed for {WAIT:?} after {}",
                    held.len()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    held
}

async fn healthy(addr: &str) -> bool {
    let client = fresh_client();
    let req = client.get(format!("http://{addr}/healthz")).send();
    matches!(tokio::time::timeout(Duration::from_secs(2), req).await,
             Ok(Ok(resp)) if resp.status().as_u16() == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_descriptor_limit_keeps_healthz_answering() {
    let _turn = DESCRIPTOR_HUNGRY.lock().await;
    // The default cap comes from the descriptor limit: the server refuses
    // before it runs out, and /healthz is answered all along.
    let server = Server::start_with(
        Opts::default()
            .nofile(256)
            .flag("--http-header-timeout", "60s"),
    )
    .await;
    let held = hold(&server, 600, || false).await;
    let addr = server.addr.clone();
    poll("/healthz while 600 connections are held", || {
        let addr = addr.clone();
        async move { healthy(&addr).await.then_some(()) }
    })
    .await;
    let log = server.log();
    assert!(!log.contains("Too many open files"), "{log}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_does_not_stop_the_server() {
    let _turn = DESCRIPTOR_HUNGRY.lock().await;
    // A cap above the descriptor limit: accept fails with EMFILE. The
    // server backs off and keeps going; once connections close it serves
    // again.
    let server = Server::start_with(
        Opts::default()
            .nofile(256)
            .flag("--max-connections", "100000")
            .flag("--max-connections-per-ip", "0")
            .flag("--http-header-timeout", "60s"),
    )
    .await;
    // Connect until the accept loop meets the limit.
    let held = hold(&server, 2000, || server.log().contains("accept failed")).await;
    assert!(
        server.log().contains("accept failed"),
        "{} connections and no accept error",
        held.len()
    );
    let addr = server.addr.clone();
    drop(held);
    poll("/healthz after the connections closed", || {
        let addr = addr.clone();
        async move { healthy(&addr).await.then_some(()) }
    })
    .await;
    let (_, metrics) = server.get_text("/metrics").await;
    assert!(
        metrics.contains("huddle_accept_errors_total{kind=\"descriptors\"}"),
        "{metrics}"
    );
}
