'use strict';

// One pycage worker as its own process, for the scale-out tests: a local
// Sandbox consuming the queue named by PYCAGE_QUEUE on the Redis at
// PYCAGE_REDIS_PORT, with the PostgreSQL bundle store at PYCAGE_PG_URL if
// given. Prints "ready <worker id> <data dir>" once it consumes; counts the
// runs it starts (pycage-test:starts:<queue>:<job id>) and the bundles it
// fetches (pycage-test:fetches:<queue>) in Redis, so a test can tell how
// often. Ends on SIGTERM.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { createWorker } = require('../../js/worker');

async function main() {
  const connection = { host: '127.0.0.1', port: Number(process.env.PYCAGE_REDIS_PORT), maxRetriesPerRequest: null };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-worker-data-'));
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
  const worker = await createWorker({
    connection, queue: process.env.PYCAGE_QUEUE, sandbox, bundleStore, concurrency: 2,
    retries: process.env.PYCAGE_RETRIES === '1',
  });
  const { Queue } = require('bullmq');
  const probe = new Queue(process.env.PYCAGE_QUEUE, { connection });
  const redis = await probe.client;
  const queue = process.env.PYCAGE_QUEUE;
  worker.on('run', ({ jobId }) => { redis.incr(`pycage-test:starts:${queue}:${jobId}`).catch(() => {}); });
  worker.on('fetch', () => { redis.incr(`pycage-test:fetches:${queue}`).catch(() => {}); });
  worker.on('error', () => {});
  process.stdout.write(`ready ${worker.id} ${dataDir}\n`);
  const stop = async () => {
    await worker.close();
    await probe.close();
    await sandbox.close();
    if (pool) await pool.end();
    fs.rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`worker failed: ${err.stack}\n`);
  process.exit(1);
});
