'use strict';

// Adaptive preload: the per-bundle learner on its own (counts, caps, what a
// zygote's report may change, persistence), the options, and through the
// public API with a real bundle: learning, a restart that starts warm,
// learning turned off, and pinning with restrictions.passthroughModules.
// The poisoning attempts are in test/security/16.preload.poison.test.js.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { PreloadLearner, checkPreloadOptions, DEFAULTS, REPORT_PREFIX } = require('../../js/preload_learning');
const { BundleStore } = require('../../js/store');
const { Pools, MIN_REPLACE_INTERVAL_MS } = require('../../js/pools');
const { skipWithoutAddon } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

function tempDir(t, prefix = 'pycage-learn-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const report = (fields) => REPORT_PREFIX + JSON.stringify({ loaded: [], dropped: [], skipped: [], growthKb: 0, ...fields });

describe('adaptive preload: options', () => {
  it('has defaults and rejects bad values naming the field', () => {
    assert.deepEqual(checkPreloadOptions(undefined), { ...DEFAULTS });
    assert.equal(checkPreloadOptions({ learn: false }).learn, false);
    const cases = [
      [{ learn: 'yes' }, /preload\.learn/],
      [{ minRuns: 0 }, /preload\.minRuns/],
      [{ maxModules: 257 }, /preload\.maxModules/],
      [{ maxGrowthMb: 0 }, /preload\.maxGrowthMb/],
      [{ idleMs: -1 }, /preload\.idleMs/],
      [{ minRun: 2 }, /minRuns/],
      [5, /preload/],
    ];
    for (const [value, message] of cases) {
      assert.throws(() => checkPreloadOptions(value), (err) => err.code === 'ERR_INVALID_ARGUMENT' && message.test(err.message),
        JSON.stringify(value));
    }
  });

  it('is checked by new Sandbox() before anything starts', () => {
    assert.throws(() => new Sandbox({ preload: { maxModules: -1 } }),
      (err) => err.code === 'ERR_INVALID_ARGUMENT' && /preload\.maxModules/.test(err.message));
  });
});

describe('adaptive preload: the learner', () => {
  const options = { ...DEFAULTS, minRuns: 2, maxModules: 3 };

  it('offers what enough runs imported, most needed first, within the module cap', () => {
    const learner = new PreloadLearner(null, options);
    learner.record(['a.x', 'b', 'c']);
    assert.deepEqual(learner.candidates(), []);
    learner.record(['a.x', 'b', 'b', 'c', 'd']);  // a repeat within a run counts once
    learner.record(['c', 'd', 'e']);
    assert.deepEqual(learner.candidates(), ['c', 'a.x', 'b']);
    assert.ok(learner.wantsNewZygote());
    const env = learner.env();
    assert.ok(env.includes('PYCAGE_LEARN=1'));
    assert.ok(env.includes('PYCAGE_PRELOAD_TRY=c,a.x,b'));
    assert.ok(env.includes(`PYCAGE_PRELOAD_GROWTH_KB=${DEFAULTS.maxGrowthMb * 1024}`));
    assert.equal(learner.wantsNewZygote(), false, 'the zygote just offered these has them');
  });

  it('counts only module names, and stops tracking new names at its cap', () => {
    const learner = new PreloadLearner(null, { ...options, maxModules: 256 });
    const junk = ['', '../etc/passwd', 'a b', '1x', 'x'.repeat(201), null, 7, 'ok.name'];
    learner.record(junk);
    learner.record(junk);
    assert.deepEqual(learner.candidates(), ['ok.name']);
    learner.record('not-an-array');
    for (let run = 0; run < 80; run++) learner.record(Array.from({ length: 64 }, (_, i) => `m${run}_${i}`));
    assert.equal(learner.counts.size, 4096);
    learner.record(['m0_0']);  // known names still count
    assert.equal(learner.counts.get('m0_0'), 2);
  });

  it('takes from a zygote report only the names it offered; a drop is never offered again', () => {
    const learner = new PreloadLearner(null, options);
    learner.record(['good', 'bad']);
    learner.record(['good', 'bad']);
    learner.env();
    assert.equal(learner.onZygoteLine('pycage-zygote: something else'), false);
    assert.equal(learner.onZygoteLine(`${REPORT_PREFIX}{not json`), true);
    learner.onZygoteLine(report({ loaded: ['good', 'os', 'never.offered'], dropped: [{ name: 'bad', reason: 'its import started a thread' }] }));
    assert.deepEqual(learner.learned, ['good']);
    assert.deepEqual([...learner.dropped.keys()], ['bad']);
    learner.record(['bad']);
    learner.record(['bad']);
    assert.deepEqual(learner.candidates(), []);
    // A name kept once and dropped later (it failed on this host) goes.
    learner.onZygoteLine(report({ dropped: [{ name: 'good', reason: 'its import failed' }] }));
    assert.deepEqual(learner.learned, []);
  });

  it('asks for a new zygote when a name ripens, and again when a drop frees room for one held back', () => {
    const learner = new PreloadLearner(null, { ...options, maxModules: 1 });
    learner.record(['first', 'second']);
    assert.equal(learner.wantsNewZygote(), false);
    learner.record(['first', 'second']);
    assert.equal(learner.wantsNewZygote(), true);
    assert.ok(learner.env().includes('PYCAGE_PRELOAD_TRY=first'));
    assert.equal(learner.wantsNewZygote(), false);
    learner.record(['second']);  // counted past minRuns, already waiting: no new request
    assert.equal(learner.wantsNewZygote(), false);
    learner.onZygoteLine(report({ dropped: [{ name: 'first', reason: 'its import failed' }] }));
    assert.equal(learner.wantsNewZygote(), true);
    assert.ok(learner.env().includes('PYCAGE_PRELOAD_TRY=second'));
  });

  it('turned off, it neither counts nor asks the zygote to report', () => {
    const learner = new PreloadLearner(null, { ...options, learn: false });
    learner.record(['a']);
    learner.record(['a']);
    assert.deepEqual(learner.candidates(), []);
    assert.ok(!learner.env().includes('PYCAGE_LEARN=1'));
  });

  it('persists what it learned and dropped, and ignores a corrupt or foreign file', (t) => {
    const file = path.join(tempDir(t), 'learned', 'x.json');
    const first = new PreloadLearner(file, options);
    first.record(['numpy.ma']);
    first.record(['numpy.ma', 'evil']);
    first.record(['evil']);
    first.env();
    first.onZygoteLine(report({ loaded: ['numpy.ma'], dropped: [{ name: 'evil', reason: 'its import tried socket.connect' }] }));
    const second = new PreloadLearner(file, options);
    assert.deepEqual(second.learned, ['numpy.ma']);
    assert.equal(second.dropped.get('evil'), 'its import tried socket.connect');
    assert.ok(second.env().includes('PYCAGE_PRELOAD_LEARNED=numpy.ma'));
    fs.writeFileSync(file, '{"version":1,"learned":["ok","../bad","a b"],"dropped":[]}');
    assert.deepEqual(new PreloadLearner(file, options).learned, ['ok']);
    fs.writeFileSync(file, 'garbage');
    assert.deepEqual(new PreloadLearner(file, options).learned, []);
    fs.writeFileSync(file, '{"version":99,"learned":["x"]}');
    assert.deepEqual(new PreloadLearner(file, options).learned, []);
  });

  it('keeps its file beside the store, and the file goes with its install', async (t) => {
    const store = new BundleStore(tempDir(t));
    const dir = store.installDir('abc123');
    fs.mkdirSync(dir, { recursive: true });
    const file = store.learnedFile(dir);
    assert.equal(path.dirname(file), path.join(store.root, 'learned'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{}');
    await store.remove(dir);
    assert.equal(fs.existsSync(file), false);
    assert.equal(fs.existsSync(dir), false);
  });
});

describe('adaptive preload: the pool', () => {
  function fakePools() {
    const natives = [];
    const createNative = (extra) => {
      const native = { env: extra.env, closed: false, close() { this.closed = true; return Promise.resolve(); } };
      natives.push(native);
      return native;
    };
    const options = { ...DEFAULTS, minRuns: 1, idleMs: 0 };
    const pools = new Pools(createNative, 'full', {
      learning: { options, fileOf: () => null }, warmUp: () => Promise.resolve(true),
    });
    return { pools, natives };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

  it('swaps in a warm interpreter with the learned names once idle, then waits before the next', async () => {
    const { pools, natives } = fakePools();
    const pool = pools.acquire('/b/installs/x', '/b/installs/x/site', ['pkg']);
    assert.equal(natives.length, 1);
    pools.finished('/b/installs/x', pool, { imported: ['pkg.lazy'] });
    await settle();
    assert.equal(natives.length, 2);
    assert.equal(pool.native, natives[1]);
    assert.ok(natives[0].closed);
    assert.ok(natives[1].env.includes('PYCAGE_PRELOAD_TRY=pkg.lazy'), natives[1].env.join(' '));
    // Something new to learn right away: no new interpreter before the interval.
    pools.finished('/b/installs/x', pool, { imported: ['pkg.other'] });
    await settle();
    assert.equal(natives.length, 2);
    assert.ok(pool.timer !== null, 'no replacement is scheduled');
    assert.ok(MIN_REPLACE_INTERVAL_MS >= 10_000);
    await pools.closeAll();
    assert.equal(pool.timer, null);
  });

  it('never swaps while a run is in flight or a session lives in the pool', async () => {
    const { pools, natives } = fakePools();
    const pool = pools.acquire('/b/installs/y', '/b/installs/y/site', []);
    pool.sessions = 1;
    pools.finished('/b/installs/y', pool, { imported: ['m'] });
    await settle();
    assert.equal(pool.native, natives[0]);
    pool.sessions = 0;
    pool.inFlight = 1;
    pools.finished('/b/installs/y', pool, { imported: ['m'] });
    await settle();
    assert.equal(pool.native, natives[0]);
    pool.inFlight = 0;
    pools.finished('/b/installs/y', pool, undefined);
    await settle();
    assert.equal(pool.native, natives[natives.length - 1]);
    assert.notEqual(pool.native, natives[0]);
    await pools.closeAll();
  });
});

describe('adaptive preload: through runPython()', { skip: skipWithoutAddon }, () => {
  let index;
  before(async () => {
    const { dir } = await ensureWheels();
    index = await startIndex([dir]);
  });
  after(() => index && index.close());

  const HAS_HEAVY = 'import sys\n"pycage_lazy.heavy" in sys.modules';
  const USE_HEAVY = 'from pycage_lazy import heavy\nlen(heavy.TABLE)';

  async function untilReport(logs, ms = 30000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && !logs.some((e) => /preload-report/.test(e.message))) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return logs.some((e) => /preload-report/.test(e.message));
  }

  async function untilTrue(run, ms = 10000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const result = await run();
      assert.equal(result.status, 'ok', JSON.stringify(result.error));
      if (result.result === true) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('learns a lazy submodule, preloads it once idle, and a restart starts warm with it', async (t) => {
    const dataDir = tempDir(t);
    const options = { dataDir, index: { url: index.url }, installer: { tool: 'pip' }, preload: { minRuns: 2, idleMs: 20 } };
    const sandbox = new Sandbox(options);
    const logs = [];
    sandbox.on('log', (e) => logs.push(e));
    try {
      assert.equal((await sandbox.install('wf', 'pycage-lazy\n')).status, 'ready');
      assert.equal((await sandbox.runPython(HAS_HEAVY, { bundle: 'wf' })).result, false);
      for (let i = 0; i < 2; i++) assert.equal((await sandbox.runPython(USE_HEAVY, { bundle: 'wf' })).result, 1000);
      assert.ok(await untilReport(logs), 'the pool never replaced its warm interpreter');
      const entry = logs.find((e) => /preload-report/.test(e.message));
      assert.equal(entry.level, 'info');
      assert.match(entry.message, /"loaded":\["pycage_lazy\.heavy"\]/);
      // The report comes from the new warm interpreter's start; the pool
      // swaps to it once its first run went through.
      assert.ok(await untilTrue(() => sandbox.runPython(HAS_HEAVY, { bundle: 'wf' })), 'the pool never swapped');
    } finally {
      await sandbox.close();
    }
    // A new process on the same data directory: warm from its first run.
    const again = new Sandbox(options);
    try {
      const first = await again.runPython(HAS_HEAVY, { bundle: 'wf' });
      assert.equal(first.result, true);
    } finally {
      await again.close();
    }
  });

  it('turned off, never replaces the warm interpreter; pinning still preloads', async (t) => {
    const dataDir = tempDir(t);
    const base = { dataDir, index: { url: index.url }, installer: { tool: 'pip' } };
    const sandbox = new Sandbox({ ...base, preload: { learn: false, minRuns: 1, idleMs: 0 } });
    const logs = [];
    sandbox.on('log', (e) => logs.push(e));
    try {
      assert.equal((await sandbox.install('wf', 'pycage-lazy\n')).status, 'ready');
      for (let i = 0; i < 3; i++) assert.equal((await sandbox.runPython(USE_HEAVY, { bundle: 'wf' })).result, 1000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await sandbox.runPython(HAS_HEAVY, { bundle: 'wf' })).result, false);
      assert.ok(!logs.some((e) => /preload-report/.test(e.message)));
      assert.equal(fs.existsSync(path.join(dataDir, 'bundles', 'learned')), false);
    } finally {
      await sandbox.close();
    }
    const pinned = new Sandbox({ ...base, preload: { learn: false }, restrictions: { passthroughModules: ['pycage_lazy.heavy'] } });
    try {
      assert.equal((await pinned.runPython(HAS_HEAVY, { bundle: 'wf' })).result, true);
    } finally {
      await pinned.close();
    }
  });
});
