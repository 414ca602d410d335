// A Vue composable for a HuddleClient. The package does not depend on Vue:
// pass the Vue module in.
//
//   import * as Vue from 'vue';
//   const huddle = useHuddle(Vue, client); // huddle.value.status, .pages, ...

import { snapshotStore } from './store.js';

/**
 * @template R
 * @param {{ shallowRef: (v: import('./store.js').HuddleSnapshot) => R & { value: import('./store.js').HuddleSnapshot },
 *           onScopeDispose: (fn: () => void) => void }} Vue
 * @param {import('../driver.js').HuddleClient} client
 * @returns {R & { value: import('./store.js').HuddleSnapshot }} a shallow ref, updated on every client event
 */
export function useHuddle(Vue, client) {
  const store = snapshotStore(client);
  const ref = Vue.shallowRef(store.get());
  const off = store.subscribe(() => {
    ref.value = store.get();
  });
  Vue.onScopeDispose(off);
  return ref;
}
