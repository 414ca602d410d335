//! Routing: a join that reached a node which does not own the board is
//! answered with `redirect` (the owner's node id and WebSocket URL) and a
//! close with [`close::REDIRECT`](huddle_wire::close::REDIRECT). The client
//! leaves that transport and connects to the owner's URL at once: no
//! backoff, no credentials hook (the same credentials), and it is not a
//! failed attempt. At most `max_redirects` redirects are followed in a
//! row; one more stops the client with
//! [`DisconnectReason::TooManyRedirects`].
//!
//! The owner's URL serves the very next connection only. Once joined, or
//! when that connection fails, the client forgets it: an unrelated
//! reconnect later goes to the configured URL again (behind a load
//! balancer, where the board's owner may have changed meanwhile).

use huddle_core::{BoardOwner, Timestamp};

use crate::{Client, ClientSignal, DisconnectReason};

/// Where the next connection goes, and how many redirects in a row led
/// there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Route {
    /// The owner's URL for the next `Connect`; `None`: the configured one.
    pub(crate) url: Option<String>,
    /// Redirects followed since the last `joined` (or `connect`).
    pub(crate) hops: u32,
}

impl Client {
    /// The server answered the join with `redirect`.
    pub(crate) fn on_redirect(&mut self, now: Timestamp, owner: BoardOwner) {
        self.close_current();
        self.drop_transport();
        let hops = self.route.hops.saturating_add(1);
        if hops > self.config.max_redirects {
            self.route = Route::default();
            let hops = self.config.max_redirects;
            return self.stop_idle(DisconnectReason::TooManyRedirects { hops });
        }
        self.route = Route {
            url: Some(owner.url.clone()),
            hops,
        };
        self.signal(ClientSignal::Redirected {
            node: owner.node,
            url: owner.url,
            hop: hops,
        });
        self.open_transport(now);
    }

    /// The owner's URL has served its one connection (joined, or failed):
    /// later connections go to the configured URL.
    pub(crate) fn forget_route(&mut self) {
        self.route = Route::default();
    }
}
