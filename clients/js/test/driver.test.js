// The driver (HuddleClient) in virtual time: a fake clock, fake sockets and
// a fake network, so every timer and socket event is the test's to fire.

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { HuddleClient } from '../src/driver.js';
import { memoryStorage } from '../src/storage.js';
import { FakeClock, FakeSocket, joinedDelta, joinedFull, settle, sockets } from './support/fakes.js';

beforeEach(() => {
  sockets.length = 0;
});

/** @param {Partial<import('../src/driver.js').HuddleClientOptions>} [extra] */
function make(extra = {}) {
  const clock = new FakeClock();
  const network = new EventTarget();
  const storage = memoryStorage();
  let tokens = 0;
  /** @type {{ attempt: number }[]} */
  const hookCalls = [];
  /** @type {any[]} */
  const events = [];
  const client = new HuddleClient({
    url: 'ws://127.0.0.1:1/ws',
    board: 'board-1',
    seed: 7n,
    clock,
    network,
    storage,
    recoveryKey: 'k',
    WebSocket: FakeSocket,
    authProbe: false,
    config: { pingInterval: null },
    getToken: (info) => {
      hookCalls.push(info);
      return `token-${++tokens}`;
    },
    ...extra,
  });
  client.on('*', (e) => events.push(e));
  return { client, clock, network, storage, hookCalls, events };
}

/** @param {any[]} events @param {string} type */
const ofType = (events, type) => events.filter((e) => e.type === type);

test('connects with the token, joins, sends edits and applies acks', async () => {
  const { client, events, hookCalls } = make();
  await client.connect();
  assert.deepEqual(hookCalls, [{ attempt: 0 }]);
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].token(), 'token-1');
  assert.equal(sockets[0].url.startsWith('ws://127.0.0.1:1/ws?token='), true);
  sockets[0].open();
  assert.deepEqual(sockets[0].messages(), [{ type: 'join', board: 'board-1' }]);
  sockets[0].receive(joinedFull(0));
  assert.equal(client.status().state.status, 'connected');
  const batch = client.mutate([{ op: 'upsert', page: 'p', element: 'e', data: { x: 1 } }]);
  assert.deepEqual(sockets[0].messages()[1], { type: 'mutate', batch, mutations: [{ op: 'upsert', page: 'p', element: 'e', data: { x: 1 } }] });
  assert.equal(client.status().pendingBatches, 1);
  sockets[0].receive({ type: 'ack', batch, sequence: 1 });
  assert.equal(client.status().pendingBatches, 0);
  assert.deepEqual(client.replica.pages(), { p: { e: { x: 1 } } });
  assert.deepEqual(ofType(events, 'connected').length, 1);
  assert.deepEqual(ofType(events, 'acked'), [{ type: 'acked', batch, sequence: 1 }]);
  const statuses = ofType(events, 'status').map((s) => `${s.state.status}/${s.pendingBatches}`);
  assert.deepEqual(statuses, ['connecting/0', 'connected/0', 'connected/1', 'connected/0']);
});

test('a drop backs off 1 s, runs the token hook and re-sends the queue with the same ids', async () => {
  const { client, clock, events, hookCalls } = make();
  await client.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  const b1 = client.mutate([{ op: 'upsert', page: 'p', element: 'a', data: 1 }]);
  sockets[0].drop(1006);
  assert.deepEqual(client.status().state, { status: 'reconnecting', attempt: 1 });
  const b2 = client.mutate([{ op: 'delete', page: 'p', element: 'a' }]);
  await clock.advance(999);
  assert.equal(sockets.length, 1);
  await clock.advance(1);
  assert.deepEqual(hookCalls.at(-1), { attempt: 1 });
  assert.equal(sockets.length, 2);
  assert.equal(sockets[1].token(), 'token-2');
  sockets[1].open();
  assert.deepEqual(sockets[1].messages()[0], { type: 'join', board: 'board-1', last_sequence: 0 });
  sockets[1].receive(joinedDelta(0, []));
  const sent = sockets[1].messages().slice(1).map((m) => m.batch);
  assert.deepEqual(sent, [b1, b2]);
  assert.deepEqual(ofType(events, 'reconnecting'), [{ type: 'reconnecting', attempt: 1 }]);
  assert.equal(ofType(events, 'reconnected').length, 1);
});

test('a redirect opens the owner\'s URL at once with the same token; a later drop goes back to the configured URL', async () => {
  const { client, clock, events, hookCalls } = make();
  await client.connect();
  sockets[0].open();
  const b1 = client.mutate([{ op: 'upsert', page: 'p', element: 'a', data: 1 }]);
  sockets[0].receive({ type: 'redirect', board: 'board-1', node: 'node-b', url: 'ws://10.0.0.2:8080/ws' });
  sockets[0].drop(4003);
  await settle();
  assert.equal(sockets.length, 2, 'no backoff');
  assert.equal(sockets[1].url.startsWith('ws://10.0.0.2:8080/ws?token='), true, sockets[1].url);
  assert.equal(sockets[1].token(), 'token-1', 'the same token, no hook call');
  assert.deepEqual(hookCalls, [{ attempt: 0 }]);
  assert.deepEqual(ofType(events, 'redirected'), [{ type: 'redirected', node: 'node-b', url: 'ws://10.0.0.2:8080/ws', hop: 1 }]);
  sockets[1].open();
  sockets[1].receive(joinedFull(0));
  assert.equal(client.status().state.status, 'connected');
  assert.deepEqual(sockets[1].messages()[1], { type: 'mutate', batch: b1, mutations: [{ op: 'upsert', page: 'p', element: 'a', data: 1 }] });
  sockets[1].drop(1006);
  await clock.advance(1000);
  assert.equal(sockets.length, 3);
  assert.equal(sockets[2].url.startsWith('ws://127.0.0.1:1/ws?token='), true, sockets[2].url);
});

test('offline closes the socket and holds the attempt; online resumes at once', async () => {
  const { client, clock, network } = make();
  await client.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  network.dispatchEvent(new Event('offline'));
  assert.equal(client.status().offline, true);
  assert.equal(sockets[0].closedWith, 1000, 'the socket is closed, not just forgotten');
  assert.deepEqual(client.status().state, { status: 'reconnecting', attempt: 1 });
  client.mutate([{ op: 'upsert', page: 'p', element: 'a', data: 1 }]);
  await clock.advance(60_000);
  assert.equal(sockets.length, 1, 'no attempt while offline');
  assert.deepEqual(client.status().state, { status: 'reconnecting', attempt: 1 });
  network.dispatchEvent(new Event('online'));
  await settle();
  assert.equal(sockets.length, 2);
  sockets[1].open();
  sockets[1].receive(joinedDelta(0, []));
  assert.equal(sockets[1].messages()[1].type, 'mutate');
  assert.equal(client.status().offline, false);
});

test('the work survives a reload: persisted, offered, restored with its ids, new ids continue', async () => {
  const first = make();
  await first.client.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  first.client.setOffline(true);
  const b1 = first.client.mutate([{ op: 'upsert', page: 'p', element: 'a', data: 1 }]);
  const b2 = first.client.mutate([{ op: 'upsert', page: 'p', element: 'b', data: 2 }]);
  await first.client.flush();
  assert.ok(first.storage.map.has('k'));

  // The "reloaded page": a new client on the same storage, a minute later.
  sockets.length = 0;
  const second = make({ storage: first.storage, seed: 99n });
  second.clock.t = first.clock.t + 60_000;
  const offer = await second.client.loadRecovery();
  assert.ok(offer);
  assert.equal(offer.stale, false);
  assert.equal(offer.mutations, 2);
  assert.deepEqual(offer.batches.map((b) => b.batch), [b1, b2]);
  assert.equal(offer.restore(), 2);
  await second.client.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  assert.deepEqual(sockets[0].messages().slice(1).map((m) => m.batch), [b1, b2]);
  const b3 = second.client.mutate([{ op: 'delete', page: 'p', element: 'a' }]);
  assert.equal(b3, b1.replace(/-1$/, '-3'));
  sockets[0].receive({ type: 'ack', batch: b1, sequence: 1 });
  sockets[0].receive({ type: 'ack', batch: b2, sequence: 2 });
  sockets[0].receive({ type: 'ack', batch: b3, sequence: 3 });
  await second.client.flush();
  assert.equal(first.storage.map.has('k'), false, 'nothing left to recover once all is acked');
});

test('recovery older than 5 minutes is offered as stale and refused; discard forgets it', async () => {
  const first = make();
  first.client.mutate([{ op: 'upsert', page: 'p', element: 'a', data: 1 }]);
  await first.client.flush();
  const second = make({ storage: first.storage });
  second.clock.t = first.clock.t + 5 * 60_000 + 1;
  const offer = await second.client.loadRecovery();
  assert.ok(offer);
  assert.equal(offer.stale, true);
  assert.throws(() => offer.restore(), (e) => /** @type {any} */ (e).kind === 'Stale');
  assert.equal(second.client.status().pendingBatches, 0);
  await offer.discard();
  assert.equal(await second.client.loadRecovery(), null);
});

test('a session timeout is an event, and autoRejoin joins again', async () => {
  const { client, events } = make({ autoRejoin: true });
  await client.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  sockets[0].receive({ type: 'session_timeout', board: 'board-1' });
  assert.equal(ofType(events, 'sessionTimeout').length, 1);
  await settle();
  assert.equal(sockets.length, 2, 'a new join after the timeout');
  assert.equal(client.status().state.status, 'connecting');
});

test('a frame that does not decode closes the socket and counts as a drop', async () => {
  const { client, events } = make();
  await client.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  sockets[0].receive('{"type":"ack","batch":5}');
  assert.equal(ofType(events, 'protocolError').length, 1);
  assert.equal(sockets[0].closedWith, 1002);
  assert.deepEqual(client.status().state, { status: 'reconnecting', attempt: 1 });
});

test('a socket that never opens: the HTTP probe tells a refused token (authFailed) from a network failure', async () => {
  const realFetch = globalThis.fetch;
  let status = 401;
  globalThis.fetch = /** @type {any} */ (async (/** @type {string} */ url) => {
    assert.ok(url.startsWith('http://127.0.0.1:1/ws?token='));
    return { status };
  });
  try {
    const { client } = make({ authProbe: true });
    await client.connect();
    sockets[0].drop(1006);
    await settle();
    assert.equal(client.status().state.status, 'authFailed');
    status = 400;
    await client.connect();
    sockets[1].drop(1006);
    await settle();
    assert.deepEqual(client.status().state, { status: 'reconnecting', attempt: 1 });
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('a failing token hook counts as a failed attempt and is asked again after the backoff', async () => {
  let fail = true;
  let n = 0;
  const { client, clock, events } = make({
    getToken: ({ attempt }) => {
      if (attempt > 0 && fail) throw new Error('auth service down');
      return `t${++n}`;
    },
  });
  await client.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  sockets[0].drop(1012);
  await clock.advance(1000);
  await settle();
  assert.equal(ofType(events, 'tokenError').length, 1);
  assert.deepEqual(client.status().state, { status: 'reconnecting', attempt: 2 });
  assert.equal(sockets.length, 1);
  fail = false;
  await clock.advance(2000);
  await settle();
  assert.equal(sockets.length, 2);
  sockets[1].open();
  sockets[1].receive(joinedDelta(0, []));
  assert.equal(client.status().state.status, 'connected');
});

test('manual reconnect after failed starts over; dropped batches are typed events', async () => {
  const { client, clock, events } = make({ config: { pingInterval: null, backoff: { maxAttempts: 1 } } });
  await client.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  const b = client.mutate([{ op: 'upsert', page: 'p', element: 'a', data: 1 }]);
  sockets[0].receive({ type: 'error', code: 'PAYLOAD_TOO_LARGE', message: 'too big', batch: b });
  assert.deepEqual(ofType(events, 'dropped')[0], {
    type: 'dropped', batch: b, mutations: [{ op: 'upsert', page: 'p', element: 'a', data: 1 }], code: 'PAYLOAD_TOO_LARGE', message: 'too big',
  });
  sockets[0].drop(1006);
  await clock.advance(1000);
  sockets[1].drop(1006);
  await settle();
  assert.equal(client.status().state.status, 'failed');
  await client.reconnect();
  assert.equal(sockets.length, 3);
  assert.equal(client.status().state.status, 'connecting');
});

test('a socket that errs before opening, with no close after, is a failed attempt', async () => {
  const { client, clock } = make();
  await client.connect();
  sockets[0].fail();
  await settle();
  assert.deepEqual(client.status().state, { status: 'reconnecting', attempt: 1 });
  sockets[0].drop(1006); // a late close of the same socket changes nothing
  await settle();
  assert.deepEqual(client.status().state, { status: 'reconnecting', attempt: 1 });
  await clock.advance(1000);
  assert.equal(sockets.length, 2);
});
