//! Command-line arguments of `huddle load` (also usable as a library
//! struct: [`LoadArgs::with_defaults`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::LoadError;

/// What load to generate, and against which server.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// The server's base URL (HTTP); the WebSocket URL is derived from it.
    #[arg(long, env = "HUDDLE_URL", default_value = "http://127.0.0.1:7878")]
    pub url: String,
    /// The server's admin key (for creating rooms and tokens).
    #[arg(long, env = "HUDDLE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: String,
    /// Number of WebSocket clients (one user each). Default 100, with
    /// `--storm` 10 000.
    #[arg(
        long,
        default_value_t = 100,
        default_value_if("storm", "true", "10000")
    )]
    pub clients: usize,
    /// Number of boards; clients are spread over them round-robin. Default
    /// 10, with `--storm` 1 000.
    #[arg(long, default_value_t = 10, default_value_if("storm", "true", "1000"))]
    pub boards: usize,
    /// Total target rate in mutations per second; 0 = as fast as the window
    /// allows.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Mutations per `mutate` batch.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// How long to measure (after the warm-up), e.g. `10s`, `500ms`, `1m`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before the measurement starts (not counted).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Most unacknowledged batches per client.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Size of each upsert's `data` (a JSON object padded to this size).
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Distinct elements each client writes (cycled through).
    #[arg(long, default_value_t = 100)]
    pub elements: usize,
    /// Session type of the rooms created: `persistent` or `ephemeral`.
    #[arg(long, default_value = "persistent", value_parser = ["persistent", "ephemeral"])]
    pub session_type: String,
    /// Prefix of the room and user ids (default: `load-<unix ms>`, unique
    /// per run).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Never show the progress bar (it is shown only on a TTY anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// A process id (the server's) whose CPU use is reported next to the
    /// generator's own (Linux `/proc`).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also write the report as JSON to this file (`-`: standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Reconnect storm instead of a timed load: every client joins and has
    /// `--storm-batches` batches acknowledged, then all connections are
    /// dropped at once (and the server restarted with `--storm-restart`),
    /// and every client reconnects with the last sequence it saw. Reports
    /// the time until all are re-synced, join latency, delta and full
    /// syncs, refused clients, and checks that every acknowledged upsert
    /// is on its board afterwards.
    #[arg(long)]
    pub storm: bool,
    /// Batches each storm client has acknowledged before the drop.
    #[arg(long, default_value_t = 2)]
    pub storm_batches: u64,
    /// A shell command (`sh -c`) run after the drop that restarts the
    /// server; the clients reconnect once it has exited and `/healthz`
    /// answers 200.
    #[arg(long)]
    pub storm_restart: Option<String>,
    /// How long each storm client may take to reconnect and get its
    /// `joined` (counted as refused after that).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub storm_timeout: Duration,
}

/// Only for [`LoadArgs::with_defaults`].
#[derive(Parser)]
struct Defaults {
    #[command(flatten)]
    args: LoadArgs,
}

impl LoadArgs {
    /// The command-line defaults, for `url` and `admin_key` (for callers
    /// that build the arguments in code, such as tests).
    pub fn with_defaults(url: &str, admin_key: &str) -> Self {
        Defaults::parse_from(["load", "--url", url, "--admin-key", admin_key]).args
    }

    pub(crate) fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: &str| Err(LoadError::Args(m.to_owned()));
        if self.clients == 0 {
            return bad("--clients must be at least 1");
        }
        if self.boards == 0 || self.boards > self.clients {
            return bad("--boards must be between 1 and --clients");
        }
        if self.batch == 0 {
            return bad("--batch must be at least 1");
        }
        if self.window == 0 {
            return bad("--window must be at least 1");
        }
        if self.elements == 0 {
            return bad("--elements must be at least 1");
        }
        if self.duration.is_zero() {
            return bad("--duration must be positive");
        }
        if self.storm && self.storm_batches == 0 {
            return bad("--storm-batches must be at least 1");
        }
        if !(self.url.starts_with("http://")) {
            return bad("--url must be an http:// URL");
        }
        Ok(())
    }

    /// Time between two batches of one client, `None` for "as fast as
    /// possible".
    pub(crate) fn send_interval(&self) -> Option<Duration> {
        if self.rate == 0 {
            return None;
        }
        let batches_per_client = self.rate as f64 / (self.batch as f64 * self.clients as f64);
        Some(Duration::from_secs_f64(1.0 / batches_per_client))
    }

    /// Start offset of client `index`, so that paced clients do not send in
    /// lockstep.
    pub(crate) fn stagger(&self, index: usize) -> Duration {
        match self.send_interval() {
            Some(interval) => interval.mul_f64(index as f64 / self.clients as f64),
            None => Duration::ZERO,
        }
    }
}

/// Parses `250ms`, `30s`, `5m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 250ms, 30s or 5m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit `{other}` (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn defaults_and_pacing() {
        let mut args = LoadArgs::with_defaults("http://127.0.0.1:1", "k");
        assert_eq!((args.clients, args.boards, args.batch), (100, 10, 10));
        assert!(args.validate().is_ok());
        assert_eq!(args.send_interval(), None);
        args.rate = 100_000;
        // 100 000 mutations/s = 10 000 batches/s = 100 per client per s.
        assert_eq!(args.send_interval(), Some(Duration::from_millis(10)));
        assert_eq!(args.stagger(50), Duration::from_millis(5));
        args.boards = 0;
        assert!(args.validate().is_err());
    }

    #[test]
    fn storm_defaults() {
        let storm = |extra: &[&str]| {
            let mut argv = vec!["load", "--admin-key", "k", "--storm"];
            argv.extend_from_slice(extra);
            Defaults::parse_from(argv).args
        };
        let args = storm(&[]);
        assert!(args.storm);
        assert_eq!(
            (args.clients, args.boards, args.storm_batches),
            (10_000, 1_000, 2)
        );
        assert_eq!(args.storm_timeout, Duration::from_secs(30));
        assert!(args.validate().is_ok());
        let args = storm(&["--clients", "50", "--boards", "5"]);
        assert_eq!((args.clients, args.boards), (50, 5));
        let mut args = storm(&["--storm-restart", "true"]);
        assert_eq!(args.storm_restart.as_deref(), Some("true"));
        args.storm_batches = 0;
        assert!(args.validate().is_err());
    }
}
