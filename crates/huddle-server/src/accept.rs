//! The accept loop of `huddle serve`: what `axum::serve` does, plus the
//! connection deadlines and caps it has no knobs for.
//!
//! - Every accepted socket asks the [`Gate`] for a place. Within the caps it
//!   is served the app; over a cap it gets one of a few overflow places,
//!   where `/healthz` is answered and everything else gets `503
//!   UNAVAILABLE` with `Retry-After` (`http::overflow_router`); with no
//!   overflow place left it is closed at once. Refusals are counted in
//!   `/metrics` (`huddle_tcp_refused_total`) and logged (at most one
//!   warning per [`LOG_EVERY`]).
//! - HTTP/1 with a header deadline: a request head (request line and
//!   headers) must be complete within `--http-header-timeout` of the
//!   connection being ready for it, right after accept or after the
//!   previous response (hyper's `header_read_timeout`, which starts when
//!   the connection starts waiting for a head). So a silent connection, a
//!   trickled or partial head, and an idle kept-alive connection are all
//!   closed by that time.
//! - A failed `accept` never ends the loop: out of descriptors (`EMFILE`,
//!   `ENFILE`) or memory, it backs off (50 ms doubling to 1 s, reset by
//!   the next success) and tries again; the connections already open keep
//!   being served, and as they close the loop accepts again.
//! - On shutdown it stops accepting, asks every HTTP connection to finish
//!   its request and close, and returns once they have. Upgraded
//!   WebSockets are the driver's to close (1012).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::gate::{Admission, Gate, GatedIo};

/// Shortest wait after a failed accept.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
/// Longest wait after failed accepts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one warning per this interval for each kind of trouble.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Header deadline of an overflow connection (it gets one answer).
const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// The HTTP settings of accepted connections.
#[derive(Clone, Copy, Debug)]
pub struct HttpSettings {
    /// `--http-header-timeout`.
    pub header_timeout: Duration,
    /// `--http-keep-alive`.
    pub keep_alive: bool,
}

/// The two apps: the whole one, and the one of overflow places.
#[derive(Clone, Debug)]
pub struct Apps {
    /// Served within the caps.
    pub app: Router,
    /// Served over a cap (`/healthz`, else 503).
    pub overflow: Router,
}

/// Accepts and serves connections until `shutdown` completes, then waits
/// for the HTTP connections to finish.
pub async fn serve(
    listener: TcpListener,
    apps: Apps,
    gate: Gate,
    http: HttpSettings,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a receiver: `closed()` waits for them.
    let (done_tx, done_rx) = watch::channel(());
    let mut backoff = BACKOFF_FIRST;
    let mut warned = Warnings::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => {
                backoff = BACKOFF_FIRST;
                accepted
            }
            Err(e) => {
                if is_connection_error(&e) {
                    continue;
                }
                let kind = if is_out_of_resources(&e) {
                    "descriptors"
                } else {
                    "other"
                };
                gate.metrics().accept_error(kind);
                if warned.due(kind) {
                    tracing::warn!(error = %e, retry_in = ?backoff, "accept failed; backing off");
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let (app, settings, permit) = match gate.admit(remote.ip()) {
            Admission::Admitted(permit) => (apps.app.clone(), http, permit),
            Admission::Overflow(permit, refusal) => {
                gate.metrics().tcp_refused(refusal.as_str());
                refused(&mut warned, remote, refusal.as_str(), "answered 503");
                let settings = HttpSettings {
                    header_timeout: http.header_timeout.min(OVERFLOW_HEADER_TIMEOUT),
                    keep_alive: false,
                };
                (apps.overflow.clone(), settings, permit)
            }
            Admission::Closed(refusal) => {
                gate.metrics().tcp_refused("overflow");
                refused(&mut warned, remote, refusal.as_str(), "closed");
                drop(stream);
                continue;
            }
        };
        let io = GatedIo::new(stream, permit);
        tokio::spawn(serve_connection(
            io,
            app,
            settings,
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    drop(done_rx);
    let _ = stop_tx.send(true);
    done_tx.closed().await;
}

/// Serves one connection's HTTP requests (and hands an upgrade over).
async fn serve_connection(
    io: GatedIo,
    app: Router,
    http: HttpSettings,
    mut stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_timeout)
        .keep_alive(http.keep_alive);
    let conn = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Errors of one incoming connection (it went away before we took it):
/// accept the next at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Out of descriptors (`EMFILE` 24, `ENFILE` 23), buffers (`ENOBUFS`) or
/// memory (`ENOMEM`).
fn is_out_of_resources(e: &io::Error) -> bool {
    const ENOMEM: i32 = 12;
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    #[cfg(target_os = "linux")]
    const ENOBUFS: i32 = 105;
    #[cfg(not(target_os = "linux"))]
    const ENOBUFS: i32 = 55;
    e.kind() == io::ErrorKind::OutOfMemory
        || matches!(e.raw_os_error(), Some(ENOMEM | ENFILE | EMFILE | ENOBUFS))
}

fn refused(warned: &mut Warnings, remote: SocketAddr, reason: &'static str, action: &str) {
    if warned.due(reason) {
        tracing::warn!(%remote, reason, action, "connection over a cap");
    } else {
        tracing::debug!(%remote, reason, action, "connection over a cap");
    }
}

/// When each kind of warning was last logged.
#[derive(Debug, Default)]
struct Warnings {
    last: Vec<(&'static str, Instant)>,
}

impl Warnings {
    fn due(&mut self, kind: &'static str) -> bool {
        let now = Instant::now();
        match self.last.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, at)) if now.duration_since(*at) < LOG_EVERY => false,
            Some((_, at)) => {
                *at = now;
                true
            }
            None => {
                self.last.push((kind, now));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors() {
        assert!(is_out_of_resources(&io::Error::from_raw_os_error(24)));
        assert!(is_out_of_resources(&io::Error::from_raw_os_error(23)));
        assert!(!is_out_of_resources(&io::Error::from_raw_os_error(2)));
        assert!(is_connection_error(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
    }

    #[test]
    fn warnings_are_rate_limited() {
        let mut w = Warnings::default();
        assert!(w.due("a"));
        assert!(!w.due("a"));
        assert!(w.due("b"));
    }
}
