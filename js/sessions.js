'use strict';

// Stateful sessions (README "Sessions"): each id maps to a long-lived run
// child inside the zygote of its pool, named by a token of our own. This
// file owns the JS side: ordering of calls, the idle TTL, the global cap with
// least-recently-used eviction, and telling a caller when its session
// restarted. The jail, limits and per-call CPU budget are the native side's.

const { PycageError, codes } = require('./errors');

const DEFAULT_MAX_SESSIONS = 32;
const DEFAULT_IDLE_MS = 5 * 60 * 1000;

class Sessions {
  constructor({ max = DEFAULT_MAX_SESSIONS, idleMs = DEFAULT_IDLE_MS } = {}) {
    this.max = max;
    this.idleMs = idleMs;
    this.entries = new Map();  // user id -> entry
    this.nextToken = 0;
    // Recency as a counter, not a clock: calls finish within the same
    // millisecond, and a tie would evict the wrong session.
    this.useClock = 0;
    this.closed = false;
  }

  get size() {
    return this.entries.size;
  }

  // Runs `start(token, pool)` (which returns the native outcome promise) as
  // the next call of session `id` on `pool`; calls of one session run one at
  // a time, in the order they were made. Resolves with
  // { outcome, restarted }.
  async call(id, poolKey, pool, start) {
    let entry = this.entries.get(id);
    let restartedByBundle = false;
    if (entry !== undefined && (entry.poolKey !== poolKey || entry.pool !== pool)) {
      // Its bundle was rebuilt or another bundle was asked for: the state
      // belongs to the old packages, so the session starts over (and says so).
      restartedByBundle = entry.used;
      this.closeEntry(id, entry);
      entry = undefined;
    }
    if (entry === undefined) {
      this.makeRoom();
      entry = {
        token: `s${++this.nextToken}`, poolKey, pool, tail: Promise.resolve(), pending: 0,
        used: false, lastUsed: ++this.useClock, timer: null,
      };
      pool.sessions = (pool.sessions || 0) + 1;
      this.entries.set(id, entry);
    }
    const current = entry;
    if (current.timer !== null) {
      clearTimeout(current.timer);
      current.timer = null;
    }
    current.pending++;
    current.lastUsed = ++this.useClock;
    const turn = current.tail.then(() => start(current.token, current.pool));
    current.tail = turn.then(() => undefined, () => undefined);
    try {
      const outcome = await turn;
      const restarted = restartedByBundle || (Boolean(outcome.sessionStarted) && current.used);
      current.used = true;
      return { outcome, restarted };
    } finally {
      current.pending--;
      current.lastUsed = ++this.useClock;
      if (current.pending === 0 && this.entries.get(id) === current) this.armIdleTimer(id, current);
    }
  }

  armIdleTimer(id, entry) {
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (this.entries.get(id) === entry && entry.pending === 0) this.closeEntry(id, entry);
    }, this.idleMs);
    entry.timer.unref();  // an idle session never keeps the host alive
  }

  // At the cap, the least recently used idle session goes.
  makeRoom() {
    if (this.entries.size < this.max) return;
    let oldest = null;
    for (const [id, entry] of this.entries) {
      if (entry.pending > 0) continue;
      if (oldest === null || entry.lastUsed < oldest[1].lastUsed) oldest = [id, entry];
    }
    if (oldest === null) {
      throw new PycageError(`All ${this.max} sessions have a call in flight; retry later, close a session ` +
        'with closeSession(), or raise sessions.max in new Sandbox()', codes.ERR_OVERLOADED);
    }
    this.closeEntry(oldest[0], oldest[1]);
  }

  // Forgets the session now; its process is killed once its calls settled.
  closeEntry(id, entry) {
    this.entries.delete(id);
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    return entry.tail.then(() => {
      entry.pool.sessions--;
      if (!this.closed) entry.pool.native.closeSession(entry.token);
    });
  }

  // Resolves true when the session existed.
  async close(id) {
    const entry = this.entries.get(id);
    if (entry === undefined) return false;
    await this.closeEntry(id, entry);
    return true;
  }

  // Sandbox.close(): the pools kill every session process with their zygotes.
  closeAll() {
    this.closed = true;
    for (const entry of this.entries.values()) {
      if (entry.timer !== null) clearTimeout(entry.timer);
    }
    this.entries.clear();
  }
}

module.exports = { Sessions, DEFAULT_MAX_SESSIONS, DEFAULT_IDLE_MS };
