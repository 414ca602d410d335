// Recovery: the client's unacknowledged work, exported with a timestamp so
// that a reloaded page (or restarted process) can import it and send it
// again with the same batch ids, so nothing is applied twice. The JSON
// form is the Rust client's (`huddle_core::client::Recovery`, format 1):
// either client can import the other's export.
//
//   {"format":1,"exported_at":"2026-12-01T21:30:38.616Z","board":"b",
//    "client_id":"...","next_batch":3,
//    "batches":[{"batch":"...-1","mutations":[...],"retries":0}]}

import { RecoveryError } from './errors.js';
import { decodeMutation, formatRfc3339, parseRfc3339 } from './wire.js';

/** @typedef {import('./wire.js').Mutation} Mutation */

/** The format version written into exports. */
export const RECOVERY_FORMAT = 1;

/**
 * @typedef {object} RecoveredBatch
 * @property {string} batch its id, reused when it is sent again
 * @property {Mutation[]} mutations
 * @property {number} retries retryable rejections it already had
 */

/**
 * @typedef {object} Recovery
 * @property {number} format always RECOVERY_FORMAT
 * @property {string} exported_at RFC 3339
 * @property {string} board
 * @property {string} client_id the prefix of its batch ids
 * @property {number} next_batch new batches continue after it
 * @property {RecoveredBatch[]} batches oldest first
 */

/**
 * @param {number} exportedAtMs
 * @param {string} board
 * @param {string} clientId
 * @param {number} nextBatch
 * @param {RecoveredBatch[]} batches
 * @returns {Recovery}
 */
export function makeRecovery(exportedAtMs, board, clientId, nextBatch, batches) {
  return {
    format: RECOVERY_FORMAT,
    exported_at: formatRfc3339(exportedAtMs),
    board,
    client_id: clientId,
    next_batch: nextBatch,
    batches: batches.map((b) => ({ batch: b.batch, mutations: b.mutations.map((m) => ({ ...m })), retries: b.retries })),
  };
}

/** Mutations held. @param {Recovery} r */
export function recoveryMutationCount(r) {
  return r.batches.reduce((n, b) => n + b.mutations.length, 0);
}

/**
 * Reads recovery data (a JSON string or the parsed object), strictly: any
 * unknown field, wrong type, unknown op or other format is Malformed.
 * @param {unknown} input
 * @returns {Recovery}
 * @throws {RecoveryError}
 */
export function parseRecovery(input) {
  let v = input;
  if (typeof input === 'string') {
    try {
      v = JSON.parse(input);
    } catch (e) {
      throw malformed(`not JSON: ${/** @type {Error} */ (e).message}`);
    }
  }
  const o = obj(v, 'recovery', ['format', 'exported_at', 'board', 'client_id', 'next_batch', 'batches']);
  if (o.format !== RECOVERY_FORMAT) throw malformed(`unsupported recovery format ${JSON.stringify(o.format)}`);
  if (typeof o.exported_at !== 'string' || parseRfc3339(o.exported_at) === null) {
    throw malformed('exported_at is not an RFC 3339 time');
  }
  if (typeof o.board !== 'string') throw malformed('board is not a string');
  if (typeof o.client_id !== 'string') throw malformed('client_id is not a string');
  if (!Number.isSafeInteger(o.next_batch) || /** @type {number} */ (o.next_batch) < 0) {
    throw malformed('next_batch is not an unsigned integer');
  }
  if (!Array.isArray(o.batches)) throw malformed('batches is not an array');
  const batches = o.batches.map((b) => {
    const f = obj(b, 'batch', ['batch', 'mutations', 'retries']);
    if (typeof f.batch !== 'string') throw malformed('batch is not a string');
    if (!Number.isSafeInteger(f.retries) || /** @type {number} */ (f.retries) < 0) throw malformed('retries is not an unsigned integer');
    if (!Array.isArray(f.mutations)) throw malformed('mutations is not an array');
    const mutations = f.mutations.map((m) => {
      const mo = obj(m, 'mutation', ['op', 'page', 'element', 'data']);
      if (mo.op === 'upsert' && !('data' in mo)) throw malformed('upsert without data');
      try {
        return decodeMutation(mo, 'recovery');
      } catch (e) {
        throw malformed(/** @type {Error} */ (e).message);
      }
    });
    return { batch: f.batch, mutations, retries: /** @type {number} */ (f.retries) };
  });
  return {
    format: RECOVERY_FORMAT,
    exported_at: o.exported_at,
    board: o.board,
    client_id: o.client_id,
    next_batch: /** @type {number} */ (o.next_batch),
    batches,
  };
}

/** @param {string} why */
function malformed(why) {
  return new RecoveryError('Malformed', `malformed recovery data: ${why}`);
}

/**
 * @param {unknown} v
 * @param {string} what
 * @param {string[]} fields the allowed fields
 * @returns {Record<string, unknown>}
 */
function obj(v, what, fields) {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed(`${what} is not an object`);
  for (const k of Object.keys(v)) if (!fields.includes(k)) throw malformed(`unknown field \`${k}\` in ${what}`);
  return /** @type {Record<string, unknown>} */ (v);
}
