//! Test support (feature `testing`): a private PostgreSQL cluster started
//! from the installed server binaries, and a fresh database per test.
//!
//! - [`database`] hands out a new, empty database (`CREATE DATABASE` with a
//!   unique name) on the process's shared cluster, started once (a
//!   `OnceLock`) on first use. With `HUDDLE_TEST_DATABASE_URL` set, the
//!   databases are created on that server instead (and left there).
//! - [`Cluster::start`] starts a cluster of one's own (a test that restarts
//!   PostgreSQL must not disturb the others); [`Cluster::start_tls`] one
//!   with `ssl = on` and a given certificate and key.
//! - A cluster lives in a temporary directory: `initdb --auth=trust -E UTF8
//!   --no-sync`, then `pg_ctl start` on a free loopback port with its socket
//!   in the same directory, run as the `postgres` user when the tests run as
//!   root (`runuser`). The newest `/usr/lib/postgresql/*/bin` is used, else
//!   `initdb` on the `PATH`.
//! - **No leaked servers.** Each cluster is watched by a small shell
//!   process whose standard input is a pipe from the test process: when
//!   the test process exits, however it exits (even `kill -9`), the pipe
//!   closes and the watcher stops the cluster (`pg_ctl stop -m immediate`)
//!   and removes its directory. Dropping a [`Cluster`] does the same at
//!   once.
//! - **Skips are loud.** Where no PostgreSQL is installed, [`database`]
//!   and [`Cluster::start_or_skip`] print why (`eprintln!`) and answer
//!   `None`, so the test returns; with `HUDDLE_REQUIRE_POSTGRES=1` they
//!   panic instead, so that a CI that must test PostgreSQL fails.

// Test support: failing loudly is its job.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The variable naming an existing server to test against.
pub const DATABASE_URL_VAR: &str = "HUDDLE_TEST_DATABASE_URL";
/// The variable that turns a skipped PostgreSQL test into a failure.
pub const REQUIRE_VAR: &str = "HUDDLE_REQUIRE_POSTGRES";

/// A database made for one test.
#[derive(Clone, Debug)]
pub struct TestDatabase {
    /// Its connection URL.
    pub url: String,
    /// Its name.
    pub name: String,
}

/// Says loudly that a PostgreSQL test is skipped, and why; panics instead
/// when `HUDDLE_REQUIRE_POSTGRES=1`.
pub fn skip(reason: &str) {
    if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
        panic!("PostgreSQL is required ({REQUIRE_VAR}=1) but unavailable: {reason}");
    }
    eprintln!(
        "\n*** SKIPPED: PostgreSQL test not run: {reason} \
         (install PostgreSQL, or set {DATABASE_URL_VAR}) ***\n"
    );
}

/// A fresh, empty database for one test, or `None` (after [`skip`]) where
/// no PostgreSQL can be had.
pub async fn database() -> Option<TestDatabase> {
    let base = match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => match shared_cluster() {
            Ok(cluster) => cluster.url("postgres"),
            Err(reason) => {
                skip(&reason);
                return None;
            }
        },
    };
    match create_database(&base).await {
        Ok(db) => Some(db),
        Err(e) => panic!("cannot create a test database on {}: {e}", redact(&base)),
    }
}

static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The process's shared cluster, started on first use.
fn shared_cluster() -> Result<&'static Cluster, String> {
    SHARED
        .get_or_init(Cluster::start)
        .as_ref()
        .map_err(Clone::clone)
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// Creates a uniquely named database on the server at `base` and returns
/// its URL.
pub async fn create_database(base: &str) -> Result<TestDatabase, String> {
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(connection);
    let name = format!(
        "huddle_test_{}_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() % 1_000_000)
    );
    let created = client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .map_err(|e| e.to_string());
    drop(client);
    let _ = task.await;
    created?;
    Ok(TestDatabase {
        url: with_database(base, &name),
        name,
    })
}

/// `url` with its database replaced by `name` (URL or `key=value` form).
pub fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let rest_start = scheme_end + 3;
    let (main, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = main[rest_start..]
        .find('/')
        .map_or(main.len(), |i| rest_start + i);
    format!("{}/{name}{query}", &main[..authority_end])
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The directory of the newest installed PostgreSQL server binaries.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A private PostgreSQL cluster, stopped and removed when dropped (or when
/// the test process exits).
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    /// Extra `-c name=value` server settings.
    settings: String,
    watcher: Mutex<Option<(Child, ChildStdin)>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish()
    }
}

/// Stops the cluster when the watcher's standard input closes.
const WATCHER: &str = r#"
bin="$1"; dir="$2"; opts="$3"
if ! "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" start >"$dir/pg_ctl.out" 2>&1; then
    echo "failed"; cat "$dir/pg_ctl.out" "$dir/server.log" 2>/dev/null; rm -rf "$dir"; exit 1
fi
echo "started"
while read -r _line; do :; done
"$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
rm -rf "$dir"
"#;

impl Cluster {
    /// Starts a cluster of one's own; `Err` says why none can be had.
    pub fn start() -> Result<Cluster, String> {
        Cluster::start_with(None)
    }

    /// Starts a cluster of one's own that offers TLS (`ssl = on`) with this
    /// certificate (chain) and key, both PEM. Connections without TLS are
    /// still accepted.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Result<Cluster, String> {
        Cluster::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Result<Cluster, String> {
        let bin = find_bin_dir().ok_or_else(|| {
            "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH"
                .to_owned()
        })?;
        let as_postgres = running_as_root();
        let dir = make_dir(as_postgres)?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut cluster = Cluster {
            bin,
            dir,
            port,
            as_postgres,
            settings: String::new(),
            watcher: Mutex::new(None),
        };
        cluster.initdb()?;
        if let Some((cert, key)) = tls {
            cluster.settings = cluster.install_tls(cert, key)?;
        }
        cluster.watch()?;
        Ok(cluster)
    }

    /// [`Cluster::start`], or `None` after [`skip`].
    pub fn start_or_skip() -> Option<Cluster> {
        match Cluster::start() {
            Ok(c) => Some(c),
            Err(reason) => {
                skip(&reason);
                None
            }
        }
    }

    /// The URL of one of its databases.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A fresh database on this cluster.
    pub async fn database(&self) -> TestDatabase {
        create_database(&self.url("postgres"))
            .await
            .unwrap_or_else(|e| panic!("creating a database: {e}"))
    }

    fn options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200{}",
            self.port,
            self.dir.display(),
            self.settings
        )
    }

    /// Writes the certificate and key into the cluster's directory, owned
    /// by the server's user, the key readable by it only; answers the
    /// settings that turn TLS on.
    fn install_tls(&self, cert: &str, key: &str) -> Result<String, String> {
        let cert_path = self.dir.join("server.crt");
        let key_path = self.dir.join("server.key");
        for (path, pem) in [(&cert_path, cert), (&key_path, key)] {
            std::fs::write(path, pem).map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        let mut done = Command::new("chmod")
            .arg("600")
            .arg(&key_path)
            .status()
            .is_ok_and(|s| s.success());
        if self.as_postgres {
            done &= Command::new("chown")
                .arg("postgres:postgres")
                .arg(&cert_path)
                .arg(&key_path)
                .status()
                .is_ok_and(|s| s.success());
        }
        if !done {
            return Err("cannot give the TLS key to the server's user".into());
        }
        Ok(format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cert_path.display(),
            key_path.display()
        ))
    }

    /// A command run as the cluster's owner.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.arg("-u").arg("postgres").arg("--").arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    fn initdb(&self) -> Result<(), String> {
        let out = self
            .command(&self.bin.join("initdb"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args([
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
                "-U",
                "postgres",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// Starts the server under a watcher that stops it when our end of its
    /// standard input closes.
    fn watch(&self) -> Result<(), String> {
        let mut child = self
            .command(Path::new("sh"))
            .arg("-c")
            .arg(WATCHER)
            .arg("watcher")
            .arg(&self.bin)
            .arg(&self.dir)
            .arg(self.options())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the cluster's watcher: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading the watcher: {e}"))?;
        if line.trim() != "started" {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            let _ = child.wait();
            return Err(format!("pg_ctl start failed: {line}{rest}"));
        }
        *self.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some((child, stdin));
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = self
            .command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running pg_ctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// `pg_ctl restart -m fast`: every connection is closed.
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "restart"])
    }

    /// `pg_ctl stop -m fast` (the watcher still removes it at the end).
    pub fn stop(&self) -> Result<(), String> {
        self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "stop"])
    }

    /// Starts it again after [`Cluster::stop`].
    pub fn start_again(&self) -> Result<(), String> {
        let opts = self.options();
        self.pg_ctl(&["-w", "-t", "60", "-o", &opts, "start"])
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let watcher = self
            .watcher
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((mut child, mut stdin)) = watcher {
            let _ = stdin.flush();
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// A new directory for a cluster, owned by `postgres` when the cluster
/// runs as that user.
fn make_dir(as_postgres: bool) -> Result<PathBuf, String> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "huddle-pg-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if as_postgres {
        let ok = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir_all(&dir);
            return Err("cannot give the cluster directory to the postgres user".into());
        }
    }
    Ok(dir)
}

/// How long to wait for a restarted server in tests.
pub const RESTART_WAIT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_url_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5/db?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
        assert_eq!(
            with_database("host=h user=u", "x"),
            "host=h user=u dbname=x"
        );
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
