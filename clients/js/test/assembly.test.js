// `joined` in parts: the decoding of `parts` and `joined_part`, and the
// assembly (src/assembly.js) that the machine completes a sync with. The
// machine's behaviour around it (nothing counts before the last part,
// protocol errors reconnect) is in the traces (joined_in_parts.json,
// replayed against the Rust machine's answers).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { JoinAssembly } from '../src/assembly.js';
import { DecodeError } from '../src/errors.js';
import { decodeServerMessage } from '../src/wire.js';

const head = (/** @type {number} */ parts, /** @type {string} */ pages) =>
  `{"type":"joined","session_id":"a1","board":"b","color":"#FF6B6B","participants":[],"sequence":3,"history_from":0,"sync":{"kind":"full","reason":"initial","parts":${parts},"pages":${pages}}}`;

const part = (/** @type {number} */ i, /** @type {boolean} */ last, /** @type {string} */ content) =>
  `{"type":"joined_part","session_id":"00000000000000A1","board":"b","part":${i},${content},"last":${last}}`;

/** @param {string} text */
function decoded(text) {
  const m = decodeServerMessage(text);
  if (m.type !== 'joined' && m.type !== 'joined_part') throw new Error(m.type);
  return m;
}

test('joined says how many parts follow; absent is 0', () => {
  const m = decoded(head(2, '{}'));
  assert.equal(m.type === 'joined' && m.parts, 2);
  const none = decoded(head(0, '{}').replace(',"parts":0', ''));
  assert.equal(none.type === 'joined' && none.parts, 0);
  assert.throws(() => decodeServerMessage(head(-1, '{}')), DecodeError);
  assert.throws(() => decodeServerMessage(head(2 ** 32, '{}')), DecodeError);
});

test('joined_part decodes with pages or events, and not with both or neither', () => {
  const p = decoded(part(1, true, '"pages":{"p":{"e":1},"empty":{}}'));
  assert.deepEqual(p, { type: 'joined_part', session_id: '00000000000000A1', board: 'b', part: 1, last: true, content: { kind: 'pages', pages: { p: { e: 1 } } } });
  const e = decoded(part(2, false, '"events":[{"seq":4,"user":"u","op":"delete","page":"p","element":"e"}]'));
  assert.equal(e.type === 'joined_part' && e.content.kind, 'events');
  for (const bad of [
    part(1, true, '"x":1'),
    part(1, true, '"pages":{},"events":[]'),
    part(1, true, '"pages":{}').replace('"last":true', '"last":"yes"'),
    part(1, true, '"pages":{}').replace('"part":1,', ''),
    part(1, true, '"pages":{}').replace('00000000000000A1', 'zz'),
  ]) {
    assert.throws(() => decodeServerMessage(bad), DecodeError, bad);
  }
});

test('the parts assemble in order into one sync; a wrong part changes nothing', () => {
  const joined = decoded(head(2, '{"p":{"a":1}}'));
  assert.ok(joined.type === 'joined');
  const a = new JoinAssembly(joined);
  const one = decoded(part(1, false, '"pages":{"p":{"b":2},"__proto__":{"c":3}}'));
  const two = decoded(part(2, true, '"pages":{"p":{"a":9}}'));
  assert.ok(one.type === 'joined_part' && two.type === 'joined_part');
  assert.deepEqual(a.add(two), { kind: 'outOfOrder', expected: 1, got: 2 });
  assert.deepEqual(a.add({ ...one, board: 'other' }), { kind: 'otherSession' });
  assert.deepEqual(a.add({ ...one, session_id: 'a2' }), { kind: 'otherSession' });
  assert.deepEqual(a.add({ ...one, last: true }), { kind: 'wrongLast', part: 1, last: true, parts: 2 });
  assert.deepEqual(a.add({ ...one, content: { kind: 'events', events: [] } }), { kind: 'wrongContent', expected: 'pages', got: 'events' });
  assert.equal(a.received, 0);
  assert.equal(a.add(one), null);
  assert.ok(!a.isComplete());
  assert.equal(a.add(two), null);
  assert.ok(a.isComplete());
  assert.deepEqual(a.add(two), { kind: 'unexpected' });
  const done = a.intoJoined();
  assert.ok(done.sync.kind === 'full');
  const pages = done.sync.pages;
  assert.deepEqual(Object.keys(pages), ['p', '__proto__']);
  assert.deepEqual(Object.entries(pages.p), [['a', 9], ['b', 2]]);
  assert.deepEqual(Object.getOwnPropertyDescriptor(pages, '__proto__')?.value, { c: 3 });
});
