//! The HTTP part of a run: one room per board and one token per client,
//! created with the admin key.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::{LoadArgs, LoadError};

/// Rooms and tokens of a run.
pub(crate) struct Setup {
    /// `ws://host:port/ws`.
    ws_base: String,
    /// Board ids.
    pub(crate) boards: Vec<String>,
    /// One token per client (client `i` is on board `i % boards`).
    pub(crate) tokens: Vec<String>,
}

impl Setup {
    /// The WebSocket URL for a token.
    pub(crate) fn ws_url(&self, token: &str) -> String {
        format!("{}?token={token}", self.ws_base)
    }
}

/// Creates the rooms and tokens.
pub(crate) async fn prepare(args: &LoadArgs) -> Result<Setup, LoadError> {
    let base = args.url.trim_end_matches('/').to_owned();
    let ws_base = format!("ws://{}/ws", base.trim_start_matches("http://"));
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

    let mut boards = Vec::with_capacity(args.boards);
    for b in 0..args.boards {
        let id = format!("{prefix}-b{b}");
        let body =
            json!({"id": id, "name": format!("load board {b}"), "session_type": args.session_type});
        api.post("/rooms", &body, "create room").await?;
        boards.push(id);
    }
    let mut tokens = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let body = json!({
            "user_id": format!("{prefix}-u{c}"),
            "display_name": format!("load client {c}"),
            "room_id": boards[c % boards.len()],
            "ttl_seconds": 86_400,
        });
        let answer = api.post("/users", &body, "create token").await?;
        let token = answer
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| LoadError::Api {
                what: "create token".into(),
                status: 201,
                body: format!("no `token` in {answer}"),
            })?;
        tokens.push(token.to_owned());
    }
    Ok(Setup {
        ws_base,
        boards,
        tokens,
    })
}

struct Api<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    key: &'a str,
}

impl Api<'_> {
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
