// Typed errors. A refused call changes nothing.

/**
 * Why a client call was refused. `kind` names the case, as the Rust
 * client's `ClientError` variants do: EmptyBatch, BatchTooLong {len, max},
 * DataNotJson {index}, QueueFull {held, limit}, NotConnected,
 * InvalidCoordinate, AlreadyActive, NoCredentialsRequested,
 * BatchIdsExhausted, InvalidMutation {index}.
 */
export class ClientError extends Error {
  /**
   * @param {string} kind
   * @param {string} message
   * @param {Record<string, unknown>} [details]
   */
  constructor(kind, message, details = {}) {
    super(message);
    this.name = 'ClientError';
    /** @type {string} */
    this.kind = kind;
    /** @type {Record<string, unknown>} */
    this.details = details;
  }
}

/**
 * Why recovery data was refused (nothing was imported): Stale {ageMs,
 * maxAgeMs}, WrongBoard {expected, found}, NotEmpty, TooLarge {held,
 * limit}, Malformed.
 */
export class RecoveryError extends Error {
  /**
   * @param {string} kind
   * @param {string} message
   * @param {Record<string, unknown>} [details]
   */
  constructor(kind, message, details = {}) {
    super(message);
    this.name = 'RecoveryError';
    /** @type {string} */
    this.kind = kind;
    /** @type {Record<string, unknown>} */
    this.details = details;
  }
}

/** A server frame that does not decode: the server is broken. */
export class DecodeError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'DecodeError';
  }
}
