//! [`serve_until`]: axum's HTTP server and the driver, stopped together in
//! the driver's one shutdown order, as one call; what every embedder's
//! `main` would otherwise wire up itself.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use axum::Router;
use huddle_store::Store;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::driver::Driver;
use crate::error::DriverError;

/// Why [`serve_until`] did not stop cleanly.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The HTTP server failed (the driver was shut down after it).
    #[error("the HTTP server failed: {0}")]
    Server(#[from] std::io::Error),
    /// The driver did not drain its sessions and close the store in time
    /// ([`DriverError::ShutdownTimedOut`]).
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// The driver stopped, but HTTP requests other than its WebSockets
    /// were still open this long after; the server was dropped with them.
    #[error("the HTTP server still had open requests {0:?} after the driver stopped")]
    ServerTimedOut(Duration),
}

/// Serves `app` on `listener` until `signal` completes (Ctrl-C, SIGTERM, a
/// test's trigger), then shuts down in the driver's one order
/// ([`Driver::shutdown_within`]):
///
/// 1. the server stops accepting when the driver does (its graceful
///    shutdown is [`Driver::shutdown_started`]);
/// 2. the driver ends every session (`session_closed`, close 1012),
///    drains storage and closes the store, within `timeout`;
/// 3. the server finishes its other open requests, within `timeout` again
///    (the driver's WebSockets are closed by then).
///
/// Returns once all of it is done. If the server fails on its own, the
/// driver is shut down the same way and the server's error returned.
///
/// ```no_run
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use huddle_store::InMemoryStore;
/// use huddle_tokio::{axum::serve_until, Driver, DriverConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let rooms = Driver::start(DriverConfig::new(), InMemoryStore::new());
/// let app = Router::new().route("/health", get(|| async { "ok" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let ctrl_c = async { tokio::signal::ctrl_c().await.unwrap_or(()) };
/// serve_until(listener, app, &rooms, ctrl_c, Duration::from_secs(30)).await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve_until<S: Store + 'static>(
    listener: TcpListener,
    app: Router,
    driver: &Driver<S>,
    signal: impl Future<Output = ()>,
    timeout: Duration,
) -> Result<(), ServeError> {
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(driver.shutdown_started())
        .into_future();
    tokio::pin!(server);
    let drained = tokio::select! {
        drained = driver.serve_until(signal, timeout) => drained,
        served = &mut server => {
            // The server stopped before the signal: it failed, or another
            // holder of the driver began its shutdown. Finish that.
            let drained = driver.shutdown_within(timeout).await;
            served?;
            return Ok(drained?);
        }
    };
    let served = tokio::time::timeout(timeout, server)
        .await
        .map_err(|_| ServeError::ServerTimedOut(timeout))?;
    drained?;
    Ok(served?)
}
