// The driver's persistence of unacknowledged work: after every change the
// machine's recovery export (the Rust client's format) is written under
// one key, in order; once nothing is unacknowledged the key is deleted.
// After a reload the work is offered back: a view of it, restore (into a
// fresh machine, before connect and new edits) and discard; work older
// than `recoveryMaxAge` is stale and restore() refuses it.
//
// The default key is per board and per browser tab: a tab id kept in
// sessionStorage survives a reload but is not shared with other tabs, so
// two tabs on one board never take each other's work (a batch must be sent
// by one client only). Work of a tab that was closed is not offered to a
// new tab.

import { parseRecovery } from './recovery.js';

/** @typedef {import('./storage.js').RecoveryStorage} RecoveryStorage */
/** @typedef {import('./machine.js').ClientMachine} ClientMachine */
/** @typedef {import('./wire.js').Mutation} Mutation */

/**
 * @typedef {object} RecoveryOffer
 * @property {string} exportedAt when the work was saved (RFC 3339)
 * @property {number} ageMs how old it is
 * @property {boolean} stale older than recoveryMaxAge: restore() refuses it
 * @property {{ batch: string, mutations: Mutation[] }[]} batches what would be restored
 * @property {number} mutations how many mutations
 * @property {() => number} restore takes the work over; returns the batch count
 * @property {() => Promise<void>} discard forgets it
 */

/** @returns {bigint} 64 random bits */
export function randomSeed() {
  const a = new BigUint64Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0];
}

/** A per-tab id that survives a reload (sessionStorage), or '' without one. */
export function tabId() {
  try {
    const s = globalThis.sessionStorage;
    if (!s) return '';
    let id = s.getItem('huddle-client-tab');
    if (!id) {
      id = randomSeed().toString(16);
      s.setItem('huddle-client-tab', id);
    }
    return id;
  } catch {
    return '';
  }
}

export class PersistedWork {
  /**
   * @param {RecoveryStorage | null} storage
   * @param {string} key
   * @param {(error: unknown) => void} onError
   */
  constructor(storage, key, onError) {
    this.storage = storage;
    this.key = key;
    this.onError = onError;
    this.signature = '';
    /** @type {Promise<void>} */
    this.writing = Promise.resolve();
  }

  /**
   * Writes the machine's unacknowledged work if it changed since the last
   * write (writes stay in order).
   * @param {ClientMachine} machine
   * @param {number} now
   */
  save(machine, now) {
    const storage = this.storage;
    if (!storage) return;
    const batches = machine.pendingBatches();
    const signature = `${machine.clientId}|${batches.map((b) => b.batch).join(',')}`;
    if (signature === this.signature) return;
    this.signature = signature;
    const key = this.key;
    /** @type {() => Promise<void>} */
    let write;
    if (batches.length === 0) {
      write = () => storage.delete(key);
    } else {
      const text = JSON.stringify(machine.exportRecovery(now));
      write = () => storage.set(key, text);
    }
    this.writing = this.writing.then(write).catch(this.onError);
  }

  /** Resolves once every write so far is done. */
  flush() {
    return this.writing;
  }

  /**
   * What a previous page left, if anything.
   * @param {ClientMachine} machine the fresh machine to restore into
   * @param {() => number} clock the time now
   * @param {(restore: () => number) => number} run runs the import as a driver input
   * @returns {Promise<RecoveryOffer | null>}
   */
  async offer(machine, clock, run) {
    const storage = this.storage;
    if (!storage) return null;
    await this.writing;
    const text = await storage.get(this.key);
    if (text === null) return null;
    let recovery;
    try {
      recovery = parseRecovery(text);
    } catch (error) {
      // Unreadable (another version, a corrupt write): report and forget.
      this.onError(error);
      await storage.delete(this.key);
      return null;
    }
    if (recovery.batches.length === 0) return null;
    const ageMs = Math.max(0, clock() - Date.parse(recovery.exported_at));
    return {
      exportedAt: recovery.exported_at,
      ageMs,
      stale: ageMs > machine.config.recoveryMaxAge,
      batches: recovery.batches.map((b) => ({ batch: b.batch, mutations: b.mutations })),
      mutations: recovery.batches.reduce((n, b) => n + b.mutations.length, 0),
      // The age is checked again at restore: a dialog may stay open long.
      restore: () => run(() => machine.importRecovery(clock(), text)),
      discard: async () => {
        this.signature = '';
        await this.writing;
        await storage.delete(this.key);
      },
    };
  }
}
