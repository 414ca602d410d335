// A React hook for a HuddleClient. The package does not depend on React:
// pass the React module in.
//
//   import * as React from 'react';
//   const { status, pages, participants, pending } = useHuddle(React, client);

import { snapshotStore } from './store.js';

/**
 * @param {{ useSyncExternalStore: <T>(subscribe: (fn: () => void) => () => void, get: () => T) => T }} React
 * @param {import('../driver.js').HuddleClient} client
 * @returns {import('./store.js').HuddleSnapshot}
 */
export function useHuddle(React, client) {
  const store = snapshotStore(client);
  return React.useSyncExternalStore(store.subscribe, store.get);
}
