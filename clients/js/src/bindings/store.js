// What the framework bindings show: one immutable snapshot of a client
// (status, pages, participants, pending batches), replaced after every
// client event and the same object in between (what React's
// useSyncExternalStore needs).

/** @typedef {import('../driver.js').HuddleClient} HuddleClient */

/**
 * @typedef {object} HuddleSnapshot
 * @property {import('../driver.js').Status} status
 * @property {import('../wire.js').Pages} pages the confirmed board
 * @property {import('../wire.js').Participant[]} participants
 * @property {{ batch: string, mutations: import('../wire.js').Mutation[] }[]} pending unacknowledged batches
 */

/** @param {HuddleClient} client @returns {HuddleSnapshot} */
export function takeSnapshot(client) {
  return {
    status: client.status(),
    pages: client.replica.pages(),
    participants: client.replica.participants.map((p) => ({ ...p })),
    pending: client.pendingBatches(),
  };
}

/** @type {WeakMap<HuddleClient, { snapshot: HuddleSnapshot, listeners: Set<() => void>, off: (() => void) | null }>} */
const stores = new WeakMap();

/**
 * A subscribable view of `client` (one per client).
 * @param {HuddleClient} client
 */
export function snapshotStore(client) {
  let s = stores.get(client);
  if (!s) {
    s = { snapshot: takeSnapshot(client), listeners: new Set(), off: null };
    stores.set(client, s);
  }
  const store = s;
  return {
    /** @returns {HuddleSnapshot} */
    get: () => {
      // Unsubscribed, events go unseen: compare with a fresh snapshot
      // (kept only when it differs, so the identity stays stable).
      if (!store.off) {
        const fresh = takeSnapshot(client);
        if (JSON.stringify(fresh) !== JSON.stringify(store.snapshot)) store.snapshot = fresh;
      }
      return store.snapshot;
    },
    /** @param {() => void} fn @returns {() => void} */
    subscribe: (fn) => {
      store.listeners.add(fn);
      store.off ??= client.on('*', () => {
        store.snapshot = takeSnapshot(client);
        for (const l of store.listeners) l();
      });
      return () => {
        store.listeners.delete(fn);
        if (store.listeners.size === 0 && store.off) {
          store.off();
          store.off = null;
        }
      };
    },
  };
}
