'use strict';

// exportBundle / importBundle: determinism, a round trip to a second host, and
// the archives an attacker would hand to importBundle.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { skipWithoutAddon } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-export-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest();

// An archive in the v1 format (native/store/ARCHIVE.md), built by hand so a
// test can make every field say what an attacker wants.
function craftArchive({ meta, entries }) {
  const data = [];
  const manifestEntries = entries.map((entry) => {
    if (entry.type !== 'file') return entry;
    const bytes = Buffer.from(entry.content);
    data.push(bytes);
    return { path: entry.path, type: 'file', mode: 420, size: bytes.length, sha256: sha256(bytes).toString('hex') };
  });
  const manifest = Buffer.from(`{"format":1,"meta":${JSON.stringify(meta)},"entries":${JSON.stringify(manifestEntries)}}`);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(manifest.length));
  const body = Buffer.concat([Buffer.from('PYCBNDL1'), length, manifest, ...data]);
  return Buffer.concat([body, sha256(body)]);
}

describe('bundle export and import', { skip: skipWithoutAddon }, () => {
  let index;
  let host;
  let exported;
  let status;
  let hostDir;
  before(async () => {
    const { dir } = await ensureWheels();
    index = await startIndex([dir]);
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-export-host-'));
    host = new Sandbox({
      dataDir: hostDir, index: { url: index.url },
      installer: { tool: 'pip' },
    });
    status = await host.install('wf-export', 'pycage-needs-hello\n');
    assert.equal(status.status, 'ready', status.error);
    exported = await host.exportBundle('wf-export');
  });
  after(async () => {
    await host.close();
    await index.close();
    fs.rmSync(hostDir, { recursive: true, force: true });
  });

  it('is deterministic: the same install gives the same bytes and the bundleSha of its status', async () => {
    const again = await host.exportBundle('wf-export');
    assert.ok(Buffer.isBuffer(exported));
    assert.ok(exported.equals(again));
    assert.equal(exported.subarray(exported.length - 32).toString('hex'), status.bundleSha);
  });

  it('imports on a second host, which runs it by bundleSha or by the key it was given', async (t) => {
    const worker = new Sandbox({ dataDir: tempDir(t) });
    t.after(() => worker.close());
    const imported = await worker.importBundle(exported);
    assert.equal(imported.bundleSha, status.bundleSha);
    assert.deepEqual(imported.packages, status.packages);
    const run = await worker.runPython('import pycage_needs_hello, pycage_hello\npycage_hello.VERSION', { bundle: status.bundleSha });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, '2.0');

    await worker.importBundle(exported, { key: 'wf-on-worker' });
    assert.equal(worker.status('wf-on-worker').status, 'ready');
    assert.equal(worker.status('wf-on-worker').bundleSha, status.bundleSha);
  });

  it('refuses a tampered archive, naming the file', async (t) => {
    const worker = new Sandbox({ dataDir: tempDir(t) });
    t.after(() => worker.close());
    // Flip one content byte and fix up the trailer, so only the per-file hash can tell.
    const tampered = Buffer.from(exported);
    const at = tampered.length - 32 - 10;
    tampered[at] ^= 0x01;
    sha256(tampered.subarray(0, tampered.length - 32)).copy(tampered, tampered.length - 32);
    await assert.rejects(worker.importBundle(tampered), { code: 'ERR_INVALID_ARGUMENT', message: /tamper|sha256/ });
    // And with the trailer left alone.
    const flipped = Buffer.from(exported);
    flipped[at] ^= 0x01;
    await assert.rejects(worker.importBundle(flipped), { code: 'ERR_INVALID_ARGUMENT' });
    assert.equal(worker.status(status.bundleSha).status, 'none');
  });

  it('refuses path traversal, escaping links and truncated archives, and leaves nothing behind', async (t) => {
    const dataDir = tempDir(t);
    const worker = new Sandbox({ dataDir });
    t.after(() => worker.close());
    const meta = {
      installId: 'a'.repeat(64), requirements: '', runtimeVersion: 'x', tool: 'pip', packages: [], preload: [],
    };
    const attacks = {
      traversal: craftArchive({ meta, entries: [{ path: '../../evil.py', type: 'file', content: 'x' }] }),
      absolute: craftArchive({ meta, entries: [{ path: '/tmp/evil.py', type: 'file', content: 'x' }] }),
      escapingLink: craftArchive({ meta, entries: [{ path: 'link', type: 'symlink', target: '../../../etc' }] }),
      throughLink: craftArchive({
        meta,
        entries: [{ path: 'd', type: 'symlink', target: '.' }, { path: 'd/x.py', type: 'file', content: 'x' }],
      }),
      truncated: exported.subarray(0, exported.length - 100),
      empty: Buffer.alloc(0),
      notAnArchive: Buffer.from('PK\x03\x04 this is a zip file'),
    };
    for (const [name, bytes] of Object.entries(attacks)) {
      await assert.rejects(worker.importBundle(bytes), (err) => {
        assert.equal(err.code, 'ERR_INVALID_ARGUMENT', `${name}: ${err.message}`);
        assert.ok(err.message.length > 20, name);
        return true;
      });
    }
    const leftovers = fs.readdirSync(path.join(dataDir, 'bundles', 'tmp'));
    assert.deepEqual(leftovers, []);
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'bundles', 'imports')), []);
  });

  it('refuses a well-formed archive built for another interpreter', async (t) => {
    const worker = new Sandbox({ dataDir: tempDir(t) });
    t.after(() => worker.close());
    const foreign = craftArchive({
      meta: { installId: 'b'.repeat(64), requirements: '', runtimeVersion: 'python 2.7.18 cpython-27', tool: 'pip', packages: [], preload: [] },
      entries: [{ path: 'mod.py', type: 'file', content: 'x = 1\n' }],
    });
    await assert.rejects(worker.importBundle(foreign), { code: 'ERR_INVALID_ARGUMENT', message: /built for python 2\.7\.18/ });
  });

  it('imports from a read function only when the dataDir lacks the bundle, once between Sandboxes sharing it', async (t) => {
    const dir = tempDir(t);
    const a = new Sandbox({ dataDir: dir });
    const b = new Sandbox({ dataDir: dir });
    t.after(() => Promise.all([a.close(), b.close()]));
    let reads = 0;
    const read = async () => {
      reads += 1;
      await new Promise((resolve) => setTimeout(resolve, 300));  // a slow store: both calls overlap it
      return exported;
    };
    const bundleSha = status.bundleSha;
    const [ia, ib] = await Promise.all([a.importBundle(read, { key: 'wf-a', bundleSha }), b.importBundle(read, { key: 'wf-b', bundleSha })]);
    assert.equal(reads, 1);
    assert.deepEqual([ia.bundleSha, ib.bundleSha], [bundleSha, bundleSha]);
    assert.deepEqual(ib.packages, status.packages);
    assert.deepEqual([a.status('wf-a').status, b.status('wf-b').bundleSha], ['ready', bundleSha]);
    await a.importBundle(read, { key: 'wf-c', bundleSha });
    assert.equal(reads, 1);
    const run = await b.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-b' });
    assert.equal(run.result, '2.0', JSON.stringify(run.error));

    // Bytes that are another bundle are refused before the key points at them.
    const fresh = new Sandbox({ dataDir: tempDir(t) });
    t.after(() => fresh.close());
    await assert.rejects(fresh.importBundle(async () => exported, { key: 'wf-x', bundleSha: 'ab'.repeat(32) }),
      { code: 'ERR_BUNDLE_CORRUPT', message: new RegExp(`imports as ${bundleSha}.*Publish the bundle again`) });
    assert.equal(fresh.status('wf-x').status, 'none');
    await assert.rejects(fresh.importBundle(read, { key: 'wf-x' }), { code: 'ERR_INVALID_ARGUMENT', message: /bundleSha/ });
    await assert.rejects(fresh.importBundle(read, { key: 'wf-x', bundleSha, kee: 1 }), { code: 'ERR_INVALID_ARGUMENT', message: /kee/ });
  });

  it('validates its arguments', async (t) => {
    const worker = new Sandbox({ dataDir: tempDir(t) });
    t.after(() => worker.close());
    await assert.rejects(worker.importBundle('not a buffer'), { code: 'ERR_INVALID_ARGUMENT', message: /Expected Buffer for buffer/ });
    await assert.rejects(worker.importBundle(exported, { kee: 'x' }), { code: 'ERR_INVALID_ARGUMENT', message: /kee/ });
    await assert.rejects(worker.exportBundle('wf-none'), { code: 'ERR_BUNDLE_NOT_READY' });
  });
});
