'use strict';

// require('pycage/worker') on a real redis-server and a real PostgreSQL, with
// workers as separate processes (so one can be SIGKILLed mid-run): several
// workers on one queue, a bundle fetched from PostgreSQL, a sticky session
// whose worker died, cancellation, a full queue, a dead worker with and
// without retries, and Redis restarted under load.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { Pool } = require('pg');
const { Queue } = require('bullmq');
const { Sandbox } = require('../..');
const { RemoteSandbox } = require('pycage/worker');
const { createPythonExecutor, createBundleService } = require('pycage/tooljet');
const { createPostgresBundleStore } = require('pycage/postgres');
const { skipWithoutAddon } = require('./common');
const { startRedis } = require('../support/redis_server');
const { startPostgres } = require('../support/postgres_server');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const WORKER = path.join(__dirname, '..', 'support', 'worker_process.js');

describe('scale-out: RemoteSandbox and workers on BullMQ', { skip: skipWithoutAddon }, () => {
  let redis;
  let pg;
  let pool;
  let store;
  const workers = [];
  let queueN = 0;

  // Starts a worker process on `queue`; resolves { child, id } once it consumes.
  // `env` adds to the worker's environment (PYCAGE_INDEX_URL: where it installs from).
  function startWorker(queue, { retries = false, env = {} } = {}) {
    const child = spawn(process.execPath, [WORKER], {
      env: { ...process.env, PYCAGE_REDIS_PORT: String(redis.port), PYCAGE_QUEUE: queue, PYCAGE_PG_URL: pg.connectionString,
        PYCAGE_RETRIES: retries ? '1' : '0', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const entry = { child, id: null, dataDir: null };
    workers.push(entry);
    return new Promise((resolve, reject) => {
      const lines = readline.createInterface({ input: child.stdout });
      lines.once('line', (line) => {
        const [word, id, dataDir] = line.split(' ');
        if (word !== 'ready') return reject(new Error(`worker said ${line}`));
        entry.id = id;
        entry.dataDir = dataDir;
        return resolve(entry);
      });
      child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
    });
  }

  async function stopWorker(entry, signal = 'SIGTERM') {
    if (entry.child.exitCode === null && entry.child.signalCode === null) {
      const exited = new Promise((resolve) => entry.child.once('exit', resolve));
      entry.child.kill(signal);
      await exited;
    }
    if (entry.dataDir) fs.rmSync(entry.dataDir, { recursive: true, force: true });
  }

  const newQueue = () => `pycage-test-${process.pid}-${++queueN}`;
  const remote = (queue, extra = {}) => new RemoteSandbox({ connection: redis.connection, queue, bundleStore: store, ...extra });

  // The worker processes' counters (test/support/worker_process.js).
  async function withClient(use) {
    const q = new Queue('probe', { connection: redis.connection });
    try {
      return await use(await q.client);
    } finally {
      await q.close();
    }
  }
  const counter = (key) => withClient(async (client) => Number(await client.get(key)));
  const starts = (queue) => withClient(async (client) => {
    const found = await client.keys(`pycage-test:starts:${queue}:*`);
    return Promise.all(found.map(async (k) => Number(await client.get(k))));
  });
  // Which worker started each job: [worker id, …] in no order.
  const ranBy = (queue) => withClient(async (client) => {
    const found = await client.keys(`pycage-test:ranby:${queue}:*`);
    return Promise.all(found.map((k) => client.get(k)));
  });
  // What the workers' own Sandboxes returned for `code`, once they return it
  // (or [] if none did within `waitMs`).
  const outcomesOf = (queue, code, waitMs = 0) => withClient(async (client) => {
    const until = Date.now() + waitMs;
    for (;;) {
      const all = (await client.lrange(`pycage-test:outcomes:${queue}`, 0, -1)).map((x) => JSON.parse(x));
      const mine = all.filter((o) => o.code === code);
      if (mine.length > 0 || Date.now() >= until) return mine;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  before(async () => {
    redis = await startRedis();
    pg = await startPostgres();
    pool = new Pool({ connectionString: pg.connectionString, max: 4 });
    pool.on('error', () => {});  // idle clients see the server stop at the end
    store = createPostgresBundleStore({ pool });
    await store.migrate();
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopWorker(w, 'SIGKILL')));
    if (pool) await pool.end();
    if (pg) await pg.stop();
    if (redis) await redis.stop();
  });

  it('refuses bad arguments on the caller\'s side with the same codes as Sandbox', async () => {
    assert.throws(() => new RemoteSandbox({ queue: 'q' }), { code: 'ERR_INVALID_ARGUMENT', message: /connection/ });
    assert.throws(() => new RemoteSandbox({ connection: redis.connection, queue: 'a:b' }), { code: 'ERR_INVALID_ARGUMENT', message: /queue/ });
    assert.throws(() => new RemoteSandbox({ connection: redis.connection, queue: 'q', bundleStore: {} }), { code: 'ERR_INVALID_ARGUMENT', message: /bundleStore/ });
    const r = remote(newQueue());
    try {
      await assert.rejects(r.runPython(42), { code: 'ERR_INVALID_ARGUMENT', message: /code/ });
      await assert.rejects(r.runPython('1', { bundel: 'x' }), { code: 'ERR_INVALID_ARGUMENT', message: /did you mean 'bundle'/ });
      await assert.rejects(r.runPython('1', { limits: { wallMs: 10 ** 9 } }), { code: 'ERR_INVALID_ARGUMENT', message: /wallMs/ });
      await assert.rejects(r.runPython('1', { inputs: { 'not-an-identifier': 1 } }), { code: 'ERR_INVALID_ARGUMENT' });
      await assert.rejects(r.runPython('1', { bundle: 'app-never' }), { code: 'ERR_BUNDLE_NOT_READY', message: /it is none in the bundle store/ });
    } finally {
      await r.close();
    }
    await assert.rejects(r.runPython('1'), { code: 'ERR_CLOSED' });
  });

  it('spreads runs over several worker processes and returns each its own RunResult', async () => {
    const queue = newQueue();
    const [a, b] = await Promise.all([startWorker(queue), startWorker(queue)]);
    const r = remote(queue);
    try {
      // Each run holds a slot long enough that one worker's two slots cannot drain the queue alone.
      const runs = await Promise.all(Array.from({ length: 16 }, (_, i) => r.runPython('import time\ntime.sleep(0.2)\nx * 2', { inputs: { x: i } })));
      assert.deepEqual(runs.map((run) => run.result), Array.from({ length: 16 }, (_, i) => i * 2));
      for (const run of runs) assert.equal(run.status, 'ok');
      // Both processes served: each job was started by one of them, and each of them started some.
      const servers = await ranBy(queue);
      assert.equal(servers.length, 16);
      for (const id of servers) assert.ok(id === a.id || id === b.id, `job run by ${id}`);
      assert.deepEqual(new Set(servers), new Set([a.id, b.id]));
      assert.ok(['full', 'reduced'].includes(runs[0].isolation));
      assert.equal(r.isolation, runs[0].isolation);
      const errored = await r.runPython('1 / 0');
      assert.deepEqual([errored.status, errored.error.type], ['error', 'ZeroDivisionError']);
    } finally {
      await r.close();
    }
  });

  it('serves a bundle built elsewhere: the worker imports it from PostgreSQL once, even for concurrent first runs', async () => {
    const { dir } = await ensureWheels();
    const index = await startIndex([dir]);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-builder-'));
    fs.chmodSync(dataDir, 0o755);
    const builder = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    const queue = newQueue();
    const worker = await startWorker(queue);
    const r = remote(queue);
    try {
      const built = await builder.install('app-remote', 'pycage-needs-hello\n');
      assert.equal(built.status, 'ready', built.error);
      await store.publish(builder, 'app-remote');
      const runs = await Promise.all(Array.from({ length: 4 }, () =>
        r.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'app-remote' })));
      for (const run of runs) assert.equal(run.status, 'ok', JSON.stringify(run.error));
      // Concurrent first runs on one machine: one fetch.
      assert.equal(await counter(`pycage-test:fetches:${queue}`), 1);
      const again = await r.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'app-remote' });
      assert.equal(again.status, 'ok');
      assert.equal(await counter(`pycage-test:fetches:${queue}`), 1);
    } finally {
      await r.close();
      await builder.close();
      await index.close();
      await stopWorker(worker);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('worker processes sharing a dataDir read a bundle from PostgreSQL once between them, even for concurrent first runs', async () => {
    const { dir } = await ensureWheels();
    const index = await startIndex([dir]);
    const builderDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-builder-'));
    const sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-shared-worker-data-'));
    fs.chmodSync(builderDir, 0o755);
    const builder = new Sandbox({ dataDir: builderDir, index: { url: index.url }, installer: { tool: 'pip' } });
    const queue = newQueue();
    const env = { PYCAGE_TEST_SHARED_DATA_DIR: sharedDir, PYCAGE_TEST_READ_DELAY_MS: '1000' };
    const [a, b] = await Promise.all([startWorker(queue, { env }), startWorker(queue, { env })]);
    const r = remote(queue);
    try {
      const built = await builder.install('app-shared', 'pycage-hello==1.0\n');
      assert.equal(built.status, 'ready', built.error);
      await store.publish(builder, 'app-shared');
      // Enough concurrent first runs that both processes take some before either has the bundle.
      const runs = await Promise.all(Array.from({ length: 8 }, () =>
        r.runPython('import time, pycage_hello\ntime.sleep(0.2)\npycage_hello.VERSION', { bundle: 'app-shared' })));
      for (const run of runs) assert.deepEqual([run.status, run.result], ['ok', '1.0'], JSON.stringify(run.error));
      assert.deepEqual(new Set(await ranBy(queue)), new Set([a.id, b.id]), 'both processes ran the bundle');
      assert.equal(await counter(`pycage-test:reads:${queue}`), 1, 'archives read from PostgreSQL');
    } finally {
      await r.close();
      await builder.close();
      await index.close();
      await Promise.all([stopWorker(a), stopWorker(b)]);
      fs.rmSync(builderDir, { recursive: true, force: true });
      fs.rmSync(sharedDir, { recursive: true, force: true });
    }
  });

  it('serves the ToolJet adapters unchanged: installs build on a worker, status comes from the store', async () => {
    const { dir } = await ensureWheels();
    const index = await startIndex([dir]);
    const queue = newQueue();
    const entry = await startWorker(queue, { env: { PYCAGE_INDEX_URL: index.url } });
    const r = remote(queue);
    try {
      const bundles = createBundleService(r);
      const executor = createPythonExecutor(r);
      const installed = await bundles.updatePackages('tj-v1', 'pycage-hello==1.0\n');
      assert.equal(installed.status, 'ready', JSON.stringify(installed.error));
      assert.equal((await bundles.getBundleStatus('tj-v1')).status, 'ready');
      const target = await bundles.getBundleForExecution('tj-v1');
      assert.deepEqual(target, { bundleId: 'tj-v1', bundleSha: installed.bundleSha });
      const result = await executor.execute('import pycage_hello\npycage_hello.VERSION + suffix', { suffix: '!' }, 'tj-v1', 5000);
      assert.deepEqual([result.status, result.data], ['ok', '1.0!']);
      assert.equal(await bundles.getBundleForExecution('tj-never'), null);  // no packages: the standard library
    } finally {
      await r.close();
      await stopWorker(entry);
      await index.close();
    }
  });

  it('keeps a session on its worker, and starts it afresh (saying so) when that worker died', async () => {
    const queue = newQueue();
    const [a, b] = await Promise.all([startWorker(queue), startWorker(queue)]);
    const r = remote(queue);
    try {
      const first = await r.runPython('v = 41\nv', { session: 's1' });
      assert.equal(first.result, 41);
      for (let i = 0; i < 4; i++) {
        const again = await r.runPython('v += 1\nv', { session: 's1' });
        assert.deepEqual([again.result, again.sessionRestarted], [42 + i, false]);
      }
      const probe = new Queue('probe', { connection: redis.connection });
      const owner = await (await probe.client).get(`pycage:${queue}:session:s1`);
      await probe.close();
      const holder = owner === a.id ? a : b;
      assert.ok(owner === a.id || owner === b.id, `session owner ${owner}`);
      await stopWorker(holder, 'SIGKILL');
      // The heartbeat lapses within a few seconds.
      await new Promise((resolve) => setTimeout(resolve, 6500));
      const after = await r.runPython('"v" in globals()', { session: 's1' });
      assert.deepEqual([after.status, after.result, after.sessionRestarted], ['ok', false, true]);
    } finally {
      await r.close();
    }
  });

  it('cancels through the signal: a running node is killed on its worker, a waiting one never runs', async () => {
    const queue = newQueue();
    const worker = await startWorker(queue);
    const r = remote(queue);
    try {
      const controller = new AbortController();
      const slow = 'import time\nprint("started", flush=True)\ntime.sleep(8)\nprint("finished")\n"finished"';
      const pending = r.runPython(slow, { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      controller.abort();
      const run = await pending;
      assert.deepEqual([run.status, run.error.type], ['error', 'Cancelled']);
      // The worker's own Sandbox says the run was killed there: had only the
      // caller stopped waiting, it would report "finished" after its 8 s.
      const [onWorker] = await outcomesOf(queue, slow, 15000);
      assert.ok(onWorker, 'the worker never reported the cancelled run');
      assert.deepEqual([onWorker.status, onWorker.errorType], ['error', 'Cancelled'], JSON.stringify(onWorker));
      assert.match(onWorker.stdout, /started/);
      assert.doesNotMatch(onWorker.stdout, /finished/);
      // The worker's slot is free again at once: both its slots serve.
      const next = await Promise.all([r.runPython('1'), r.runPython('2')]);
      assert.deepEqual(next.map((x) => x.result), [1, 2]);
      // A waiting job whose caller gave up is removed, never started.
      const busy = [r.runPython('import time\ntime.sleep(2)'), r.runPython('import time\ntime.sleep(2)')];
      const waiting = new AbortController();
      const never = r.runPython('"ran"', { signal: waiting.signal });
      await new Promise((resolve) => setTimeout(resolve, 300));
      waiting.abort();
      assert.equal((await never).error.type, 'Cancelled');
      await Promise.all(busy);
      assert.equal((await r.runPython('3')).result, 3);  // after the waiting one's turn
      assert.deepEqual(await outcomesOf(queue, '"ran"'), [], 'the removed run never reached the worker\'s Sandbox');
    } finally {
      await r.close();
      await stopWorker(worker);
    }
  });

  it('rejects with ERR_OVERLOADED past the queue bound, and a run whose caller stopped waiting is not run', async () => {
    const queue = newQueue();
    const r = remote(queue, { maxQueue: 2 });
    try {
      const waiting = [r.runPython('"late-1"', { limits: { wallMs: 1000 } }), r.runPython('"late-2"', { limits: { wallMs: 1000 } })];
      await new Promise((resolve) => setTimeout(resolve, 300));
      await assert.rejects(r.runPython('1'), { code: 'ERR_OVERLOADED', message: /full \(2 runs waiting\)/ });
      const timedOut = await Promise.all(waiting);
      for (const run of timedOut) assert.equal(run.error.type, 'TimeoutError');
      // A worker that starts afterwards runs neither: only the next run.
      const worker = await startWorker(queue);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.deepEqual(await starts(queue), []);
      const fresh = await r.runPython('"now"');
      assert.equal(fresh.result, 'now');
      assert.deepEqual(await starts(queue), [1]);
      await stopWorker(worker);
    } finally {
      await r.close();
    }
  });

  it('a worker SIGKILLed mid-run: by default the node is not run again and the caller is told; with retries it completes elsewhere', async () => {
    for (const retries of [false, true]) {
      const queue = newQueue();
      const first = await startWorker(queue, { retries });
      const r = remote(queue);
      try {
        const pending = r.runPython('import time\ntime.sleep(2)\n"done"', { limits: { wallMs: 10000 } });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const second = await startWorker(queue, { retries });
        await stopWorker(first, 'SIGKILL');
        const run = await pending;
        const runs = await starts(queue);
        if (retries) {
          assert.deepEqual([run.status, run.result], ['ok', 'done'], JSON.stringify(run.error));
          assert.deepEqual(runs, [2], 'started on the dead worker, then once on the live one');
        } else {
          assert.deepEqual(runs, [1], 'started once, never again');
          assert.deepEqual([run.status, run.error.type], ['error', 'Crashed'], JSON.stringify(run));
          assert.match(run.error.message, /stopped before it replied.*not run again/);
        }
        await stopWorker(second);
      } finally {
        await r.close();
      }
    }
  });

  it('survives Redis restarting under load: no caller hangs, and runs flow again afterwards', async (t) => {
    const queue = newQueue();
    const worker = await startWorker(queue);
    const r = remote(queue);
    try {
      const load = Array.from({ length: 8 }, (_, i) => r.runPython(`import time\ntime.sleep(0.2)\n${i}`, { limits: { wallMs: 8000 } })
        .then((run) => run, (err) => ({ rejected: err })));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await redis.restart();
      // Each call settles (the caller's wall time bounds it, submission
      // included) in one of the documented ways: its own correct result; a
      // TimeoutError or Crashed result (README "At most once"); or a
      // rejection with ERR_OVERLOADED when it could not be queued.
      const settled = await Promise.all(load);
      settled.forEach((outcome, i) => {
        if (outcome.rejected) {
          assert.equal(outcome.rejected.code, 'ERR_OVERLOADED', outcome.rejected.stack);
          assert.match(outcome.rejected.message, /could not be queued on Redis/);
        } else if (outcome.status === 'ok') {
          assert.equal(outcome.result, i);
        } else {
          assert.equal(outcome.status, 'error', JSON.stringify(outcome));
          assert.ok(['TimeoutError', 'Crashed'].includes(outcome.error.type), JSON.stringify(outcome.error));
        }
      });
      t.diagnostic(`outcomes: ${settled.map((o) => (o.rejected ? o.rejected.code : o.status === 'ok' ? 'ok' : o.error.type)).join(' ')}`);
      // None ran twice.
      for (const n of await starts(queue)) assert.ok(n <= 1, `a job started ${n} times`);
      // Once Redis is back (reconnecting takes a moment), new runs succeed.
      let after;
      for (let i = 0; i < 20; i++) {
        after = await r.runPython('6 * 7', { limits: { wallMs: 3000 } }).catch((err) => ({ rejected: err }));
        if (after.result === 42) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.equal(after.result, 42, JSON.stringify(after));
      const fresh = await Promise.all(Array.from({ length: 4 }, (_, i) => r.runPython(`${i} + 100`)));
      assert.deepEqual(fresh.map((run) => [run.status, run.result]), [[ 'ok', 100 ], [ 'ok', 101 ], [ 'ok', 102 ], [ 'ok', 103 ]]);
    } finally {
      await r.close();
      await stopWorker(worker);
    }
  });
});
