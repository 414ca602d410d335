// The client's unacknowledged batches, in the order they were made: those
// sent on the current transport, those waiting for a retry, and those made
// while offline (the offline queue). One ordered list serves all three, so
// a reconnect re-sends everything in the original order with the original
// batch ids.

/** @typedef {import('./wire.js').Mutation} Mutation */

/**
 * @typedef {{ kind: 'queued' } | { kind: 'sent' } | { kind: 'retryAt', at: number }} Status
 */

/**
 * @typedef {object} Outgoing
 * @property {string} batch
 * @property {Mutation[]} mutations
 * @property {number} retries retryable rejections so far
 * @property {Status} status
 */

export class OutgoingQueue {
  constructor() {
    /** @type {Outgoing[]} */
    this.batches = [];
    /** @type {number} */
    this.mutations = 0;
  }

  /** @param {Outgoing} item */
  push(item) {
    this.mutations += item.mutations.length;
    this.batches.push(item);
  }

  /** @param {string} batch */
  find(batch) {
    return this.batches.find((o) => o.batch === batch);
  }

  /** @param {string} batch @returns {Outgoing | undefined} */
  remove(batch) {
    const i = this.batches.findIndex((o) => o.batch === batch);
    if (i < 0) return undefined;
    const [item] = this.batches.splice(i, 1);
    this.mutations -= item.mutations.length;
    return item;
  }

  /** The transport is gone: nothing counts as sent any more. */
  unsendAll() {
    for (const o of this.batches) if (o.status.kind === 'sent') o.status = { kind: 'queued' };
  }

  /** @returns {number | null} the earliest pending retry */
  nextRetry() {
    let next = null;
    for (const o of this.batches) {
      if (o.status.kind === 'retryAt' && (next === null || o.status.at < next)) next = o.status.at;
    }
    return next;
  }
}
