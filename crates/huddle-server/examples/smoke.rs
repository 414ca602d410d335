//! A smoke session against a running `huddle serve`: creates a room (if
//! needed), gets a token, joins over WebSocket, sends a batch and prints
//! every frame it gets.
//!
//! ```text
//! cargo run -p huddle-server --example smoke -- http://127.0.0.1:7878 <admin key> [room]
//! ```

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:7878".into());
    let key = args
        .next()
        .ok_or("usage: smoke <base url> <admin key> [room]")?;
    let room = args.next().unwrap_or_else(|| "smoke".into());
    let http = reqwest::Client::new();

    let created = http
        .post(format!("{base}/rooms"))
        .bearer_auth(&key)
        .json(&json!({"id": room, "name": "Smoke test", "session_type": "persistent"}))
        .send()
        .await?;
    println!(
        "POST /rooms -> {} {}",
        created.status(),
        created.text().await?
    );
    let user: Value = http
        .post(format!("{base}/users"))
        .bearer_auth(&key)
        .json(&json!({"user_id": "smoke", "display_name": "Smoke", "room_id": room}))
        .send()
        .await?
        .json()
        .await?;
    println!("POST /users -> expires_at {}", user["expires_at"]);
    let token = user["token"].as_str().ok_or("no token")?;

    let ws_url = format!("{}/ws?token={token}", base.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
    for frame in [
        json!({"type": "join", "board": room}),
        json!({"type": "mutate", "batch": format!("smoke-{}", std::process::id()),
               "mutations": [{"op": "upsert", "page": "p1", "element": "e1", "data": {"x": 1}}]}),
        json!({"type": "ping"}),
    ] {
        println!(">> {frame}");
        ws.send(Message::text(frame.to_string())).await?;
    }
    let mut left = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
        match msg? {
            Message::Text(t) => {
                println!("<< {t}");
                // Leave once the batch is acknowledged (an ack is not
                // sent to an author who has left).
                if t.contains(r#""type":"ack""#) && !left {
                    left = true;
                    println!(">> {{\"type\":\"leave\"}}");
                    ws.send(Message::text(r#"{"type":"leave"}"#)).await?;
                }
            }
            Message::Close(c) => {
                println!("<< close {c:?}");
                break;
            }
            _ => {}
        }
    }
    let details = http
        .get(format!("{base}/rooms/{room}"))
        .bearer_auth(&key)
        .send()
        .await?
        .text()
        .await?;
    println!("GET /rooms/{room} -> {details}");
    Ok(())
}
