// A client's side of "Large syncs in parts" (docs/protocol.md): a
// `joined` that announces `parts` and the `joined_part` frames that follow
// it, put together into one complete `joined` (the port of the Rust
// `huddle_wire::JoinAssembly`). The parts must come in order, of the same
// session and board, carry what the sync carries (elements of a full
// sync, events of a delta), and only the announced last one is marked
// `last`; anything else is a PartError and changes nothing. Nothing is
// applied before the last part: the machine replaces its replica with the
// assembled sync at once.

/** @typedef {import('./wire.js').Json} Json */
/** @typedef {import('./wire.js').ServerMessage} ServerMessage */
/** @typedef {Extract<ServerMessage, { type: 'joined' }>} Joined */
/** @typedef {Extract<ServerMessage, { type: 'joined_part' }>} JoinedPart */

/**
 * Why a `joined_part` does not continue the sync being assembled (the
 * Rust `PartError`): `unexpected` (no `joined` announced parts, or all
 * arrived), `outOfOrder` {expected, got}, `otherSession` (another session
 * id or board), `wrongContent` {expected, got} (`pages` or `events`),
 * `wrongLast` {part, last, parts}.
 * @typedef {{ kind: 'unexpected' } | { kind: 'outOfOrder', expected: number, got: number }
 *   | { kind: 'otherSession' } | { kind: 'wrongContent', expected: 'pages' | 'events', got: 'pages' | 'events' }
 *   | { kind: 'wrongLast', part: number, last: boolean, parts: number }} PartError
 */

/** The same session id, however many leading zeros. @param {string} a @param {string} b */
function sameSession(a, b) {
  return BigInt(`0x${a}`) === BigInt(`0x${b}`);
}

export class JoinAssembly {
  /** @param {Joined} joined the `joined` frame (complete at once if it announces no parts) */
  constructor(joined) {
    /** @private */
    this.joined = joined;
    /** The parts received so far. */
    this.received = 0;
    /** @type {Map<string, Map<string, Json>> | null} @private a full sync's elements, in order */
    this.pageMap = null;
    if (joined.sync.kind === 'full') {
      this.pageMap = new Map(Object.entries(joined.sync.pages).map(([p, els]) => [p, new Map(Object.entries(els))]));
    }
    /** @type {import('./wire.js').WireEvent[]} @private a delta's events */
    this.events = joined.sync.kind === 'delta' ? [...joined.sync.events] : [];
  }

  /** Whether every announced part arrived. */
  isComplete() {
    return this.received >= this.joined.parts;
  }

  /**
   * Adds the next part.
   * @param {JoinedPart} part
   * @returns {PartError | null} why it was refused (nothing changed), or null
   */
  add(part) {
    if (this.isComplete()) return { kind: 'unexpected' };
    if (!sameSession(part.session_id, this.joined.session_id) || part.board !== this.joined.board) {
      return { kind: 'otherSession' };
    }
    const expected = this.received + 1;
    if (part.part !== expected) return { kind: 'outOfOrder', expected, got: part.part };
    if (part.last !== (expected === this.joined.parts)) {
      return { kind: 'wrongLast', part: part.part, last: part.last, parts: this.joined.parts };
    }
    const want = this.pageMap !== null ? 'pages' : 'events';
    if (part.content.kind !== want) return { kind: 'wrongContent', expected: want, got: part.content.kind };
    if (part.content.kind === 'pages' && this.pageMap !== null) {
      for (const [page, elements] of Object.entries(part.content.pages)) {
        let map = this.pageMap.get(page);
        if (!map) {
          map = new Map();
          this.pageMap.set(page, map);
        }
        for (const [element, data] of Object.entries(elements)) map.set(element, data);
      }
    } else if (part.content.kind === 'events') {
      this.events.push(...part.content.events);
    }
    this.received = expected;
    return null;
  }

  /** @returns {Joined} the assembled `joined` (complete once isComplete) */
  intoJoined() {
    const j = this.joined;
    if (j.sync.kind === 'full' && this.pageMap !== null) {
      // fromEntries defines the keys (a page named `__proto__` stays a page).
      const pages = Object.fromEntries([...this.pageMap].map(([p, els]) => [p, Object.fromEntries(els)]));
      return { ...j, sync: { kind: 'full', reason: j.sync.reason, pages } };
    }
    return { ...j, sync: { kind: 'delta', events: this.events } };
  }
}
