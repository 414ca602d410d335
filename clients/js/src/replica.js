// The client's copy of its board: the elements and the sequence they are
// at, built only from what the server confirmed (syncs, others' events,
// and the client's own acknowledged batches placed at their sequence).
// Unacknowledged local edits are not in it; an app that shows them
// optimistically overlays its pending batches.

/** @typedef {import('./wire.js').Json} Json */
/** @typedef {import('./wire.js').Mutation} Mutation */
/** @typedef {import('./wire.js').WireEvent} WireEvent */
/** @typedef {import('./wire.js').Participant} Participant */
/** @typedef {import('./wire.js').Pages} Pages */

/** Thrown when what arrived does not follow the replica's sequence. */
export class Gap extends Error {}

export class BoardReplica {
  constructor() {
    /** @type {Map<string, Map<string, Json>>} */
    this.pageMap = new Map();
    /** @type {number | null} the last sequence applied (null before the first sync) */
    this.sequence = null;
    /** @type {Participant[]} who is present, as last told */
    this.participants = [];
  }

  /** @returns {Pages} the elements by page, as a plain object */
  pages() {
    // fromEntries defines the keys (a page named `__proto__` stays a page).
    return Object.fromEntries([...this.pageMap].map(([page, elements]) => [page, Object.fromEntries(elements)]));
  }

  /** @param {string} page @param {string} element @returns {Json | undefined} */
  get(page, element) {
    return this.pageMap.get(page)?.get(element);
  }

  /** @param {Pages} pages */
  replacePages(pages) {
    this.pageMap = new Map();
    for (const [page, elements] of Object.entries(pages)) {
      for (const [element, data] of Object.entries(elements)) {
        this.apply({ op: 'upsert', page, element, data });
      }
    }
  }

  /** @param {Mutation} m */
  apply(m) {
    if (m.op === 'upsert') {
      let elements = this.pageMap.get(m.page);
      if (!elements) {
        elements = new Map();
        this.pageMap.set(m.page, elements);
      }
      elements.set(m.element, m.data);
    } else {
      const elements = this.pageMap.get(m.page);
      if (!elements) return;
      elements.delete(m.element);
      if (elements.size === 0) this.pageMap.delete(m.page);
    }
  }

  /**
   * Applies events; those at or below the sequence are duplicates and
   * skipped. Throws Gap (having applied those before it) on a gap.
   * @param {WireEvent[]} events
   * @returns {boolean} whether anything changed
   */
  applyEvents(events) {
    let changed = false;
    for (const e of events) {
      if (this.sequence !== null && e.seq <= this.sequence) continue;
      if (this.sequence === null || e.seq !== this.sequence + 1) throw new Gap();
      this.apply(e);
      this.sequence = e.seq;
      changed = true;
    }
    return changed;
  }

  /**
   * Places the client's own acknowledged batch, which ends at `sequence`.
   * Already covered (by a sync or an earlier copy): no-op.
   * @param {Mutation[]} mutations
   * @param {number} sequence
   */
  applyOwn(mutations, sequence) {
    const current = this.sequence;
    if (current === null) throw new Gap();
    if (sequence <= current) return;
    if (mutations.length === 0 || sequence - mutations.length !== current) throw new Gap();
    for (const m of mutations) this.apply(m);
    this.sequence = sequence;
  }
}
