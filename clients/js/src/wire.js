// Huddle's WebSocket protocol, version 1 (docs/protocol.md): one JSON
// object per text frame, tagged by `type`. Client messages are encoded
// here; server messages are decoded strictly, like the Rust client's
// `huddle_core::wire::ServerMessage::from_json`: a missing `type` or
// required field, a field of the wrong type, an unknown `type`, `op`,
// error code, colour or sync reason is a DecodeError. Unknown extra
// fields are ignored (later protocol versions may add fields).
//
// Element `data` is any JSON value; the client holds it parsed.

import { DecodeError } from './errors.js';

/**
 * A JSON value.
 * @typedef {null | boolean | number | string | JsonArray | JsonObject} Json
 */
/** @typedef {Json[]} JsonArray */
/** @typedef {{ [key: string]: Json }} JsonObject */

/**
 * @typedef {{ op: 'upsert', page: string, element: string, data: Json }
 *   | { op: 'delete', page: string, element: string }} Mutation
 */

/** @typedef {Mutation & { seq: number, user: string }} WireEvent */

/** @typedef {{ user_id: string, display_name: string, color: string }} Participant */

/** @typedef {{ id: string, version: number, created_at: string, created_by: 'auto-save' | 'on-disconnect' | 'manual' | 'archive' }} SnapshotInfo */

/** @typedef {'initial' | 'too_old' | 'ahead' | 'no_history'} FullSyncReason */

/**
 * A sync, or its first part when the `joined` announces `parts`.
 * @typedef {{ kind: 'delta', events: WireEvent[] }
 *   | { kind: 'full', reason: FullSyncReason, pages: Pages }} WireSync
 */

/**
 * What a `joined_part` carries: more elements of a full sync, or more
 * events of a delta.
 * @typedef {{ kind: 'pages', pages: Pages } | { kind: 'events', events: WireEvent[] }} PartContent
 */

/** @typedef {Record<string, Record<string, Json>>} Pages */

/**
 * @typedef {'BOARD_NOT_FOUND' | 'NOT_JOINED' | 'SESSION_EXPIRED' | 'INVALID_MESSAGE'
 *   | 'PAYLOAD_TOO_LARGE' | 'RATE_LIMITED' | 'ROOM_FULL' | 'UNAUTHORIZED'
 *   | 'UNAVAILABLE' | 'SLOW_CONSUMER' | 'DATA_TOO_DEEP' | 'BATCH_ID_REUSED' | 'SNAPSHOT_UNCHANGED'
 *   | 'BOARD_TOO_LARGE' | 'SNAPSHOT_TOO_LARGE'} ErrorCode
 */

/**
 * `joined`'s `parts`: how many `joined_part` frames follow with the rest
 * of its sync (0 when the field is absent: the sync is complete).
 * @typedef {{ type: 'joined', session_id: string, board: string, color: string,
 *     participants: Participant[], sequence: number, history_from: number, sync: WireSync, parts: number }
 *   | { type: 'joined_part', session_id: string, board: string, part: number, last: boolean, content: PartContent }
 *   | { type: 'ack', batch: string, sequence: number }
 *   | { type: 'events', events: WireEvent[] }
 *   | ({ type: 'participant_joined' } & Participant)
 *   | ({ type: 'participant_left' } & Participant)
 *   | { type: 'cursor', user_id: string, x: number, y: number }
 *   | ({ type: 'snapshot' } & SnapshotInfo)
 *   | { type: 'session_timeout', board: string }
 *   | { type: 'session_closed', board: string, reason: 'closed' | 'moved' | 'failed' }
 *   | { type: 'redirect', board: string, node: string, url: string }
 *   | { type: 'error', code: ErrorCode, message: string, batch?: string }
 *   | { type: 'pong' }} ServerMessage
 */

/**
 * @typedef {{ type: 'join', board: string, last_sequence?: number }
 *   | { type: 'mutate', batch: string, mutations: Mutation[] }
 *   | { type: 'cursor', x: number, y: number }
 *   | { type: 'snapshot' } | { type: 'leave' } | { type: 'ping' }} ClientMessage
 */

/** The participant colours a server assigns. */
export const PALETTE = ['#FF6B6B', '#4ECDC4', '#45B7D1', '#96CEB4', '#FFEAA7', '#DDA0DD', '#98D8C8', '#F7DC6F'];

/** @type {ReadonlySet<string>} */
export const ERROR_CODES = new Set([
  'BOARD_NOT_FOUND', 'NOT_JOINED', 'SESSION_EXPIRED', 'INVALID_MESSAGE', 'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED', 'ROOM_FULL', 'UNAUTHORIZED', 'UNAVAILABLE', 'SLOW_CONSUMER', 'DATA_TOO_DEEP',
  'BATCH_ID_REUSED', 'SNAPSHOT_UNCHANGED', 'BOARD_TOO_LARGE', 'SNAPSHOT_TOO_LARGE',
]);

/**
 * Close code of a connection that sent no `join` within the server's join
 * deadline: retried like a drop (docs/protocol.md, "Close codes").
 */
export const JOIN_TIMEOUT = 4006;

const REASONS = new Set(['initial', 'too_old', 'ahead', 'no_history']);
const CAUSES = new Set(['auto-save', 'on-disconnect', 'manual', 'archive']);

/**
 * Whether a code may succeed if the same request is sent again later.
 * @param {string} code
 */
export function isRetryable(code) {
  return code === 'RATE_LIMITED' || code === 'UNAVAILABLE';
}

/**
 * Whether `value` is a JSON value (what element data must be): null,
 * booleans, finite numbers, strings, arrays and plain objects of them.
 * @param {unknown} value
 * @returns {value is Json}
 */
export function isJsonValue(value) {
  /** @param {unknown} v @param {number} depth @returns {boolean} */
  const check = (v, depth) => {
    if (depth > 512) return false;
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return true;
    if (typeof v === 'number') return Number.isFinite(v);
    if (Array.isArray(v)) return v.every((x) => check(x, depth + 1));
    if (typeof v === 'object') {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.values(/** @type {object} */ (v)).every((x) => check(x, depth + 1));
    }
    return false;
  };
  return check(value, 0);
}

/**
 * Encodes a client message as one text frame.
 * @param {ClientMessage} message
 * @returns {string}
 */
export function encodeClientMessage(message) {
  return JSON.stringify(message);
}

/**
 * Decodes one server text frame.
 * @param {string} frame
 * @returns {ServerMessage}
 * @throws {DecodeError}
 */
export function decodeServerMessage(frame) {
  let value;
  try {
    value = JSON.parse(frame);
  } catch (e) {
    throw new DecodeError(`malformed message: ${/** @type {Error} */ (e).message}`);
  }
  return decodeServerValue(value);
}

/**
 * Decodes a parsed server message (see decodeServerMessage).
 * @param {unknown} value
 * @returns {ServerMessage}
 */
export function decodeServerValue(value) {
  const o = object(value, 'message');
  if (o.type === undefined) throw new DecodeError('message has no `type`');
  const type = str(o.type, 'message', 'type');
  const need = (/** @type {string} */ field) => {
    if (o[field] === undefined || o[field] === null) {
      throw new DecodeError(`\`${type}\` message is missing \`${field}\``);
    }
    return o[field];
  };
  switch (type) {
    case 'joined': {
      const session = str(need('session_id'), type, 'session_id');
      if (!/^[0-9a-fA-F]{1,16}$/.test(session)) throw invalid(type, 'session_id');
      const participants = array(need('participants'), type, 'participants').map((p) =>
        participant(p, type),
      );
      const sync = object(need('sync'), 'sync');
      const kind = sync.kind;
      if (kind === undefined || kind === null) throw new DecodeError('`joined` message is missing `sync.kind`');
      /** @type {WireSync} */
      let wireSync;
      if (kind === 'delta') {
        wireSync = { kind: 'delta', events: events(sync.events, type) };
      } else if (kind === 'full') {
        if (sync.reason === undefined || sync.reason === null) throw new DecodeError('`joined` message is missing `sync.reason`');
        if (typeof sync.reason !== 'string' || !REASONS.has(sync.reason)) throw invalid(type, 'sync.reason');
        if (sync.pages === undefined || sync.pages === null) throw new DecodeError('`joined` message is missing `sync.pages`');
        wireSync = { kind: 'full', reason: /** @type {FullSyncReason} */ (sync.reason), pages: pagesOf(sync.pages, 'sync.pages') };
      } else {
        throw invalid(type, 'sync.kind');
      }
      return {
        type,
        session_id: session,
        board: str(need('board'), type, 'board'),
        color: color(need('color'), type),
        participants,
        sequence: u64(need('sequence'), type, 'sequence'),
        history_from: u64(need('history_from'), type, 'history_from'),
        sync: wireSync,
        parts: sync.parts === undefined || sync.parts === null ? 0 : u32(sync.parts, type, 'sync.parts'),
      };
    }
    case 'joined_part': {
      const session = str(need('session_id'), type, 'session_id');
      if (!/^[0-9a-fA-F]{1,16}$/.test(session)) throw invalid(type, 'session_id');
      const board = str(need('board'), type, 'board');
      const part = u32(need('part'), type, 'part');
      const last = need('last');
      if (typeof last !== 'boolean') throw new DecodeError(`malformed message: \`${type}\`.last is not a boolean`);
      const hasPages = o.pages !== undefined && o.pages !== null;
      const hasEvents = o.events !== undefined && o.events !== null;
      if (hasPages && hasEvents) throw invalid(type, 'events');
      if (!hasPages && !hasEvents) throw new DecodeError(`\`${type}\` message is missing \`pages\``);
      /** @type {PartContent} */
      const content = hasPages ? { kind: 'pages', pages: pagesOf(o.pages, 'pages') } : { kind: 'events', events: events(o.events, type) };
      return { type, session_id: session, board, part, last, content };
    }
    case 'ack':
      return { type, batch: str(need('batch'), type, 'batch'), sequence: u64(need('sequence'), type, 'sequence') };
    case 'events':
      return { type, events: events(o.events, type) };
    case 'participant_joined':
    case 'participant_left':
      return { type, ...participant(o, type) };
    case 'cursor':
      return {
        type,
        user_id: str(need('user_id'), type, 'user_id'),
        x: num(need('x'), type, 'x'),
        y: num(need('y'), type, 'y'),
      };
    case 'snapshot': {
      const at = parseRfc3339(str(need('created_at'), type, 'created_at'));
      if (at === null) throw invalid(type, 'created_at');
      const by = str(need('created_by'), type, 'created_by');
      if (!CAUSES.has(by)) throw invalid(type, 'created_by');
      return {
        type,
        id: str(need('id'), type, 'id'),
        version: u64(need('version'), type, 'version'),
        created_at: formatRfc3339(at),
        created_by: /** @type {SnapshotInfo['created_by']} */ (by),
      };
    }
    case 'session_timeout':
      return { type, board: str(need('board'), type, 'board') };
    case 'session_closed': {
      // `moved` and `failed` tell the client to reconnect now; anything
      // else (or none, from an older server) is a deliberate close.
      const reason = o.reason === 'moved' || o.reason === 'failed' ? o.reason : 'closed';
      return { type, board: str(need('board'), type, 'board'), reason };
    }
    case 'redirect':
      // Another node owns the board: join again at `url` (docs/protocol.md).
      return {
        type,
        board: str(need('board'), type, 'board'),
        node: str(need('node'), type, 'node'),
        url: str(need('url'), type, 'url'),
      };
    case 'error': {
      const code = str(need('code'), type, 'code');
      if (!ERROR_CODES.has(code)) throw invalid(type, 'code');
      const message = o.message === undefined || o.message === null ? '' : str(o.message, type, 'message');
      /** @type {ServerMessage} */
      const m = { type, code: /** @type {ErrorCode} */ (code), message };
      if (o.batch !== undefined && o.batch !== null) m.batch = str(o.batch, type, 'batch');
      return m;
    }
    case 'pong':
      return { type };
    default:
      throw new DecodeError(`unknown message type \`${type}\``);
  }
}

/**
 * @param {unknown} v
 * @param {string} what
 * @returns {Record<string, unknown>}
 */
function object(v, what) {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new DecodeError(`malformed message: ${what} is not a JSON object`);
  }
  return /** @type {Record<string, unknown>} */ (v);
}

/** @param {unknown} v @param {string} kind @param {string} field @returns {unknown[]} */
function array(v, kind, field) {
  if (!Array.isArray(v)) throw new DecodeError(`malformed message: \`${kind}\`.${field} is not an array`);
  return v;
}

/** @param {unknown} v @param {string} kind @param {string} field @returns {string} */
function str(v, kind, field) {
  if (typeof v !== 'string') throw new DecodeError(`malformed message: \`${kind}\`.${field} is not a string`);
  return v;
}

/** @param {unknown} v @param {string} kind @param {string} field @returns {number} */
function num(v, kind, field) {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new DecodeError(`malformed message: \`${kind}\`.${field} is not a number`);
  return v;
}

/** @param {unknown} v @param {string} kind @param {string} field @returns {number} */
function u64(v, kind, field) {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new DecodeError(`malformed message: \`${kind}\`.${field} is not an unsigned integer`);
  }
  return v;
}

/** @param {unknown} v @param {string} kind @param {string} field @returns {number} */
function u32(v, kind, field) {
  const n = u64(v, kind, field);
  if (n > 0xffffffff) throw new DecodeError(`malformed message: \`${kind}\`.${field} is not a 32-bit unsigned integer`);
  return n;
}

/**
 * `{page: {element: data}}`, empty pages left out. Built with fromEntries
 * (defined, not assigned: a page named `__proto__` stays a page).
 * @param {unknown} v
 * @param {string} what
 * @returns {Pages}
 */
function pagesOf(v, what) {
  return Object.fromEntries(
    Object.entries(object(v, what))
      .map(([page, elements]) => [page, /** @type {Record<string, Json>} */ ({ ...object(elements, what) })])
      .filter(([, els]) => Object.keys(els).length > 0),
  );
}

/** @param {string} kind @param {string} field */
function invalid(kind, field) {
  return new DecodeError(`\`${kind}\` message has an invalid \`${field}\``);
}

/** @param {unknown} v @param {string} kind @returns {string} */
function color(v, kind) {
  const hex = str(v, kind, 'color');
  const found = PALETTE.find((p) => p.toLowerCase() === hex.toLowerCase());
  if (found === undefined) throw invalid(kind, 'color');
  return found;
}

/** @param {unknown} v @param {string} kind @returns {Participant} */
function participant(v, kind) {
  const p = object(v, 'participant');
  const get = (/** @type {string} */ f) => {
    if (p[f] === undefined || p[f] === null) throw new DecodeError(`\`${kind}\` message is missing \`${f}\``);
    return p[f];
  };
  return {
    user_id: str(get('user_id'), kind, 'user_id'),
    display_name: str(get('display_name'), kind, 'display_name'),
    color: color(get('color'), kind),
  };
}

/**
 * A mutation object (`op`, `page`, `element`, `data` for upserts).
 * @param {unknown} v
 * @param {string} kind
 * @returns {Mutation}
 */
export function decodeMutation(v, kind) {
  const m = object(v, 'mutation');
  const get = (/** @type {string} */ f) => {
    if (m[f] === undefined || (f !== 'data' && m[f] === null)) throw new DecodeError(`\`${kind}\` message is missing \`${f}\``);
    return m[f];
  };
  const op = str(get('op'), kind, 'op');
  const page = str(get('page'), kind, 'page');
  const element = str(get('element'), kind, 'element');
  if (op === 'upsert') {
    const data = get('data');
    if (!isJsonValue(data)) throw invalid(kind, 'data');
    return { op, page, element, data };
  }
  if (op === 'delete') return { op, page, element };
  throw new DecodeError(`unknown mutation op \`${op}\``);
}

/** @param {unknown} v @param {string} kind @returns {WireEvent[]} */
function events(v, kind) {
  if (v === undefined || v === null) throw new DecodeError(`\`${kind}\` message is missing \`events\``);
  return array(v, kind, 'events').map((e) => {
    const o = object(e, 'event');
    if (o.seq === undefined || o.seq === null) throw new DecodeError(`\`${kind}\` message is missing \`seq\``);
    if (o.user === undefined || o.user === null) throw new DecodeError(`\`${kind}\` message is missing \`user\``);
    const seq = u64(o.seq, kind, 'seq');
    const user = str(o.user, kind, 'user');
    return { seq, user, ...decodeMutation(o, kind) };
  });
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * Milliseconds since the epoch of an RFC 3339 time, or null.
 * @param {string} text
 * @returns {number | null}
 */
export function parseRfc3339(text) {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 60) return null;
  const millis = m[7] ? Number((m[7] + '00').slice(0, 3)) : 0;
  let offset = 0;
  if (m[9]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offset = (m[9] === '+' ? 1 : -1) * (oh * 3600 + om * 60);
  }
  const secs = Date.UTC(y, mo - 1, d, h, mi, 0) / 1000 + s - offset;
  if (y < 100) return null;
  if (secs < 0) return null;
  return secs * 1000 + millis;
}

/**
 * RFC 3339 in UTC with millisecond precision, as the wire writes times.
 * @param {number} ms
 */
export function formatRfc3339(ms) {
  return new Date(ms).toISOString();
}
