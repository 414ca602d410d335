// The client connection machine: the client side of Huddle's protocol as a
// pure state machine, a line-by-line port of the Rust client
// (`huddle_core::client::Client`, docs/client.md). It performs no IO and
// reads no clock: every input carries `now` (ms since the epoch), outputs
// are polled with `pollOutput()`, the next deadline with `pollTimeout()`.
// The driver (driver.js) owns the WebSocket and the timer; tests drive the
// machine in virtual time, and the traces under test/traces/ (generated
// from the Rust machine) must come out the same, output for output.
//
// States: disconnected -> connecting -> connected; on an unexpected drop
// reconnecting{attempt} (backoff 1, 2, 4, 8, 16 s, seeded jitter; before
// each attempt a `needCredentials` output, the pre-reconnect hook, waits for
// provideCredentials) and connected again (event `reconnected`), or
// `failed` when the attempts run out; `authFailed` when the credentials are
// rejected. A deliberate close by the server is not retried. A join
// answered with `redirect` (another node owns the board) goes at once to the
// owner's URL (the `connect` output's `url`), at most `maxRedirects` times
// in a row, then stops with reason `tooManyRedirects`; the owner's URL
// serves that one connection only. A `joined` that announces `parts` is
// completed by the `joined_part` frames that follow (assembly.js): the join
// counts and the replica is replaced only once the last part arrived; each
// part restarts the attempt's timeout; a part that does not continue it is
// a `protocolError` event, and the machine reconnects.

import { JoinAssembly } from './assembly.js';
import { backoffDelay, jittered, SplitMix64 } from './backoff.js';
import { makeConfig } from './config.js';
import { ClientError, RecoveryError } from './errors.js';
import { OutgoingQueue } from './outgoing.js';
import { makeRecovery, parseRecovery, recoveryMutationCount } from './recovery.js';
import { BoardReplica, Gap } from './replica.js';
import { isJsonValue, isRetryable, JOIN_TIMEOUT, parseRfc3339 } from './wire.js';

/** @typedef {import('./config.js').ClientConfig} ClientConfig */
/** @typedef {import('./config.js').ClientConfigInput} ClientConfigInput */
/** @typedef {import('./wire.js').Mutation} Mutation */
/** @typedef {import('./wire.js').ClientMessage} ClientMessage */
/** @typedef {import('./wire.js').ServerMessage} ServerMessage */
/** @typedef {import('./wire.js').Participant} Participant */
/** @typedef {import('./wire.js').SnapshotInfo} SnapshotInfo */
/** @typedef {import('./wire.js').ErrorCode} ErrorCode */
/** @typedef {import('./wire.js').FullSyncReason} FullSyncReason */
/** @typedef {import('./outgoing.js').Outgoing} Outgoing */
/** @typedef {import('./recovery.js').Recovery} Recovery */
/** @typedef {import('./assembly.js').PartError} PartError */

/** How many dropped batches are remembered in case their `ack` arrives. */
const RECENTLY_DROPPED = 64;

/** @typedef {{ token: string }} Credentials */

/**
 * @typedef {{ status: 'disconnected' } | { status: 'connecting' } | { status: 'connected' }
 *   | { status: 'reconnecting', attempt: number } | { status: 'failed' } | { status: 'authFailed' }} ConnectionState
 */

/**
 * @typedef {{ kind: 'unexpected' } | { kind: 'serverClosed', code: number } | { kind: 'sessionTimeout' }
 *   | { kind: 'sessionClosed' } | { kind: 'sessionMoved' } | { kind: 'joinRefused', code: ErrorCode } | { kind: 'unauthorized' }
 *   | { kind: 'credentialsExpired' } | { kind: 'tooManyRedirects', hops: number } | { kind: 'local' }} DisconnectReason
 */

/**
 * @typedef {{ type: 'connected' }
 *   | { type: 'disconnected', reason: DisconnectReason }
 *   | { type: 'reconnecting', attempt: number }
 *   | { type: 'reconnected' }
 *   | { type: 'redirected', node: string, url: string, hop: number }
 *   | { type: 'failed' }
 *   | { type: 'authFailed' }
 *   | { type: 'synced', sequence: number, full: FullSyncReason | null }
 *   | { type: 'changed', sequence: number }
 *   | { type: 'acked', batch: string, sequence: number }
 *   | { type: 'dropped', batch: string, mutations: Mutation[], code: ErrorCode, message: string }
 *   | { type: 'participantJoined', participant: Participant }
 *   | { type: 'participantLeft', participant: Participant }
 *   | { type: 'cursor', user: string, x: number, y: number }
 *   | { type: 'snapshot', snapshot: SnapshotInfo }
 *   | { type: 'protocolError', error: PartError }
 *   | { type: 'serverError', code: ErrorCode, message: string }} ClientEvent
 */

/**
 * @typedef {{ type: 'connect', transport: number, credentials: Credentials, url?: string }
 *   | { type: 'send', transport: number, message: ClientMessage }
 *   | { type: 'close', transport: number }
 *   | { type: 'needCredentials', attempt: number }
 *   | { type: 'event', event: ClientEvent }} ClientOutput
 */

/** @typedef {'unauthorized' | { network: string }} ConnectFailure */

/**
 * @typedef {{ kind: 'idle' }
 *   | { kind: 'backoff', until: number }
 *   | { kind: 'awaitingCredentials' }
 *   | { kind: 'opening', transport: number, deadline: number }
 *   | { kind: 'joining', transport: number, deadline: number, lastSequence: number | null }
 *   | { kind: 'live', transport: number }} Phase
 */

/** @param {Phase} p @returns {number | null} */
function phaseTransport(p) {
  return p.kind === 'opening' || p.kind === 'joining' || p.kind === 'live' ? p.transport : null;
}

/** @param {Outgoing} o @returns {ClientMessage} */
function mutateMessage(o) {
  return { type: 'mutate', batch: o.batch, mutations: o.mutations.map((m) => ({ ...m })) };
}

/**
 * A copy of the app's mutation in wire form, or a string naming what is
 * wrong with it.
 * @param {unknown} m
 * @returns {Mutation | 'invalid' | 'data'}
 */
function copyMutation(m) {
  if (typeof m !== 'object' || m === null) return 'invalid';
  const { op, page, element } = /** @type {Record<string, unknown>} */ (m);
  if (typeof page !== 'string' || typeof element !== 'string') return 'invalid';
  if (op === 'delete') return { op, page, element };
  if (op !== 'upsert') return 'invalid';
  const data = /** @type {{ data?: unknown }} */ (m).data;
  if (!isJsonValue(data)) return 'data';
  return { op, page, element, data: JSON.parse(JSON.stringify(data)) };
}

/** The client connection machine for one board. */
export class ClientMachine {
  /**
   * A disconnected client for `board`. `seed` (an unsigned 64-bit integer)
   * drives the jitter and, unless setClientId is used, the client id that
   * batch ids are made from: give every client a different seed (e.g. from
   * crypto.getRandomValues), or the server could take a new batch for a
   * retry of another client's.
   * @param {ClientConfigInput | ClientConfig} config
   * @param {string} board
   * @param {bigint | number} seed
   */
  constructor(config, board, seed) {
    /** @type {ClientConfig} */
    this.config = makeConfig(config);
    /** @type {string} */
    this.board = board;
    /** @private */
    this.rng = new SplitMix64(seed);
    /** @type {string} */
    this.clientId = this.rng.nextU64().toString(16).padStart(16, '0');
    /** @private */
    this.nextBatch = 1;
    /** @type {ConnectionState} @private */
    this.connState = { status: 'disconnected' };
    /** @type {Phase} @private */
    this.phase = { kind: 'idle' };
    /** @private reconnect attempts since the last successful join */
    this.attempt = 0;
    /** @private connected at least once since the last `connect` */
    this.wasConnected = false;
    /** @type {Credentials | null} @private */
    this.credentials = null;
    /**
     * @type {{ url: string | null, hops: number }} @private where the next
     * connection goes after a `redirect` (null: the configured URL), and
     * the redirects followed since the last `joined`
     */
    this.route = { url: null, hops: 0 };
    /** @type {JoinAssembly | null} @private the `joined` whose parts are arriving */
    this.assembly = null;
    /** @private */
    this.nextTransport = 1;
    /** The board as the server confirmed it. */
    this.replica = new BoardReplica();
    /** @private */
    this.outgoing = new OutgoingQueue();
    /** @type {Outgoing[]} @private */
    this.recentlyDropped = [];
    /** @type {{ lastSent: number | null, pending: [number, number] | null }} @private */
    this.cursorState = { lastSent: null, pending: null };
    /** @type {{ next: number | null, pongDeadline: number | null }} @private */
    this.ping = { next: null, pongDeadline: null };
    /** @type {ClientOutput[]} @private */
    this.outputs = [];
    /** @private */
    this.now = 0;
  }

  /** Uses `id` (e.g. a UUID the app persists) as the prefix of batch ids. @param {string} id */
  setClientId(id) {
    this.clientId = id;
  }

  /** @returns {ConnectionState} */
  state() {
    return { ...this.connState };
  }

  /** Unacknowledged batches (sent, waiting to retry, or queued offline). */
  unackedBatches() {
    return this.outgoing.batches.length;
  }

  /** Mutations in unacknowledged batches. */
  unackedMutations() {
    return this.outgoing.mutations;
  }

  /** The unacknowledged batches, oldest first (copies). */
  pendingBatches() {
    return this.outgoing.batches.map((o) => ({ batch: o.batch, mutations: o.mutations.map((m) => ({ ...m })) }));
  }

  /** @returns {ClientOutput | undefined} the next output; drain after every input */
  pollOutput() {
    return this.outputs.shift();
  }

  /** @returns {number | null} the earliest time handleTimeout has work */
  pollTimeout() {
    /** @type {number | null} */
    let next = null;
    const consider = (/** @type {number | null} */ t) => {
      if (t !== null && (next === null || t < next)) next = t;
    };
    const p = this.phase;
    if (p.kind === 'backoff') consider(p.until);
    else if (p.kind === 'opening' || p.kind === 'joining') consider(p.deadline);
    else if (p.kind === 'live') {
      consider(this.outgoing.nextRetry());
      consider(this.cursorDue());
      consider(this.ping.next);
      consider(this.ping.pongDeadline);
    }
    return next;
  }

  // ---- application calls ----------------------------------------------

  /**
   * Starts connecting: from disconnected, failed (a manual reconnect) or
   * authFailed (with new credentials).
   * @param {number} now
   * @param {Credentials} credentials
   */
  connect(now, credentials) {
    now = this.tick(now);
    const s = this.connState.status;
    if (s !== 'disconnected' && s !== 'failed' && s !== 'authFailed') {
      throw new ClientError('AlreadyActive', 'already connected or connecting');
    }
    this.credentials = { token: credentials.token };
    this.attempt = 0;
    this.forgetRoute();
    this.wasConnected = false;
    this.connState = { status: 'connecting' };
    this.openTransport(now);
  }

  /**
   * Answers a `needCredentials` output: the waiting attempt proceeds.
   * @param {number} now
   * @param {Credentials} credentials
   */
  provideCredentials(now, credentials) {
    now = this.tick(now);
    if (this.phase.kind !== 'awaitingCredentials') {
      throw new ClientError('NoCredentialsRequested', 'no attempt is waiting for credentials');
    }
    this.credentials = { token: credentials.token };
    this.openTransport(now);
  }

  /**
   * Skips the rest of the current backoff wait (the network is back).
   * @param {number} now
   * @returns {boolean} whether an attempt was waiting
   */
  retryNow(now) {
    this.tick(now);
    if (this.phase.kind === 'backoff') {
      this.requestCredentials();
      return true;
    }
    return false;
  }

  /**
   * Closes on purpose (sending `leave` if joined). Not retried;
   * unacknowledged work is kept.
   * @param {number} now
   */
  close(now) {
    this.tick(now);
    if (this.phase.kind === 'live') this.send(this.phase.transport, { type: 'leave' });
    if (this.connState.status !== 'disconnected') this.stop({ kind: 'local' });
  }

  /**
   * Makes a batch: sent at once when connected, queued in order otherwise.
   * @param {number} now
   * @param {Mutation[]} mutations
   * @returns {string} the batch id its `ack` will carry
   */
  mutate(now, mutations) {
    this.tick(now);
    if (!Array.isArray(mutations) || mutations.length === 0) {
      throw new ClientError('EmptyBatch', 'a batch needs at least one mutation');
    }
    if (mutations.length > this.config.maxBatchLen) {
      throw new ClientError('BatchTooLong', `batch of ${mutations.length} mutations is over the limit of ${this.config.maxBatchLen}`, {
        len: mutations.length,
        max: this.config.maxBatchLen,
      });
    }
    /** @type {Mutation[]} */
    const copies = [];
    for (let index = 0; index < mutations.length; index++) {
      const c = copyMutation(mutations[index]);
      if (c === 'invalid') throw new ClientError('InvalidMutation', `mutation ${index} is not an upsert or delete with string page and element`, { index });
      if (c === 'data') throw new ClientError('DataNotJson', `mutation ${index} has data that is not JSON`, { index });
      copies.push(c);
    }
    const held = this.outgoing.mutations;
    if (held + copies.length > this.config.maxUnackedMutations) {
      throw new ClientError('QueueFull', `offline queue full: ${held} mutations held, limit ${this.config.maxUnackedMutations}`, {
        held,
        limit: this.config.maxUnackedMutations,
      });
    }
    if (this.nextBatch >= Number.MAX_SAFE_INTEGER) {
      throw new ClientError('BatchIdsExhausted', 'batch ids are exhausted for this client id');
    }
    const batch = `${this.clientId}-${this.nextBatch}`;
    this.nextBatch += 1;
    /** @type {Outgoing} */
    const item = { batch, mutations: copies, retries: 0, status: { kind: 'queued' } };
    if (this.phase.kind === 'live') {
      item.status = { kind: 'sent' };
      this.send(this.phase.transport, mutateMessage(item));
    }
    this.outgoing.push(item);
    return batch;
  }

  /**
   * A cursor move: sent now, or at the end of the throttle interval (only
   * the latest position). Never queued offline.
   * @param {number} now
   * @param {number} x
   * @param {number} y
   */
  cursor(now, x, y) {
    now = this.tick(now);
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      throw new ClientError('InvalidCoordinate', 'cursor coordinates must be finite');
    }
    if (this.phase.kind !== 'live') throw new ClientError('NotConnected', 'not connected');
    const sent = this.cursorState.lastSent;
    if (sent !== null && now < sent + this.config.cursorInterval) {
      this.cursorState.pending = [x, y];
    } else {
      this.cursorState.lastSent = now;
      this.cursorState.pending = null;
      this.send(this.phase.transport, { type: 'cursor', x, y });
    }
  }

  /** Asks the server for a manual snapshot (needs a live connection). @param {number} now */
  requestSnapshot(now) {
    this.tick(now);
    if (this.phase.kind !== 'live') throw new ClientError('NotConnected', 'not connected');
    this.send(this.phase.transport, { type: 'snapshot' });
  }

  /**
   * The unacknowledged work, for the app to persist.
   * @param {number} now
   * @returns {Recovery}
   */
  exportRecovery(now) {
    return makeRecovery(Math.max(now, this.now), this.board, this.clientId, this.nextBatch, this.outgoing.batches);
  }

  /**
   * Takes over exported work (into a client that holds none yet): its
   * batches are sent, with their ids, after the next sync; new batches
   * continue its numbering.
   * @param {number} now
   * @param {Recovery | string | unknown} input the export, parsed or as JSON text
   * @returns {number} the number of batches
   */
  importRecovery(now, input) {
    now = this.tick(now);
    const recovery = parseRecovery(input);
    if (recovery.board !== this.board) {
      throw new RecoveryError('WrongBoard', `recovery data is for board ${recovery.board}, this client is for ${this.board}`, {
        expected: this.board,
        found: recovery.board,
      });
    }
    const exportedAt = /** @type {number} */ (parseRfc3339(recovery.exported_at));
    const age = Math.max(0, now - exportedAt);
    if (age > this.config.recoveryMaxAge) {
      throw new RecoveryError('Stale', `recovery data is stale (${age} ms old, limit ${this.config.recoveryMaxAge} ms)`, {
        ageMs: age,
        maxAgeMs: this.config.recoveryMaxAge,
      });
    }
    if (this.outgoing.batches.length > 0) {
      throw new RecoveryError('NotEmpty', 'the client already holds unacknowledged work');
    }
    const held = recoveryMutationCount(recovery);
    if (held > this.config.maxUnackedMutations) {
      throw new RecoveryError('TooLarge', `recovery data holds ${held} mutations, over the limit of ${this.config.maxUnackedMutations}`, {
        held,
        limit: this.config.maxUnackedMutations,
      });
    }
    const bad = recovery.batches.find((b) => b.mutations.length === 0);
    if (bad) throw new RecoveryError('Malformed', `malformed recovery data: batch ${bad.batch} is empty or has data that is not JSON`);
    if (recovery.next_batch >= Number.MAX_SAFE_INTEGER) {
      throw new RecoveryError('Malformed', 'malformed recovery data: next_batch is out of range');
    }
    this.clientId = recovery.client_id;
    this.nextBatch = Math.max(this.nextBatch, recovery.next_batch);
    const live = this.phase.kind === 'live' ? this.phase.transport : null;
    for (const b of recovery.batches) {
      /** @type {Outgoing} */
      const item = { batch: b.batch, mutations: b.mutations, retries: b.retries, status: { kind: 'queued' } };
      if (live !== null) {
        item.status = { kind: 'sent' };
        this.send(live, mutateMessage(item));
      }
      this.outgoing.push(item);
    }
    return recovery.batches.length;
  }

  // ---- transport reports ------------------------------------------------

  /** The host opened `transport`; the client joins on it. @param {number} now @param {number} transport */
  transportOpen(now, transport) {
    this.tick(now);
    const p = this.phase;
    if (p.kind === 'opening' && p.transport === transport) {
      const lastSequence = this.replica.sequence;
      this.phase = { kind: 'joining', transport, deadline: p.deadline, lastSequence };
      /** @type {ClientMessage} */
      const join = { type: 'join', board: this.board };
      if (lastSequence !== null) join.last_sequence = lastSequence;
      this.send(transport, join);
    } else if (phaseTransport(p) !== transport) {
      // A socket the client gave up on opened late: close it.
      this.outputs.push({ type: 'close', transport });
    }
  }

  /**
   * Opening `transport` failed.
   * @param {number} now
   * @param {number} transport
   * @param {ConnectFailure} failure
   */
  transportFailed(now, transport, failure) {
    now = this.tick(now);
    if (phaseTransport(this.phase) !== transport) return;
    if (failure === 'unauthorized') this.authFailed();
    else this.lost(now);
  }

  /**
   * `transport` closed, with the close code if the peer sent one. 4001:
   * credentials rejected (on a joined connection: the token expired, so ask
   * for fresh credentials and reconnect at once; before that, authFailed);
   * 4002: inactivity timeout; 1000 and other codes 4000-4999: a deliberate
   * close (none retried), except 4006 (no `join` within the server's join
   * deadline), which is retried like a drop, and 4003 (redirect), which
   * follows a `redirect` frame that already moved the client on (without
   * one it is retried like a drop, through the configured URL). Anything
   * else is an unexpected drop.
   * @param {number} now
   * @param {number} transport
   * @param {number | null} code
   */
  transportClosed(now, transport, code) {
    now = this.tick(now);
    if (phaseTransport(this.phase) !== transport) return;
    if (code === 4001 && this.phase.kind === 'live') this.reconnectNow(now, { kind: 'credentialsExpired' });
    else if (code === 4001) this.authFailed();
    else if (code === 4002) this.stop({ kind: 'sessionTimeout' });
    else if (code === 4003) this.lost(now);
    else if (code === 1000 || (code !== null && code >= 4000 && code <= 4999 && code !== JOIN_TIMEOUT)) this.stop({ kind: 'serverClosed', code });
    else this.lost(now);
  }

  /**
   * A (decoded) message arrived on `transport`.
   * @param {number} now
   * @param {number} transport
   * @param {ServerMessage} message
   */
  handleMessage(now, transport, message) {
    now = this.tick(now);
    const p = this.phase;
    if (p.kind === 'joining' && p.transport === transport) this.onJoinAnswer(now, transport, p.lastSequence, message);
    else if (p.kind === 'live' && p.transport === transport) this.onLiveMessage(now, message);
  }

  /** Acts on every deadline at or before `now`. @param {number} now */
  handleTimeout(now) {
    now = this.tick(now);
    const p = this.phase;
    if (p.kind === 'backoff') {
      if (now >= p.until) this.requestCredentials();
    } else if (p.kind === 'opening' || p.kind === 'joining') {
      if (now >= p.deadline) {
        this.outputs.push({ type: 'close', transport: p.transport });
        this.lost(now);
      }
    } else if (p.kind === 'live') {
      const transport = p.transport;
      if (this.ping.pongDeadline !== null && now >= this.ping.pongDeadline) {
        this.outputs.push({ type: 'close', transport });
        this.lost(now);
        return;
      }
      /** @type {ClientMessage[]} */
      const retries = [];
      for (const o of this.outgoing.batches) {
        if (o.status.kind === 'retryAt' && now >= o.status.at) {
          o.status = { kind: 'sent' };
          retries.push(mutateMessage(o));
        }
      }
      for (const m of retries) this.send(transport, m);
      const due = this.cursorDue();
      if (due !== null && now >= due && this.cursorState.pending) {
        const [x, y] = this.cursorState.pending;
        this.cursorState.pending = null;
        this.cursorState.lastSent = now;
        this.send(transport, { type: 'cursor', x, y });
      }
      if (this.ping.next !== null && now >= this.ping.next) {
        this.send(transport, { type: 'ping' });
        if (this.ping.pongDeadline === null) this.ping.pongDeadline = now + this.config.pongTimeout;
        this.ping.next = this.config.pingInterval === null ? null : now + this.config.pingInterval;
      }
    }
  }

  // ---- internals ----------------------------------------------------------

  /** @private @param {number} now */
  tick(now) {
    this.now = Math.max(this.now, now);
    return this.now;
  }

  /** @private @param {number} transport @param {ClientMessage} message */
  send(transport, message) {
    this.outputs.push({ type: 'send', transport, message });
  }

  /** @private @param {ClientEvent} event */
  event(event) {
    this.outputs.push({ type: 'event', event });
  }

  /** @private @returns {number | null} */
  cursorDue() {
    if (this.cursorState.pending === null) return null;
    const last = this.cursorState.lastSent;
    return last === null ? this.now : last + this.config.cursorInterval;
  }

  /** @private @param {number} now */
  openTransport(now) {
    const credentials = this.credentials;
    if (credentials === null) {
      this.requestCredentials();
      return;
    }
    const transport = this.nextTransport++;
    this.phase = { kind: 'opening', transport, deadline: now + this.config.attemptTimeout };
    /** @type {ClientOutput} */
    const connect = { type: 'connect', transport, credentials: { token: credentials.token } };
    if (this.route.url !== null) connect.url = this.route.url;
    this.outputs.push(connect);
  }

  /** @private */
  requestCredentials() {
    this.phase = { kind: 'awaitingCredentials' };
    this.outputs.push({ type: 'needCredentials', attempt: this.attempt });
  }

  /** @private Leaves the current transport: nothing is in flight on it any more. */
  dropTransport() {
    this.assembly = null;
    this.outgoing.unsendAll();
    this.cursorState = { lastSent: null, pending: null };
    this.ping = { next: null, pongDeadline: null };
  }

  /** @private The transport failed or dropped: schedule the next attempt, or give up. @param {number} now */
  lost(now) {
    const wasLive = this.phase.kind === 'live';
    this.dropTransport();
    this.forgetRoute();
    if (wasLive) this.event({ type: 'disconnected', reason: { kind: 'unexpected' } });
    this.attempt += 1;
    if (this.attempt > this.config.backoff.maxAttempts) {
      this.phase = { kind: 'idle' };
      this.connState = { status: 'failed' };
      this.event({ type: 'failed' });
      return;
    }
    this.connState = { status: 'reconnecting', attempt: this.attempt };
    this.event({ type: 'reconnecting', attempt: this.attempt });
    const delay = jittered(backoffDelay(this.config.backoff, this.attempt), this.config.backoff.jitter, this.rng);
    const until = now + delay;
    if (until <= now) this.requestCredentials();
    else this.phase = { kind: 'backoff', until };
  }

  /**
   * @private The server ended the board session here but serves it again
   * (another host owns it now, or it is loaded afresh), or closed it because
   * the token expired: leave this transport and reconnect at once (asking
   * for credentials first), re-sending unacknowledged batches with their ids
   * as on any reconnect. Counts as an attempt, so a board that keeps ending
   * backs off and eventually gives up like a flaky network.
   * @param {number} now
   * @param {DisconnectReason} reason
   */
  reconnectNow(now, reason) {
    this.closeCurrent();
    this.dropTransport();
    this.forgetRoute();
    this.event({ type: 'disconnected', reason });
    if (this.attempt === 0) {
      this.attempt = 1;
      this.connState = { status: 'reconnecting', attempt: 1 };
      this.event({ type: 'reconnecting', attempt: 1 });
      this.requestCredentials();
      return;
    }
    // Not live any more: `lost` only schedules the next attempt.
    this.phase = { kind: 'idle' };
    this.lost(now);
  }

  /** @private */
  authFailed() {
    if (this.phase.kind === 'live') this.event({ type: 'disconnected', reason: { kind: 'unauthorized' } });
    this.closeCurrent();
    this.dropTransport();
    this.forgetRoute();
    this.phase = { kind: 'idle' };
    this.connState = { status: 'authFailed' };
    this.event({ type: 'authFailed' });
  }

  /** @private A deliberate end: not retried. @param {DisconnectReason} reason */
  stop(reason) {
    this.closeCurrent();
    this.dropTransport();
    this.stopIdle(reason);
  }

  /** @private A deliberate end once the transport is left. @param {DisconnectReason} reason */
  stopIdle(reason) {
    this.forgetRoute();
    this.phase = { kind: 'idle' };
    this.connState = { status: 'disconnected' };
    this.event({ type: 'disconnected', reason });
  }

  /**
   * @private The server answered the join with `redirect`: connect to the
   * owner's URL at once (same credentials, no backoff, not an attempt), at
   * most `maxRedirects` times in a row.
   * @param {number} now
   * @param {{ node: string, url: string }} owner
   */
  onRedirect(now, owner) {
    this.closeCurrent();
    this.dropTransport();
    const hops = this.route.hops + 1;
    if (hops > this.config.maxRedirects) {
      this.stopIdle({ kind: 'tooManyRedirects', hops: this.config.maxRedirects });
      return;
    }
    this.route = { url: owner.url, hops };
    this.event({ type: 'redirected', node: owner.node, url: owner.url, hop: hops });
    this.openTransport(now);
  }

  /** @private The owner's URL has served its one connection: later ones go to the configured URL. */
  forgetRoute() {
    this.route = { url: null, hops: 0 };
  }

  /** @private */
  closeCurrent() {
    const t = phaseTransport(this.phase);
    if (t !== null) this.outputs.push({ type: 'close', transport: t });
  }

  /**
   * @private The server broke the protocol on this connection: say so, drop
   * it and reconnect.
   * @param {number} now
   * @param {PartError} error
   */
  protocolError(now, error) {
    this.event({ type: 'protocolError', error });
    this.resync(now);
  }

  /** @private A part of the sync arrived: the attempt's timeout starts again. @param {number} now */
  joinProgress(now) {
    if (this.phase.kind === 'joining') this.phase.deadline = now + this.config.attemptTimeout;
  }

  /** @private The replica missed something: re-join from what it has. @param {number} now */
  resync(now) {
    this.closeCurrent();
    this.lost(now);
  }

  /**
   * @private
   * @param {number} now
   * @param {number} transport
   * @param {number | null} lastSequence
   * @param {ServerMessage} message
   */
  onJoinAnswer(now, transport, lastSequence, message) {
    if (message.type === 'joined' && this.assembly !== null) {
      // A second `joined` amid the parts of the first.
      this.protocolError(now, { kind: 'unexpected' });
    } else if (message.type === 'joined' && message.parts > 0) {
      this.assembly = new JoinAssembly(message);
      this.joinProgress(now);
    } else if (message.type === 'joined') {
      this.onJoined(now, transport, lastSequence, message);
    } else if (message.type === 'joined_part') {
      const assembly = this.assembly;
      if (assembly === null) {
        this.protocolError(now, { kind: 'unexpected' });
        return;
      }
      const error = assembly.add(message);
      if (error !== null) this.protocolError(now, error);
      else if (!assembly.isComplete()) this.joinProgress(now);
      else {
        this.assembly = null;
        this.onJoined(now, transport, lastSequence, assembly.intoJoined());
      }
    } else if (message.type === 'redirect') {
      this.onRedirect(now, { node: message.node, url: message.url });
    } else if (message.type === 'error' && message.batch === undefined) {
      if (message.code === 'UNAUTHORIZED') this.authFailed();
      else if (isRetryable(message.code)) {
        this.closeCurrent();
        this.lost(now);
      } else this.stop({ kind: 'joinRefused', code: message.code });
    }
    // Nothing else is expected before `joined`; a delayed message from the
    // previous session is ignored.
  }

  /**
   * @private
   * @param {number} now
   * @param {number} transport
   * @param {number | null} lastSequence
   * @param {Extract<ServerMessage, { type: 'joined' }>} joined
   */
  onJoined(now, transport, lastSequence, joined) {
    /** @type {FullSyncReason | null} */
    let full = null;
    if (joined.sync.kind === 'full') {
      this.replica.replacePages(joined.sync.pages);
      this.replica.sequence = joined.sequence;
      full = joined.sync.reason;
    } else {
      let consistent = lastSequence !== null && this.replica.sequence === lastSequence;
      if (consistent) {
        try {
          this.replica.applyEvents(joined.sync.events);
        } catch (e) {
          if (!(e instanceof Gap)) throw e;
          consistent = false;
        }
      }
      if (!consistent || this.replica.sequence !== joined.sequence) {
        // Forget the local state: the next join asks for a full sync.
        this.replica.sequence = null;
        this.resync(now);
        return;
      }
    }
    this.replica.participants = joined.participants.map((p) => ({ ...p }));
    this.phase = { kind: 'live', transport };
    this.connState = { status: 'connected' };
    this.attempt = 0;
    this.forgetRoute();
    this.ping.next = this.config.pingInterval === null ? null : now + this.config.pingInterval;
    /** @type {ClientMessage[]} */
    const messages = [];
    for (const o of this.outgoing.batches) {
      o.status = { kind: 'sent' };
      messages.push(mutateMessage(o));
    }
    for (const m of messages) this.send(transport, m);
    this.event({ type: 'synced', sequence: joined.sequence, full });
    const reconnected = this.wasConnected;
    this.wasConnected = true;
    this.event(reconnected ? { type: 'reconnected' } : { type: 'connected' });
  }

  /** @private @param {number} now @param {ServerMessage} message */
  onLiveMessage(now, message) {
    switch (message.type) {
      case 'ack': {
        const { batch, sequence } = message;
        let item = this.outgoing.remove(batch);
        if (!item) {
          const i = this.recentlyDropped.findIndex((o) => o.batch === batch);
          if (i >= 0) item = this.recentlyDropped.splice(i, 1)[0];
        }
        if (!item) {
          // A duplicate ack, or one for work this client no longer holds:
          // harmless if the replica already covers it.
          if (this.replica.sequence !== null && sequence > this.replica.sequence) this.resync(now);
          return;
        }
        try {
          this.replica.applyOwn(item.mutations, sequence);
        } catch (e) {
          if (!(e instanceof Gap)) throw e;
          // Keep nothing half-applied; the re-sync brings the batch's events.
          this.event({ type: 'acked', batch, sequence });
          this.resync(now);
          return;
        }
        this.event({ type: 'acked', batch, sequence });
        return;
      }
      case 'events': {
        let changed;
        try {
          changed = this.replica.applyEvents(message.events);
        } catch (e) {
          if (!(e instanceof Gap)) throw e;
          this.resync(now);
          return;
        }
        if (changed) this.event({ type: 'changed', sequence: this.replica.sequence ?? 0 });
        return;
      }
      case 'error':
        if (message.batch !== undefined) this.onRejected(now, message.batch, message.code, message.message);
        else this.event({ type: 'serverError', code: message.code, message: message.message });
        return;
      case 'participant_joined': {
        const p = { user_id: message.user_id, display_name: message.display_name, color: message.color };
        if (!this.replica.participants.some((q) => q.user_id === p.user_id)) {
          this.replica.participants.push(p);
          this.event({ type: 'participantJoined', participant: { ...p } });
        }
        return;
      }
      case 'participant_left': {
        const p = { user_id: message.user_id, display_name: message.display_name, color: message.color };
        const before = this.replica.participants.length;
        this.replica.participants = this.replica.participants.filter((q) => q.user_id !== p.user_id);
        if (this.replica.participants.length !== before) this.event({ type: 'participantLeft', participant: p });
        return;
      }
      case 'cursor':
        this.event({ type: 'cursor', user: message.user_id, x: message.x, y: message.y });
        return;
      case 'snapshot':
        this.event({
          type: 'snapshot',
          snapshot: { id: message.id, version: message.version, created_at: message.created_at, created_by: message.created_by },
        });
        return;
      case 'session_timeout':
        this.stop({ kind: 'sessionTimeout' });
        return;
      case 'session_closed':
        if (message.reason === 'moved' || message.reason === 'failed') this.reconnectNow(now, { kind: 'sessionMoved' });
        else this.stop({ kind: 'sessionClosed' });
        return;
      case 'pong':
        this.ping.pongDeadline = null;
        return;
      case 'joined':
        // A duplicated `joined`: the session is already in sync.
        return;
      case 'joined_part':
        // A part once the sync is complete.
        this.protocolError(now, { kind: 'unexpected' });
        return;
      case 'redirect':
        // Answers only a join (a correct server never sends one to a live
        // connection).
        return;
    }
  }

  /**
   * @private
   * @param {number} now
   * @param {string} batch
   * @param {ErrorCode} code
   * @param {string} message
   */
  onRejected(now, batch, code, message) {
    const item = this.outgoing.find(batch);
    if (!item) {
      this.event({ type: 'serverError', code, message });
      return;
    }
    // Only an answer to the copy in flight counts (a duplicated error
    // frame must not use up a retry).
    if (item.status.kind !== 'sent') return;
    if (code === 'NOT_JOINED') {
      // Not the batch's fault; the server no longer knows this connection.
      item.status = { kind: 'queued' };
      this.resync(now);
    } else if (code === 'SESSION_EXPIRED') {
      // The inactivity timeout: `session_timeout` and the close follow.
      item.status = { kind: 'queued' };
    } else if (isRetryable(code) && item.retries < this.config.maxBatchRetries) {
      item.retries += 1;
      item.status = { kind: 'retryAt', at: now + this.config.batchRetryDelay };
    } else {
      const removed = this.outgoing.remove(batch);
      if (removed) {
        this.event({ type: 'dropped', batch, mutations: removed.mutations.map((m) => ({ ...m })), code, message });
        if (this.recentlyDropped.length === RECENTLY_DROPPED) this.recentlyDropped.shift();
        this.recentlyDropped.push(removed);
      }
    }
  }
}
