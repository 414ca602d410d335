//! Command-line arguments of `huddle load` (also usable as a library
//! struct: [`LoadArgs::with_defaults`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use huddle_duration::parse_duration;

use crate::LoadError;

/// What load to generate, and against which server.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// The server's base URL (HTTP); the WebSocket URL is derived from it.
    #[arg(long, env = "HUDDLE_URL", default_value = "http://127.0.0.1:7878")]
    pub url: String,
    /// A node to connect clients through, for a cluster (repeat it for each
    /// node, e.g. `--connect-url http://node-1:7878 --connect-url
    /// http://node-2:7878`): each board's clients are spread over these
    /// nodes, and each follows its node's `redirect` to the board's owner.
    /// Default: `--url` alone. Rooms and tokens are made through `--url`;
    /// the server cost sums the `/metrics` of `--url` and these nodes.
    #[arg(long = "connect-url", value_name = "URL")]
    pub connect_urls: Vec<String>,
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
    /// How long to measure (after the warm-up), e.g. `10s`, `500ms`, `1m`
    /// (the duration syntax of every Huddle binary: a unit is required).
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
        if self.connect_urls.iter().any(|u| !u.starts_with("http://")) {
            return bad("--connect-url must be an http:// URL");
        }
        if self.storm && !self.connect_urls.is_empty() {
            return bad("--storm runs against one server (--url): no --connect-url");
        }
        Ok(())
    }

    /// The base URLs clients connect through, in order (`--connect-url`,
    /// or `--url` alone).
    pub(crate) fn client_urls(&self) -> Vec<String> {
        let urls = if self.connect_urls.is_empty() {
            std::slice::from_ref(&self.url)
        } else {
            &self.connect_urls[..]
        };
        urls.iter()
            .map(|u| u.trim_end_matches('/').to_owned())
            .collect()
    }

    /// Every node whose `/metrics` the server cost sums: `--url` and each
    /// `--connect-url`, once each.
    pub(crate) fn node_urls(&self) -> Vec<String> {
        let mut urls = vec![self.url.trim_end_matches('/').to_owned()];
        for url in self.client_urls() {
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
        urls
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_shared_syntax() {
        let parse = |argv: &[&str]| {
            Defaults::try_parse_from(["load", "--admin-key", "k"].iter().chain(argv).copied())
                .map(|d| (d.args.duration, d.args.warmup))
        };
        assert_eq!(
            parse(&["--duration", "1m30s", "--warmup", "250ms"]).unwrap(),
            (Duration::from_secs(90), Duration::from_millis(250))
        );
        // A bare number has no unit and is refused (it used to mean seconds).
        assert!(parse(&["--duration", "2"]).is_err());
        assert!(parse(&["--warmup", "1.5"]).is_err());
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
    fn clients_spread_over_the_connect_urls() {
        let parse = |argv: &[&str]| {
            Defaults::try_parse_from(["load", "--admin-key", "k"].iter().chain(argv).copied())
                .map(|d| d.args)
        };
        let one = parse(&["--url", "http://a:1/"]).unwrap();
        assert_eq!(one.client_urls(), ["http://a:1"]);
        assert_eq!(one.node_urls(), ["http://a:1"]);
        let three = parse(&[
            "--url",
            "http://a:1",
            "--connect-url",
            "http://b:2",
            "--connect-url",
            "http://a:1/",
            "--connect-url",
            "http://c:3",
        ])
        .unwrap();
        assert!(three.validate().is_ok());
        assert_eq!(
            three.client_urls(),
            ["http://b:2", "http://a:1", "http://c:3"]
        );
        assert_eq!(
            three.node_urls(),
            ["http://a:1", "http://b:2", "http://c:3"]
        );
        let bad = parse(&["--connect-url", "ws://b:2/ws"]).unwrap();
        assert!(bad.validate().is_err());
        let storm = parse(&["--storm", "--connect-url", "http://b:2"]).unwrap();
        assert!(storm.validate().is_err());
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
