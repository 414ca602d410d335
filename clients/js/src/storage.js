// Where the driver persists unacknowledged work between page loads (or
// process restarts): a small async key-value interface, with IndexedDB for
// browsers, Web Storage (localStorage) and an in-memory map. Node apps
// pass their own (a file, a database) with the same three methods.

/**
 * @typedef {object} RecoveryStorage
 * @property {(key: string) => Promise<string | null>} get
 * @property {(key: string, value: string) => Promise<void>} set
 * @property {(key: string) => Promise<void>} delete
 */

/** @returns {RecoveryStorage & { map: Map<string, string> }} a storage that lives as long as the object */
export function memoryStorage() {
  const map = new Map();
  return {
    map,
    async get(key) {
      return map.get(key) ?? null;
    },
    async set(key, value) {
      map.set(key, value);
    },
    async delete(key) {
      map.delete(key);
    },
  };
}

/**
 * A storage over a Web Storage object (localStorage, sessionStorage).
 * @param {Storage} store
 * @returns {RecoveryStorage}
 */
export function webStorage(store) {
  return {
    async get(key) {
      return store.getItem(key);
    },
    async set(key, value) {
      store.setItem(key, value);
    },
    async delete(key) {
      store.removeItem(key);
    },
  };
}

/**
 * A storage in IndexedDB (one object store of strings), for browsers.
 * Writes go in the order they were made.
 * @param {string} [dbName]
 * @param {IDBFactory} [factory]
 * @returns {RecoveryStorage}
 */
export function indexedDbStorage(dbName = 'huddle-client', factory = globalThis.indexedDB) {
  /** @type {Promise<IDBDatabase> | null} */
  let opening = null;
  const open = () => {
    opening ??= new Promise((resolve, reject) => {
      const req = factory.open(dbName, 1);
      req.onupgradeneeded = () => req.result.createObjectStore('recovery');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return opening;
  };
  /**
   * @template T
   * @param {IDBTransactionMode} mode
   * @param {(store: IDBObjectStore) => IDBRequest} act
   * @returns {Promise<T>}
   */
  const run = async (mode, act) => {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction('recovery', mode);
      const req = act(tx.objectStore('recovery'));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  };
  return {
    async get(key) {
      const v = await run('readonly', (s) => s.get(key));
      return typeof v === 'string' ? v : null;
    },
    async set(key, value) {
      await run('readwrite', (s) => s.put(value, key));
    },
    async delete(key) {
      await run('readwrite', (s) => s.delete(key));
    },
  };
}

/** @returns {RecoveryStorage | null} IndexedDB where there is one, else none */
export function defaultStorage() {
  return typeof globalThis.indexedDB === 'undefined' ? null : indexedDbStorage();
}
