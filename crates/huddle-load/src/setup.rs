//! The HTTP part of a run: one room per board and one token per client,
//! created with the admin key.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};

use crate::{LoadArgs, LoadError};

/// Rooms and tokens of a run.
pub(crate) struct Setup {
    /// `ws://host:port/ws` of each node clients connect through.
    ws_bases: Vec<String>,
    /// Board ids.
    pub(crate) boards: Vec<String>,
    /// One token per client (client `i` is on board `i % boards`).
    pub(crate) tokens: Vec<String>,
    /// With `--storm`: one token per board for the check after the storm.
    pub(crate) verifiers: Vec<String>,
}

/// Room and token requests in flight at once (10 000 one after the other
/// take seconds).
const TOKENS_IN_FLIGHT: usize = 16;

impl Setup {
    /// The WebSocket URL of client (or checker) `index` with its token.
    /// Client `i` is on board `i % boards`; it joins through node
    /// `(i % boards + i / boards) % nodes`, so that each board's clients
    /// are spread over the nodes (and the boards' first clients, which
    /// take them, too).
    pub(crate) fn ws_url(&self, index: usize, token: &str) -> String {
        let boards = self.boards.len().max(1);
        let node = (index % boards + index / boards) % self.ws_bases.len();
        format!("{}?token={token}", self.ws_bases[node])
    }
}

/// Creates the rooms and tokens.
pub(crate) async fn prepare(args: &LoadArgs) -> Result<Setup, LoadError> {
    let base = args.url.trim_end_matches('/').to_owned();
    let ws_bases = args
        .client_urls()
        .iter()
        .map(|url| format!("ws://{}/ws", url.trim_start_matches("http://")))
        .collect();
    let prefix = args.prefix.clone().unwrap_or_else(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        format!("load-{ms}")
    });
    let http = reqwest::Client::new();
    let api = Api {
        http: &http,
        base: &base,
        key: &args.admin_key,
    };

    let boards: Vec<String> = stream::iter((0..args.boards).map(|b| {
        let id = format!("{prefix}-b{b}");
        let body =
            json!({"id": id, "name": format!("load board {b}"), "session_type": args.session_type});
        let api = &api;
        async move { api.post("/rooms", &body, "create room").await.map(|_| id) }
    }))
    .buffered(TOKENS_IN_FLIGHT)
    .try_collect()
    .await?;
    let user = |user_id: String, name: String, room: &str| {
        let body = json!({
            "user_id": user_id,
            "display_name": name,
            "room_id": room,
            "ttl_seconds": 86_400,
        });
        let api = &api;
        async move { api.token(&body).await }
    };
    let tokens = stream::iter((0..args.clients).map(|c| {
        user(
            format!("{prefix}-u{c}"),
            format!("load client {c}"),
            &boards[c % boards.len()],
        )
    }))
    .buffered(TOKENS_IN_FLIGHT)
    .try_collect()
    .await?;
    // The storm's check joins each board afresh as a user of its own.
    let verifiers = if args.storm {
        stream::iter(
            boards
                .iter()
                .enumerate()
                .map(|(b, board)| user(format!("{prefix}-v{b}"), format!("load check {b}"), board)),
        )
        .buffered(TOKENS_IN_FLIGHT)
        .try_collect()
        .await?
    } else {
        Vec::new()
    };
    Ok(Setup {
        ws_bases,
        boards,
        tokens,
        verifiers,
    })
}

struct Api<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    key: &'a str,
}

impl Api<'_> {
    async fn token(&self, body: &Value) -> Result<String, LoadError> {
        let answer = self.post("/users", body, "create token").await?;
        answer
            .get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| LoadError::Api {
                what: "create token".into(),
                status: 201,
                body: format!("no `token` in {answer}"),
            })
    }

    async fn post(&self, path: &str, body: &Value, what: &str) -> Result<Value, LoadError> {
        let url = format!("{}{path}", self.base);
        let http_err = |source| LoadError::Http {
            url: url.clone(),
            source,
        };
        let response = self
            .http
            .post(&url)
            .bearer_auth(self.key)
            .json(body)
            .send()
            .await
            .map_err(http_err)?;
        let status = response.status();
        let text = response.text().await.map_err(http_err)?;
        if !status.is_success() {
            return Err(LoadError::Api {
                what: what.to_owned(),
                status: status.as_u16(),
                body: text,
            });
        }
        serde_json::from_str(&text).map_err(|e| LoadError::Api {
            what: what.to_owned(),
            status: status.as_u16(),
            body: format!("not JSON ({e}): {text}"),
        })
    }
}
