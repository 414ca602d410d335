// The driver: a HuddleClient runs the pure ClientMachine (machine.js) with
// a real WebSocket, a timer and a clock, and adds the session management a
// web app needs:
//
// - the connection state and the number of edits waiting, for a status
//   badge, and a manual `reconnect()`;
// - the browser's `online`/`offline` events (and `setOffline()` for an app
//   button): offline closes the socket and holds the next attempt until the
//   network is back; edits queue meanwhile;
// - the pre-reconnect hook: `getToken({ attempt })` is called before every
//   attempt and may fetch a fresh token;
// - recovery across a reload: unacknowledged work is persisted (IndexedDB
//   in browsers, pluggable elsewhere) after every change; `loadRecovery()`
//   offers it back (view, restore, discard), refused when older than
//   `recoveryMaxAge` (5 min);
// - a session timeout is an event (`sessionTimeout`) and, with
//   `autoRejoin`, a new join.
//
// Every output of the machine is acted on here and nowhere else: `connect`
// opens a socket, `send` writes a frame, `close` closes one,
// `needCredentials` runs the hook, `event` is re-emitted to listeners.

import { ClientMachine } from './machine.js';
import { defaultStorage } from './storage.js';
import { DecodeError } from './errors.js';
import { decodeServerMessage, encodeClientMessage } from './wire.js';
import { PersistedWork, randomSeed, tabId } from './persistence.js';

/** @typedef {import('./machine.js').ClientEvent} ClientEvent */
/** @typedef {import('./machine.js').ClientOutput} ClientOutput */
/** @typedef {import('./machine.js').ConnectionState} ConnectionState */
/** @typedef {import('./wire.js').Mutation} Mutation */
/** @typedef {import('./config.js').ClientConfigInput} ClientConfigInput */
/** @typedef {import('./storage.js').RecoveryStorage} RecoveryStorage */
/** @typedef {import('./recovery.js').Recovery} Recovery */

/**
 * @typedef {object} Clock
 * @property {() => number} now ms since the epoch
 * @property {(fn: () => void, ms: number) => unknown} setTimeout
 * @property {(handle: any) => void} clearTimeout
 */

/**
 * The part of the WebSocket API the driver uses.
 * @typedef {object} SocketLike
 * @property {((ev: any) => void) | null} onopen
 * @property {((ev: { data: unknown }) => void) | null} onmessage
 * @property {((ev: { code: number }) => void) | null} onclose
 * @property {((ev: any) => void) | null} onerror
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 */

/** @typedef {new (url: string) => SocketLike} SocketConstructor */

/**
 * @typedef {object} HuddleClientOptions
 * @property {string} url the server's WebSocket endpoint, e.g. `ws://127.0.0.1:7878/ws`
 * @property {string} board the board (room) id
 * @property {(info: { attempt: number }) => string | Promise<string>} getToken
 *   the room token; called before the first connect (attempt 0) and before
 *   every reconnect attempt (the pre-reconnect hook)
 * @property {ClientConfigInput} [config]
 * @property {bigint | number} [seed] jitter and client-id seed (default: random)
 * @property {RecoveryStorage | null} [storage] default: IndexedDB in browsers, none elsewhere
 * @property {string} [recoveryKey] the storage key (default: per board and per browser tab)
 * @property {SocketConstructor} [WebSocket] default: globalThis.WebSocket
 * @property {Clock} [clock] default: Date.now and the global timers
 * @property {EventTarget | null} [network] where `online`/`offline` events come from (default: window in browsers)
 * @property {boolean} [autoRejoin] join again by itself after a session timeout
 * @property {boolean} [authProbe] after a socket fails to open, ask the server over HTTP
 *   whether the token was refused (a WebSocket cannot see the 401); default: when fetch exists
 */

/** @typedef {import('./persistence.js').RecoveryOffer} RecoveryOffer */

/**
 * @typedef {object} Status
 * @property {ConnectionState} state
 * @property {number} pendingBatches unacknowledged batches
 * @property {number} pendingMutations unacknowledged mutations
 * @property {boolean} offline held offline (by the network or setOffline)
 */

/**
 * Events emitted: every machine event by its `type` (`connected`,
 * `disconnected`, `reconnecting`, `reconnected`, `failed`, `authFailed`,
 * `synced`, `changed`, `acked`, `dropped`, `participantJoined`,
 * `participantLeft`, `cursor`, `snapshot`, `serverError`, and
 * `protocolError` ({ error: PartError }: a `joined_part` that does not
 * continue the sync)), plus `status` (a Status, whenever it may have
 * changed), `sessionTimeout`, `tokenError` ({ error }), `protocolError`
 * ({ error: DecodeError }: a frame that does not decode) and
 * `storageError` ({ error }).
 * @typedef {{ type: string, [key: string]: unknown }} DriverEvent
 */

const systemClock = /** @type {Clock} */ ({
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h),
});

export class HuddleClient {
  /** @param {HuddleClientOptions} options */
  constructor(options) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.machine = new ClientMachine(options.config ?? {}, options.board, options.seed ?? randomSeed());
    this.work = new PersistedWork(
      options.storage === undefined ? defaultStorage() : options.storage,
      options.recoveryKey ?? `huddle-recovery:${options.board}:${tabId()}`,
      (error) => this.emit({ type: 'storageError', error }),
    );
    /** @type {SocketConstructor | undefined} */
    this.Socket = options.WebSocket ?? /** @type {any} */ (globalThis.WebSocket);
    /** @type {Map<number, SocketLike>} */
    this.sockets = new Map();
    /** @type {Map<string, Set<(e: any) => void>>} */
    this.listeners = new Map();
    this.timer = /** @type {unknown} */ (null);
    this.timerAt = /** @type {number | null} */ (null);
    this.offline = false;
    /** an attempt waiting for credentials while offline */
    this.heldAttempt = /** @type {number | null} */ (null);
    this.lastStatus = '';
    this.lastToken = '';
    this.failNextConnect = false;
    /** @type {EventTarget | null} */
    this.network = options.network !== undefined
      ? options.network
      : typeof globalThis.window !== 'undefined' ? globalThis.window : null;
    this.onOnline = () => this.setOffline(false);
    this.onOffline = () => this.setOffline(true);
    if (this.network) {
      this.network.addEventListener('online', this.onOnline);
      this.network.addEventListener('offline', this.onOffline);
      if (typeof navigator !== 'undefined' && navigator.onLine === false) this.offline = true;
    }
  }

  // ---- listeners ----------------------------------------------------------

  /**
   * Listens to one event type ('*' for all). Returns the unsubscribe.
   * @param {string} type
   * @param {(e: any) => void} fn
   * @returns {() => void}
   */
  on(type, fn) {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /** @param {DriverEvent} event */
  emit(event) {
    for (const key of [event.type, '*']) {
      for (const fn of this.listeners.get(key) ?? []) {
        try {
          fn(event);
        } catch (e) {
          // A listener's bug must not break the client.
          globalThis.queueMicrotask(() => {
            throw e;
          });
        }
      }
    }
  }

  // ---- what the app reads -------------------------------------------------

  /** @returns {Status} */
  status() {
    return {
      state: this.machine.state(),
      pendingBatches: this.machine.unackedBatches(),
      pendingMutations: this.machine.unackedMutations(),
      offline: this.offline,
    };
  }

  /** The board as the server confirmed it. */
  get replica() {
    return this.machine.replica;
  }

  /** The unacknowledged batches, oldest first (for an optimistic overlay). */
  pendingBatches() {
    return this.machine.pendingBatches();
  }

  // ---- what the app does --------------------------------------------------

  /**
   * Connects (fetching a token first). From disconnected, failed or
   * authFailed.
   */
  async connect() {
    const token = await this.token(0);
    if (token === null) return;
    this.run(() => this.machine.connect(this.clock.now(), { token }));
  }

  /**
   * The manual reconnect of a status badge: skips a backoff wait, or
   * connects again after failed / authFailed / a deliberate close.
   */
  async reconnect() {
    this.setOffline(false);
    const s = this.machine.state().status;
    if (s === 'reconnecting') {
      this.run(() => this.machine.retryNow(this.clock.now()));
    } else if (s === 'disconnected' || s === 'failed' || s === 'authFailed') {
      await this.connect();
    }
  }

  /** Closes on purpose (not retried); queued work stays persisted. */
  close() {
    this.run(() => this.machine.close(this.clock.now()));
  }

  /** Closes and stops listening to the network; the client is done. */
  dispose() {
    this.close();
    if (this.network) {
      this.network.removeEventListener('online', this.onOnline);
      this.network.removeEventListener('offline', this.onOffline);
    }
    this.clearTimer();
  }

  /**
   * Makes a batch: sent now when connected, queued (and persisted)
   * otherwise. Throws ClientError when refused.
   * @param {Mutation[]} mutations
   * @returns {string} the batch id
   */
  mutate(mutations) {
    return /** @type {string} */ (this.run(() => this.machine.mutate(this.clock.now(), mutations)));
  }

  /** A throttled cursor move; ignored when not connected. @param {number} x @param {number} y */
  cursor(x, y) {
    if (this.machine.state().status !== 'connected') return;
    this.run(() => this.machine.cursor(this.clock.now(), x, y));
  }

  /** Asks for a manual snapshot (throws NotConnected when offline). */
  requestSnapshot() {
    this.run(() => this.machine.requestSnapshot(this.clock.now()));
  }

  /**
   * Goes offline (closes the socket, holds reconnecting) or back online
   * (reconnects at once). The browser's online/offline events call this.
   * @param {boolean} offline
   */
  setOffline(offline) {
    if (offline === this.offline) return;
    this.offline = offline;
    if (offline) {
      // Emulated offline modes (Chromium's, for one) leave an open socket
      // open: close it here, so that nothing is sent or received offline.
      for (const [transport, socket] of [...this.sockets]) {
        this.forget(transport, socket);
        try {
          socket.close(1000);
        } catch {
          // already closing
        }
        this.run(() => this.machine.transportClosed(this.clock.now(), transport, null));
      }
    } else if (this.heldAttempt !== null) {
      const attempt = this.heldAttempt;
      this.heldAttempt = null;
      void this.credentialsFor(attempt);
    } else {
      this.run(() => this.machine.retryNow(this.clock.now()));
    }
    this.emitStatus();
  }

  // ---- recovery -----------------------------------------------------------

  /**
   * The work a previous page (or process) left unacknowledged, if any: a
   * view of it, restore and discard. Call before connect and before new
   * edits.
   * @returns {Promise<RecoveryOffer | null>}
   */
  loadRecovery() {
    return this.work.offer(this.machine, () => this.clock.now(), (restore) => this.run(restore));
  }

  /** Resolves once the persisted work is written. */
  flush() {
    return this.work.flush();
  }

  // ---- internals ----------------------------------------------------------

  /**
   * Runs one machine input, then acts on every output and re-arms the
   * timer.
   * @template T
   * @param {() => T} input
   * @returns {T}
   */
  run(input) {
    try {
      return input();
    } finally {
      this.drain();
    }
  }

  drain() {
    for (let o = this.machine.pollOutput(); o !== undefined; o = this.machine.pollOutput()) this.act(o);
    this.arm();
    this.work.save(this.machine, this.clock.now());
    this.emitStatus();
  }

  /** @param {ClientOutput} o */
  act(o) {
    switch (o.type) {
      case 'connect':
        if (this.failNextConnect) {
          this.failNextConnect = false;
          const t = o.transport;
          globalThis.queueMicrotask(() => this.run(() => this.machine.transportFailed(this.clock.now(), t, { network: 'no token' })));
        } else {
          // `url`: the board's owner after a `redirect`, for this one
          // connection; otherwise the configured endpoint.
          this.open(o.transport, o.credentials.token, o.url ?? this.options.url);
        }
        return;
      case 'send': {
        const socket = this.sockets.get(o.transport);
        try {
          socket?.send(encodeClientMessage(o.message));
        } catch {
          // The socket is closing; its close event reports the drop.
        }
        return;
      }
      case 'close': {
        const socket = this.sockets.get(o.transport);
        if (socket) {
          this.forget(o.transport, socket);
          try {
            socket.close(1000);
          } catch {
            // already closed
          }
        }
        return;
      }
      case 'needCredentials':
        if (this.offline) this.heldAttempt = o.attempt;
        else void this.credentialsFor(o.attempt);
        return;
      case 'event':
        this.onEvent(o.event);
        return;
    }
  }

  /** @param {ClientEvent} e */
  onEvent(e) {
    this.emit(e);
    if (e.type === 'disconnected' && e.reason.kind === 'sessionTimeout') {
      this.emit({ type: 'sessionTimeout' });
      if (this.options.autoRejoin) globalThis.queueMicrotask(() => void this.connect());
    }
  }

  /** @param {number} attempt */
  async credentialsFor(attempt) {
    const token = await this.token(attempt);
    if (token === null) return;
    if (this.offline) {
      this.heldAttempt = attempt;
      return;
    }
    try {
      this.run(() => this.machine.provideCredentials(this.clock.now(), { token }));
    } catch {
      // The attempt was overtaken (a close, a manual reconnect).
    }
  }

  /**
   * @param {number} attempt
   * @returns {Promise<string | null>}
   */
  async token(attempt) {
    try {
      const token = await this.options.getToken({ attempt });
      if (typeof token !== 'string') throw new TypeError('getToken must return a string');
      this.lastToken = token;
      return token;
    } catch (error) {
      this.emit({ type: 'tokenError', error });
      if (attempt > 0) {
        // Counts as a failed attempt: the machine backs off and asks again.
        this.failNextConnect = true;
        try {
          this.run(() => this.machine.provideCredentials(this.clock.now(), { token: this.lastToken }));
        } catch {
          this.failNextConnect = false;
        }
      }
      return null;
    }
  }

  /**
   * @param {number} transport
   * @param {string} token
   * @param {string} endpoint the WebSocket URL (without the token)
   */
  open(transport, token, endpoint) {
    const Socket = this.Socket;
    if (!Socket) throw new Error('no WebSocket implementation: pass options.WebSocket');
    const sep = endpoint.includes('?') ? '&' : '?';
    const url = `${endpoint}${sep}token=${encodeURIComponent(token)}`;
    /** @type {SocketLike} */
    let socket;
    try {
      socket = new Socket(url);
    } catch (e) {
      globalThis.queueMicrotask(() => this.run(() => this.machine.transportFailed(this.clock.now(), transport, { network: String(e) })));
      return;
    }
    let opened = false;
    this.sockets.set(transport, socket);
    socket.onopen = () => {
      opened = true;
      if (this.sockets.get(transport) !== socket) return;
      this.run(() => this.machine.transportOpen(this.clock.now(), transport));
    };
    socket.onmessage = (ev) => {
      if (this.sockets.get(transport) !== socket) return;
      if (typeof ev.data !== 'string') return;
      let message;
      try {
        message = decodeServerMessage(ev.data);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        // A frame that does not decode is a broken server: drop the socket.
        this.emit({ type: 'protocolError', error });
        this.forget(transport, socket);
        socket.close(1002);
        this.run(() => this.machine.transportClosed(this.clock.now(), transport, null));
        return;
      }
      this.run(() => this.machine.handleMessage(this.clock.now(), transport, message));
    };
    // Some WebSocket implementations (Node's, when the upgrade is refused)
    // report an error and never a close: a socket that errs before it
    // opened has failed.
    socket.onerror = () => {
      if (opened || this.sockets.get(transport) !== socket) return;
      this.forget(transport, socket);
      void this.failedOpen(transport, url);
    };
    socket.onclose = (ev) => {
      if (this.sockets.get(transport) !== socket) return;
      this.forget(transport, socket);
      if (!opened) {
        void this.failedOpen(transport, url);
        return;
      }
      // 1005 (no code) and 1006 (no close frame) mean the peer sent none.
      const code = ev.code === 1005 || ev.code === 1006 ? null : ev.code;
      this.run(() => this.machine.transportClosed(this.clock.now(), transport, code));
    };
  }

  /**
   * A socket closed before it opened: refused credentials (HTTP 401 on the
   * upgrade, which a WebSocket cannot see; asked over HTTP) or a network
   * failure.
   * @param {number} transport
   * @param {string} url
   */
  async failedOpen(transport, url) {
    let unauthorized = false;
    const probe = this.options.authProbe ?? typeof globalThis.fetch === 'function';
    if (probe && !this.offline) {
      try {
        const res = await globalThis.fetch(url.replace(/^ws/, 'http'), { method: 'GET' });
        unauthorized = res.status === 401;
      } catch {
        // unreachable: a network failure
      }
    }
    this.run(() => this.machine.transportFailed(this.clock.now(), transport, unauthorized ? 'unauthorized' : { network: 'the socket closed before it opened' }));
  }

  /** @param {number} transport @param {SocketLike} socket */
  forget(transport, socket) {
    if (this.sockets.get(transport) === socket) this.sockets.delete(transport);
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
  }

  arm() {
    const deadline = this.machine.pollTimeout();
    if (deadline === this.timerAt) return;
    this.clearTimer();
    if (deadline === null) return;
    this.timerAt = deadline;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.timerAt = null;
      this.run(() => this.machine.handleTimeout(this.clock.now()));
    }, Math.max(0, deadline - this.clock.now()));
  }

  clearTimer() {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = null;
  }

  emitStatus() {
    const status = this.status();
    const text = JSON.stringify(status);
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.emit({ type: 'status', ...status });
  }
}
