'use strict';

// Scale-out figures, all in one run on this machine, against a real
// redis-server and PostgreSQL started on loopback (test/support):
//   (a) the latency a RemoteSandbox run adds over a local Sandbox run,
//       p50 and p99, the two measured in alternating rounds;
//   (b) runs/s with 1, 2 and 4 worker processes (16 callers);
//   (c) a cold bundle: the first run of a bundle on a worker that must fetch
//       it from PostgreSQL, against a warm run of the same bundle.
// Usage: node bench/js/scaleout.js [--runs N]

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { Pool } = require('pg');
const { Sandbox } = require('../..');
const { RemoteSandbox } = require('../../js/worker');
const { createPostgresBundleStore } = require('../../js/postgres');
const { startRedis } = require('../../test/support/redis_server');
const { startPostgres } = require('../../test/support/postgres_server');
const { ensureWheels } = require('../../test/support/wheels');
const { startIndex } = require('../../test/support/index_server');

const WORKER = path.join(__dirname, '..', '..', 'test', 'support', 'worker_process.js');
const i = process.argv.indexOf('--runs');
const RUNS = i > 0 ? Number(process.argv[i + 1]) : 300;

const pct = (samples, p) => { const s = [...samples].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };

async function main() {
  const redis = await startRedis();
  const pg = await startPostgres();
  const pool = new Pool({ connectionString: pg.connectionString, max: 4 });
  pool.on('error', () => {});
  const store = createPostgresBundleStore({ pool });
  await store.migrate();
  const children = [];
  const startWorker = (queue) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER], {
      env: { ...process.env, PYCAGE_REDIS_PORT: String(redis.port), PYCAGE_QUEUE: queue, PYCAGE_PG_URL: pg.connectionString },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const entry = { child, dataDir: null };
    children.push(entry);
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      const [word, , dataDir] = line.split(' ');
      entry.dataDir = dataDir;
      if (word === 'ready') resolve(entry); else reject(new Error(line));
    });
  });
  const stopAll = async () => {
    await Promise.all(children.splice(0).map(async (c) => {
      const exited = new Promise((resolve) => c.child.once('exit', resolve));
      c.child.kill('SIGTERM');
      await exited;
      if (c.dataDir) fs.rmSync(c.dataDir, { recursive: true, force: true });
    }));
  };
  const local = await Sandbox.create();
  try {
    // (a) added latency, alternating rounds
    await startWorker('bench-latency');
    const remote = new RemoteSandbox({ connection: redis.connection, queue: 'bench-latency', bundleStore: store });
    for (let k = 0; k < 30; k++) { await local.runPython('1 + 1'); await remote.runPython('1 + 1'); }
    const localMs = [];
    const remoteMs = [];
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < RUNS / 5; k++) {
        let t = performance.now();
        await local.runPython('1 + 1');
        localMs.push(performance.now() - t);
        t = performance.now();
        await remote.runPython('1 + 1');
        remoteMs.push(performance.now() - t);
      }
    }
    console.log(`(a) ${localMs.length} runs each, alternating: local p50 ${pct(localMs, 50).toFixed(2)} ms, p99 ` +
      `${pct(localMs, 99).toFixed(2)} ms; remote p50 ${pct(remoteMs, 50).toFixed(2)} ms, p99 ${pct(remoteMs, 99).toFixed(2)} ms; ` +
      `added p50 ${(pct(remoteMs, 50) - pct(localMs, 50)).toFixed(2)} ms, p99 ${(pct(remoteMs, 99) - pct(localMs, 99)).toFixed(2)} ms`);
    await remote.close();
    await stopAll();

    // (b) runs/s per worker count, 16 callers
    for (const count of [1, 2, 4]) {
      const queue = `bench-throughput-${count}`;
      await Promise.all(Array.from({ length: count }, () => startWorker(queue)));
      const r = new RemoteSandbox({ connection: redis.connection, queue, bundleStore: store });
      for (let k = 0; k < 20; k++) await r.runPython('1');
      let next = 0;
      const total = RUNS * 2;
      const t = performance.now();
      await Promise.all(Array.from({ length: 16 }, async () => { while (next++ < total) await r.runPython('sum(range(1000))'); }));
      const rps = total / ((performance.now() - t) / 1000);
      console.log(`(b) ${count} worker process${count > 1 ? 'es' : ''} (2 runs at a time each), 16 callers: ${rps.toFixed(0)} runs/s`);
      await r.close();
      await stopAll();
    }

    // (c) a cold bundle fetched from PostgreSQL
    const { dir } = await ensureWheels();
    const index = await startIndex([dir]);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-bench-builder-'));
    fs.chmodSync(dataDir, 0o755);
    const builder = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    await builder.install('bench-bundle', 'pycage-needs-hello\n');
    await store.publish(builder, 'bench-bundle');
    const size = (await pool.query('SELECT size_bytes FROM pycage_bundles WHERE bundle_sha = $1',
      [(await store.getStatus('bench-bundle')).bundleSha])).rows[0].size_bytes;
    await startWorker('bench-cold');
    const r = new RemoteSandbox({ connection: redis.connection, queue: 'bench-cold', bundleStore: store });
    await r.runPython('1');
    let t = performance.now();
    const cold = await r.runPython('import pycage_hello', { bundle: 'bench-bundle' });
    const coldMs = performance.now() - t;
    const warm = [];
    for (let k = 0; k < 50; k++) {
      t = performance.now();
      await r.runPython('import pycage_hello', { bundle: 'bench-bundle' });
      warm.push(performance.now() - t);
    }
    console.log(`(c) first run of a ${size}-byte bundle on a worker without it (fetch from PostgreSQL, import, ` +
      `new warm interpreter): ${coldMs.toFixed(1)} ms (${cold.status}); warm runs of it p50 ${pct(warm, 50).toFixed(2)} ms, ` +
      `${(coldMs / pct(warm, 50)).toFixed(1)}x`);
    await r.close();
    await builder.close();
    await index.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  } finally {
    await stopAll();
    await local.close();
    await pool.end();
    await pg.stop();
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
