//! Virtual-time tests of the client connection machine
//! (`huddle_client`), one client at a time and without an engine:
//! the test is the host. It advances its own clock, reports transport
//! opens, failures and closes, hands the client server messages built by
//! hand, drains `poll_output()` after every input and calls
//! `handle_timeout` at `poll_timeout()`.
//!
//! Covered: the backoff schedule (default, configured, jittered), attempt
//! counting and `failed`, `auth_failed`, deliberate and unexpected closes,
//! the pre-reconnect credentials hook, the replica and its syncs, batch
//! ids, re-sending and the offline queue, retries of rejected batches,
//! recovery export/import, cursor throttling, late reports about old
//! transports, and determinism.

use std::collections::HashSet;
use std::time::Duration;

use huddle_client::{
    Backoff, Client, ClientConfig, ClientError, ClientOutput, ClientSignal, ConnectFailure,
    ConnectionState, Credentials, DisconnectReason, RecoveredBatch, Recovery, RecoveryError,
    TransportId,
};
use huddle_core::{
    BatchId, BoardId, CloseReason, Color, ElementId, ErrorCode, FullSyncReason, Mutation, PageId,
    Pages, ParticipantInfo, Payload, Timestamp, UserSessionId,
};
use huddle_wire::{ClientMessage, JoinedMessage, ServerMessage, WireEvent, WireSync};

// ---- time ---------------------------------------------------------------

const BOARD: &str = "board-1";
const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn at(d: Duration) -> Timestamp {
    T0.saturating_add(d)
}

fn since_t0(t: Timestamp) -> Duration {
    t.saturating_duration_since(T0)
}

// ---- inputs -------------------------------------------------------------

fn creds(token: &str) -> Credentials {
    Credentials::new(token)
}

fn network() -> ConnectFailure {
    ConnectFailure::Network("connection refused".into())
}

/// The default config without keep-alive pings, so that `poll_timeout`
/// shows only the timer under test.
fn quiet() -> ClientConfig {
    ClientConfig {
        ping_interval: None,
        ..ClientConfig::default()
    }
}

fn up(page: &str, element: &str, data: &str) -> Mutation {
    Mutation::Upsert {
        page: page.into(),
        element: element.into(),
        data: data.into(),
    }
}

fn del(page: &str, element: &str) -> Mutation {
    Mutation::Delete {
        page: page.into(),
        element: element.into(),
    }
}

fn ev(seq: u64, user: &str, mutation: Mutation) -> WireEvent {
    WireEvent {
        seq,
        user: user.into(),
        mutation,
    }
}

fn pages(items: &[(&str, &str, &str)]) -> Pages {
    Pages::from_elements(
        items
            .iter()
            .map(|(p, e, d)| (PageId::from(*p), ElementId::from(*e), Payload::from(*d))),
    )
}

fn person(user: &str, color: usize) -> ParticipantInfo {
    ParticipantInfo {
        user: user.into(),
        display_name: user.into(),
        color: Color::from_index(color),
    }
}

fn joined_with(sequence: u64, sync: WireSync, participants: Vec<ParticipantInfo>) -> ServerMessage {
    ServerMessage::Joined(Box::new(JoinedMessage {
        session_id: UserSessionId(1),
        board: BOARD.into(),
        color: Color::from_index(0),
        participants,
        sequence,
        history_from: 0,
        sync,
        parts: 0,
    }))
}

fn full(sequence: u64, reason: FullSyncReason, pages: Pages) -> ServerMessage {
    joined_with(
        sequence,
        WireSync::Full { reason, pages },
        vec![person("me", 0)],
    )
}

fn initial(sequence: u64, pages: Pages) -> ServerMessage {
    full(sequence, FullSyncReason::Initial, pages)
}

fn delta(sequence: u64, events: Vec<WireEvent>) -> ServerMessage {
    joined_with(sequence, WireSync::Delta { events }, vec![person("me", 0)])
}

fn events(events: Vec<WireEvent>) -> ServerMessage {
    ServerMessage::Events { events }
}

fn ack(batch: &BatchId, sequence: u64) -> ServerMessage {
    ServerMessage::Ack {
        batch: batch.clone(),
        sequence,
    }
}

fn reject(code: ErrorCode, batch: &BatchId, message: &str) -> ServerMessage {
    ServerMessage::Error {
        code,
        message: message.into(),
        batch: Some(batch.clone()),
    }
}

// ---- expected outputs ---------------------------------------------------

fn none() -> Vec<ClientOutput> {
    Vec::new()
}

fn send(transport: TransportId, message: ClientMessage) -> ClientOutput {
    ClientOutput::Send { transport, message }
}

fn join_msg(last_sequence: Option<u64>) -> ClientMessage {
    ClientMessage::Join {
        board: BOARD.into(),
        last_sequence,
    }
}

fn mutate_msg(batch: &BatchId, mutations: &[Mutation]) -> ClientMessage {
    ClientMessage::Mutate {
        batch: batch.clone(),
        mutations: mutations.to_vec(),
    }
}

fn close_out(transport: TransportId) -> ClientOutput {
    ClientOutput::Close { transport }
}

fn need(attempt: u32) -> ClientOutput {
    ClientOutput::NeedCredentials { attempt }
}

fn event(e: ClientSignal) -> ClientOutput {
    ClientOutput::Signal(e)
}

fn reconnecting(attempt: u32) -> ClientOutput {
    event(ClientSignal::Reconnecting { attempt })
}

fn disconnected(reason: DisconnectReason) -> ClientOutput {
    event(ClientSignal::Disconnected { reason })
}

fn unexpected() -> ClientOutput {
    disconnected(DisconnectReason::Unexpected)
}

fn synced(sequence: u64, full: Option<FullSyncReason>) -> ClientOutput {
    event(ClientSignal::Synced { sequence, full })
}

fn acked(batch: &BatchId, sequence: u64) -> ClientOutput {
    event(ClientSignal::Acked {
        batch: batch.clone(),
        sequence,
    })
}

fn dropped(
    batch: &BatchId,
    mutations: &[Mutation],
    code: ErrorCode,
    message: &str,
) -> ClientOutput {
    event(ClientSignal::Dropped {
        batch: batch.clone(),
        mutations: mutations.to_vec(),
        code,
        message: message.into(),
    })
}

fn cursor(t: TransportId, x: f64, y: f64) -> ClientOutput {
    send(t, ClientMessage::Cursor { x, y })
}

// ---- the host -----------------------------------------------------------

/// A test host: one client, a virtual clock, and a log of every output
/// with the time it was drained.
struct Host {
    c: Client,
    now: Timestamp,
    log: Vec<(Timestamp, ClientOutput)>,
}

impl Host {
    fn new(config: ClientConfig) -> Self {
        Host::seeded(config, 7)
    }

    fn seeded(config: ClientConfig, seed: u64) -> Self {
        Host {
            c: Client::new(config, BOARD, seed),
            now: T0,
            log: Vec::new(),
        }
    }

    fn drain(&mut self) -> Vec<ClientOutput> {
        let mut out = Vec::new();
        while let Some(o) = self.c.poll_output() {
            self.log.push((self.now, o.clone()));
            out.push(o);
        }
        out
    }

    /// Moves the clock only.
    fn advance(&mut self, d: Duration) {
        self.now = self.now.saturating_add(d);
    }

    fn advance_to(&mut self, t: Timestamp) {
        assert!(t >= self.now, "the test clock goes forward only");
        self.now = t;
    }

    /// `handle_timeout(now)`, drained.
    fn tick(&mut self) -> Vec<ClientOutput> {
        self.c.handle_timeout(self.now);
        self.drain()
    }

    /// Jumps to the client's next deadline and handles it.
    fn fire(&mut self) -> Vec<ClientOutput> {
        let t = self.c.poll_timeout().expect("the client has a deadline");
        assert!(
            t >= self.now,
            "deadline {t:?} is in the past (now {:?})",
            self.now
        );
        self.now = t;
        self.tick()
    }

    /// The time from now to the next deadline.
    fn next_in(&self) -> Option<Duration> {
        self.c
            .poll_timeout()
            .map(|t| t.saturating_duration_since(self.now))
    }

    fn connect(&mut self, token: &str) -> TransportId {
        self.c.connect(self.now, creds(token)).expect("connect");
        self.expect_connect(token)
    }

    fn provide(&mut self, token: &str) -> TransportId {
        self.c
            .provide_credentials(self.now, creds(token))
            .expect("provide_credentials");
        self.expect_connect(token)
    }

    fn expect_connect(&mut self, token: &str) -> TransportId {
        let out = self.drain();
        match out.as_slice() {
            [ClientOutput::Connect {
                transport,
                credentials,
                url: None,
            }] => {
                assert_eq!(
                    credentials,
                    &creds(token),
                    "Connect carries the credentials"
                );
                assert_eq!(credentials.token, token);
                *transport
            }
            other => panic!("expected exactly one Connect, got {other:?}"),
        }
    }

    fn open(&mut self, t: TransportId) -> Vec<ClientOutput> {
        self.c.transport_open(self.now, t);
        self.drain()
    }

    fn deliver(&mut self, t: TransportId, message: ServerMessage) -> Vec<ClientOutput> {
        self.c.handle_message(self.now, t, message);
        self.drain()
    }

    fn closed(&mut self, t: TransportId, code: Option<u16>) -> Vec<ClientOutput> {
        self.c.transport_closed(self.now, t, code);
        self.drain()
    }

    fn failed(&mut self, t: TransportId, failure: ConnectFailure) -> Vec<ClientOutput> {
        self.c.transport_failed(self.now, t, failure);
        self.drain()
    }

    /// Reports `t` open (which must bring exactly a `join` with
    /// `last_sequence`), then delivers `joined`; returns what that brought.
    fn open_and_join(
        &mut self,
        t: TransportId,
        last_sequence: Option<u64>,
        joined: ServerMessage,
    ) -> Vec<ClientOutput> {
        assert_eq!(self.open(t), vec![send(t, join_msg(last_sequence))]);
        self.deliver(t, joined)
    }

    fn mutate(&mut self, mutations: Vec<Mutation>) -> BatchId {
        self.c.mutate(self.now, mutations).expect("mutate")
    }

    /// Waits out the backoff: the next deadline brings exactly
    /// `NeedCredentials { attempt }`, and then there is no deadline.
    fn await_credentials(&mut self, attempt: u32) {
        assert_eq!(self.fire(), vec![need(attempt)]);
        assert_eq!(
            self.c.poll_timeout(),
            None,
            "waiting for credentials has no deadline"
        );
    }

    /// Waits out the backoff and answers the credentials hook.
    fn retry(&mut self, attempt: u32, token: &str) -> TransportId {
        self.await_credentials(attempt);
        self.provide(token)
    }
}

/// A client with client id `cli`, joined at `T0` to an empty board at
/// sequence 0.
fn live(config: ClientConfig) -> (Host, TransportId) {
    let mut h = Host::new(config);
    h.c.set_client_id("cli");
    let t = h.connect("token");
    let out = h.open_and_join(t, None, initial(0, Pages::new()));
    assert_eq!(
        out,
        vec![
            synced(0, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ]
    );
    assert_eq!(h.c.state(), ConnectionState::Connected);
    (h, t)
}

/// Drops the live transport `t` unexpectedly and reconnects; returns the
/// new transport (not yet open).
fn drop_and_reopen(h: &mut Host, t: TransportId, token: &str) -> TransportId {
    assert_eq!(h.closed(t, None), vec![unexpected(), reconnecting(1)]);
    h.retry(1, token)
}

fn reconnected_empty_delta(sequence: u64) -> Vec<ClientOutput> {
    vec![synced(sequence, None), event(ClientSignal::Reconnected)]
}

// =========================================================================
// 1. Backoff
// =========================================================================

#[test]
fn default_backoff_is_1_2_4_8_16_seconds_then_failed() {
    let mut h = Host::new(ClientConfig::default());
    assert_eq!(h.c.state(), ConnectionState::Disconnected);
    assert_eq!(h.c.poll_timeout(), None);

    let mut t = h.connect("tok-0");
    assert_eq!(h.c.state(), ConnectionState::Connecting);
    assert_eq!(h.next_in(), Some(secs(10)), "attempt timeout");

    let mut asked_at = Vec::new();
    for attempt in 1..=5u32 {
        // The first connection, then reconnect attempt `attempt - 1`, fails.
        assert_eq!(h.failed(t, network()), vec![reconnecting(attempt)]);
        assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt });
        let failed_at = h.now;
        let wait = secs(1 << (attempt - 1));
        assert_eq!(h.c.poll_timeout(), Some(failed_at.saturating_add(wait)));

        // One millisecond early: nothing.
        h.advance_to(failed_at.saturating_add(wait - ms(1)));
        assert_eq!(h.tick(), none());
        assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt });

        h.advance_to(failed_at.saturating_add(wait));
        assert_eq!(h.tick(), vec![need(attempt)]);
        assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt });
        assert_eq!(h.c.poll_timeout(), None);
        asked_at.push(since_t0(h.now));

        t = h.provide(&format!("tok-{attempt}"));
        assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt });
        assert_eq!(h.next_in(), Some(secs(10)));
    }
    assert_eq!(
        asked_at,
        [secs(1), secs(3), secs(7), secs(15), secs(31)],
        "NeedCredentials 1, 2, 4, 8, 16 s after each failure"
    );

    // The 5th reconnect attempt fails: given up.
    assert_eq!(h.failed(t, network()), vec![event(ClientSignal::Failed)]);
    assert_eq!(h.c.state(), ConnectionState::Failed);
    assert_eq!(h.c.poll_timeout(), None);
    h.advance(secs(3600));
    assert_eq!(h.tick(), none());
    assert_eq!(h.c.state(), ConnectionState::Failed);
    assert_eq!(
        h.c.provide_credentials(h.now, creds("late")),
        Err(ClientError::NoCredentialsRequested)
    );
    assert_eq!(h.drain(), none());
}

#[test]
fn attempt_timeouts_alone_run_the_schedule_to_failed() {
    let mut h = Host::new(quiet());
    let mut t = h.connect("t");
    let mut timed_out_at = Vec::new();
    for attempt in 1..=5u32 {
        assert_eq!(h.fire(), vec![close_out(t), reconnecting(attempt)]);
        timed_out_at.push(since_t0(h.now));
        h.await_credentials(attempt);
        t = h.provide("t");
    }
    assert_eq!(h.fire(), vec![close_out(t), event(ClientSignal::Failed)]);
    // connect 0 +10 | +1 +10 | +2 +10 | +4 +10 | +8 +10 | +16 +10
    assert_eq!(
        timed_out_at,
        [secs(10), secs(21), secs(33), secs(47), secs(65)]
    );
    assert_eq!(since_t0(h.now), secs(91));
    assert_eq!(h.c.state(), ConnectionState::Failed);
    assert_eq!(h.c.poll_timeout(), None);
}

#[test]
fn manual_connect_after_failed_counts_from_one_again() {
    let mut h = Host::new(quiet());
    let mut t = h.connect("t");
    for attempt in 1..=5u32 {
        assert_eq!(h.failed(t, network()), vec![reconnecting(attempt)]);
        t = h.retry(attempt, "t");
    }
    assert_eq!(h.failed(t, network()), vec![event(ClientSignal::Failed)]);

    // Manual reconnect.
    let t = h.connect("manual");
    assert_eq!(h.c.state(), ConnectionState::Connecting);
    assert_eq!(h.next_in(), Some(secs(10)));
    assert_eq!(h.failed(t, network()), vec![reconnecting(1)]);
    assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 1 });
    assert_eq!(h.next_in(), Some(secs(1)));
    let t = h.retry(1, "manual-1");
    assert_eq!(h.failed(t, network()), vec![reconnecting(2)]);
    assert_eq!(h.next_in(), Some(secs(2)));
    let t = h.retry(2, "manual-2");
    let out = h.open_and_join(t, None, initial(0, Pages::new()));
    assert_eq!(
        out,
        vec![
            synced(0, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ]
    );
    assert_eq!(h.c.state(), ConnectionState::Connected);
}

#[test]
fn connect_while_active_is_refused() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    assert_eq!(
        h.c.connect(h.now, creds("again")),
        Err(ClientError::AlreadyActive)
    );
    assert_eq!(h.drain(), none());
    assert_eq!(h.failed(t, network()), vec![reconnecting(1)]);
    assert_eq!(
        h.c.connect(h.now, creds("again")),
        Err(ClientError::AlreadyActive)
    );
    assert_eq!(h.drain(), none());
    let t = h.retry(1, "t");
    h.open_and_join(t, None, initial(0, Pages::new()));
    assert_eq!(
        h.c.connect(h.now, creds("again")),
        Err(ClientError::AlreadyActive)
    );
    assert_eq!(h.drain(), none());
    assert_eq!(h.c.state(), ConnectionState::Connected);
}

#[test]
fn a_successful_join_resets_the_attempt_count() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    assert_eq!(h.failed(t, network()), vec![reconnecting(1)]);
    let t = h.retry(1, "t");
    assert_eq!(h.failed(t, network()), vec![reconnecting(2)]);
    let t = h.retry(2, "t");
    let out = h.open_and_join(t, None, initial(0, Pages::new()));
    // Never connected before: `Connected`, not `Reconnected`.
    assert_eq!(
        out,
        vec![
            synced(0, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ]
    );
    assert_eq!(h.closed(t, None), vec![unexpected(), reconnecting(1)]);
    assert_eq!(h.next_in(), Some(secs(1)));
}

#[test]
fn configured_schedule_with_immediate_first_attempt() {
    let backoff = Backoff {
        first_delay: Duration::ZERO,
        base_delay: ms(500),
        multiplier: 3,
        max_delay: secs(3),
        max_attempts: 6,
        jitter: 0.0,
    };
    let nominal: Vec<Duration> = (1..=7).map(|n| backoff.delay(n)).collect();
    assert_eq!(
        nominal,
        [
            ms(0),
            ms(500),
            ms(1500),
            ms(3000),
            ms(3000),
            ms(3000),
            ms(3000)
        ]
    );

    let mut h = Host::new(ClientConfig { backoff, ..quiet() });
    let t = h.connect("c0");
    // A first delay of 0: the credentials are asked for at once.
    assert_eq!(h.failed(t, network()), vec![reconnecting(1), need(1)]);
    assert_eq!(h.c.poll_timeout(), None);
    let mut t = h.provide("c1");
    let mut waits = Vec::new();
    for attempt in 2..=6u32 {
        assert_eq!(h.failed(t, network()), vec![reconnecting(attempt)]);
        let failed_at = h.now;
        h.await_credentials(attempt);
        waits.push(h.now.saturating_duration_since(failed_at));
        t = h.provide(&format!("c{attempt}"));
    }
    assert_eq!(waits, [ms(500), ms(1500), ms(3000), ms(3000), ms(3000)]);
    // max_attempts = 6: the 6th reconnect attempt was the last.
    assert_eq!(h.failed(t, network()), vec![event(ClientSignal::Failed)]);
    assert_eq!(h.c.state(), ConnectionState::Failed);
}

#[test]
fn immediate_first_attempt_after_a_live_drop() {
    let mut config = quiet();
    config.backoff.first_delay = Duration::ZERO;
    let (mut h, t) = live(config);
    assert_eq!(
        h.closed(t, None),
        vec![unexpected(), reconnecting(1), need(1)]
    );
    let t2 = h.provide("fresh");
    assert_ne!(t, t2);
}

#[test]
fn zero_max_attempts_fails_at_the_first_drop() {
    let mut config = quiet();
    config.backoff.max_attempts = 0;
    let mut h = Host::new(config);
    let t = h.connect("t");
    assert_eq!(h.failed(t, network()), vec![event(ClientSignal::Failed)]);
    assert_eq!(h.c.state(), ConnectionState::Failed);
    assert_eq!(h.c.poll_timeout(), None);
}

/// Connects and fails every attempt; returns the wait before each.
fn backoff_waits(config: ClientConfig, seed: u64) -> Vec<Duration> {
    let mut h = Host::seeded(config, seed);
    let mut t = h.connect("t");
    let mut waits = Vec::new();
    loop {
        let out = h.failed(t, network());
        if out == vec![event(ClientSignal::Failed)] {
            return waits;
        }
        let attempt = u32::try_from(waits.len()).unwrap() + 1;
        assert_eq!(out, vec![reconnecting(attempt)]);
        waits.push(h.next_in().expect("a backoff deadline"));
        t = h.retry(attempt, "t");
    }
}

fn jittered(j: f64) -> ClientConfig {
    let mut config = quiet();
    config.backoff.jitter = j;
    config
}

#[test]
fn jitter_is_seeded_and_within_bounds() {
    let nominal = [secs(1), secs(2), secs(4), secs(8), secs(16)];
    assert_eq!(backoff_waits(quiet(), 1), nominal);
    assert_eq!(backoff_waits(jittered(0.0), 99), nominal);

    let j = 0.5;
    let a = backoff_waits(jittered(j), 1);
    assert_eq!(a.len(), 5, "jitter does not change the number of attempts");
    assert_eq!(a, backoff_waits(jittered(j), 1), "same seed, same waits");
    assert_ne!(a, backoff_waits(jittered(j), 2), "other seed, other waits");
    assert_ne!(a, nominal);

    let mut firsts = HashSet::new();
    let (mut below, mut above) = (false, false);
    for seed in 0..200 {
        let waits = backoff_waits(jittered(j), seed);
        assert_eq!(waits.len(), 5);
        for (w, n) in waits.iter().zip(nominal) {
            let (w, n) = (w.as_millis() as f64, n.as_millis() as f64);
            assert!(
                w >= n * (1.0 - j) && w <= n * (1.0 + j),
                "seed {seed}: wait {w} ms outside [{}, {}]",
                n * (1.0 - j),
                n * (1.0 + j)
            );
            below |= w < n;
            above |= w > n;
        }
        firsts.insert(waits[0]);
    }
    assert!(below && above, "jitter goes both ways");
    assert!(
        firsts.len() > 100,
        "jitter spreads: {} distinct",
        firsts.len()
    );
}

// =========================================================================
// 2. auth_failed
// =========================================================================

fn assert_auth_failed_and_inert(h: &mut Host) {
    assert_eq!(h.c.state(), ConnectionState::AuthFailed);
    assert_eq!(h.c.poll_timeout(), None);
    for _ in 0..5 {
        h.advance(secs(600));
        assert_eq!(h.tick(), none(), "nothing is retried");
    }
    assert_eq!(h.c.state(), ConnectionState::AuthFailed);
    assert_eq!(
        h.c.provide_credentials(h.now, creds("x")),
        Err(ClientError::NoCredentialsRequested)
    );
    assert_eq!(h.drain(), none());
}

#[test]
fn unauthorized_upgrade_is_auth_failed_until_connect() {
    let mut h = Host::new(quiet());
    let t = h.connect("old");
    assert_eq!(
        h.failed(t, ConnectFailure::Unauthorized),
        vec![close_out(t), event(ClientSignal::AuthFailed)]
    );
    assert_auth_failed_and_inert(&mut h);

    // Work made meanwhile waits; new credentials bring it out.
    h.c.set_client_id("cli");
    let a = h.mutate(vec![up("p", "a", "1")]);
    assert_eq!(h.drain(), none());
    let t2 = h.connect("new");
    assert_ne!(t, t2);
    assert_eq!(h.c.state(), ConnectionState::Connecting);
    let out = h.open_and_join(t2, None, initial(0, Pages::new()));
    assert_eq!(
        out,
        vec![
            send(t2, mutate_msg(&a, &[up("p", "a", "1")])),
            synced(0, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ]
    );
}

#[test]
fn close_code_4001_when_joined_refreshes_credentials_and_reconnects() {
    // The server closes a joined connection with 4001 when its token
    // expires: the client asks the hook for fresh credentials at once and
    // reconnects with them, re-sending what was not acknowledged.
    let (mut h, t) = live(quiet());
    h.deliver(t, events(vec![ev(1, "bob", up("p", "b", "1"))]));
    let a = h.mutate(vec![up("p", "a", "2")]);
    assert_eq!(
        h.drain(),
        vec![send(t, mutate_msg(&a, &[up("p", "a", "2")]))]
    );
    assert_eq!(
        h.closed(t, Some(4001)),
        vec![
            close_out(t),
            event(ClientSignal::Disconnected {
                reason: DisconnectReason::CredentialsExpired
            }),
            reconnecting(1),
            need(1)
        ]
    );
    assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 1 });
    assert_eq!(h.c.poll_timeout(), None, "waiting for the hook");
    let t2 = h.provide("fresh");
    assert_ne!(t, t2);
    let out = h.open_and_join(t2, Some(1), delta(1, vec![]));
    assert_eq!(
        out,
        vec![
            send(t2, mutate_msg(&a, &[up("p", "a", "2")])),
            synced(1, None),
            event(ClientSignal::Reconnected)
        ]
    );
    assert_eq!(h.c.state(), ConnectionState::Connected);
}

#[test]
fn close_code_4001_before_joining_is_auth_failed() {
    // Fresh credentials that are refused too: no loop.
    let (mut h, t) = live(quiet());
    h.closed(t, Some(4001));
    let t2 = h.provide("also-expired");
    assert_eq!(h.open(t2), vec![send(t2, join_msg(Some(0)))]);
    assert_eq!(
        h.closed(t2, Some(4001)),
        vec![close_out(t2), event(ClientSignal::AuthFailed)]
    );
    assert_auth_failed_and_inert(&mut h);
    // New credentials: a fresh connect that continues the replica.
    let t3 = h.connect("new");
    let out = h.open_and_join(t3, Some(0), delta(0, vec![]));
    assert_eq!(out, vec![synced(0, None), event(ClientSignal::Connected)]);
}

#[test]
fn close_code_4006_is_retried_like_a_drop() {
    let (mut h, t) = live(quiet());
    assert_eq!(
        h.closed(t, Some(huddle_wire::close::JOIN_TIMEOUT)),
        vec![unexpected(), reconnecting(1)]
    );
    let t2 = h.retry(1, "again");
    assert_eq!(h.open(t2), vec![send(t2, join_msg(Some(0)))]);
    assert_eq!(
        h.closed(t2, Some(huddle_wire::close::JOIN_TIMEOUT)),
        vec![reconnecting(2)]
    );
    assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 2 });
}

#[test]
fn unauthorized_error_answering_join_is_auth_failed() {
    let mut h = Host::new(quiet());
    let t = h.connect("old");
    assert_eq!(h.open(t), vec![send(t, join_msg(None))]);
    let out = h.deliver(
        t,
        ServerMessage::error(ErrorCode::Unauthorized, "bad token", None),
    );
    assert_eq!(out, vec![close_out(t), event(ClientSignal::AuthFailed)]);
    assert_auth_failed_and_inert(&mut h);
    let t2 = h.connect("new");
    assert_eq!(h.open(t2), vec![send(t2, join_msg(None))]);
}

#[test]
fn unauthorized_on_a_reconnect_attempt_stops_the_retries() {
    let (mut h, t) = live(quiet());
    let t2 = drop_and_reopen(&mut h, t, "expired");
    assert_eq!(
        h.failed(t2, ConnectFailure::Unauthorized),
        vec![close_out(t2), event(ClientSignal::AuthFailed)]
    );
    assert_auth_failed_and_inert(&mut h);
    let t3 = h.connect("fresh");
    let out = h.open_and_join(t3, Some(0), delta(0, vec![]));
    assert_eq!(out, vec![synced(0, None), event(ClientSignal::Connected)]);
}

// =========================================================================
// 3. Deliberate and unexpected closes
// =========================================================================

fn assert_stopped(h: &mut Host) {
    assert_eq!(h.c.state(), ConnectionState::Disconnected);
    assert_eq!(h.c.poll_timeout(), None);
    h.advance(secs(3600));
    assert_eq!(h.tick(), none(), "a deliberate close is not retried");
    assert_eq!(h.c.state(), ConnectionState::Disconnected);
}

#[test]
fn deliberate_close_codes_are_not_retried() {
    for code in [1000u16, 4000, 4004, 4999] {
        let (mut h, t) = live(quiet());
        assert_eq!(
            h.closed(t, Some(code)),
            vec![
                close_out(t),
                disconnected(DisconnectReason::ServerClosed { code })
            ],
            "code {code}"
        );
        assert_stopped(&mut h);
    }
}

#[test]
fn close_4002_is_a_session_timeout() {
    let (mut h, t) = live(quiet());
    assert_eq!(
        h.closed(t, Some(4002)),
        vec![close_out(t), disconnected(DisconnectReason::SessionTimeout)]
    );
    assert_stopped(&mut h);
}

#[test]
fn session_timeout_message_stops_and_the_following_close_is_ignored() {
    let (mut h, t) = live(quiet());
    let out = h.deliver(
        t,
        ServerMessage::SessionTimeout {
            board: BOARD.into(),
        },
    );
    assert_eq!(
        out,
        vec![close_out(t), disconnected(DisconnectReason::SessionTimeout)]
    );
    assert_eq!(h.closed(t, Some(4002)), none());
    assert_stopped(&mut h);
}

#[test]
fn session_closed_message_stops_and_keeps_unacked_work() {
    let (mut h, t) = live(quiet());
    let a = h.mutate(vec![up("p", "a", "1")]);
    h.drain();
    let out = h.deliver(
        t,
        ServerMessage::SessionClosed {
            board: BOARD.into(),
            reason: CloseReason::Closed,
        },
    );
    assert_eq!(
        out,
        vec![close_out(t), disconnected(DisconnectReason::SessionClosed)]
    );
    assert_eq!(h.closed(t, Some(1000)), none());
    assert_stopped(&mut h);
    assert_eq!(h.c.unacked_batches(), 1);

    // A later connect re-sends it with the same id.
    let t2 = h.connect("t");
    let out = h.open_and_join(t2, Some(0), delta(0, vec![]));
    assert_eq!(
        out,
        vec![
            send(t2, mutate_msg(&a, &[up("p", "a", "1")])),
            synced(0, None),
            event(ClientSignal::Connected)
        ]
    );
}

#[test]
fn session_moved_or_failed_reconnects_at_once_and_resends_unacked_work() {
    for reason in [CloseReason::Moved, CloseReason::Failed] {
        let (mut h, t) = live(quiet());
        let a = h.mutate(vec![up("p", "a", "1")]);
        h.drain();
        let out = h.deliver(
            t,
            ServerMessage::SessionClosed {
                board: BOARD.into(),
                reason,
            },
        );
        assert_eq!(
            out,
            vec![
                close_out(t),
                disconnected(DisconnectReason::SessionMoved),
                reconnecting(1),
                need(1),
            ],
            "{reason:?}: no backoff before the first attempt"
        );
        assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 1 });
        assert_eq!(h.c.unacked_batches(), 1, "unacked batches stay unacked");
        // The server's close of the old transport changes nothing.
        assert_eq!(h.closed(t, Some(1001)), none());

        // The new connection re-sends the batch with the same id.
        let t2 = h.provide("t");
        let out = h.open_and_join(t2, Some(0), delta(0, vec![]));
        assert_eq!(
            out,
            vec![
                send(t2, mutate_msg(&a, &[up("p", "a", "1")])),
                synced(0, None),
                event(ClientSignal::Reconnected)
            ]
        );
    }
}

#[test]
fn local_close_sends_leave_and_is_not_retried() {
    let (mut h, t) = live(quiet());
    h.c.close(h.now);
    assert_eq!(
        h.drain(),
        vec![
            send(t, ClientMessage::Leave),
            close_out(t),
            disconnected(DisconnectReason::Local)
        ]
    );
    assert_stopped(&mut h);

    // Closing during the backoff just stops.
    let t = h.connect("t");
    assert_eq!(h.failed(t, network()), vec![reconnecting(1)]);
    h.c.close(h.now);
    assert_eq!(h.drain(), vec![disconnected(DisconnectReason::Local)]);
    assert_stopped(&mut h);
}

#[test]
fn non_retryable_join_error_is_a_refusal() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    h.open(t);
    let out = h.deliver(
        t,
        ServerMessage::error(ErrorCode::BoardNotFound, "no such board", None),
    );
    assert_eq!(
        out,
        vec![
            close_out(t),
            disconnected(DisconnectReason::JoinRefused {
                code: ErrorCode::BoardNotFound
            })
        ]
    );
    assert_stopped(&mut h);
}

#[test]
fn unexpected_close_codes_reconnect() {
    for code in [None, Some(1001), Some(1006), Some(1011)] {
        let (mut h, t) = live(quiet());
        assert_eq!(
            h.closed(t, code),
            vec![unexpected(), reconnecting(1)],
            "code {code:?}"
        );
        assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 1 });
        assert_eq!(h.next_in(), Some(secs(1)));
        let t2 = h.retry(1, "t");
        let out = h.open_and_join(t2, Some(0), delta(0, vec![]));
        assert_eq!(out, reconnected_empty_delta(0));
        assert_eq!(h.c.state(), ConnectionState::Connected);
    }
}

#[test]
fn network_failure_and_retryable_join_error_reconnect() {
    let (mut h, t) = live(quiet());
    let t2 = drop_and_reopen(&mut h, t, "t");
    assert_eq!(h.failed(t2, network()), vec![reconnecting(2)]);
    assert_eq!(h.next_in(), Some(secs(2)));
    let t3 = h.retry(2, "t");
    h.open(t3);
    let out = h.deliver(
        t3,
        ServerMessage::error(ErrorCode::Unavailable, "store down", None),
    );
    assert_eq!(out, vec![close_out(t3), reconnecting(3)]);
    assert_eq!(h.next_in(), Some(secs(4)));
}

#[test]
fn attempt_timeout_without_open() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    h.advance(secs(9));
    assert_eq!(h.tick(), none());
    assert_eq!(h.fire(), vec![close_out(t), reconnecting(1)]);
    assert_eq!(since_t0(h.now), secs(10));
    assert_eq!(h.next_in(), Some(secs(1)));
}

#[test]
fn attempt_timeout_without_joined_counts_from_connect() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    h.advance(secs(3));
    assert_eq!(h.open(t), vec![send(t, join_msg(None))]);
    assert_eq!(h.c.poll_timeout(), Some(at(secs(10))));
    assert_eq!(h.fire(), vec![close_out(t), reconnecting(1)]);
    assert_eq!(since_t0(h.now), secs(10));
    // The late `joined` is for a transport given up on.
    h.advance(ms(500));
    assert_eq!(h.deliver(t, initial(0, Pages::new())), none());
    assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 1 });
}

#[test]
fn pong_timeout_reconnects_and_a_pong_keeps_the_connection() {
    let (mut h, t) = live(ClientConfig::default());
    assert_eq!(h.c.poll_timeout(), Some(at(secs(20))));
    assert_eq!(h.fire(), vec![send(t, ClientMessage::Ping)]);
    assert_eq!(h.c.poll_timeout(), Some(at(secs(30))), "pong deadline");
    h.advance(secs(5));
    assert_eq!(h.deliver(t, ServerMessage::Pong), none());
    assert_eq!(h.c.poll_timeout(), Some(at(secs(40))), "next ping");

    assert_eq!(h.fire(), vec![send(t, ClientMessage::Ping)]);
    assert_eq!(since_t0(h.now), secs(40));
    assert_eq!(h.fire(), vec![close_out(t), unexpected(), reconnecting(1)]);
    assert_eq!(since_t0(h.now), secs(50));
    assert_eq!(h.c.poll_timeout(), Some(at(secs(51))));
}

// =========================================================================
// 4. Credentials refresh
// =========================================================================

#[test]
fn each_attempt_waits_for_credentials_and_uses_them() {
    let (mut h, t) = live(quiet());
    assert_eq!(h.closed(t, None), vec![unexpected(), reconnecting(1)]);
    h.await_credentials(1);
    for _ in 0..10 {
        h.advance(secs(60));
        assert_eq!(h.tick(), none(), "no Connect without credentials");
        assert_eq!(h.c.poll_timeout(), None);
    }
    assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 1 });
    let t2 = h.provide("refreshed-1");
    assert_eq!(h.failed(t2, network()), vec![reconnecting(2)]);
    h.await_credentials(2);
    h.advance(secs(3600));
    assert_eq!(h.tick(), none());
    let t3 = h.provide("refreshed-2");
    assert!(t3 > t2 && t2 > t, "transport ids are fresh");
    let out = h.open_and_join(t3, Some(0), delta(0, vec![]));
    assert_eq!(out, reconnected_empty_delta(0));
}

#[test]
fn provide_credentials_when_not_asked_is_refused() {
    fn refused(h: &mut Host) {
        let state = h.c.state();
        let deadline = h.c.poll_timeout();
        assert_eq!(
            h.c.provide_credentials(h.now, creds("unasked")),
            Err(ClientError::NoCredentialsRequested),
            "in {state:?}"
        );
        assert_eq!(h.drain(), none());
        assert_eq!(h.c.state(), state);
        assert_eq!(h.c.poll_timeout(), deadline);
    }
    let mut h = Host::new(quiet());
    refused(&mut h); // disconnected
    let t = h.connect("t");
    refused(&mut h); // opening
    h.open(t);
    refused(&mut h); // joining
    h.deliver(t, initial(0, Pages::new()));
    refused(&mut h); // connected
    h.closed(t, None);
    refused(&mut h); // backoff
    h.await_credentials(1);
    let t2 = h.provide("t");
    refused(&mut h); // already provided: opening
    h.failed(t2, ConnectFailure::Unauthorized);
    refused(&mut h); // auth failed
}

#[test]
fn credentials_are_not_printed() {
    let c = creds("secret-token");
    assert!(!format!("{c:?}").contains("secret"));
    let out = ClientOutput::Connect {
        transport: TransportId(1),
        credentials: c,
        url: None,
    };
    assert!(!format!("{out:?}").contains("secret"), "{out:?}");
}

// =========================================================================
// 5. Replica and sync
// =========================================================================

#[test]
fn initial_full_sync_then_events_and_duplicates() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    let board = pages(&[("p1", "a", "1"), ("p1", "b", "2")]);
    let who = vec![person("alice", 0), person("me", 1)];
    let out = h.open_and_join(
        t,
        None,
        joined_with(
            3,
            WireSync::Full {
                reason: FullSyncReason::Initial,
                pages: board.clone(),
            },
            who.clone(),
        ),
    );
    assert_eq!(
        out,
        vec![
            synced(3, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ]
    );
    assert_eq!(h.c.replica().sequence(), Some(3));
    assert_eq!(h.c.replica().pages(), &board);
    assert_eq!(h.c.replica().participants(), who.as_slice());

    let out = h.deliver(
        t,
        events(vec![
            ev(4, "alice", up("p1", "c", "3")),
            ev(5, "alice", del("p1", "a")),
        ]),
    );
    assert_eq!(out, vec![event(ClientSignal::Changed { sequence: 5 })]);
    assert_eq!(
        h.c.replica().pages(),
        &pages(&[("p1", "b", "2"), ("p1", "c", "3")])
    );

    // Duplicates are ignored, wholly or partly.
    assert_eq!(
        h.deliver(t, events(vec![ev(5, "alice", del("p1", "a"))])),
        none()
    );
    assert_eq!(
        h.deliver(
            t,
            events(vec![
                ev(4, "alice", up("p1", "c", "3")),
                ev(5, "alice", del("p1", "a")),
            ])
        ),
        none()
    );
    let out = h.deliver(
        t,
        events(vec![
            ev(5, "alice", del("p1", "a")),
            ev(6, "alice", up("p2", "d", "4")),
        ]),
    );
    assert_eq!(out, vec![event(ClientSignal::Changed { sequence: 6 })]);
    assert_eq!(h.c.replica().sequence(), Some(6));
    assert_eq!(
        h.c.replica().pages(),
        &pages(&[("p1", "b", "2"), ("p1", "c", "3"), ("p2", "d", "4")])
    );
    assert_eq!(h.c.state(), ConnectionState::Connected);
}

#[test]
fn a_gap_in_events_resyncs_by_delta() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    h.open_and_join(t, None, initial(2, pages(&[("p", "a", "1")])));

    // Event 3 is missing.
    let out = h.deliver(t, events(vec![ev(4, "bob", up("p", "d", "4"))]));
    assert_eq!(out, vec![close_out(t), unexpected(), reconnecting(1)]);
    assert_eq!(h.c.replica().sequence(), Some(2), "nothing applied");
    assert_eq!(h.c.replica().pages(), &pages(&[("p", "a", "1")]));
    assert_eq!(h.next_in(), Some(secs(1)));

    let t2 = h.retry(1, "t");
    let out = h.open_and_join(
        t2,
        Some(2),
        delta(
            4,
            vec![
                ev(3, "bob", up("p", "c", "3")),
                ev(4, "bob", up("p", "d", "4")),
            ],
        ),
    );
    assert_eq!(out, reconnected_empty_delta(4));
    assert_eq!(
        h.c.replica().pages(),
        &pages(&[("p", "a", "1"), ("p", "c", "3"), ("p", "d", "4")])
    );
}

#[test]
fn a_gap_inside_one_events_message_keeps_what_came_before_it() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    h.open_and_join(t, None, initial(2, Pages::new()));
    let out = h.deliver(
        t,
        events(vec![
            ev(3, "bob", up("p", "c", "3")),
            ev(5, "bob", up("p", "e", "5")),
        ]),
    );
    assert_eq!(out, vec![close_out(t), unexpected(), reconnecting(1)]);
    assert_eq!(h.c.replica().sequence(), Some(3));
    assert_eq!(h.c.replica().pages(), &pages(&[("p", "c", "3")]));
    let t2 = h.retry(1, "t");
    assert_eq!(h.open(t2), vec![send(t2, join_msg(Some(3)))]);
}

#[test]
fn reconnect_delta_continues_and_full_sync_replaces() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    h.open_and_join(
        t,
        None,
        initial(2, pages(&[("p", "a", "1"), ("p", "b", "2")])),
    );
    h.deliver(t, events(vec![ev(3, "bob", up("p", "c", "3"))]));

    // Delta.
    let t2 = drop_and_reopen(&mut h, t, "t");
    let out = h.open_and_join(
        t2,
        Some(3),
        delta(
            5,
            vec![ev(4, "bob", up("q", "d", "4")), ev(5, "bob", del("p", "a"))],
        ),
    );
    assert_eq!(out, reconnected_empty_delta(5));
    assert_eq!(h.c.replica().sequence(), Some(5));
    assert_eq!(
        h.c.replica().pages(),
        &pages(&[("p", "b", "2"), ("p", "c", "3"), ("q", "d", "4")])
    );

    // Full sync (too old): the state is replaced, not merged.
    let t3 = drop_and_reopen(&mut h, t2, "t");
    let who = vec![person("me", 0), person("carol", 2)];
    let out = h.open_and_join(
        t3,
        Some(5),
        joined_with(
            1500,
            WireSync::Full {
                reason: FullSyncReason::TooOld,
                pages: pages(&[("z", "z", "26")]),
            },
            who.clone(),
        ),
    );
    assert_eq!(
        out,
        vec![
            synced(1500, Some(FullSyncReason::TooOld)),
            event(ClientSignal::Reconnected)
        ]
    );
    assert_eq!(h.c.replica().sequence(), Some(1500));
    assert_eq!(h.c.replica().pages(), &pages(&[("z", "z", "26")]));
    assert_eq!(h.c.replica().participants(), who.as_slice());

    // Full sync (ahead: the server is behind the client): taken as is.
    let t4 = drop_and_reopen(&mut h, t3, "t");
    let out = h.open_and_join(
        t4,
        Some(1500),
        full(7, FullSyncReason::Ahead, pages(&[("y", "y", "25")])),
    );
    assert_eq!(
        out,
        vec![
            synced(7, Some(FullSyncReason::Ahead)),
            event(ClientSignal::Reconnected)
        ]
    );
    assert_eq!(h.c.replica().sequence(), Some(7));
    assert_eq!(h.c.replica().pages(), &pages(&[("y", "y", "25")]));
}

#[test]
fn an_inconsistent_delta_forgets_the_replica_and_asks_for_a_full_sync() {
    let mut h = Host::new(quiet());
    let t = h.connect("t");
    h.open_and_join(t, None, initial(2, pages(&[("p", "a", "1")])));
    let t2 = drop_and_reopen(&mut h, t, "t");
    // Claims sequence 5 but brings only 3 and 4.
    let out = h.open_and_join(
        t2,
        Some(2),
        delta(
            5,
            vec![
                ev(3, "bob", up("p", "c", "3")),
                ev(4, "bob", up("p", "d", "4")),
            ],
        ),
    );
    assert_eq!(out, vec![close_out(t2), reconnecting(2)]);
    assert_eq!(h.c.replica().sequence(), None);
    assert_eq!(h.next_in(), Some(secs(2)));
    let t3 = h.retry(2, "t");
    let board = pages(&[
        ("p", "a", "1"),
        ("p", "c", "3"),
        ("p", "d", "4"),
        ("p", "e", "5"),
    ]);
    let out = h.open_and_join(t3, None, initial(5, board.clone()));
    assert_eq!(
        out,
        vec![
            synced(5, Some(FullSyncReason::Initial)),
            event(ClientSignal::Reconnected)
        ]
    );
    assert_eq!(h.c.replica().pages(), &board);
}

#[test]
fn own_batches_are_placed_at_their_ack_sequence() {
    let mut h = Host::new(quiet());
    h.c.set_client_id("cli");
    let t = h.connect("t");
    h.open_and_join(t, None, initial(5, Pages::new()));

    let ma = vec![up("p", "x", "1"), up("p", "y", "2")];
    let a = h.mutate(ma.clone());
    assert_eq!(h.drain(), vec![send(t, mutate_msg(&a, &ma))]);
    assert_eq!(h.c.replica().sequence(), Some(5), "not before the ack");
    assert!(h.c.replica().pages().is_empty());
    assert_eq!(h.deliver(t, ack(&a, 7)), vec![acked(&a, 7)]);
    assert_eq!(h.c.replica().sequence(), Some(7));
    assert_eq!(
        h.c.replica().pages(),
        &pages(&[("p", "x", "1"), ("p", "y", "2")])
    );

    // Someone else's event comes first, then our ack.
    let b = h.mutate(vec![up("p", "z", "3")]);
    h.drain();
    assert_eq!(
        h.deliver(t, events(vec![ev(8, "bob", up("p", "w", "0"))])),
        vec![event(ClientSignal::Changed { sequence: 8 })]
    );
    assert_eq!(h.deliver(t, ack(&b, 9)), vec![acked(&b, 9)]);
    assert_eq!(h.c.replica().sequence(), Some(9));
    assert_eq!(
        h.c.replica().pages(),
        &pages(&[
            ("p", "x", "1"),
            ("p", "y", "2"),
            ("p", "w", "0"),
            ("p", "z", "3")
        ])
    );

    // Duplicated acks change nothing.
    assert_eq!(h.deliver(t, ack(&b, 9)), none());
    assert_eq!(h.deliver(t, ack(&a, 7)), none());
    assert_eq!(h.c.unacked_batches(), 0);

    // An ack beyond a missed event: acknowledged, then re-synced.
    let c = h.mutate(vec![del("p", "x")]);
    h.drain();
    assert_eq!(
        h.deliver(t, ack(&c, 11)),
        vec![acked(&c, 11), close_out(t), unexpected(), reconnecting(1)]
    );
    assert_eq!(h.c.replica().sequence(), Some(9));
    assert_eq!(h.c.unacked_batches(), 0);
}

#[test]
fn participants_presence_and_server_errors_while_live() {
    let (mut h, t) = live(quiet());
    let alice = person("alice", 1);
    assert_eq!(
        h.deliver(t, ServerMessage::ParticipantJoined(alice.clone())),
        vec![event(ClientSignal::ParticipantJoined(alice.clone()))]
    );
    assert_eq!(
        h.deliver(t, ServerMessage::ParticipantJoined(alice.clone())),
        none()
    );
    assert_eq!(
        h.c.replica().participants(),
        &[person("me", 0), alice.clone()]
    );
    assert_eq!(
        h.deliver(t, ServerMessage::ParticipantLeft(alice.clone())),
        vec![event(ClientSignal::ParticipantLeft(alice.clone()))]
    );
    assert_eq!(h.deliver(t, ServerMessage::ParticipantLeft(alice)), none());
    assert_eq!(
        h.deliver(
            t,
            ServerMessage::Cursor {
                user: "bob".into(),
                x: 1.5,
                y: -2.0
            }
        ),
        vec![event(ClientSignal::Cursor {
            user: "bob".into(),
            x: 1.5,
            y: -2.0
        })]
    );
    assert_eq!(
        h.deliver(
            t,
            ServerMessage::error(ErrorCode::InvalidMessage, "bad frame", None)
        ),
        vec![event(ClientSignal::ServerError {
            code: ErrorCode::InvalidMessage,
            message: "bad frame".into()
        })]
    );
    // A duplicated `joined` changes nothing.
    assert_eq!(h.deliver(t, initial(99, pages(&[("x", "x", "1")]))), none());
    assert_eq!(h.c.replica().sequence(), Some(0));
    assert!(h.c.replica().pages().is_empty());
    assert_eq!(h.c.state(), ConnectionState::Connected);
}

// =========================================================================
// 6. Sending
// =========================================================================

#[test]
fn batch_ids_are_client_id_dash_n_and_unique() {
    let mut h = Host::seeded(quiet(), 42);
    let id = h.c.client_id().to_owned();
    assert_eq!(id.len(), 16);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert_ne!(Client::new(quiet(), BOARD, 43).client_id(), id);
    assert_eq!(Client::new(quiet(), BOARD, 42).client_id(), id);

    let mut seen = HashSet::new();
    for n in 1..=50u64 {
        let b = h.mutate(vec![up("p", "e", "1")]);
        assert_eq!(b.as_str(), format!("{id}-{n}"));
        assert!(seen.insert(b));
    }
    h.c.set_client_id("device-7");
    assert_eq!(h.c.client_id(), "device-7");
    assert_eq!(h.mutate(vec![up("p", "e", "1")]).as_str(), "device-7-51");
}

#[test]
fn unacked_batches_are_resent_in_order_with_the_same_ids_before_reconnected() {
    let (mut h, t) = live(quiet());
    let (ma, mb, mc, md) = (
        vec![up("p", "a", "1")],
        vec![up("p", "b", "2")],
        vec![up("p", "c", "3")],
        vec![up("p", "d", "4")],
    );
    let a = h.mutate(ma.clone());
    let b = h.mutate(mb.clone());
    let c = h.mutate(mc.clone());
    assert_eq!(
        (a.as_str(), b.as_str(), c.as_str()),
        ("cli-1", "cli-2", "cli-3")
    );
    assert_eq!(
        h.drain(),
        vec![
            send(t, mutate_msg(&a, &ma)),
            send(t, mutate_msg(&b, &mb)),
            send(t, mutate_msg(&c, &mc))
        ]
    );
    assert_eq!(h.deliver(t, ack(&a, 1)), vec![acked(&a, 1)]);
    assert_eq!(h.closed(t, Some(1006)), vec![unexpected(), reconnecting(1)]);

    // Made while reconnecting: queued, nothing sent.
    let d = h.mutate(md.clone());
    assert_eq!(d.as_str(), "cli-4");
    assert_eq!(h.drain(), none());
    assert_eq!(h.c.unacked_batches(), 3);

    let t2 = h.retry(1, "t");
    // B was applied but its ack was lost: the delta brings it.
    let out = h.open_and_join(t2, Some(1), delta(2, vec![ev(2, "me", mb[0].clone())]));
    assert_eq!(
        out,
        vec![
            send(t2, mutate_msg(&b, &mb)),
            send(t2, mutate_msg(&c, &mc)),
            send(t2, mutate_msg(&d, &md)),
            synced(2, None),
            event(ClientSignal::Reconnected)
        ]
    );
    // The server answers B's re-send with its original sequence.
    assert_eq!(h.deliver(t2, ack(&b, 2)), vec![acked(&b, 2)]);
    assert_eq!(h.deliver(t2, ack(&c, 3)), vec![acked(&c, 3)]);
    assert_eq!(h.deliver(t2, ack(&d, 4)), vec![acked(&d, 4)]);
    assert_eq!(h.c.unacked_batches(), 0);
    assert_eq!(h.c.replica().sequence(), Some(4));
    assert_eq!(
        h.c.replica().pages(),
        &pages(&[
            ("p", "a", "1"),
            ("p", "b", "2"),
            ("p", "c", "3"),
            ("p", "d", "4")
        ])
    );
}

#[test]
fn offline_work_is_queued_in_order_and_sent_after_the_sync() {
    let mut h = Host::new(quiet());
    h.c.set_client_id("off");
    let m: Vec<Vec<Mutation>> = (0..4)
        .map(|i| vec![up("p", &format!("e{i}"), &i.to_string())])
        .collect();
    let a = h.mutate(m[0].clone());
    let b = h.mutate(m[1].clone());
    assert_eq!(h.drain(), none());
    assert_eq!(h.c.state(), ConnectionState::Disconnected);
    let t = h.connect("t");
    let c = h.mutate(m[2].clone()); // while opening
    assert_eq!(h.open(t), vec![send(t, join_msg(None))]);
    let d = h.mutate(m[3].clone()); // while joining
    assert_eq!(h.drain(), none());
    assert_eq!(h.c.unacked_batches(), 4);
    assert_eq!(h.c.unacked_mutations(), 4);
    let out = h.deliver(t, initial(0, Pages::new()));
    assert_eq!(
        out,
        vec![
            send(t, mutate_msg(&a, &m[0])),
            send(t, mutate_msg(&b, &m[1])),
            send(t, mutate_msg(&c, &m[2])),
            send(t, mutate_msg(&d, &m[3])),
            synced(0, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ]
    );
}

#[test]
fn queue_full_changes_nothing() {
    let mut config = quiet();
    config.max_unacked_mutations = 3;
    let mut h = Host::new(config);
    h.c.set_client_id("q");
    let a = h.mutate(vec![up("p", "a", "1"), up("p", "b", "2")]);
    assert_eq!(
        h.c.mutate(h.now, vec![up("p", "c", "3"), up("p", "d", "4")]),
        Err(ClientError::QueueFull { held: 2, limit: 3 })
    );
    assert_eq!(h.c.unacked_mutations(), 2);
    assert_eq!(h.c.unacked_batches(), 1);
    let b = h.mutate(vec![up("p", "c", "3")]);
    assert_eq!(b.as_str(), "q-2", "the refused batch used no number");
    assert_eq!(
        h.c.mutate(h.now, vec![up("p", "d", "4")]),
        Err(ClientError::QueueFull { held: 3, limit: 3 })
    );
    assert_eq!(h.drain(), none());
    let rec = h.c.export_recovery(h.now);
    assert_eq!(
        rec.batches
            .iter()
            .map(|b| b.batch.clone())
            .collect::<Vec<_>>(),
        vec![a.clone(), b.clone()]
    );

    // An ack makes room.
    let t = h.connect("t");
    let out = h.open_and_join(t, None, initial(0, Pages::new()));
    assert_eq!(out.len(), 4);
    assert_eq!(h.deliver(t, ack(&a, 2)), vec![acked(&a, 2)]);
    let c = h.mutate(vec![up("p", "d", "4"), up("p", "e", "5")]);
    assert_eq!(c.as_str(), "q-3");
    assert_eq!(h.c.unacked_mutations(), 3);
}

#[test]
fn invalid_batches_are_refused_and_change_nothing() {
    let mut config = quiet();
    config.max_batch_len = 2;
    let (mut h, t) = live(config);
    assert_eq!(h.c.mutate(h.now, vec![]), Err(ClientError::EmptyBatch));
    assert_eq!(
        h.c.mutate(
            h.now,
            vec![up("p", "a", "1"), up("p", "b", "2"), up("p", "c", "3")]
        ),
        Err(ClientError::BatchTooLong { len: 3, max: 2 })
    );
    assert_eq!(
        h.c.mutate(h.now, vec![up("p", "a", "1"), up("p", "b", "{oops")]),
        Err(ClientError::DataNotJson { index: 1 })
    );
    assert_eq!(
        h.c.mutate(h.now, vec![up("p", "a", ""), del("p", "b")]),
        Err(ClientError::DataNotJson { index: 0 })
    );
    assert_eq!(h.drain(), none());
    assert_eq!(h.c.unacked_batches(), 0);
    assert_eq!(h.c.unacked_mutations(), 0);
    let ok = vec![up("p", "a", r#"{"k":[1,2]}"#), del("p", "b")];
    let a = h.mutate(ok.clone());
    assert_eq!(a.as_str(), "cli-1", "no number was used up");
    assert_eq!(h.drain(), vec![send(t, mutate_msg(&a, &ok))]);
}

// =========================================================================
// 7. Retries of rejected batches
// =========================================================================

#[test]
fn retryable_rejection_is_retried_three_times_then_dropped() {
    let (mut h, t) = live(quiet());
    let m = vec![up("p", "a", "1")];
    let a = h.mutate(m.clone());
    assert_eq!(h.drain(), vec![send(t, mutate_msg(&a, &m))]);
    let mut sent_at = vec![since_t0(h.now)];
    for code in [
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::RateLimited,
    ] {
        assert_eq!(h.deliver(t, reject(code, &a, "busy")), none());
        assert_eq!(h.c.unacked_batches(), 1);
        assert_eq!(h.next_in(), Some(secs(1)), "batch_retry_delay");
        h.advance(ms(999));
        assert_eq!(h.tick(), none());
        assert_eq!(h.fire(), vec![send(t, mutate_msg(&a, &m))]);
        sent_at.push(since_t0(h.now));
        assert_eq!(h.c.poll_timeout(), None);
    }
    assert_eq!(sent_at, [secs(0), secs(1), secs(2), secs(3)]);
    assert_eq!(
        h.deliver(t, reject(ErrorCode::Unavailable, &a, "still busy")),
        vec![dropped(&a, &m, ErrorCode::Unavailable, "still busy")]
    );
    assert_eq!(h.c.unacked_batches(), 0);
    assert_eq!(h.c.unacked_mutations(), 0);
    assert_eq!(h.c.poll_timeout(), None);
    assert_eq!(h.c.replica().sequence(), Some(0));
    assert_eq!(h.c.state(), ConnectionState::Connected);
}

#[test]
fn retry_count_and_delay_are_configurable() {
    let mut config = quiet();
    config.max_batch_retries = 1;
    config.batch_retry_delay = ms(250);
    let (mut h, t) = live(config);
    let m = vec![del("p", "a")];
    let a = h.mutate(m.clone());
    h.drain();
    assert_eq!(
        h.deliver(t, reject(ErrorCode::RateLimited, &a, "slow")),
        none()
    );
    assert_eq!(h.next_in(), Some(ms(250)));
    assert_eq!(h.fire(), vec![send(t, mutate_msg(&a, &m))]);
    assert_eq!(
        h.deliver(t, reject(ErrorCode::RateLimited, &a, "slow")),
        vec![dropped(&a, &m, ErrorCode::RateLimited, "slow")]
    );
}

#[test]
fn non_retryable_rejection_drops_at_once() {
    for code in [ErrorCode::InvalidMessage, ErrorCode::PayloadTooLarge] {
        let (mut h, t) = live(quiet());
        let ma = vec![up("p", "a", "1")];
        let a = h.mutate(ma.clone());
        let b = h.mutate(vec![up("p", "b", "2")]);
        h.drain();
        assert_eq!(
            h.deliver(t, reject(code, &a, "no")),
            vec![dropped(&a, &ma, code, "no")],
            "{code:?}"
        );
        assert_eq!(h.c.unacked_batches(), 1);
        assert_eq!(h.c.poll_timeout(), None);
        assert_eq!(h.deliver(t, ack(&b, 1)), vec![acked(&b, 1)]);
    }

    // Also after retries: the last code decides.
    let (mut h, t) = live(quiet());
    let m = vec![up("p", "a", "1")];
    let a = h.mutate(m.clone());
    h.drain();
    h.deliver(t, reject(ErrorCode::RateLimited, &a, "busy"));
    assert_eq!(h.fire(), vec![send(t, mutate_msg(&a, &m))]);
    assert_eq!(
        h.deliver(t, reject(ErrorCode::PayloadTooLarge, &a, "too big")),
        vec![dropped(&a, &m, ErrorCode::PayloadTooLarge, "too big")]
    );
}

#[test]
fn a_duplicated_error_frame_does_not_use_up_a_retry() {
    let (mut h, t) = live(quiet());
    let m = vec![up("p", "a", "1")];
    let a = h.mutate(m.clone());
    h.drain();
    let mut sends = 1;
    for _ in 0..3 {
        assert_eq!(
            h.deliver(t, reject(ErrorCode::RateLimited, &a, "busy")),
            none()
        );
        assert_eq!(
            h.deliver(t, reject(ErrorCode::RateLimited, &a, "busy")),
            none(),
            "the duplicate is ignored"
        );
        assert_eq!(h.fire(), vec![send(t, mutate_msg(&a, &m))]);
        sends += 1;
    }
    assert_eq!(sends, 4);
    assert_eq!(
        h.deliver(t, reject(ErrorCode::RateLimited, &a, "busy")),
        vec![dropped(&a, &m, ErrorCode::RateLimited, "busy")]
    );
    // A duplicate after the drop is about a batch the client no longer holds.
    assert_eq!(
        h.deliver(t, reject(ErrorCode::RateLimited, &a, "busy")),
        vec![event(ClientSignal::ServerError {
            code: ErrorCode::RateLimited,
            message: "busy".into()
        })]
    );
}

/// The duplicate check (`status != Sent`) only works while the retry is
/// still waiting. A copy of an old error frame that arrives after the
/// retry went out cannot be told from the retry's answer (no correct server
/// or WebSocket duplicates frames). Found by this suite: the client then
/// re-synced on the retry's ack. It now remembers recently dropped batches
/// and places such an ack like any other.
#[test]
fn a_late_duplicated_error_frame_cannot_corrupt_the_replica() {
    let mut config = quiet();
    config.max_batch_retries = 1;
    let (mut h, t) = live(config);
    let m = vec![up("p", "a", "1")];
    let a = h.mutate(m.clone());
    h.drain();
    assert_eq!(
        h.deliver(t, reject(ErrorCode::RateLimited, &a, "busy")),
        none()
    );
    assert_eq!(h.fire(), vec![send(t, mutate_msg(&a, &m))]); // the one retry
                                                             // The first error frame again, delayed past the retry.
                                                             // A copy cannot be told from the retry's answer (only a misbehaving
                                                             // server or transport duplicates frames): the batch is reported dropped.
    assert_eq!(
        h.deliver(t, reject(ErrorCode::RateLimited, &a, "busy")),
        vec![dropped(&a, &m, ErrorCode::RateLimited, "busy")]
    );
    // The retry's real answer: the batch was applied after all. It is
    // placed in the replica and acknowledged; no re-sync.
    assert_eq!(h.deliver(t, ack(&a, 1)), vec![acked(&a, 1)]);
    assert_eq!(h.c.state(), ConnectionState::Connected);
    assert_eq!(h.c.replica().sequence(), Some(1));
}

#[test]
fn session_expired_keeps_the_batch_for_the_next_join() {
    let (mut h, t) = live(quiet());
    let m = vec![up("p", "a", "1")];
    let a = h.mutate(m.clone());
    h.drain();
    assert_eq!(
        h.deliver(t, reject(ErrorCode::SessionExpired, &a, "who?")),
        none()
    );
    assert_eq!(h.c.poll_timeout(), None);
    h.advance(secs(60));
    assert_eq!(h.tick(), none());
    assert_eq!(h.c.unacked_batches(), 1);
    let t2 = drop_and_reopen(&mut h, t, "t");
    let out = h.open_and_join(t2, Some(0), delta(0, vec![]));
    assert_eq!(
        out,
        vec![
            send(t2, mutate_msg(&a, &m)),
            synced(0, None),
            event(ClientSignal::Reconnected)
        ]
    );
    assert_eq!(h.deliver(t2, ack(&a, 1)), vec![acked(&a, 1)]);
}

/// `NOT_JOINED` while connected means the server no longer knows this
/// connection: the client keeps the batch (no retry used) and re-joins at
/// once, rather than waiting for a drop that may never come.
#[test]
fn not_joined_keeps_the_batch_and_rejoins() {
    let (mut h, t) = live(quiet());
    let m = vec![up("p", "a", "1")];
    let a = h.mutate(m.clone());
    h.drain();
    assert_eq!(
        h.deliver(t, reject(ErrorCode::NotJoined, &a, "who?")),
        vec![close_out(t), unexpected(), reconnecting(1)]
    );
    assert_eq!(h.c.unacked_batches(), 1);
    let t2 = h.retry(1, "t");
    let out = h.open_and_join(t2, Some(0), delta(0, vec![]));
    assert_eq!(
        out,
        vec![
            send(t2, mutate_msg(&a, &m)),
            synced(0, None),
            event(ClientSignal::Reconnected)
        ]
    );
    assert_eq!(h.deliver(t2, ack(&a, 1)), vec![acked(&a, 1)]);
}

#[test]
fn a_pending_retry_goes_out_at_the_join_and_keeps_its_count() {
    let (mut h, t) = live(quiet());
    let m = vec![up("p", "a", "1")];
    let a = h.mutate(m.clone());
    h.drain();
    h.deliver(t, reject(ErrorCode::RateLimited, &a, "busy")); // retry 1
    let t2 = drop_and_reopen(&mut h, t, "t");
    let out = h.open_and_join(t2, Some(0), delta(0, vec![]));
    assert_eq!(
        out,
        vec![
            send(t2, mutate_msg(&a, &m)),
            synced(0, None),
            event(ClientSignal::Reconnected)
        ]
    );
    h.deliver(t2, reject(ErrorCode::RateLimited, &a, "busy")); // retry 2
    assert_eq!(h.fire(), vec![send(t2, mutate_msg(&a, &m))]);
    h.deliver(t2, reject(ErrorCode::RateLimited, &a, "busy")); // retry 3
    assert_eq!(h.fire(), vec![send(t2, mutate_msg(&a, &m))]);
    assert_eq!(
        h.deliver(t2, reject(ErrorCode::RateLimited, &a, "busy")),
        vec![dropped(&a, &m, ErrorCode::RateLimited, "busy")]
    );
}

// =========================================================================
// 8. Recovery
// =========================================================================

#[test]
fn recovery_round_trip_keeps_ids_and_numbering() {
    let (mut h, t) = live(quiet());
    let ma = vec![up("p", "a", r#"{"x":1}"#)];
    let mb = vec![up("p", "b", r#"{"y": [1, 2]}"#), del("p", "a")];
    let mc = vec![up("q", "c", r#""s""#)];
    let md = vec![del("q", "c")];
    let a = h.mutate(ma.clone());
    let b = h.mutate(mb.clone());
    let c = h.mutate(mc.clone());
    h.drain();
    assert_eq!(h.deliver(t, ack(&a, 1)), vec![acked(&a, 1)]);
    assert_eq!(
        h.deliver(t, reject(ErrorCode::RateLimited, &c, "busy")),
        none()
    );
    assert_eq!(h.closed(t, None), vec![unexpected(), reconnecting(1)]);
    let d = h.mutate(md.clone());
    h.advance(secs(2));

    let rec = h.c.export_recovery(h.now);
    assert_eq!(
        rec,
        Recovery {
            exported_at: at(secs(2)),
            board: BoardId::from(BOARD),
            client_id: "cli".into(),
            next_batch: 5,
            batches: vec![
                RecoveredBatch {
                    batch: b.clone(),
                    mutations: mb.clone(),
                    retries: 0
                },
                RecoveredBatch {
                    batch: c.clone(),
                    mutations: mc.clone(),
                    retries: 1
                },
                RecoveredBatch {
                    batch: d.clone(),
                    mutations: md.clone(),
                    retries: 0
                },
            ],
        }
    );
    assert_eq!(rec.mutation_count(), 4);
    let json = rec.to_json().unwrap();
    assert!(
        json.contains(r#""data":{"y": [1, 2]}"#),
        "data is embedded as JSON: {json}"
    );
    let back = Recovery::from_json(json.as_bytes()).unwrap();
    assert_eq!(back, rec);

    // A restarted process, 4 minutes later.
    let mut r = Host::seeded(quiet(), 1234);
    r.advance_to(at(secs(2) + secs(240)));
    assert_ne!(r.c.client_id(), "cli");
    assert_eq!(r.c.import_recovery(r.now, back), Ok(3));
    assert_eq!(r.c.client_id(), "cli");
    assert_eq!(r.c.unacked_batches(), 3);
    assert_eq!(r.c.unacked_mutations(), 4);
    assert_eq!(r.drain(), none());
    let me = vec![up("q", "e", "5")];
    let e = r.mutate(me.clone());
    assert_eq!(e.as_str(), "cli-5", "numbering continues");

    let t = r.connect("t");
    let out = r.open_and_join(
        t,
        None,
        initial(2, pages(&[("p", "b", r#"{"y": [1, 2]}"#)])),
    );
    assert_eq!(
        out,
        vec![
            send(t, mutate_msg(&b, &mb)),
            send(t, mutate_msg(&c, &mc)),
            send(t, mutate_msg(&d, &md)),
            send(t, mutate_msg(&e, &me)),
            synced(2, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ]
    );
    // B was applied before the crash: its ack is already covered.
    assert_eq!(r.deliver(t, ack(&b, 2)), vec![acked(&b, 2)]);
    assert_eq!(r.c.replica().sequence(), Some(2));
    // C kept its one retry: two more, then dropped.
    r.deliver(t, reject(ErrorCode::RateLimited, &c, "busy"));
    assert_eq!(r.fire(), vec![send(t, mutate_msg(&c, &mc))]);
    r.deliver(t, reject(ErrorCode::RateLimited, &c, "busy"));
    assert_eq!(r.fire(), vec![send(t, mutate_msg(&c, &mc))]);
    assert_eq!(
        r.deliver(t, reject(ErrorCode::RateLimited, &c, "busy")),
        vec![dropped(&c, &mc, ErrorCode::RateLimited, "busy")]
    );
}

#[test]
fn import_while_live_sends_at_once() {
    let mut src = Host::new(quiet());
    src.c.set_client_id("old");
    let m = vec![up("p", "a", "1")];
    let a = src.mutate(m.clone());
    let rec = src.c.export_recovery(T0);
    let (mut h, t) = live(quiet());
    assert_eq!(h.c.import_recovery(h.now, rec), Ok(1));
    assert_eq!(h.drain(), vec![send(t, mutate_msg(&a, &m))]);
    assert_eq!(h.mutate(vec![del("p", "a")]).as_str(), "old-2");
}

fn sample_recovery(exported_at: Timestamp) -> Recovery {
    Recovery {
        exported_at,
        board: BOARD.into(),
        client_id: "src".into(),
        next_batch: 3,
        batches: vec![RecoveredBatch {
            batch: "src-2".into(),
            mutations: vec![up("p", "a", "1")],
            retries: 0,
        }],
    }
}

fn assert_untouched(c: &mut Client, client_id: &str) {
    assert_eq!(c.unacked_batches(), 0);
    assert_eq!(c.client_id(), client_id);
    assert_eq!(c.poll_output(), None);
}

#[test]
fn stale_recovery_is_refused() {
    let mut c = Client::new(quiet(), BOARD, 1);
    let own = c.client_id().to_owned();
    let now = T0.saturating_add(secs(300) + ms(1));
    assert_eq!(
        c.import_recovery(now, sample_recovery(T0)),
        Err(RecoveryError::Stale {
            age: secs(300) + ms(1),
            max_age: secs(300)
        })
    );
    assert_untouched(&mut c, &own);

    // Exactly 5 minutes old is still fine.
    let mut c = Client::new(quiet(), BOARD, 1);
    assert_eq!(
        c.import_recovery(T0.saturating_add(secs(300)), sample_recovery(T0)),
        Ok(1)
    );
    assert_eq!(c.client_id(), "src");
    assert_eq!(
        c.mutate(T0.saturating_add(secs(300)), vec![del("p", "a")])
            .unwrap()
            .as_str(),
        "src-3"
    );

    // Configurable.
    let mut config = quiet();
    config.recovery_max_age = secs(30);
    let mut c = Client::new(config.clone(), BOARD, 1);
    assert_eq!(
        c.import_recovery(T0.saturating_add(secs(30) + ms(1)), sample_recovery(T0)),
        Err(RecoveryError::Stale {
            age: secs(30) + ms(1),
            max_age: secs(30)
        })
    );
    let mut c = Client::new(config, BOARD, 1);
    assert_eq!(
        c.import_recovery(T0.saturating_add(secs(30)), sample_recovery(T0)),
        Ok(1)
    );
}

#[test]
fn recovery_from_the_future_is_accepted() {
    let mut c = Client::new(quiet(), BOARD, 1);
    let rec = sample_recovery(T0.saturating_add(secs(3600)));
    assert_eq!(c.import_recovery(T0, rec), Ok(1));
    assert_eq!(c.client_id(), "src");
    assert_eq!(c.unacked_batches(), 1);
}

#[test]
fn recovery_for_another_board_is_refused() {
    let mut c = Client::new(quiet(), BOARD, 1);
    let own = c.client_id().to_owned();
    let mut rec = sample_recovery(T0);
    rec.board = "other".into();
    assert_eq!(
        c.import_recovery(T0, rec),
        Err(RecoveryError::WrongBoard {
            expected: BOARD.into(),
            found: "other".into()
        })
    );
    assert_untouched(&mut c, &own);
}

#[test]
fn recovery_into_a_client_holding_work_is_refused() {
    let mut c = Client::new(quiet(), BOARD, 1);
    c.set_client_id("mine");
    c.mutate(T0, vec![up("p", "x", "1")]).unwrap();
    assert_eq!(
        c.import_recovery(T0, sample_recovery(T0)),
        Err(RecoveryError::NotEmpty)
    );
    assert_eq!(c.unacked_batches(), 1);
    assert_eq!(c.client_id(), "mine");
    assert_eq!(
        c.mutate(T0, vec![up("p", "y", "1")]).unwrap().as_str(),
        "mine-2"
    );

    // Once everything is acknowledged the client is empty again.
    let (mut h, t) = live(quiet());
    let a = h.mutate(vec![up("p", "a", "1")]);
    h.deliver(t, ack(&a, 1));
    assert_eq!(h.c.import_recovery(h.now, sample_recovery(h.now)), Ok(1));
}

#[test]
fn too_large_and_malformed_recovery_is_refused() {
    let mut config = quiet();
    config.max_unacked_mutations = 2;
    let mut c = Client::new(config, BOARD, 1);
    let own = c.client_id().to_owned();
    let mut rec = sample_recovery(T0);
    rec.batches[0].mutations = vec![up("p", "a", "1"), up("p", "b", "1"), up("p", "c", "1")];
    assert_eq!(
        c.import_recovery(T0, rec),
        Err(RecoveryError::TooLarge { held: 3, limit: 2 })
    );
    assert_untouched(&mut c, &own);

    let mut rec = sample_recovery(T0);
    rec.batches[0].mutations.clear();
    assert!(matches!(
        c.import_recovery(T0, rec),
        Err(RecoveryError::Malformed(_))
    ));
    let mut rec = sample_recovery(T0);
    rec.batches[0].mutations = vec![up("p", "a", "not json")];
    assert!(matches!(
        c.import_recovery(T0, rec),
        Err(RecoveryError::Malformed(_))
    ));
    assert_untouched(&mut c, &own);

    let good = sample_recovery(T0).to_json().unwrap();
    assert_eq!(
        Recovery::from_json(good.as_bytes()),
        Ok(sample_recovery(T0))
    );
    for bad in [
        "{".to_owned(),
        "[]".to_owned(),
        String::new(),
        good.replace(r#""format":1"#, r#""format":2"#),
        good.replace(r#""op":"upsert""#, r#""op":"move""#),
        good.replace(r#","data":1"#, ""),
        good.replace("2023-11-14T", "yesterday "),
        good.replace(r#""retries":0"#, r#""retries":0,"extra":true"#),
        good.replace(r#""next_batch":3,"#, ""),
    ] {
        assert_ne!(bad, good, "the edit applies");
        assert!(
            matches!(
                Recovery::from_json(bad.as_bytes()),
                Err(RecoveryError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

// =========================================================================
// 9. Presence
// =========================================================================

#[test]
fn cursor_is_throttled_with_a_trailing_update() {
    let (mut h, t) = live(quiet());
    h.c.cursor(h.now, 1.0, 1.0).unwrap();
    assert_eq!(h.drain(), vec![cursor(t, 1.0, 1.0)]);
    assert_eq!(h.c.poll_timeout(), None);

    h.advance(ms(10));
    h.c.cursor(h.now, 2.0, 2.0).unwrap();
    h.advance(ms(10));
    h.c.cursor(h.now, 3.0, 3.0).unwrap();
    assert_eq!(h.drain(), none());
    assert_eq!(h.c.poll_timeout(), Some(at(ms(50))));
    h.advance_to(at(ms(49)));
    assert_eq!(h.tick(), none());
    assert_eq!(
        h.fire(),
        vec![cursor(t, 3.0, 3.0)],
        "the latest position, at the end of the interval"
    );
    assert_eq!(since_t0(h.now), ms(50));
    assert_eq!(h.c.poll_timeout(), None);

    // The interval restarts at the trailing send.
    h.advance_to(at(ms(60)));
    h.c.cursor(h.now, 4.0, 4.0).unwrap();
    assert_eq!(h.drain(), none());
    assert_eq!(h.c.poll_timeout(), Some(at(ms(100))));
    assert_eq!(h.fire(), vec![cursor(t, 4.0, 4.0)]);

    // After a quiet interval the next move goes at once.
    h.advance_to(at(ms(200)));
    h.c.cursor(h.now, 5.0, 5.0).unwrap();
    assert_eq!(h.drain(), vec![cursor(t, 5.0, 5.0)]);

    // Over a longer run: at most one per 50 ms, and the last position
    // always goes out.
    let mut sent = Vec::new();
    for i in 0..100u32 {
        h.advance(ms(7));
        h.c.cursor(h.now, f64::from(i), 0.0).unwrap();
        for o in h.tick() {
            sent.push((h.now, o));
        }
    }
    while h.c.poll_timeout().is_some() {
        for o in h.fire() {
            sent.push((h.now, o));
        }
    }
    assert!(sent.len() >= 13, "{}", sent.len());
    for w in sent.windows(2) {
        assert!(w[1].0.saturating_duration_since(w[0].0) >= ms(50), "{w:?}");
    }
    assert_eq!(sent.last().unwrap().1, cursor(t, 99.0, 0.0));
}

#[test]
fn cursor_interval_is_configurable() {
    let mut config = quiet();
    config.cursor_interval = ms(200);
    let (mut h, t) = live(config);
    h.c.cursor(h.now, 0.0, 0.0).unwrap();
    h.advance(ms(150));
    h.c.cursor(h.now, 9.0, 9.0).unwrap();
    assert_eq!(h.drain(), vec![cursor(t, 0.0, 0.0)]);
    assert_eq!(h.c.poll_timeout(), Some(at(ms(200))));
    assert_eq!(h.fire(), vec![cursor(t, 9.0, 9.0)]);
}

#[test]
fn cursor_is_never_queued_offline() {
    let mut h = Host::new(quiet());
    assert_eq!(h.c.cursor(h.now, 1.0, 1.0), Err(ClientError::NotConnected));
    assert_eq!(h.c.request_snapshot(h.now), Err(ClientError::NotConnected));
    let t = h.connect("t");
    assert_eq!(h.c.cursor(h.now, 1.0, 1.0), Err(ClientError::NotConnected));
    h.open(t);
    assert_eq!(h.c.cursor(h.now, 1.0, 1.0), Err(ClientError::NotConnected));
    assert_eq!(h.drain(), none());
    let out = h.deliver(t, initial(0, Pages::new()));
    assert_eq!(
        out,
        vec![
            synced(0, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ],
        "no cursor from before the join"
    );

    // A throttled position pending at a drop is forgotten too.
    h.c.cursor(h.now, 1.0, 1.0).unwrap();
    h.advance(ms(10));
    h.c.cursor(h.now, 2.0, 2.0).unwrap();
    assert_eq!(h.drain(), vec![cursor(t, 1.0, 1.0)]);
    assert_eq!(h.closed(t, None), vec![unexpected(), reconnecting(1)]);
    assert_eq!(h.c.cursor(h.now, 3.0, 3.0), Err(ClientError::NotConnected));
    let t2 = h.retry(1, "t");
    let out = h.open_and_join(t2, Some(0), delta(0, vec![]));
    assert_eq!(out, reconnected_empty_delta(0));
    assert_eq!(h.c.poll_timeout(), None, "no trailing cursor scheduled");
    h.advance(secs(1));
    assert_eq!(h.tick(), none());
    // Live again: immediate.
    h.c.cursor(h.now, 4.0, 4.0).unwrap();
    h.c.request_snapshot(h.now).unwrap();
    assert_eq!(
        h.drain(),
        vec![cursor(t2, 4.0, 4.0), send(t2, ClientMessage::Snapshot)]
    );
}

#[test]
fn non_finite_cursor_is_refused() {
    let (mut h, t) = live(quiet());
    for (x, y) in [
        (f64::NAN, 0.0),
        (0.0, f64::NAN),
        (f64::INFINITY, 0.0),
        (0.0, f64::NEG_INFINITY),
    ] {
        assert_eq!(h.c.cursor(h.now, x, y), Err(ClientError::InvalidCoordinate));
    }
    assert_eq!(h.drain(), none());
    assert_eq!(h.c.poll_timeout(), None);
    // The throttle was not touched: the next valid move goes at once.
    h.c.cursor(h.now, 1.0, 2.0).unwrap();
    assert_eq!(h.drain(), vec![cursor(t, 1.0, 2.0)]);
    // Also checked when offline.
    let mut off = Host::new(quiet());
    assert_eq!(
        off.c.cursor(off.now, f64::NAN, 0.0),
        Err(ClientError::InvalidCoordinate)
    );
}

// =========================================================================
// 10. Late reports about old transports
// =========================================================================

#[test]
fn late_reports_about_old_transports_are_ignored() {
    let mut h = Host::new(quiet());
    h.c.set_client_id("cli");
    let t1 = h.connect("t");
    assert_eq!(h.fire(), vec![close_out(t1), reconnecting(1)]); // attempt timeout
                                                                // While backing off: a late open of t1 is closed, a late failure ignored.
    assert_eq!(h.open(t1), vec![close_out(t1)]);
    assert_eq!(h.failed(t1, ConnectFailure::Unauthorized), none());
    assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 1 });
    let t2 = h.retry(1, "t");
    // While opening t2.
    assert_eq!(h.open(t1), vec![close_out(t1)]);
    assert_eq!(h.closed(t1, Some(4001)), none());
    assert_eq!(h.deliver(t1, initial(9, Pages::new())), none());
    assert_eq!(h.open(t2), vec![send(t2, join_msg(None))]);
    // While joining t2.
    assert_eq!(h.deliver(t1, initial(9, Pages::new())), none());
    assert_eq!(
        h.open(t2),
        none(),
        "a repeated open of the current transport"
    );
    let out = h.deliver(t2, initial(0, Pages::new()));
    assert_eq!(
        out,
        vec![
            synced(0, Some(FullSyncReason::Initial)),
            event(ClientSignal::Connected)
        ]
    );

    // While live on t2: nothing about t1 counts.
    let a = h.mutate(vec![up("p", "a", "1")]);
    h.drain();
    for m in [
        events(vec![ev(1, "bob", up("p", "x", "1"))]),
        ack(&a, 1),
        reject(ErrorCode::InvalidMessage, &a, "no"),
        ServerMessage::SessionClosed {
            board: BOARD.into(),
            reason: CloseReason::Moved,
        },
        ServerMessage::SessionTimeout {
            board: BOARD.into(),
        },
        ServerMessage::ParticipantJoined(person("ghost", 3)),
    ] {
        assert_eq!(h.deliver(t1, m), none());
    }
    assert_eq!(h.closed(t1, None), none());
    assert_eq!(h.closed(t1, Some(4001)), none());
    assert_eq!(h.closed(t1, Some(1000)), none());
    assert_eq!(h.failed(t1, network()), none());
    assert_eq!(h.open(t1), vec![close_out(t1)]);
    assert_eq!(h.open(t2), none());
    assert_eq!(h.c.state(), ConnectionState::Connected);
    assert_eq!(h.c.replica().sequence(), Some(0));
    assert_eq!(h.c.replica().participants(), &[person("me", 0)]);
    assert_eq!(h.c.unacked_batches(), 1);

    // After t2 dropped: its late frames are ignored, its late open closed.
    assert_eq!(h.closed(t2, None), vec![unexpected(), reconnecting(1)]);
    assert_eq!(h.deliver(t2, ack(&a, 1)), none());
    assert_eq!(h.closed(t2, Some(4001)), none());
    assert_eq!(h.open(t2), vec![close_out(t2)]);
    assert_eq!(h.c.unacked_batches(), 1);
    assert_eq!(h.c.state(), ConnectionState::Reconnecting { attempt: 1 });
}

// =========================================================================
// 11. Determinism
// =========================================================================

/// A scripted session touching most of the machine (jittered backoff,
/// attempt timeout, offline queue, cursor throttle, retry, events, ping
/// and pong timeout, delta re-join); returns every output with its time,
/// and the recovery export at the end.
fn script(seed: u64) -> (Vec<(Timestamp, ClientOutput)>, String) {
    let mut config = ClientConfig::default();
    config.backoff.jitter = 0.4;
    let mut h = Host::seeded(config, seed);
    let a = h.mutate(vec![up("p", "a", "1")]);
    let t = h.connect("s0");
    h.failed(t, network());
    h.fire(); // credentials for attempt 1
    h.provide("s1");
    h.fire(); // attempt timeout
    h.fire(); // credentials for attempt 2
    let t = h.provide("s2");
    h.open(t);
    h.deliver(t, initial(0, Pages::new()));
    h.c.cursor(h.now, 1.0, 1.0).unwrap();
    h.advance(ms(10));
    h.c.cursor(h.now, 2.0, 2.0).unwrap();
    h.fire(); // trailing cursor
    let b = h.mutate(vec![up("p", "b", "2"), del("p", "a")]);
    h.deliver(t, reject(ErrorCode::RateLimited, &b, "busy"));
    h.fire(); // retry
    h.deliver(t, ack(&a, 1));
    h.deliver(t, events(vec![ev(2, "bob", up("q", "c", "3"))]));
    h.mutate(vec![up("q", "d", "4")]);
    h.fire(); // ping
    h.fire(); // pong timeout
    h.fire(); // credentials
    let t = h.provide("s3");
    h.open(t);
    h.deliver(t, delta(2, vec![]));
    let recovery = h.c.export_recovery(h.now).to_json().unwrap();
    (h.log, recovery)
}

#[test]
fn the_same_script_gives_the_same_outputs() {
    let (log, recovery) = script(5);
    assert_eq!((log.clone(), recovery.clone()), script(5));
    assert!(log.len() > 20, "{log:?}");
    assert!(log
        .iter()
        .any(|(_, o)| o == &event(ClientSignal::Reconnected)));
    assert!(recovery.contains("-3"), "{recovery}");
    let (other, _) = script(6);
    assert_ne!(log, other, "the seed matters (client id and jitter)");
    assert_eq!(log.len(), other.len(), "but not the shape of the run");
}

/// `retry_now` skips the rest of a backoff wait (the host learned that the
/// network is back); outside a wait it does nothing.
#[test]
fn retry_now_skips_the_backoff_wait() {
    let (mut h, t) = live(quiet());
    assert!(!h.c.retry_now(h.now), "nothing to skip while connected");
    assert_eq!(h.drain(), none());
    h.closed(t, None);
    h.advance(Duration::from_millis(200));
    assert!(h.c.retry_now(h.now));
    assert_eq!(h.drain(), vec![need(1)]);
    assert!(!h.c.retry_now(h.now), "already waiting for credentials");
    let t2 = h.provide("fresh");
    let out = h.open_and_join(t2, Some(0), delta(0, vec![]));
    assert_eq!(out, reconnected_empty_delta(0));
}
