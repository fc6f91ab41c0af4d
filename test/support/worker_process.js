'use strict';

// One pycage worker as its own process, for the scale-out tests: a local
// Sandbox consuming the queue named by PYCAGE_QUEUE on the Redis at
// PYCAGE_REDIS_PORT, with the PostgreSQL bundle store at PYCAGE_PG_URL if
// given. Prints "ready <worker id> <data dir>" once it consumes. In Redis,
// so a test can tell how often and where: the runs it starts
// (pycage-test:starts:<queue>:<job id>) and which worker started each
// (pycage-test:ranby:<queue>:<job id>), what its local Sandbox returned for
// each run (pycage-test:outcomes:<queue>, a list of JSON), the bundles it
// sets out to fetch (pycage-test:fetches:<queue>) and the archives it
// actually reads from PostgreSQL (pycage-test:reads:<queue>).
// PYCAGE_TEST_SHARED_DATA_DIR shares one dataDir between worker processes
// (left in place at exit); PYCAGE_TEST_READ_DELAY_MS slows each read.
// Ends on SIGTERM.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { createWorker } = require('../../js/worker');

async function main() {
  const connection = { host: '127.0.0.1', port: Number(process.env.PYCAGE_REDIS_PORT), maxRetriesPerRequest: null };
  const shared = process.env.PYCAGE_TEST_SHARED_DATA_DIR || null;
  const dataDir = shared || fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-worker-data-'));
  fs.chmodSync(dataDir, 0o755);
  const sandbox = new Sandbox({ dataDir, isolation: process.env.PYCAGE_TEST_TIER || 'auto',
    ...(process.env.PYCAGE_INDEX_URL ? { index: { url: process.env.PYCAGE_INDEX_URL }, installer: { tool: 'pip' } } : {}) });
  let pool = null;
  let bundleStore;
  if (process.env.PYCAGE_PG_URL) {
    const { Pool } = require('pg');
    const { createPostgresBundleStore } = require('../../js/postgres');
    pool = new Pool({ connectionString: process.env.PYCAGE_PG_URL, max: 2 });
    pool.on('error', () => {});  // an idle client losing the server: the next query reconnects
    bundleStore = createPostgresBundleStore({ pool });
  }
  const queue = process.env.PYCAGE_QUEUE;
  const { Queue } = require('bullmq');
  const probe = new Queue(queue, { connection });
  const redis = await probe.client;
  if (bundleStore) {
    const readBundle = bundleStore.readBundle.bind(bundleStore);
    bundleStore.readBundle = async (sha) => {
      await redis.incr(`pycage-test:reads:${queue}`);
      // As slow as a tens-of-MB archive would be, so concurrent first runs overlap the read.
      await new Promise((resolve) => setTimeout(resolve, Number(process.env.PYCAGE_TEST_READ_DELAY_MS || 0)));
      return readBundle(sha);
    };
  }
  // What the local run returned, seen on the worker's side (not what the caller was told).
  const runPython = sandbox.runPython.bind(sandbox);
  sandbox.runPython = async (code, options) => {
    const run = await runPython(code, options);
    redis.rpush(`pycage-test:outcomes:${queue}`, JSON.stringify({ code, status: run.status,
      errorType: run.error ? run.error.type : null, result: run.result, stdout: run.stdout })).catch(() => {});
    return run;
  };
  const worker = await createWorker({
    connection, queue: process.env.PYCAGE_QUEUE, sandbox, bundleStore, concurrency: 2,
    retries: process.env.PYCAGE_RETRIES === '1',
  });
  worker.on('run', ({ jobId }) => {
    redis.incr(`pycage-test:starts:${queue}:${jobId}`).catch(() => {});
    redis.set(`pycage-test:ranby:${queue}:${jobId}`, worker.id).catch(() => {});
  });
  worker.on('fetch', () => { redis.incr(`pycage-test:fetches:${queue}`).catch(() => {}); });
  worker.on('error', () => {});
  process.stdout.write(`ready ${worker.id} ${dataDir}\n`);
  const stop = async () => {
    await worker.close();
    await probe.close();
    await sandbox.close();
    if (pool) await pool.end();
    if (!shared) fs.rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`worker failed: ${err.stack}\n`);
  process.exit(1);
});
