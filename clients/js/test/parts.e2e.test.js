// End to end: a large board's `joined` in parts (docs/protocol.md, "Large
// syncs in parts") against a real `huddle serve` with a 64 KiB frame
// limit: a fresh client gets a board of about 1 MiB in frames that each
// fit the limit, and its replica is the whole board; a reconnect's delta
// of every event comes in parts too.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { HuddleClient } from '../src/driver.js';
import { HuddleServer, waitFor } from './support/server.js';

if (typeof globalThis.WebSocket !== 'function') {
  throw new Error('these tests need a global WebSocket: Node 22+, or Node 20 with --experimental-websocket');
}

const LIMIT = 64 * 1024;
const ELEMENTS = 256;
const PER_BATCH = 8;

/** @type {HuddleServer} */
let server;

before(async () => {
  server = await HuddleServer.start([
    '--max-frame-bytes', String(LIMIT), '--max-payload-bytes', '16384', '--max-participants', '16',
  ]);
});

after(async () => {
  await server?.stop();
});

/** Sizes and types of the frames received by sockets of this class. */
const received = /** @type {{ bytes: number, type: string }[]} */ ([]);

/** A WebSocket that records what it receives. */
class RecordingSocket extends globalThis.WebSocket {
  /** @param {string} url */
  constructor(url) {
    super(url);
    this.addEventListener('message', (ev) => {
      const text = String(ev.data);
      received.push({ bytes: Buffer.byteLength(text), type: JSON.parse(text).type });
    });
  }
}

const FAST = { pingInterval: null, backoff: { firstDelay: 100, baseDelay: 200, maxDelay: 800, maxAttempts: 40 } };

/** @param {string} room @param {string} user @param {any} [Socket] */
function client(room, user, Socket) {
  return new HuddleClient({
    url: server.wsUrl,
    board: room,
    getToken: () => server.token(user, room),
    storage: null,
    network: null,
    config: FAST,
    ...(Socket ? { WebSocket: Socket } : {}),
  });
}

/** About 3.9 KiB of data for element `n`. @param {number} n */
const data = (n) => ({ n, fill: 'z'.repeat(3900 + (n % 53)) });

test('a 1 MiB board joins in frames of at most 64 KiB, full and delta', async () => {
  await server.room('parts-1');
  const writer = client('parts-1', 'writer');
  await writer.connect();
  await waitFor('writer connected', () => writer.status().state.status === 'connected');
  for (let b = 0; b < ELEMENTS / PER_BATCH; b++) {
    const mutations = [];
    for (let i = 0; i < PER_BATCH; i++) {
      const n = b * PER_BATCH + i;
      mutations.push({ op: /** @type {const} */ ('upsert'), page: `page-${n % 3}`, element: `e${n}`, data: data(n) });
    }
    writer.mutate(mutations);
  }
  await waitFor('all written', () => writer.status().pendingBatches === 0 && writer.replica.sequence === ELEMENTS, 60_000);

  const reader = client('parts-1', 'reader', RecordingSocket);
  /** @type {any[]} */
  const events = [];
  reader.on('*', (e) => events.push(e));
  await reader.connect();
  await waitFor('reader synced', () => reader.status().state.status === 'connected', 60_000);
  assert.equal(reader.replica.sequence, ELEMENTS);
  assert.deepEqual(reader.replica.pages(), writer.replica.pages());
  const parts = received.filter((f) => f.type === 'joined_part').length;
  assert.ok(parts >= 12, `1 MiB in 64 KiB parts: ${parts}`);
  assert.ok(received.every((f) => f.bytes <= LIMIT), `largest frame ${Math.max(...received.map((f) => f.bytes))}`);
  assert.equal(events.filter((e) => e.type === 'synced').length, 1, 'one sync, after the last part');
  assert.ok(!events.some((e) => e.type === 'protocolError'));

  // The writer reconnects from sequence 0: a delta of every event.
  received.length = 0;
  const again = client('parts-1', 'delta', RecordingSocket);
  again.replica.sequence = 0;
  await again.connect();
  await waitFor('delta synced', () => again.status().state.status === 'connected', 60_000);
  assert.deepEqual(again.replica.pages(), writer.replica.pages());
  assert.ok(received.filter((f) => f.type === 'joined_part').length >= 12);
  assert.ok(received.every((f) => f.bytes <= LIMIT));
  writer.dispose();
  reader.dispose();
  again.dispose();
});
