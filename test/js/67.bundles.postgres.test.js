'use strict';

// require('pycage/postgres') against a real PostgreSQL (Debian's server,
// started on loopback by the test): the migration, chunked storage, what a
// tampered row does, and a bundle built by one Sandbox served by another.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, execFile } = require('node:child_process');
const { promisify } = require('node:util');
const { Pool } = require('pg');
const { Sandbox } = require('../..');
const { createPostgresBundleStore } = require('pycage/postgres');  // the package's own export
const { skipWithoutAddon } = require('./common');
const { startPostgres } = require('../support/postgres_server');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const sha = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');
const MEMORY = path.join(__dirname, '..', 'support', 'bundle_memory.js');

// A wheel of `megabytes` MB of random bytes; returns their sha256.
const makeBigWheel = (dir, megabytes) => execFileSync(process.env.PYCAGE_TEST_PYTHON || 'python3',
  [path.join(__dirname, '..', 'support', 'make_big_wheel.py'), dir, String(megabytes)], { encoding: 'utf8' }).trim();

describe('the PostgreSQL bundle store', () => {
  let server;
  let pool;
  let store;
  before(async () => {
    server = await startPostgres();
    pool = new Pool({ connectionString: server.connectionString, max: 4 });
    // Idle clients see the server stop at the end; pg reports that on the pool.
    pool.on('error', () => {});
    store = createPostgresBundleStore({ pool, chunkBytes: 64 * 1024 });
  });
  after(async () => {
    if (pool) await pool.end();
    if (server) await server.stop();
  });

  it('migrates idempotently, also from several callers at once, and documents its tables', async () => {
    await Promise.all([store.migrate(), store.migrate(), createPostgresBundleStore({ pool }).migrate()]);
    await store.migrate();
    const { rows } = await pool.query("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'pycage_%' ORDER BY 1");
    assert.deepEqual(rows.map((r) => r.table_name), ['pycage_bundle_chunks', 'pycage_bundle_keys', 'pycage_bundles', 'pycage_schema']);
    const version = await pool.query('SELECT version FROM pycage_schema');
    assert.deepEqual(version.rows, [{ version: 1 }]);
  });

  it('stores an archive in chunks and reads back the same bytes, keeping the first copy of a bundleSha', async () => {
    const bytes = crypto.randomBytes(5 * 1024 * 1024 + 123);
    const bundleSha = sha(Buffer.from('bundle-a'));
    assert.deepEqual(await store.putBundle(bytes, { bundleSha }), { bundleSha, stored: true });
    assert.deepEqual(await store.putBundle(crypto.randomBytes(10), { bundleSha }), { bundleSha, stored: false });
    const { rows } = await pool.query('SELECT count(*)::int AS n, max(length(data)) AS biggest FROM pycage_bundle_chunks WHERE bundle_sha = $1', [bundleSha]);
    assert.deepEqual(rows[0], { n: 81, biggest: 65536 });
    assert.ok((await store.readBundle(bundleSha)).equals(bytes));
    assert.equal(await store.hasBundle(bundleSha), true);
    assert.equal(await store.hasBundle(sha(Buffer.from('absent'))), false);
  });

  it('refuses a tampered, truncated or missing chunk with ERR_BUNDLE_CORRUPT naming the table and the fix', async () => {
    const bytes = crypto.randomBytes(300 * 1024);
    const bundleSha = sha(Buffer.from('bundle-t'));
    await store.putBundle(bytes, { bundleSha });
    await pool.query("UPDATE pycage_bundle_chunks SET data = overlay(data placing '\\x00ff'::bytea from 10) WHERE bundle_sha = $1 AND seq = 2", [bundleSha]);
    await assert.rejects(store.readBundle(bundleSha), (err) => err.code === 'ERR_BUNDLE_CORRUPT' &&
      /Bundle [0-9a-f]{64} in the PostgreSQL table pycage_bundle_chunks is corrupt: its bytes hash to sha256 [0-9a-f]{64}, not the [0-9a-f]{64} recorded\. Publish it again/.test(err.message));
    await pool.query('UPDATE pycage_bundle_chunks SET data = substring(data from 1 for 100) WHERE bundle_sha = $1 AND seq = 2', [bundleSha]);
    await assert.rejects(store.readBundle(bundleSha), { code: 'ERR_BUNDLE_CORRUPT', message: /chunks hold \d+ bytes, not the 307200 recorded/ });
    await pool.query('DELETE FROM pycage_bundle_chunks WHERE bundle_sha = $1 AND seq = 1', [bundleSha]);
    await assert.rejects(store.readBundle(bundleSha), { code: 'ERR_BUNDLE_CORRUPT', message: /chunk 1 of 5 is missing/ });
    await assert.rejects(store.readBundle(sha(Buffer.from('never'))), { code: 'ERR_BUNDLE_NOT_READY', message: /is not in the PostgreSQL table pycage_bundles; publish it first/ });
  });

  it('keeps each key\'s status', async () => {
    assert.deepEqual(await store.getStatus('v-unknown'), { key: 'v-unknown', status: 'none', bundleSha: null, requirements: null, error: null, updatedAt: null });
    await store.setStatus('v-1', { status: 'building', requirements: 'x==1\n' });
    await store.setStatus('v-1', { status: 'failed', error: 'x 1 publishes no wheel' });
    const failed = await store.getStatus('v-1');
    assert.deepEqual([failed.status, failed.requirements, failed.error], ['failed', 'x==1\n', 'x 1 publishes no wheel']);
    assert.ok(!Number.isNaN(Date.parse(failed.updatedAt)));
  });

  it('validates its arguments', async () => {
    assert.throws(() => createPostgresBundleStore({}), { code: 'ERR_INVALID_ARGUMENT', message: /Expected a pg Pool/ });
    assert.throws(() => createPostgresBundleStore({ pool, tablPrefix: 'x' }), { code: 'ERR_INVALID_ARGUMENT', message: /tablePrefix/ });
    assert.throws(() => createPostgresBundleStore({ pool, tablePrefix: 'x; DROP TABLE y' }), { code: 'ERR_INVALID_ARGUMENT', message: /tablePrefix/ });
    assert.throws(() => createPostgresBundleStore({ pool, chunkBytes: 10 }), { code: 'ERR_INVALID_ARGUMENT', message: /chunkBytes/ });
    await assert.rejects(store.putBundle('bytes', { bundleSha: sha(Buffer.from('x')) }), { code: 'ERR_INVALID_ARGUMENT', message: /bytes/ });
    await assert.rejects(store.putBundle(Buffer.alloc(1), { bundleSha: 'abc' }), { code: 'ERR_INVALID_ARGUMENT', message: /bundleSha/ });
    await assert.rejects(store.readBundle('../etc'), { code: 'ERR_INVALID_ARGUMENT', message: /bundleSha/ });
    await assert.rejects(store.setStatus('k', { status: 'done' }), { code: 'ERR_INVALID_ARGUMENT', message: /status/ });
    await assert.rejects(store.getStatus(''), { code: 'ERR_INVALID_ARGUMENT', message: /key/ });
  });

  describe('between two Sandboxes on separate data directories', { skip: skipWithoutAddon }, () => {
    let index;
    let builder;
    let worker;
    const dirs = [];
    const dataDir = () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-pg-data-'));
      fs.chmodSync(d, 0o755);
      dirs.push(d);
      return d;
    };
    before(async () => {
      const { dir } = await ensureWheels();
      index = await startIndex([dir]);
      builder = new Sandbox({ dataDir: dataDir(), index: { url: index.url }, installer: { tool: 'pip' } });
      worker = new Sandbox({ dataDir: dataDir(), index: { url: `http://127.0.0.1:9/simple/` } });
    });
    after(async () => {
      await Promise.all([builder && builder.close(), worker && worker.close()]);
      if (index) await index.close();
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    it('publishes what one builds and serves it from the other, which never reaches an index', async () => {
      const detach = store.attach(builder);
      const built = await builder.install('app-v7', 'pycage-needs-hello\n');
      assert.equal(built.status, 'ready', built.error);
      let stored;
      for (let i = 0; i < 100; i++) {
        stored = await store.getStatus('app-v7');
        if (stored.status === 'ready') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      detach();
      assert.deepEqual([stored.status, stored.bundleSha], ['ready', built.bundleSha]);
      const fetched = await store.fetch(worker, 'app-v7');
      assert.deepEqual([fetched.status, fetched.bundleSha], ['ready', built.bundleSha]);
      const run = await worker.runPython('import pycage_needs_hello, pycage_hello\npycage_hello.VERSION', { bundle: 'app-v7' });
      assert.equal(run.status, 'ok', JSON.stringify(run.error));
      // A second fetch finds the bundle there and imports nothing.
      assert.equal((await store.fetch(worker, 'app-v7')).bundleSha, built.bundleSha);
    });

    it('says why a key cannot be fetched: failed with its reason, or not published', async () => {
      await store.setStatus('app-broken', { status: 'failed', error: 'pycage-broken refuses to import' });
      await assert.rejects(store.fetch(worker, 'app-broken'), { code: 'ERR_BUNDLE_NOT_READY', message: /its build failed: pycage-broken refuses to import/ });
      await assert.rejects(store.fetch(worker, 'app-never'), { code: 'ERR_BUNDLE_NOT_READY', message: /it is none in the store/ });
    });

    it('refuses to serve a tampered bundle: the import fails with a clear error', async () => {
      const status = await builder.status('app-v7');
      await pool.query("UPDATE pycage_bundle_chunks SET data = overlay(data placing '\\x41'::bytea from 200) WHERE bundle_sha = $1 AND seq = 0", [status.bundleSha]);
      const fresh = new Sandbox({ dataDir: dataDir() });
      try {
        await assert.rejects(store.fetch(fresh, 'app-v7'), { code: 'ERR_BUNDLE_CORRUPT', message: /pycage_bundle_chunks is corrupt/ });
        assert.equal((await fresh.status('app-v7')).status, 'none');
      } finally {
        await fresh.close();
      }
    });
  });

  describe('a bundle of tens of MB', { skip: skipWithoutAddon }, () => {
    const MB = 40;
    const dirs = [];
    const tempDir = (prefix) => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      fs.chmodSync(d, 0o755);
      dirs.push(d);
      return d;
    };
    after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

    // Each side runs in a process of its own, which reports its peak resident memory.
    const measure = async (mode, dataDir, env = {}) => {
      const { stdout } = await promisify(execFile)(process.execPath, [MEMORY, mode, server.connectionString, dataDir, 'app-big'],
        { env: { ...process.env, ...env }, maxBuffer: 1 << 20 });
      return JSON.parse(stdout);
    };

    it('round-trips intact, read a piece at a time into one buffer, its peak memory loosely bounded', async (t) => {
      const wheels = tempDir('pycage-big-wheel-');
      const blobSha = makeBigWheel(wheels, MB);
      const index = await startIndex([wheels]);
      const builderDir = tempDir('pycage-big-builder-');
      const builder = new Sandbox({ dataDir: builderDir, index: { url: index.url }, installer: { tool: 'pip' } });
      let built;
      try {
        built = await builder.install('app-big', 'pycage-big\n');
      } finally {
        await builder.close();
        await index.close();
      }
      assert.equal(built.status, 'ready', built.error);

      const published = await measure('publish', builderDir);
      const { rows } = await pool.query('SELECT size_bytes, chunks FROM pycage_bundles WHERE bundle_sha = $1', [built.bundleSha]);
      const size = Number(rows[0].size_bytes);
      assert.ok(size > MB << 20, `the archive is ${size} bytes`);
      assert.equal(rows[0].chunks, Math.ceil(size / (1 << 20)));

      const fetched = await measure('fetch', tempDir('pycage-big-worker-'),
        { PYCAGE_CHECK_CODE: 'import pycage_big\npycage_big.digest()' });
      assert.deepEqual([fetched.check.status, fetched.check.result], ['ok', blobSha], JSON.stringify(fetched.check.error));

      // The archive is held once. On top of it the peak carries what V8 has
      // not collected yet: the socket's read buffers for the whole transfer
      // (about 1.33 × size as base64) and, when publishing, the writes the
      // driver has queued. So the bound is loose: 2.5 × size. Reading chunks
      // as hex into a Buffer each reached 3.2 × here.
      const growth = (m) => (m.peakKb - m.beforeKb) * 1024;
      t.diagnostic(`archive ${(size / 2 ** 20).toFixed(1)} MiB; peak RSS growth: publish ` +
        `${(growth(published) / 2 ** 20).toFixed(1)} MiB, fetch ${(growth(fetched) / 2 ** 20).toFixed(1)} MiB`);
      assert.ok(growth(published) < 2.5 * size, `publishing grew the RSS by ${growth(published)} bytes for ${size}`);
      assert.ok(growth(fetched) < 2.5 * size, `fetching grew the RSS by ${growth(fetched)} bytes for ${size}`);
    });
  });
});
