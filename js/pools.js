'use strict';

// Warm interpreters per bundle: one NativeSandbox (one supervisor thread and
// its zygote) per published install directory, with the bundle's packages on
// sys.path and its top-level modules preloaded. The standard-library pool has
// no directory. Pools beyond `maxPools` are closed least recently used first;
// each pool's zygote already retires itself when idle.

const { profileOf } = require('./profiles');

const JAIL_SITE = '/pycage/site';

class Pools {
  // createNative(extra) builds a NativeSandbox with extra ro-binds and env.
  constructor(createNative, tier, { maxPools = 8 } = {}) {
    this.createNative = createNative;
    this.tier = tier;
    this.maxPools = maxPools;
    this.pools = new Map();  // dir ('' for stdlib) -> { native, lastUsed, inFlight }
    this.closing = [];
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
      const extra = dir === '' ? { binds: [], env: [] } : this.bundleConfig(siteDir, preload);
      pool = { native: this.createNative({ ...extra, dir }), lastUsed: 0, inFlight: 0 };
      this.pools.set(dir, pool);
    }
    // Marked used before eviction runs, so a new pool is never its victim.
    pool.lastUsed = ++this.useClock;
    this.evict();
    return pool;
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
      this.closing.push(pool.native.close());
    }
  }

  // A pool whose directory is about to disappear (GC) must not keep a zygote.
  async drop(dir) {
    const pool = this.pools.get(dir);
    if (pool === undefined) return;
    this.pools.delete(dir);
    await pool.native.close();
  }

  async closeAll() {
    const all = [...this.pools.values()].map((pool) => pool.native.close());
    this.pools.clear();
    await Promise.all([...all, ...this.closing]);
  }
}

module.exports = { Pools, JAIL_SITE };
