// End to end against a real `huddle serve` (built with cargo, on a free
// loopback port, temporary data dir): two clients on one board, a server
// killed with -9 and restarted, offline work recovered by a new client and
// applied once, a refused token, a batch the server drops.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { HuddleClient } from '../src/driver.js';
import { memoryStorage } from '../src/storage.js';
import { HuddleServer, waitFor } from './support/server.js';

if (typeof globalThis.WebSocket !== 'function') {
  throw new Error('these tests need a global WebSocket: Node 22+, or Node 20 with --experimental-websocket');
}

/** @type {HuddleServer} */
let server;

before(async () => {
  server = await HuddleServer.start(['--max-batch', '5']);
});

after(async () => {
  await server?.stop();
});

const FAST = { pingInterval: 2000, pongTimeout: 2000, backoff: { firstDelay: 100, baseDelay: 200, maxDelay: 800, maxAttempts: 40 } };

/**
 * @param {string} room
 * @param {string} user
 * @param {Partial<import('../src/driver.js').HuddleClientOptions>} [extra]
 */
function client(room, user, extra = {}) {
  const events = /** @type {any[]} */ ([]);
  const c = new HuddleClient({
    url: server.wsUrl,
    board: room,
    getToken: () => server.token(user, room),
    storage: null,
    network: null,
    config: FAST,
    ...extra,
  });
  c.on('*', (e) => events.push(e));
  return { c, events };
}

/** @param {HuddleClient} c */
const connected = (c) => waitFor('connected', () => c.status().state.status === 'connected');
/** @param {HuddleClient} c */
const settled = (c) => waitFor('all edits acked', () => c.status().state.status === 'connected' && c.status().pendingBatches === 0);

/** The board as the server has it: what a fresh client's full sync brings. @param {string} room */
async function serverView(room) {
  const { c } = client(room, 'observer');
  await c.connect();
  await connected(c);
  const pages = c.replica.pages();
  const sequence = c.replica.sequence;
  c.dispose();
  return { pages, sequence };
}

/** @param {string} id @param {import('../src/wire.js').Json} data */
const up = (id, data) => ({ op: /** @type {const} */ ('upsert'), page: 'main', element: id, data });

test('A draws, B sees it; both replicas equal the server', async () => {
  await server.room('e2e-1');
  const a = client('e2e-1', 'alice');
  const b = client('e2e-1', 'bob');
  await a.c.connect();
  await b.c.connect();
  await connected(a.c);
  await connected(b.c);
  await waitFor('B sees A', () => b.c.replica.participants.length === 2);
  const batch = a.c.mutate([up('r1', { kind: 'rect', x: 1 }), up('r2', { kind: 'note', text: 'hé ✓' })]);
  await waitFor('A acked', () => a.events.some((e) => e.type === 'acked' && e.batch === batch));
  await waitFor('B changed', () => JSON.stringify(b.c.replica.pages()) === JSON.stringify(a.c.replica.pages()));
  assert.deepEqual(b.c.replica.pages(), { main: { r1: { kind: 'rect', x: 1 }, r2: { kind: 'note', text: 'hé ✓' } } });
  b.c.mutate([{ op: 'delete', page: 'main', element: 'r1' }]);
  await settled(b.c);
  await waitFor('A sees the delete', () => a.c.replica.get('main', 'r1') === undefined);
  const truth = await serverView('e2e-1');
  assert.deepEqual(a.c.replica.pages(), truth.pages);
  assert.equal(a.c.replica.sequence, truth.sequence);
  assert.equal(await server.sequence('e2e-1'), 3);
  a.c.cursor(12.5, 40);
  await waitFor('B sees A\'s cursor', () => b.events.some((e) => e.type === 'cursor' && e.user === 'alice' && e.x === 12.5 && e.y === 40));
  const colors = new Set(a.c.replica.participants.map((p) => p.color));
  assert.equal(colors.size, 2, 'each participant has its own server-assigned colour');
  a.c.dispose();
  b.c.dispose();
});

test('kill -9 and restart: both reconnect, edits made meanwhile land once, both converge', async () => {
  await server.room('e2e-2');
  const a = client('e2e-2', 'alice');
  const b = client('e2e-2', 'bob');
  await a.c.connect();
  await b.c.connect();
  await connected(a.c);
  await connected(b.c);
  a.c.mutate([up('before', 1)]);
  await settled(a.c);
  await server.kill9();
  await waitFor('A notices', () => a.c.status().state.status === 'reconnecting');
  await waitFor('B notices', () => b.c.status().state.status === 'reconnecting');
  a.c.mutate([up('a-down', 2)]);
  b.c.mutate([up('b-down', 3), up('before', 4)]);
  await server.restart();
  await settled(a.c);
  await settled(b.c);
  assert.ok(a.events.some((e) => e.type === 'reconnected'));
  assert.ok(b.events.some((e) => e.type === 'reconnected'));
  await waitFor('converged', () => a.c.replica.sequence === b.c.replica.sequence && a.c.replica.sequence === 4);
  assert.deepEqual(a.c.replica.pages(), b.c.replica.pages());
  assert.deepEqual((await serverView('e2e-2')).pages, a.c.replica.pages());
  assert.equal(await server.sequence('e2e-2'), 4, 'every batch applied exactly once');
  a.c.dispose();
  b.c.dispose();
});

test('offline work recovered by a new client is applied once, also when the old one re-sends it', async () => {
  await server.room('e2e-3');
  const storage = memoryStorage();
  const first = client('e2e-3', 'carol', { storage, recoveryKey: 'tab-1' });
  await first.c.connect();
  await connected(first.c);
  first.c.setOffline(true);
  const ids = [first.c.mutate([up('x', 1)]), first.c.mutate([up('y', 2), up('z', 3)])];
  await first.c.flush();
  // "Reload": a new client on the same storage takes the work over.
  const second = client('e2e-3', 'carol', { storage, recoveryKey: 'tab-1' });
  const offer = await second.c.loadRecovery();
  assert.ok(offer && !offer.stale);
  assert.deepEqual(offer.batches.map((b) => b.batch), ids);
  assert.equal(offer.restore(), 2);
  await second.c.connect();
  await settled(second.c);
  assert.equal(await server.sequence('e2e-3'), 3);
  // The old client comes back and sends the same batch ids: answered with
  // the original acks, applied nothing twice.
  first.c.setOffline(false);
  await settled(first.c);
  const acks = first.events.filter((e) => e.type === 'acked').map((e) => [e.batch, e.sequence]);
  assert.deepEqual(acks, [[ids[0], 1], [ids[1], 3]]);
  assert.equal(await server.sequence('e2e-3'), 3);
  assert.deepEqual((await serverView('e2e-3')).pages, { main: { x: 1, y: 2, z: 3 } });
  first.c.dispose();
  second.c.dispose();
});

test('a refused token ends in authFailed (the HTTP 401 of the upgrade, found by the probe)', async () => {
  await server.room('e2e-4');
  const { c, events } = client('e2e-4', 'mallory', { getToken: () => 'not-a-token' });
  await c.connect();
  await waitFor('authFailed', () => c.status().state.status === 'authFailed');
  assert.ok(events.some((e) => e.type === 'authFailed'));
  c.dispose();
});

test('a batch over the server limit is dropped with a typed event, the rest goes on', async () => {
  await server.room('e2e-5');
  const { c, events } = client('e2e-5', 'dave');
  await c.connect();
  await connected(c);
  const big = c.mutate([1, 2, 3, 4, 5, 6].map((n) => up(`n${n}`, n)));
  const ok = c.mutate([up('fine', true)]);
  await waitFor('dropped', () => events.some((e) => e.type === 'dropped'));
  const dropped = events.find((e) => e.type === 'dropped');
  assert.equal(dropped.batch, big);
  assert.equal(dropped.code, 'PAYLOAD_TOO_LARGE');
  assert.equal(dropped.mutations.length, 6);
  await settled(c);
  assert.ok(events.some((e) => e.type === 'acked' && e.batch === ok));
  assert.deepEqual(c.replica.pages(), { main: { fine: true } });
  c.dispose();
});

test('the server\'s inactivity timeout is a sessionTimeout event; autoRejoin joins again', async () => {
  const strict = await HuddleServer.start(['--inactivity-timeout', '1s']);
  try {
    await strict.room('e2e-6');
    const events = /** @type {any[]} */ ([]);
    const c = new HuddleClient({
      url: strict.wsUrl, board: 'e2e-6', getToken: () => strict.token('erin', 'e2e-6'),
      storage: null, network: null, config: FAST, autoRejoin: true,
    });
    c.on('*', (e) => events.push(e));
    await c.connect();
    await connected(c);
    c.mutate([up('kept', 1)]);
    await settled(c);
    await waitFor('the session timed out', () => events.some((e) => e.type === 'sessionTimeout'), 30_000);
    const reason = events.find((e) => e.type === 'disconnected')?.reason;
    assert.deepEqual(reason, { kind: 'sessionTimeout' });
    await waitFor('joined again', () => events.filter((e) => e.type === 'connected').length === 2, 30_000);
    assert.deepEqual(c.replica.pages(), { main: { kept: 1 } });
    c.dispose();
  } finally {
    await strict.stop();
  }
});

test('an expired token: the server closes with 4001, the client gets a fresh one through getToken and carries on', async () => {
  await server.room('e2e-expiry');
  /** @type {number[]} */
  const asked = [];
  const a = client('e2e-expiry', 'alice', {
    getToken: ({ attempt }) => {
      asked.push(attempt);
      return server.token('alice', 'e2e-expiry', 2);
    },
  });
  await a.c.connect();
  await connected(a.c);
  await waitFor('closed at exp, 4001', () => a.events.some((e) => e.type === 'disconnected' && e.reason.kind === 'credentialsExpired'));
  await waitFor('reconnected', () => a.events.some((e) => e.type === 'reconnected'));
  assert.ok(asked.length >= 2, `getToken was asked ${asked.length} times`);
  assert.ok(!a.events.some((e) => e.type === 'authFailed'));
  a.c.mutate([up('after-expiry', 1)]);
  await settled(a.c);
  assert.equal(await server.sequence('e2e-expiry'), 1);
  a.c.dispose();
});
