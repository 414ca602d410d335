//! In-process tests of the HTTP routes (through `tower::ServiceExt::oneshot`)
//! and of WebSocket sessions (a real listener and tokio-tungstenite),
//! against the in-memory store.

mod demo_routes;
mod harness;
mod http_routes;
mod metrics_routes;
mod redirect_flow;
mod ws_flow;
