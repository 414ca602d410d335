// Replays every trace under traces/ (generated from the Rust client
// machine by crates/huddle-client/tests/client_traces.rs) through the JS
// machine: after every input the result, the outputs, the state, the next
// deadline, the unacknowledged work and the replica must be the same.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

import { ClientMachine } from '../src/machine.js';
import { decodeServerValue } from '../src/wire.js';

const dir = new URL('./traces/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

test('there are traces to replay', () => {
  assert.ok(files.length >= 10, `only ${files.length} trace files in ${dir.pathname}`);
});

/**
 * @param {ClientMachine} client
 * @param {number} now
 * @param {any} input
 */
function apply(client, now, input) {
  try {
    switch (input.op) {
      case 'connect':
        return ok(client.connect(now, { token: input.token }));
      case 'provide_credentials':
        return ok(client.provideCredentials(now, { token: input.token }));
      case 'retry_now':
        return ok(client.retryNow(now));
      case 'close':
        return ok(client.close(now));
      case 'mutate':
        return ok(client.mutate(now, input.mutations));
      case 'cursor':
        return ok(client.cursor(now, input.x, input.y));
      case 'request_snapshot':
        return ok(client.requestSnapshot(now));
      case 'export_recovery':
        return ok(client.exportRecovery(now));
      case 'import_recovery':
        return ok(client.importRecovery(now, input.recovery));
      case 'set_client_id':
        return ok(client.setClientId(input.id));
      case 'transport_open':
        return ok(client.transportOpen(now, input.transport));
      case 'transport_failed':
        return ok(client.transportFailed(now, input.transport, input.failure === 'unauthorized' ? 'unauthorized' : { network: 'connection refused' }));
      case 'transport_closed':
        return ok(client.transportClosed(now, input.transport, input.code));
      case 'message':
        // Through the JS decoder, as the driver does.
        return ok(client.handleMessage(now, input.transport, decodeServerValue(input.frame)));
      case 'timeout':
        return ok(client.handleTimeout(now));
      default:
        throw new Error(`unknown trace input ${input.op}`);
    }
  } catch (e) {
    if (e && typeof e === 'object' && 'kind' in e && 'details' in e) {
      const err = /** @type {{ kind: string, details: Record<string, unknown> }} */ (e);
      return { error: err.kind, ...err.details };
    }
    throw e;
  }
}

/** @param {unknown} value */
function ok(value) {
  return { ok: value === undefined ? null : value };
}

/**
 * Deep-sorts object keys (the Rust side writes sorted maps) and drops
 * nothing: the comparison is exact on values.
 * @param {unknown} v
 * @returns {unknown}
 */
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(/** @type {any} */ (v)[k])]));
  }
  return v;
}

for (const file of files) {
  test(`trace ${file}`, () => {
    const trace = JSON.parse(readFileSync(new URL(file, dir), 'utf8'));
    assert.equal(trace.format, 1);
    const client = new ClientMachine(trace.config, trace.board, BigInt(trace.seed));
    trace.steps.forEach((/** @type {any} */ step, /** @type {number} */ i) => {
      const where = `${file} step ${i} (${JSON.stringify(step.input).slice(0, 120)})`;
      const result = apply(client, step.now, step.input);
      const outputs = [];
      for (let o = client.pollOutput(); o !== undefined; o = client.pollOutput()) outputs.push(o);
      const got = canonical({
        result,
        outputs,
        state: client.state(),
        timeout: client.pollTimeout(),
        unacked: [client.unackedBatches(), client.unackedMutations()],
        replica: { sequence: client.replica.sequence, pages: client.replica.pages(), participants: client.replica.participants },
      });
      const want = canonical({
        result: step.result,
        outputs: step.outputs,
        state: step.state,
        timeout: step.timeout,
        unacked: step.unacked,
        replica: step.replica,
      });
      assert.deepStrictEqual(got, want, where);
    });
  });
}
