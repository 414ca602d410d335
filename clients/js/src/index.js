// huddle-client: the browser and Node client of Huddle boards.
//
// - HuddleClient (driver.js): WebSocket, timers, online/offline, recovery
//   across reloads, session timeouts; what an app uses.
// - ClientMachine (machine.js): the pure state machine underneath, the
//   same as the Rust client's (checked by shared traces).

export { HuddleClient } from './driver.js';
export { ClientMachine } from './machine.js';
export { ClientError, RecoveryError, DecodeError } from './errors.js';
export { defaultConfig, makeConfig } from './config.js';
export { memoryStorage, webStorage, indexedDbStorage, defaultStorage } from './storage.js';
export { parseRecovery, RECOVERY_FORMAT } from './recovery.js';
export { decodeServerMessage, encodeClientMessage, isJsonValue, isRetryable, PALETTE } from './wire.js';
export { SplitMix64, backoffDelay, jittered } from './backoff.js';
