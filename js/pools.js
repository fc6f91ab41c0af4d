'use strict';

// Warm interpreters per bundle: one NativeSandbox (one supervisor thread and
// its zygote) per published install directory, with the bundle's packages on
// sys.path and its top-level modules preloaded. The standard-library pool has
// no directory. Pools beyond `maxPools` are closed least recently used first;
// each pool's zygote already retires itself when idle.
//
// A bundle's pool also learns (preload_learning.js): what its runs import
// beyond the warm interpreter is counted, and at an idle moment a new warm
// interpreter that preloads it replaces the current one.

const { profileOf } = require('./profiles');
const { PreloadLearner } = require('./preload_learning');

// A pool starts a learning warm interpreter at most this often after its
// first: each start costs a zygote's imports, and a node that keeps inventing
// names that get dropped must not turn that into a steady load.
const MIN_REPLACE_INTERVAL_MS = 30_000;

const JAIL_SITE = '/pycage/site';

class Pools {
  // createNative(extra) builds a NativeSandbox with extra ro-binds and env
  // (extra.onZygoteLine sees its zygote's stderr lines first); warmUp(native)
  // resolves once a run on it went through (its zygote is up).
  // learning: { options, fileOf(dir) } or null for none.
  constructor(createNative, tier, { maxPools = 8, learning = null, warmUp = null } = {}) {
    this.createNative = createNative;
    this.tier = tier;
    this.maxPools = maxPools;
    this.learning = learning;
    this.warmUp = warmUp;
    // dir ('' for stdlib) -> { native, lastUsed, inFlight, learner, timer, replacing }
    this.pools = new Map();
    this.closing = [];
    this.closed = false;
    this.useClock = 0;  // recency as a counter: a clock ties within a millisecond
  }

  // The extra jail configuration of a bundle's zygote.
  bundleConfig(siteDir, preload) {
    const profile = profileOf(this.tier);
    const inJail = profile.bindsPaths;
    const env = [`PYCAGE_SITE=${inJail ? JAIL_SITE : siteDir}`];
    if (preload && preload.length > 0) env.push(`PYCAGE_PRELOAD=${preload.join(',')}`);
    // Bound at a fixed place in full; granted read-only where it is in reduced.
    let binds = [];
    if (inJail) binds = [`${siteDir}:${JAIL_SITE}`];
    else if (profile.landlockFs) binds = [siteDir];
    return { binds, env };
  }

  acquire(dir, siteDir, preload) {
    let pool = this.pools.get(dir);
    if (pool === undefined) {
      pool = {
        native: null, lastUsed: 0, inFlight: 0, learner: null, timer: null, replacing: null, lastReplace: undefined,
        siteDir, preload,
      };
      if (dir !== '' && this.learning !== null && this.learning.options.learn) {
        pool.learner = new PreloadLearner(this.learning.fileOf(dir), this.learning.options);
      }
      pool.native = this.nativeFor(dir, pool);
      this.pools.set(dir, pool);
    }
    // Marked used before eviction runs, so a new pool is never its victim.
    pool.lastUsed = ++this.useClock;
    this.evict();
    return pool;
  }

  nativeFor(dir, pool) {
    if (dir === '') return this.createNative({ binds: [], env: [], dir });
    const extra = this.bundleConfig(pool.siteDir, pool.preload);
    const learner = pool.learner;
    if (learner === null) return this.createNative({ ...extra, dir });
    return this.createNative({
      binds: extra.binds, env: [...extra.env, ...learner.env()], dir,
      onZygoteLine: (line) => learner.onZygoteLine(line),
    });
  }

  // A run on `pool` ended (outcome undefined when it rejected).
  finished(dir, pool, outcome) {
    if (pool.learner === null) return;
    if (outcome && Array.isArray(outcome.imported)) pool.learner.record(outcome.imported);
    if (pool.inFlight === 0 && pool.replacing !== null && pool.replacing.ready) this.swap(dir, pool);
    else if (pool.inFlight === 0 && pool.timer === null && pool.replacing === null && pool.learner.wantsNewZygote()) {
      const wait = pool.lastReplace === undefined ? 0 : pool.lastReplace + MIN_REPLACE_INTERVAL_MS - Date.now();
      pool.timer = setTimeout(() => {
        pool.timer = null;
        this.replace(dir, pool);
      }, Math.max(this.learning.options.idleMs, wait));
      pool.timer.unref();  // learning never keeps the host alive
    }
  }

  // Idle and there is more to preload: start a warm interpreter that
  // preloads it, and swap it in once it is up and the pool is idle.
  replace(dir, pool) {
    if (this.closed || this.pools.get(dir) !== pool || pool.replacing !== null || pool.inFlight > 0 ||
        pool.sessions || !pool.learner.wantsNewZygote()) return;
    if (pool.lastReplace !== undefined && Date.now() - pool.lastReplace < MIN_REPLACE_INTERVAL_MS) {
      this.finished(dir, pool, undefined);  // too soon: wait for the interval
      return;
    }
    const fresh = { native: this.nativeFor(dir, pool), ready: false };
    pool.replacing = fresh;
    pool.lastReplace = Date.now();
    this.warmUp(fresh.native).then((ok) => {
      if (pool.replacing !== fresh) return;
      if (!ok || this.closed || this.pools.get(dir) !== pool) {
        pool.replacing = null;
        this.closing.push(fresh.native.close());
        return;
      }
      fresh.ready = true;
      if (pool.inFlight === 0) this.swap(dir, pool);
    });
  }

  swap(dir, pool) {
    const fresh = pool.replacing;
    pool.replacing = null;
    if (pool.sessions) {
      // A session's state lives in the current zygote: keep it.
      this.closing.push(fresh.native.close());
      return;
    }
    const old = pool.native;
    pool.native = fresh.native;
    this.closing.push(old.close());
  }

  // A pool outside the cache, for one job (the smoke test of a build, which
  // imports every top-level module on purpose: no restrictions).
  temporary(siteDir) {
    return this.createNative({ ...this.bundleConfig(siteDir, []), unrestricted: true });
  }

  evict() {
    if (this.pools.size <= this.maxPools) return;
    const idle = [...this.pools.entries()]
      .filter(([dir, pool]) => dir !== '' && pool.inFlight === 0 && !pool.sessions)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [dir, pool] of idle) {
      if (this.pools.size <= this.maxPools) break;
      this.pools.delete(dir);
      this.closing.push(...this.closePool(pool));
    }
  }

  // Every native of a pool, closing (the current one and a replacement).
  closePool(pool) {
    if (pool.timer !== null) clearTimeout(pool.timer);
    pool.timer = null;
    const closing = [pool.native.close()];
    if (pool.replacing !== null) closing.push(pool.replacing.native.close());
    pool.replacing = null;
    return closing;
  }

  // A pool whose directory is about to disappear (GC) must not keep a zygote.
  async drop(dir) {
    const pool = this.pools.get(dir);
    if (pool === undefined) return;
    this.pools.delete(dir);
    await Promise.all(this.closePool(pool));
  }

  async closeAll() {
    this.closed = true;
    const all = [...this.pools.values()].flatMap((pool) => this.closePool(pool));
    this.pools.clear();
    await Promise.all([...all, ...this.closing]);
  }
}

module.exports = { Pools, JAIL_SITE, MIN_REPLACE_INTERVAL_MS };
