// The React hook and the Vue composable, with the frameworks' functions
// stood in for (the package depends on neither).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { useHuddle as useReact } from '../src/bindings/react.js';
import { useHuddle as useVue } from '../src/bindings/vue.js';
import { HuddleClient } from '../src/driver.js';
import { FakeClock, FakeSocket, joinedFull, sockets } from './support/fakes.js';

function client() {
  sockets.length = 0;
  return new HuddleClient({
    url: 'ws://x/ws', board: 'board-1', seed: 1n, clock: new FakeClock(), network: null, storage: null,
    WebSocket: FakeSocket, authProbe: false, config: { pingInterval: null }, getToken: () => 't',
  });
}

test('the React hook: one snapshot between events, a new one after each, unsubscribed on cleanup', async () => {
  const c = client();
  /** @type {(() => void)[]} */
  const cleanups = [];
  let renders = 0;
  const React = {
    /** @template T @param {(fn: () => void) => () => void} subscribe @param {() => T} get @returns {T} */
    useSyncExternalStore(subscribe, get) {
      cleanups.push(subscribe(() => renders++));
      return get();
    },
  };
  const first = useReact(React, c);
  assert.equal(first.status.state.status, 'disconnected');
  assert.equal(useReact(React, c), first, 'the same snapshot while nothing happened');
  await c.connect();
  sockets[0].open();
  sockets[0].receive(joinedFull(3, { p: { e: 1 } }));
  const now = useReact(React, c);
  assert.notEqual(now, first);
  assert.equal(now.status.state.status, 'connected');
  assert.deepEqual(now.pages, { p: { e: 1 } });
  assert.equal(now.participants.length, 1);
  assert.ok(renders > 0);
  c.mutate([{ op: 'delete', page: 'p', element: 'e' }]);
  assert.equal(useReact(React, c).pending.length, 1);
  for (const off of cleanups) off();
  const before = renders;
  c.mutate([{ op: 'delete', page: 'p', element: 'f' }]);
  assert.equal(renders, before, 'no renders after every subscriber left');
});

test('the Vue composable: a shallow ref replaced on every event, stopped with its scope', async () => {
  const c = client();
  /** @type {(() => void)[]} */
  const disposers = [];
  const Vue = {
    /** @param {any} v */
    shallowRef: (v) => ({ value: v }),
    /** @param {() => void} fn */
    onScopeDispose: (fn) => disposers.push(fn),
  };
  const ref = useVue(Vue, c);
  assert.equal(ref.value.status.state.status, 'disconnected');
  await c.connect();
  assert.equal(ref.value.status.state.status, 'connecting');
  for (const d of disposers) d();
  sockets[0].open();
  sockets[0].receive(joinedFull(0));
  assert.equal(ref.value.status.state.status, 'connecting', 'not updated after the scope ended');
});
