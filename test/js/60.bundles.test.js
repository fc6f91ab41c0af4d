'use strict';

// Bundles through the public API, against a local PEP 503 index on loopback
// serving wheels the test setup builds (test/support/).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { skipWithoutAddon } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

function tempDataDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-bundles-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function wheelRequests(index, name) {
  return index.requests.filter((p) => p.startsWith('/files/') && p.includes(name)).length;
}

describe('bundles', { skip: skipWithoutAddon }, () => {
  let index;
  before(async () => {
    const { dir } = await ensureWheels();
    index = await startIndex([dir]);
  });
  after(() => index && index.close());

  const open = (t, extra = {}) => {
    const sandbox = new Sandbox({ dataDir: tempDataDir(t), index: { url: index.url }, installer: { tool: 'pip' }, ...extra });
    t.after(() => sandbox.close());
    return sandbox;
  };

  it("reports status 'none' for an unknown key and rejects a run against it with ERR_BUNDLE_NOT_READY", async (t) => {
    const sandbox = open(t);
    const status = sandbox.status('wf-unknown');
    assert.equal(status.status, 'none');
    assert.equal(status.key, 'wf-unknown');
    assert.deepEqual(status.packages, []);
    await assert.rejects(sandbox.runPython('1', { bundle: 'wf-unknown' }), {
      code: 'ERR_BUNDLE_NOT_READY', message: /"wf-unknown" is not ready \(status 'none'\).*sandbox\.install/,
    });
  });

  it('never shows the credentials of an index URL in a log line, a status or an error', async (t) => {
    const secret = 's3cret-token-91b2';
    const withCreds = index.url.replace('http://', `http://pycage-user:${secret}@`);
    const sandbox = open(t, { index: { url: withCreds } });
    const lines = [];
    sandbox.on('log', (entry) => lines.push(entry.message));
    const statuses = [];
    sandbox.on('status', (key, status) => statuses.push(JSON.stringify(status)));
    const ready = await sandbox.install('wf-creds', 'pycage-hello\n');
    assert.equal(ready.status, 'ready', ready.error);
    const failed = await sandbox.install('wf-creds-missing', 'pycage-no-such-package\n');
    assert.equal(failed.status, 'failed');
    const everything = [...lines, ...statuses, JSON.stringify(ready), JSON.stringify(failed),
      (await sandbox.exportBundle('wf-creds')).toString('latin1')].join('\n');
    assert.ok(lines.some((line) => line.includes('running') && line.includes('***@')), lines.join('\n'));
    assert.ok(!everything.includes(secret), 'the index credentials leaked');
    assert.ok(!everything.includes('pycage-user'), 'the index user name leaked');
  });

  it('names an unusable dataDir and the fix, at construction, without hanging', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-baddata-'));
    try {
      const file = path.join(dir, 'a-file');
      fs.writeFileSync(file, '');
      for (const dataDir of [path.join(file, 'data'), '/proc/pycage-data']) {
        assert.throws(() => new Sandbox({ dataDir, installer: { tool: 'pip' } }), (err) => {
          assert.equal(err.code, 'ERR_INVALID_ARGUMENT');
          assert.match(err.message, new RegExp(`^dataDir ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be used: E[A-Z]+( \\([a-z ]+\\))? on `));
          assert.match(err.message, /Make it a directory that uid \d+ can write, or pass another dataDir/);
          return true;
        });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names a dataDir that this uid may not write (EACCES), who owns it, and the fix', {
    skip: process.getuid() !== 0 ? 'needs root, to run a child as another uid' : false,
  }, (t) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-eacces-'));
    t.after(() => fs.rmSync(root, { recursive: true, force: true }));
    fs.chmodSync(root, 0o755);
    // A pre-populated tree whose records this uid may not read: before, a raw
    // EACCES from readdir at construction.
    const tree = path.join(root, 'tree');
    for (const d of ['keys', 'installs', 'imports', 'tmp', 'cache', 'locks', 'in-use']) {
      fs.mkdirSync(path.join(tree, 'bundles', d), { recursive: true });
    }
    fs.chmodSync(path.join(tree, 'bundles', 'keys'), 0o700);
    const cases = [root, path.join(root, 'missing', 'data'), tree];
    // Node lives under root's 0700 home here: the child starts as root and
    // drops to nobody before it loads pycage.
    const script = `
      process.setgroups([]); process.setgid(65534); process.setuid(65534);
      const { Sandbox, PycageError } = require(${JSON.stringify(require.resolve('../..'))});
      const out = [];
      for (const dataDir of ${JSON.stringify(cases)}) {
        try { new Sandbox({ dataDir, installer: { tool: 'pip' } }).close(); out.push({ dataDir, ok: true }); }
        catch (e) { out.push({ dataDir, pycage: e instanceof PycageError, code: e.code, message: e.message }); }
      }
      console.log(JSON.stringify(out));`;
    const child = require('node:child_process').spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
    assert.equal(child.status, 0, child.stderr);
    const [top, missing, unreadable] = JSON.parse(child.stdout);
    const quote = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const got of [top, missing, unreadable]) {
      assert.equal(got.pycage, true, JSON.stringify(got));
      assert.equal(got.code, 'ERR_INVALID_ARGUMENT');
      assert.match(got.message, new RegExp(`^dataDir ${quote(got.dataDir)} cannot be used: EACCES \\(permission denied\\) on `));
      assert.match(got.message, /Make it a directory that uid 65534 can write/);
    }
    assert.match(top.message, new RegExp(`on ${quote(root)}/bundles; ${quote(root)} is owned by uid 0, gid 0, mode 755\\. `));
    assert.match(top.message, new RegExp(`for example chown -R 65534 ${quote(root)}\\)`));
    assert.match(missing.message, new RegExp(`for example mkdir -p ${quote(missing.dataDir)} && chown -R 65534 ${quote(missing.dataDir)}\\)`));
    assert.match(unreadable.message, new RegExp(`on ${quote(tree)}/bundles/keys; ${quote(tree)}/bundles/keys is owned by uid 0, gid 0, mode 700\\. `));
  });

  const roSkip = process.getuid() !== 0 ? 'needs root for a read-only bind mount'
    : require('node:child_process').spawnSync('unshare', ['--version']).status !== 0 ? 'unshare is not installed' : false;
  it('serves runs from a read-only dataDir that holds built bundles, and refuses to build there', { skip: roSkip }, async (t) => {
    const dataDir = tempDataDir(t);
    const builder = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    assert.equal((await builder.install('wf-baked', 'pycage-hello\n')).status, 'ready');
    await builder.close();
    const script = `
      const { Sandbox } = require(${JSON.stringify(require.resolve('../..'))});
      (async () => {
        const s = new Sandbox({ dataDir: ${JSON.stringify(dataDir)} });
        const out = { status: s.status('wf-baked').status };
        const run = await s.runPython('import pycage_hello\\npycage_hello.greet("ro")', { bundle: 'wf-baked' });
        out.run = [run.status, run.result];
        await s.install('wf-new', 'pycage-hello\\n').then(() => { out.install = 'built'; }, (e) => { out.install = [e.code, e.message]; });
        await s.close();
        console.log(JSON.stringify(out));
      })().catch((e) => { console.log(JSON.stringify({ thrown: e.code, message: e.message })); });`;
    const sh = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" -e "$3"';
    const out = require('node:child_process').spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', sh, 'sh',
      dataDir, process.execPath, script], { encoding: 'utf8', timeout: 60000 });
    assert.equal(out.status, 0, out.stderr);
    const result = JSON.parse(out.stdout.trim().split('\n').pop());
    assert.equal(result.status, 'ready', out.stdout);
    assert.deepEqual(result.run, ['ok', 'hello ro']);
    assert.equal(result.install[0], 'ERR_INVALID_ARGUMENT');
    assert.match(result.install[1], /^Cannot install bundle "wf-new": dataDir .* is read-only/);
  });

  it('refuses injected installer options and URLs in C++ before any installer runs, naming the line', async (t) => {
    const sandbox = open(t);
    const before = index.requests.length;
    const cases = [
      ['pycage-hello\n--index-url http://evil.example/simple\n', /line 2/],
      ['-r /etc/passwd\n', /line 1/],
      ['pycage-hello @ https://evil.example/x.whl\n', /line 1/],
      ['pycage-hello @ file:///etc/passwd\n', /line 1/],
      ['git+https://evil.example/repo.git\n', /line 1/],
      ['./local/path\n', /line 1/],
      ['pycage-hello --hash=sha256:00\n', /line 1/],
    ];
    for (const [text, line] of cases) {
      await assert.rejects(sandbox.install('wf-inject', text), (err) => {
        assert.equal(err.code, 'ERR_REQUIREMENTS_INVALID', `${JSON.stringify(text)}: ${err.message}`);
        assert.match(err.message, line);
        return true;
      });
    }
    assert.equal(index.requests.length, before, 'no request reached the index');
    assert.equal(sandbox.status('wf-inject').status, 'none');
  });

  it('installs a set, announces building then ready, and runs import it with the module preloaded', async (t) => {
    const sandbox = open(t);
    const events = [];
    sandbox.on('status', (key, status) => events.push([key, status.status]));
    const status = await sandbox.install('wf-1', 'pycage-hello==1.0\n');
    assert.equal(status.status, 'ready', status.error);
    assert.deepEqual(status.packages, [{ name: 'pycage-hello', version: '1.0' }]);
    assert.match(status.bundleSha, /^[0-9a-f]{64}$/);
    assert.ok(status.sizeBytes > 0);
    assert.ok(status.generationTimeMs > 0);
    assert.match(status.runtimeVersion, /^python 3\.\d+\.\d+ cpython-3\d+/);
    assert.deepEqual(events, [['wf-1', 'building'], ['wf-1', 'ready']]);

    const run = await sandbox.runPython(
      "import sys\npreloaded = 'pycage_hello' in sys.modules\nimport pycage_hello\n" +
      "result = [preloaded, pycage_hello.VERSION, pycage_hello.greet(name)]", { bundle: 'wf-1', inputs: { name: 'ada' } });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, [true, '1.0', 'hello ada']);

    const plain = await sandbox.runPython('import pycage_hello');
    assert.equal(plain.status, 'error');
    assert.equal(plain.error.type, 'ModuleNotFoundError', 'a run without the bundle sees the standard library only');
  });

  it("runs a session against a bundle, and restarts it (saying so) when the key's packages change", async (t) => {
    const sandbox = open(t);
    assert.equal((await sandbox.install('wf-s', 'pycage-hello==1.0\n')).status, 'ready');
    const first = await sandbox.runPython('import pycage_hello\nseen = [pycage_hello.VERSION]\nseen',
      { bundle: 'wf-s', session: 'chat' });
    assert.deepEqual([first.status, first.result, first.sessionRestarted], ['ok', ['1.0'], false]);
    const second = await sandbox.runPython('seen.append(len(seen))\nseen', { bundle: 'wf-s', session: 'chat' });
    assert.deepEqual([second.result, second.sessionRestarted], [['1.0', 1], false]);
    assert.equal((await sandbox.install('wf-s', 'pycage-hello==2.0\n')).status, 'ready');
    const third = await sandbox.runPython("import pycage_hello\n[pycage_hello.VERSION, 'seen' in globals()]",
      { bundle: 'wf-s', session: 'chat' });
    assert.deepEqual([third.result, third.sessionRestarted], [['2.0', false], true]);
  });

  it('shares one install between keys with the same set written differently, without asking the index again', async (t) => {
    const sandbox = open(t);
    const first = await sandbox.install('wf-a', 'pycage-hello==2.0\n');
    assert.equal(first.status, 'ready', first.error);
    const served = index.requests.length;
    const second = await sandbox.install('wf-b', '# same set\nPYCAGE_Hello == 2.0   # pinned\n');
    assert.equal(second.status, 'ready');
    assert.equal(second.bundleSha, first.bundleSha);
    assert.equal(index.requests.length, served, 'a cache hit does not run the installer');
  });

  it('builds a set once when many keys ask for it at the same time', async (t) => {
    const sandbox = open(t);
    const name = 'pycage_needs_hello';
    const before = wheelRequests(index, name);
    const statuses = await Promise.all(['k1', 'k2', 'k3', 'k4'].map((key) => sandbox.install(key, 'pycage-needs-hello\n')));
    for (const status of statuses) assert.equal(status.status, 'ready', status.error);
    assert.equal(new Set(statuses.map((s) => s.bundleSha)).size, 1);
    assert.equal(wheelRequests(index, name) - before, 1, 'one download for four keys');
    // The dependency came from the index too, at the version the dependent needs.
    assert.deepEqual(statuses[0].packages.map((p) => `${p.name}==${p.version}`).sort(),
      ['pycage-hello==2.0', 'pycage-needs-hello==1.0']);
  });

  it("records the installer's own message when a package does not exist", async (t) => {
    const sandbox = open(t);
    const status = await sandbox.install('wf-missing', 'pycage-does-not-exist==9.9\n');
    assert.equal(status.status, 'failed');
    assert.match(status.error, /pycage-does-not-exist/);
    assert.match(status.error, /No matching distribution|Could not find a version/);
    await assert.rejects(sandbox.runPython('1', { bundle: 'wf-missing' }), {
      code: 'ERR_BUNDLE_NOT_READY', message: /status 'failed'/,
    });
  });

  it('fails the build when an import needs more memory than the run limit, saying so', async (t) => {
    const sandbox = open(t);
    const status = await sandbox.install('wf-hog', 'pycage-hog\n');
    assert.equal(status.status, 'failed');
    assert.match(status.error, /pycage-hog 1\.0 needs more than 512 MB of address space/);
  });

  it('fails the build when a requested module raises on import', async (t) => {
    const sandbox = open(t);
    const status = await sandbox.install('wf-broken', 'pycage-broken\n');
    assert.equal(status.status, 'failed');
    assert.match(status.error, /RuntimeError: pycage_broken refuses to import/);
  });

  it('keeps the previous ready bundle serving while a rebuild is building', async (t) => {
    const sandbox = open(t);
    assert.equal((await sandbox.install('wf-r', 'pycage-hello==1.0\n')).status, 'ready');
    const pending = sandbox.install('wf-r', 'pycage-hello==2.0\n');
    assert.equal(sandbox.status('wf-r').status, 'building');
    const during = await sandbox.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-r' });
    assert.equal(during.result, '1.0');
    assert.equal((await pending).status, 'ready');
    const afterwards = await sandbox.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-r' });
    assert.equal(afterwards.result, '2.0');
  });

  it('rebuilds from the stored requirements with bundle(key, { rebuild: true })', async (t) => {
    const sandbox = open(t);
    const first = await sandbox.install('wf-rb', 'pycage-hello==2.0\n');
    const before = wheelRequests(index, 'pycage_hello-2.0');
    const events = [];
    sandbox.on('status', (key, status) => events.push(status.status));
    const rebuilt = await sandbox.bundle('wf-rb', { rebuild: true });
    assert.equal(rebuilt.status, 'ready');
    assert.deepEqual(events, ['building', 'ready']);
    assert.equal(rebuilt.bundleSha, first.bundleSha, 'the same wheels give the same bundle bytes');
    assert.ok(wheelRequests(index, 'pycage_hello-2.0') >= before);
    await assert.rejects(sandbox.bundle('wf-never-installed'), { code: 'ERR_INVALID_ARGUMENT', message: /sandbox\.install/ });
  });

  it('keeps statuses across a restart on the same data directory', async (t) => {
    const dataDir = tempDataDir(t);
    const first = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    const installed = await first.install('wf-p', 'pycage-hello==1.0\n');
    await first.install('wf-p-failed', 'pycage-does-not-exist\n');
    await first.close();
    const second = new Sandbox({ dataDir, index: { url: index.url } });
    t.after(() => second.close());
    assert.equal(second.status('wf-p').status, 'ready');
    assert.equal(second.status('wf-p').bundleSha, installed.bundleSha);
    assert.equal(second.status('wf-p-failed').status, 'failed');
    const run = await second.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-p' });
    assert.equal(run.result, '1.0');
  });

  it('does not run .pth files shipped in wheels', async (t) => {
    const sandbox = open(t);
    assert.equal((await sandbox.install('wf-pth', 'pycage-pth\n')).status, 'ready');
    const run = await sandbox.runPython("import os, pycage_pth\nos.environ.get('PYCAGE_PTH_RAN')", { bundle: 'wf-pth' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, null);
  });

  it('refuses a wheel whose members leave the target directory (zip-slip)', async (t) => {
    const dataDir = tempDataDir(t);
    const sandbox = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    t.after(() => sandbox.close());
    const status = await sandbox.install('wf-slip', 'pycage-zipslip\n');
    assert.equal(status.status, 'failed');
    const escaped = [];
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.name === 'pycage_zipslip_escaped.py') escaped.push(path.join(dir, entry.name));
        if (entry.isDirectory()) walk(path.join(dir, entry.name));
      }
    };
    walk(path.dirname(dataDir));
    assert.deepEqual(escaped, []);
  });

  it('collects unreferenced installs oldest first under the disk cap', async (t) => {
    const dataDir = tempDataDir(t);
    const sandbox = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' }, diskCapBytes: 1 });
    t.after(() => sandbox.close());
    await sandbox.install('wf-gc', 'pycage-hello==1.0\n');
    const installs = path.join(dataDir, 'bundles', 'installs');
    assert.equal(fs.readdirSync(installs).length, 1);
    await sandbox.install('wf-gc', 'pycage-hello==2.0\n');
    // The 1.0 install is no longer referenced by any key and the cap is tiny.
    assert.equal(fs.readdirSync(installs).length, 1);
    const run = await sandbox.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-gc' });
    assert.equal(run.result, '2.0', 'the referenced install survives');
  });
});

describe('bundles built with uv', { skip: skipWithoutAddon }, () => {
  it('installs through uv in the installer jail and gives the same packages as pip', async (t) => {
    const { ensureUv } = require('../support/uv');
    const uvPath = await ensureUv();
    assert.ok(uvPath, 'uv could be installed into the test cache');
    const { dir } = await ensureWheels();
    const index = await startIndex([dir]);
    t.after(() => index.close());
    const withUv = new Sandbox({ dataDir: tempDataDir(t), index: { url: index.url }, installer: { tool: 'uv', uvPath } });
    t.after(() => withUv.close());
    const withPip = new Sandbox({ dataDir: tempDataDir(t), index: { url: index.url }, installer: { tool: 'pip' } });
    t.after(() => withPip.close());
    const byUv = await withUv.install('wf-uv', 'pycage-needs-hello\n');
    assert.equal(byUv.status, 'ready', byUv.error);
    const byPip = await withPip.install('wf-pip', 'pycage-needs-hello\n');
    assert.deepEqual(byUv.packages, byPip.packages);
    const run = await withUv.runPython('import pycage_needs_hello, pycage_hello\npycage_hello.VERSION', { bundle: 'wf-uv' });
    assert.equal(run.result, '2.0');
    const missing = await withUv.install('wf-uv-missing', 'pycage-does-not-exist\n');
    assert.equal(missing.status, 'failed');
    assert.match(missing.error, /uv failed[\s\S]*pycage-does-not-exist/);
  });
});
