// Reconnect delays and the seeded jitter source, bit for bit the Rust
// client's (`huddle_core::client`): SplitMix64 on 64-bit integers (BigInt),
// a unit float from its top 53 bits, and the jittered delay rounded to the
// nanosecond the way Rust's `Duration::try_from_secs_f64` does (nearest,
// ties to even) before it is cut to whole milliseconds.

const MASK = (1n << 64n) - 1n;

/** A small deterministic generator (SplitMix64): the client's only source
 * of randomness, seeded at construction. */
export class SplitMix64 {
  /** @param {bigint | number} seed an unsigned 64-bit seed */
  constructor(seed) {
    /** @type {bigint} */
    this.state = BigInt.asUintN(64, BigInt(seed));
  }

  /** @returns {bigint} the next 64-bit value */
  nextU64() {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  }

  /** @returns {number} uniform in [0, 1) */
  nextUnit() {
    return Number(this.nextU64() >> 11n) / 2 ** 53;
  }
}

/**
 * @typedef {object} Backoff
 * @property {number} firstDelay ms before the first attempt after a drop
 * @property {number} baseDelay ms before the second attempt
 * @property {number} multiplier growth from one attempt to the next
 * @property {number} maxDelay upper bound of any wait (before jitter), ms
 * @property {number} maxAttempts attempts before the client gives up
 * @property {number} jitter relative jitter in [0, 1]; 0 disables it
 */

/**
 * The wait before attempt `attempt` (1-based), without jitter, in ms.
 * @param {Backoff} b
 * @param {number} attempt
 * @returns {number}
 */
export function backoffDelay(b, attempt) {
  if (attempt <= 1) return Math.min(b.firstDelay, b.maxDelay);
  let d = b.baseDelay;
  for (let i = 2; i < attempt; i++) {
    d = d * b.multiplier;
    if (d >= b.maxDelay) break;
  }
  return Math.min(d, b.maxDelay);
}

/**
 * `delayMs` scaled by a factor uniform in [1 - jitter, 1 + jitter], in
 * whole ms (as the Rust client adds it to a millisecond timestamp).
 * @param {number} delayMs
 * @param {number} jitter
 * @param {SplitMix64} rng
 * @returns {number}
 */
export function jittered(delayMs, jitter, rng) {
  if (Number.isNaN(jitter) || jitter <= 0 || delayMs === 0) return delayMs;
  const j = Math.min(jitter, 1);
  const factor = 1 - j + 2 * j * rng.nextUnit();
  // Duration::as_secs_f64: whole seconds plus nanoseconds / 1e9.
  const secs = Math.floor(delayMs / 1000) + ((delayMs % 1000) * 1e6) / 1e9;
  const nanos = secsToNanos(secs * factor);
  return nanos === null ? delayMs : Number(nanos / 1_000_000n);
}

/**
 * An f64 number of seconds as whole nanoseconds, rounded to nearest with
 * ties to even (exact, from the float's bits); null if negative or not
 * finite.
 * @param {number} secs
 * @returns {bigint | null}
 */
export function secsToNanos(secs) {
  if (!Number.isFinite(secs) || secs < 0) return null;
  if (secs === 0) return 0n;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, secs);
  const bits = view.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  // value = mant * 2^e
  const mant = exp === 0 ? frac : frac | (1n << 52n);
  const e = (exp === 0 ? 1 : exp) - 1075;
  const scaled = mant * 1_000_000_000n;
  if (e >= 0) return scaled << BigInt(e);
  const shift = BigInt(-e);
  const q = scaled >> shift;
  const rem = scaled - (q << shift);
  const half = 1n << (shift - 1n);
  if (rem > half || (rem === half && (q & 1n) === 1n)) return q + 1n;
  return q;
}
