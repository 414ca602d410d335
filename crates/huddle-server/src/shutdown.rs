//! Graceful shutdown: on SIGTERM or Ctrl-C, stop taking connections, close
//! every board session through the driver (flushing it; persistent rooms
//! also get their `archive` snapshot), close every connection (1012),
//! close the store, then exit 0: the driver's one shutdown order
//! ([`Driver::shutdown_within`], `docs/driver.md`).

use std::time::Duration;

use huddle_store::Store;
use huddle_tokio::Driver;

/// Completes on the first SIGTERM or Ctrl-C (SIGINT).
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Shuts the driver down and closes the store, waiting at most `limit`.
/// Returns whether every session was flushed (and the store closed) in
/// time.
pub async fn drain<S: Store + 'static>(driver: &Driver<S>, limit: Duration) -> bool {
    match driver.shutdown_within(limit).await {
        Ok(()) => {
            tracing::info!("every session flushed; connections closed; store closed");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "storage did not confirm every flush");
            false
        }
    }
}
