// A fake clock with timers, a fake WebSocket whose instances the test
// controls, and a fake network EventTarget: the driver's unit tests run in
// virtual time without sockets.

export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    /** @type {{ at: number, fn: () => void, id: number }[]} */
    this.timers = [];
    this.nextId = 1;
  }
  now() {
    return this.t;
  }
  /** @param {() => void} fn @param {number} ms */
  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  /** @param {any} id */
  clearTimeout(id) {
    this.timers = this.timers.filter((t) => t.id !== id);
  }
  /** Advances by `ms`, running every timer that falls due, in order. @param {number} ms */
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets queued promises and microtasks run. */
export async function settle() {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

/** @type {FakeSocket[]} */
export const sockets = [];

export class FakeSocket {
  /** @param {string} url */
  constructor(url) {
    this.url = url;
    /** @type {string[]} */
    this.sent = [];
    this.closedWith = /** @type {number | undefined | null} */ (null);
    /** @type {((ev: any) => void) | null} */ this.onopen = null;
    /** @type {((ev: any) => void) | null} */ this.onmessage = null;
    /** @type {((ev: any) => void) | null} */ this.onclose = null;
    /** @type {((ev: any) => void) | null} */ this.onerror = null;
    sockets.push(this);
  }
  /** @param {string} data */
  send(data) {
    this.sent.push(data);
  }
  /** @param {number} [code] */
  close(code) {
    this.closedWith = code;
  }
  // ---- the test's side ----
  open() {
    this.onopen?.({});
  }
  /** @param {unknown} message */
  receive(message) {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) });
  }
  /** @param {number} code */
  drop(code = 1006) {
    this.onclose?.({ code });
  }
  /** An error without a close (what Node's WebSocket does on a refused upgrade). */
  fail() {
    this.onerror?.({});
  }
  /** The sent frames, parsed. */
  messages() {
    return this.sent.map((s) => JSON.parse(s));
  }
  token() {
    return new URL(this.url).searchParams.get('token');
  }
}

/** A joined frame with a full sync. @param {number} sequence @param {Record<string, Record<string, unknown>>} [pages] */
export function joinedFull(sequence, pages = {}) {
  return {
    type: 'joined', session_id: '00000000000000a1', board: 'board-1', color: '#FF6B6B',
    participants: [{ user_id: 'alice', display_name: 'Alice', color: '#FF6B6B' }],
    sequence, history_from: 0, sync: { kind: 'full', reason: 'initial', pages },
  };
}

/** @param {number} sequence @param {unknown[]} events */
export function joinedDelta(sequence, events) {
  return { ...joinedFull(sequence), sync: { kind: 'delta', events } };
}
