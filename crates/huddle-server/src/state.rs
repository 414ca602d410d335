//! What every handler shares: the driver, the keys, the settings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use huddle_core::Timestamp;
use huddle_store::Store;
use huddle_tokio::prometheus_client::registry::Registry;
use huddle_tokio::Driver;

use crate::auth::TokenKeys;
use crate::config::ServerSettings;
use crate::metrics::ServerMetrics;

/// The state of the axum app. Cheap to clone.
pub struct AppState<S> {
    /// The engine driver (and through it the store).
    pub driver: Driver<S>,
    /// Signs and verifies user tokens.
    pub keys: Arc<TokenKeys>,
    /// The admin key of the HTTP API.
    pub admin_key: Arc<str>,
    /// Limits and settings from the flags.
    pub settings: Arc<ServerSettings>,
    /// When the server started.
    pub started: Instant,
    /// This server's own counters (HTTP errors, upgrades, TCP).
    pub metrics: Arc<ServerMetrics>,
    /// What `/metrics` encodes: the driver's metrics, `metrics`, the
    /// process's figures and the uptime.
    pub registry: Arc<Registry>,
    /// Set when shutdown begins: new WebSocket upgrades are refused.
    pub shutting_down: Arc<AtomicBool>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            driver: self.driver.clone(),
            keys: self.keys.clone(),
            admin_key: self.admin_key.clone(),
            settings: self.settings.clone(),
            started: self.started,
            metrics: self.metrics.clone(),
            registry: self.registry.clone(),
            shutting_down: self.shutting_down.clone(),
        }
    }
}

impl<S: Store + 'static> AppState<S> {
    /// Builds the state, with new metrics registered beside the driver's.
    pub fn new(
        driver: Driver<S>,
        keys: TokenKeys,
        admin_key: &str,
        settings: ServerSettings,
    ) -> Self {
        let started = Instant::now();
        let metrics = Arc::new(ServerMetrics::default());
        let registry = crate::metrics::registry(&driver, &metrics, started);
        AppState {
            driver,
            keys: Arc::new(keys),
            admin_key: admin_key.into(),
            settings: Arc::new(settings),
            started,
            metrics,
            registry: Arc::new(registry),
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<S> AppState<S> {
    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Marks the start of shutdown.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }
}

/// The wall clock as the engine's [`Timestamp`].
pub fn now() -> Timestamp {
    Timestamp::from_millis(now_millis())
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_millis() / 1000
}
