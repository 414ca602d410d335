//! This server as one node of a cluster: its node id and the WebSocket URL
//! it advertises to clients (`--node-id`, `--advertise-url`).
//!
//! Several `huddle serve` nodes share one PostgreSQL; a board is served by
//! the node that holds its lease. A join that reaches another node is
//! answered with a `redirect` naming the owner's node id and advertised
//! URL, which the store records with the lease (`docs/protocol.md`,
//! "Redirect").
//!
//! Defaults: the node id is drawn from the OS's randomness on the first
//! start (`node-` and 16 hex digits) and kept in `<data-dir>/node.id`, so it
//! is unique per data dir and stable across restarts; the advertised URL is
//! `ws://<bound address>/ws`, which is right only when clients reach the
//! node at the address it listens on (behind a proxy, or listening on
//! `0.0.0.0`, set `--advertise-url`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;

use huddle_core::BoardOwner;

use crate::cli::ServeArgs;

/// Longest node id, in bytes.
pub const MAX_NODE_ID_BYTES: usize = 128;
/// Longest advertised URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Who this node is in the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Unique in the cluster.
    pub id: String,
    /// Where clients reach this node's WebSocket endpoint (`ws://` or
    /// `wss://`, path included).
    pub url: String,
}

impl NodeIdentity {
    /// The identity the flags describe, for a server bound to `bound`:
    /// without `--node-id`, the id kept in `<data-dir>/node.id` (drawn and
    /// written there on the first start), so that a node restarted after a
    /// crash is the same node and takes its boards back at once instead of
    /// waiting for its own leases to expire.
    pub fn resolve(args: &ServeArgs, bound: SocketAddr) -> anyhow::Result<Self> {
        let id = match &args.node_id {
            Some(id) => id.clone(),
            None => stored_node_id(&args.data_dir)?,
        };
        let url = args
            .advertise_url
            .clone()
            .unwrap_or_else(|| format!("ws://{bound}/ws"));
        if args.advertise_url.is_none() && bound.ip().is_unspecified() {
            tracing::warn!(
                %url,
                "listening on an unspecified address without --advertise-url: redirected clients cannot reach this node"
            );
        }
        Ok(NodeIdentity { id, url })
    }

    /// This node as a board's owner (what a redirect to it names).
    pub fn as_owner(&self) -> BoardOwner {
        BoardOwner {
            node: self.id.clone(),
            url: self.url.clone(),
        }
    }
}

/// The file in the data dir that keeps a node's id across restarts.
pub const NODE_ID_FILE: &str = "node.id";

/// The id in `<data_dir>/node.id`, or a new one written there.
fn stored_node_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            parse_node_id(text.trim()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = random_node_id();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(file, "{id}").with_context(|| format!("writing {}", path.display()))?;
            file.sync_all()
                .with_context(|| format!("syncing {}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `node-` and 16 hex digits from the OS's randomness (from the process id
/// and the clock if the OS has none).
fn random_node_id() -> String {
    let mut bytes = [0u8; 8];
    let value = if getrandom::fill(&mut bytes).is_ok() {
        u64::from_le_bytes(bytes)
    } else {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    };
    format!("node-{value:016x}")
}

/// `--node-id`: 1 to [`MAX_NODE_ID_BYTES`] bytes of letters, digits, `-`,
/// `_`, `.` and `:`.
pub fn parse_node_id(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > MAX_NODE_ID_BYTES {
        return Err(format!("a node id has 1 to {MAX_NODE_ID_BYTES} bytes"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err("a node id is made of letters, digits, '-', '_', '.' and ':'".into());
    }
    Ok(s.to_owned())
}

/// `--advertise-url`: a `ws://` or `wss://` URL of at most
/// [`MAX_URL_BYTES`] bytes, without spaces or control characters.
pub fn parse_advertise_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("ws://")
        .or_else(|| s.strip_prefix("wss://"))
        .ok_or("the advertised URL starts with ws:// or wss://")?;
    if rest.is_empty() || s.len() > MAX_URL_BYTES {
        return Err(format!(
            "the advertised URL names a host and has at most {MAX_URL_BYTES} bytes"
        ));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the advertised URL has no spaces or control characters".into());
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_an_id_kept_in_the_data_dir_and_the_bound_address() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut args = ServeArgs::defaults();
        let bound: SocketAddr = "127.0.0.1:4567".parse().unwrap();
        args.data_dir = one.path().to_owned();
        let a = NodeIdentity::resolve(&args, bound).unwrap();
        let again = NodeIdentity::resolve(&args, bound).unwrap();
        args.data_dir = two.path().to_owned();
        let b = NodeIdentity::resolve(&args, bound).unwrap();
        assert!(a.id.starts_with("node-") && a.id.len() == 21, "{}", a.id);
        assert_eq!(a.id, again.id, "the same node after a restart");
        assert_ne!(a.id, b.id, "another data dir, another node");
        assert_eq!(a.url, "ws://127.0.0.1:4567/ws");
        std::fs::write(two.path().join(NODE_ID_FILE), "a b\n").unwrap();
        assert!(
            NodeIdentity::resolve(&args, bound).is_err(),
            "a damaged file"
        );
    }

    #[test]
    fn flags_win() {
        let mut args = ServeArgs::defaults();
        args.node_id = Some("eu-1".into());
        args.advertise_url = Some("wss://eu-1.example/ws".into());
        let node = NodeIdentity::resolve(&args, "0.0.0.0:80".parse().unwrap()).unwrap();
        assert_eq!(
            node.as_owner(),
            BoardOwner {
                node: "eu-1".into(),
                url: "wss://eu-1.example/ws".into()
            }
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse_node_id("").is_err());
        assert!(parse_node_id("a b").is_err());
        assert!(parse_node_id(&"n".repeat(MAX_NODE_ID_BYTES + 1)).is_err());
        assert_eq!(parse_node_id("node-1.eu:2"), Ok("node-1.eu:2".into()));
        assert!(parse_advertise_url("http://x/ws").is_err());
        assert!(parse_advertise_url("ws://").is_err());
        assert!(parse_advertise_url("ws://a b/ws").is_err());
        assert!(parse_advertise_url(&format!("ws://{}", "h".repeat(MAX_URL_BYTES))).is_err());
        assert_eq!(
            parse_advertise_url("wss://h.example:443/ws"),
            Ok("wss://h.example:443/ws".into())
        );
    }
}
