// What only the JS side has to get right (the shared behaviour is checked
// by the traces): its decoder, typed errors for values a JS app can pass,
// config validation, the exact float rounding of the jitter, and the
// recovery format shared with the Rust client.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { backoffDelay, jittered, secsToNanos, SplitMix64 } from '../src/backoff.js';
import { makeConfig } from '../src/config.js';
import { ClientError, DecodeError, RecoveryError } from '../src/errors.js';
import { ClientMachine } from '../src/machine.js';
import { parseRecovery } from '../src/recovery.js';
import { decodeServerMessage, isJsonValue, parseRfc3339 } from '../src/wire.js';

const T0 = 1_700_000_000_000;

/** @param {ClientMachine} c */
function drain(c) {
  const out = [];
  for (let o = c.pollOutput(); o; o = c.pollOutput()) out.push(o);
  return out;
}

/** @param {() => unknown} f @param {string} kind @param {Function} [type] */
function refused(f, kind, type = ClientError) {
  assert.throws(f, (e) => e instanceof type && /** @type {any} */ (e).kind === kind);
}

test('SplitMix64 matches the reference values', () => {
  // The first outputs for seed 0 (the published SplitMix64 test vector).
  const r = new SplitMix64(0);
  assert.equal(r.nextU64(), 0xe220a8397b1dcdafn);
  assert.equal(r.nextU64(), 0x6e789e6aa1b965f4n);
  assert.equal(r.nextU64(), 0x06c45d188009454fn);
  // Seeds wrap to 64 bits.
  assert.equal(new SplitMix64(-1).state, (1n << 64n) - 1n);
});

test('jitter: durations rounded to the nanosecond with ties to even, then cut to ms', () => {
  assert.equal(secsToNanos(1 / 1024), 976562n); // 976562.5 ns: tie, even
  assert.equal(secsToNanos(3 / 1024), 2929688n); // 2929687.5 ns: tie, even
  assert.equal(secsToNanos(0.1), 100000000n);
  assert.equal(secsToNanos(1e-10), 0n);
  assert.equal(secsToNanos(16), 16000000000n);
  assert.equal(secsToNanos(-1), null);
  assert.equal(secsToNanos(Infinity), null);
  const rng = new SplitMix64(9);
  for (let i = 0; i < 1000; i++) {
    const d = jittered(4000, 0.25, rng);
    assert.ok(Number.isInteger(d) && d >= 3000 && d <= 5000, String(d));
  }
  assert.equal(jittered(4000, 0, rng), 4000);
  assert.equal(jittered(0, 0.5, rng), 0);
  const b = makeConfig().backoff;
  assert.deepEqual([1, 2, 3, 4, 5, 40].map((n) => backoffDelay(b, n)), [1000, 2000, 4000, 8000, 16000, 16000]);
});

test('config: defaults, overrides, refusals', () => {
  const c = makeConfig({ backoff: { maxAttempts: 7 }, pingInterval: null });
  assert.equal(c.backoff.maxAttempts, 7);
  assert.equal(c.backoff.firstDelay, 1000);
  assert.equal(c.pingInterval, null);
  assert.throws(() => makeConfig({ attemptTimeout: -1 }), TypeError);
  assert.throws(() => makeConfig({ backoff: { jitter: 2 } }), TypeError);
  assert.throws(() => makeConfig({ cursorInterval: 1.5 }), TypeError);
});

test('mutate refuses what a JS app can pass that is not a mutation, and changes nothing', () => {
  const c = new ClientMachine({}, 'b', 1);
  refused(() => c.mutate(T0, []), 'EmptyBatch');
  refused(() => c.mutate(T0, /** @type {any} */ ('x')), 'EmptyBatch');
  refused(() => c.mutate(T0, /** @type {any} */ ([{ op: 'move', page: 'p', element: 'e' }])), 'InvalidMutation');
  refused(() => c.mutate(T0, /** @type {any} */ ([{ op: 'delete', page: 1, element: 'e' }])), 'InvalidMutation');
  for (const data of [undefined, NaN, Infinity, () => 1, new Date(), { a: undefined }, [1n]]) {
    refused(() => c.mutate(T0, /** @type {any} */ ([{ op: 'upsert', page: 'p', element: 'e', data }])), 'DataNotJson');
  }
  assert.equal(c.unackedBatches(), 0);
  const data = { nested: { list: [1, 'two', null, true] } };
  const id = c.mutate(T0, [{ op: 'upsert', page: 'p', element: 'e', data }]);
  data.nested.list.push(5); // the app's object changes later: the batch does not
  assert.deepEqual(c.pendingBatches()[0].mutations[0], { op: 'upsert', page: 'p', element: 'e', data: { nested: { list: [1, 'two', null, true] } } });
  assert.match(id, /^[0-9a-f]{16}-1$/);
  assert.equal(isJsonValue(Object.create(null)), true);
});

test('cursor refuses coordinates that are not finite; snapshot needs a connection', () => {
  const c = new ClientMachine({}, 'b', 1);
  refused(() => c.cursor(T0, NaN, 1), 'InvalidCoordinate');
  refused(() => c.cursor(T0, 1, 1), 'NotConnected');
  refused(() => c.requestSnapshot(T0), 'NotConnected');
  c.connect(T0, { token: 't' });
  refused(() => c.connect(T0, { token: 't' }), 'AlreadyActive');
  refused(() => c.provideCredentials(T0, { token: 't' }), 'NoCredentialsRequested');
  assert.equal(drain(c).length, 1);
});

test('the decoder is strict about what is required and ignores unknown fields', () => {
  const ok = decodeServerMessage('{"type":"participant_joined","user_id":"u","display_name":"U","color":"#ff6b6b","extra":1}');
  assert.deepEqual(ok, { type: 'participant_joined', user_id: 'u', display_name: 'U', color: '#FF6B6B' });
  const bad = [
    'not json', '[]', '{"type":"ack","batch":"b"}', '{"batch":"b","sequence":1}', '{"type":"nope"}',
    '{"type":"ack","batch":"b","sequence":-1}', '{"type":"ack","batch":"b","sequence":9007199254740993}',
    '{"type":"ack","batch":5,"sequence":1}', '{"type":"error","code":"WHATEVER","message":"m"}',
    '{"type":"participant_left","user_id":"u","display_name":"U","color":"#123456"}',
    '{"type":"events","events":[{"seq":1,"user":"u","op":"upsert","page":"p","element":"e"}]}',
    '{"type":"events","events":[{"seq":1,"user":"u","op":"move","page":"p","element":"e"}]}',
    '{"type":"snapshot","id":"s","version":1,"created_at":"yesterday","created_by":"manual"}',
    '{"type":"snapshot","id":"s","version":1,"created_at":"2026-12-01T21:30:38.616Z","created_by":"someone"}',
    '{"type":"joined","session_id":"zz","board":"b","color":"#FF6B6B","participants":[],"sequence":0,"history_from":0,"sync":{"kind":"delta","events":[]}}',
    '{"type":"joined","session_id":"01","board":"b","color":"#FF6B6B","participants":[],"sequence":0,"history_from":0,"sync":{"kind":"half"}}',
    '{"type":"joined","session_id":"01","board":"b","color":"#FF6B6B","participants":[],"sequence":0,"history_from":0,"sync":{"kind":"full","reason":"initial"}}',
  ];
  for (const frame of bad) assert.throws(() => decodeServerMessage(frame), DecodeError, frame);
  // An upsert's data may be null, and is kept as parsed JSON.
  const ev = decodeServerMessage('{"type":"events","events":[{"seq":1,"user":"u","op":"upsert","page":"p","element":"e","data":null}]}');
  assert.deepEqual(ev, { type: 'events', events: [{ seq: 1, user: 'u', op: 'upsert', page: 'p', element: 'e', data: null }] });
  // Ids that are special in JavaScript stay plain data.
  const tricky = decodeServerMessage('{"type":"joined","session_id":"01","board":"b","color":"#FF6B6B","participants":[],"sequence":1,"history_from":0,"sync":{"kind":"full","reason":"initial","pages":{"__proto__":{"constructor":1},"p":{}}}}');
  assert.ok(tricky.type === 'joined' && tricky.sync.kind === 'full');
  assert.deepEqual(Object.keys(tricky.sync.pages), ['__proto__']);
  assert.equal(Object.getPrototypeOf(tricky.sync.pages), Object.prototype);
  const m = new ClientMachine({}, 'b', 1);
  m.connect(T0, { token: 't' });
  m.transportOpen(T0, 1);
  m.handleMessage(T0, 1, tricky);
  assert.deepEqual(Object.keys(m.replica.pages()), ['__proto__']);
  assert.equal(m.replica.get('__proto__', 'constructor'), 1);
  const error = decodeServerMessage('{"type":"error","code":"RATE_LIMITED"}');
  assert.deepEqual(error, { type: 'error', code: 'RATE_LIMITED', message: '' });
  // The byte budgets' codes (docs/protocol.md) are known; a made-up one is not.
  for (const code of ['BOARD_TOO_LARGE', 'SNAPSHOT_TOO_LARGE', 'DATA_TOO_DEEP', 'BATCH_ID_REUSED', 'SNAPSHOT_UNCHANGED']) {
    const decoded = decodeServerMessage(`{"type":"error","code":"${code}","message":"m"}`);
    assert.ok(decoded.type === 'error');
    assert.equal(decoded.code, code);
  }
  assert.throws(() => decodeServerMessage('{"type":"error","code":"BOARD_TOO_BIG"}'), DecodeError);
  assert.equal(parseRfc3339('2026-12-01T21:30:38.616+01:00'), Date.UTC(2026, 11, 1, 20, 30, 38, 616));
  assert.equal(parseRfc3339('2026-02-30T00:00:00Z'), null);
});

test('recovery: the Rust client\'s export imports here, ours has its shape, malformed data is refused', () => {
  // A Rust export, as recorded in a trace.
  const trace = JSON.parse(readFileSync(new URL('./traces/recovery_export_import.json', import.meta.url), 'utf8'));
  const rustExport = trace.steps.find((/** @type {any} */ s) => s.input.op === 'export_recovery').result.ok;
  const parsed = parseRecovery(JSON.stringify(rustExport));
  assert.equal(parsed.format, 1);
  const c = new ClientMachine({}, 'board-1', 5);
  const at = /** @type {number} */ (parseRfc3339(rustExport.exported_at));
  assert.equal(c.importRecovery(at + 1000, rustExport), rustExport.batches.length);
  const ours = c.exportRecovery(at + 2000);
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(rustExport).sort());
  assert.deepEqual(ours.batches, rustExport.batches);

  const base = { format: 1, exported_at: new Date(T0).toISOString(), board: 'b', client_id: 'c', next_batch: 2, batches: [] };
  for (const bad of [
    'nope', { ...base, format: 2 }, { ...base, extra: 1 }, { ...base, exported_at: 'x' }, { ...base, next_batch: -1 },
    { ...base, batches: [{ batch: 'c-1', mutations: [{ op: 'upsert', page: 'p', element: 'e' }], retries: 0 }] },
    { ...base, batches: [{ batch: 'c-1', mutations: [{ op: 'jump', page: 'p', element: 'e' }], retries: 0 }] },
    { ...base, batches: [{ batch: 'c-1', mutations: [], retries: 0, more: 1 }] },
  ]) {
    const fresh = new ClientMachine({}, 'b', 1);
    refused(() => fresh.importRecovery(T0, bad), 'Malformed', RecoveryError);
    assert.equal(fresh.unackedBatches(), 0);
  }
});
