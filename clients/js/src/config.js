// The client's configuration, with the Rust client's defaults. Every
// duration is in milliseconds.

/** @typedef {import('./backoff.js').Backoff} Backoff */

/**
 * @typedef {object} ClientConfig
 * @property {Backoff} backoff reconnect schedule (1, 2, 4, 8, 16 s over 5 attempts)
 * @property {number} attemptTimeout ms from `connect` output to `joined` before an attempt fails (restarted by each frame of a `joined` in parts)
 * @property {number} maxUnackedMutations mutations held (sent + queued) before `mutate` fails with QueueFull
 * @property {number} maxBatchLen most mutations in one batch (the server's --max-batch)
 * @property {number} maxBatchRetries re-sends of a batch rejected with a retryable code
 * @property {number} batchRetryDelay ms before such a re-send
 * @property {number} recoveryMaxAge ms after which recovery data is refused as stale
 * @property {number} cursorInterval ms; at most one cursor update per interval
 * @property {number | null} pingInterval ms between keep-alive pings (null: none)
 * @property {number} pongTimeout ms; a missing pong after this counts as a drop
 * @property {number} maxRedirects `redirect`s followed in a row before stopping (tooManyRedirects)
 */

/**
 * @typedef {object} ClientConfigInput
 * @property {Partial<Backoff>} [backoff]
 * @property {number} [attemptTimeout]
 * @property {number} [maxUnackedMutations]
 * @property {number} [maxBatchLen]
 * @property {number} [maxBatchRetries]
 * @property {number} [batchRetryDelay]
 * @property {number} [recoveryMaxAge]
 * @property {number} [cursorInterval]
 * @property {number | null} [pingInterval]
 * @property {number} [pongTimeout]
 * @property {number} [maxRedirects]
 */

/** @returns {Backoff} */
export function defaultBackoff() {
  return { firstDelay: 1000, baseDelay: 2000, multiplier: 2, maxDelay: 16000, maxAttempts: 5, jitter: 0 };
}

/** @returns {ClientConfig} */
export function defaultConfig() {
  return {
    backoff: defaultBackoff(),
    attemptTimeout: 10_000,
    maxUnackedMutations: 10_000,
    maxBatchLen: 1000,
    maxBatchRetries: 3,
    batchRetryDelay: 1000,
    recoveryMaxAge: 5 * 60_000,
    cursorInterval: 50,
    pingInterval: 20_000,
    pongTimeout: 10_000,
    maxRedirects: 3,
  };
}

/**
 * The defaults with `input` laid over them; refuses values that are not
 * non-negative integers (jitter: a number in [0, 1]).
 * @param {ClientConfigInput} [input]
 * @returns {ClientConfig}
 */
export function makeConfig(input = {}) {
  const base = defaultConfig();
  const backoff = { ...base.backoff, ...(input.backoff ?? {}) };
  /** @type {ClientConfig} */
  const config = { ...base, ...input, backoff };
  for (const [key, value] of Object.entries(backoff)) {
    if (key === 'jitter') {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
        throw new TypeError(`backoff.jitter must be a number in [0, 1], got ${value}`);
      }
    } else if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`backoff.${key} must be a non-negative integer, got ${value}`);
    }
  }
  for (const [key, v] of Object.entries(config)) {
    if (key === 'backoff' || (key === 'pingInterval' && v === null)) continue;
    const value = /** @type {number} */ (v);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`${key} must be a non-negative integer, got ${value}`);
    }
  }
  return config;
}
