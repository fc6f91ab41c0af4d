'use strict';

// One dataDir, several processes (Node's cluster mode, PM2, two replicas on
// one volume): builds are single-flight across them, a starting process
// leaves another's build alone, and statuses stay coherent.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Sandbox } = require('../..');
const { skipWithoutAddon } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const ROOT = require.resolve('../..');
const PYTHON = process.env.PYCAGE_PYTHON || 'python3';

// A child process that installs `requirements` under `key` and prints what
// happened as one JSON line.
function installer(dataDir, url, key, requirements, { timeoutMs = 15 * 60 * 1000 } = {}) {
  const script = `
    const { Sandbox } = require(${JSON.stringify(ROOT)});
    (async () => {
      const s = new Sandbox({ dataDir: ${JSON.stringify(dataDir)}, index: { url: ${JSON.stringify(url)} }, installer: { tool: 'pip', timeoutMs: ${timeoutMs} } });
      let ranPip = false;
      s.on('log', (e) => { if (/running .*pip install/.test(e.message)) ranPip = true; });
      const status = await s.install(${JSON.stringify(key)}, ${JSON.stringify(requirements)});
      const run = status.status === 'ready' ? await s.runPython('import pycage_hello\\npycage_hello.greet("x")', { bundle: ${JSON.stringify(key)} }) : null;
      await s.close();
      console.log(JSON.stringify({ status: status.status, error: status.error, ranPip, result: run && run.result }));
    })().catch((e) => { console.log(JSON.stringify({ thrown: e.code, message: e.message })); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const done = new Promise((resolve) => child.on('close', () => resolve(JSON.parse(out.trim().split('\n').pop() || '{}'))));
  return Object.assign(done, { child });
}

async function until(what, check, ms = 60000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a dataDir shared by several processes', { skip: skipWithoutAddon }, () => {
  let index;
  let dataDir;
  before(async () => {
    const { dir } = await ensureWheels();
    index = await startIndex([dir], { delayMs: 150 });
  });
  after(() => index.close());

  it('builds a set once when two processes install it at the same time, and both serve it', async (t) => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-shared-'));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const [a, b] = await Promise.all([
      installer(dataDir, index.url, 'wf-a', 'pycage-hello\n'),
      installer(dataDir, index.url, 'wf-b', 'pycage-hello\n'),
    ]);
    assert.equal(a.status, 'ready', JSON.stringify(a));
    assert.equal(b.status, 'ready', JSON.stringify(b));
    assert.deepEqual([a.result, b.result], ['hello x', 'hello x']);
    assert.equal([a.ranPip, b.ranPip].filter(Boolean).length, 1, 'both processes ran pip');
    assert.equal(fs.readdirSync(path.join(dataDir, 'bundles', 'installs')).length, 1);
  });

  it("a process that starts during another's build leaves it alone and sees its status", async (t) => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-shared-'));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const building = installer(dataDir, index.url, 'wf-slow', 'pycage-hello\n');
    // Wait until the other process has started its build.
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      const tmp = path.join(dataDir, 'bundles', 'tmp');
      if (fs.existsSync(tmp) && fs.readdirSync(tmp).some((e) => e.startsWith('build-'))) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const observer = new Sandbox({ dataDir, installer: { tool: 'pip' } });  // its startup clears only dead processes' work
    t.after(() => observer.close());
    assert.equal(observer.status('wf-slow').status, 'building');
    const done = await building;
    assert.equal(done.status, 'ready', JSON.stringify(done));
    const seen = observer.status('wf-slow');
    assert.equal(seen.status, 'ready');
    assert.equal((await observer.runPython('import pycage_hello\npycage_hello.greet("b")', { bundle: 'wf-slow' })).result, 'hello b');
  });

  it('takes over the build of a process SIGKILLed while it held the lock, and reaches ready', { timeout: 180000 }, async (t) => {
    const owners = require('../../js/owners');
    const { dir: wheels } = await ensureWheels();
    const held = await startIndex([wheels]);
    t.after(() => held.close());
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-shared-'));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const locks = path.join(dataDir, 'bundles', 'locks');
    const tmp = path.join(dataDir, 'bundles', 'tmp');
    const lockOwners = () => (fs.existsSync(locks) ? fs.readdirSync(locks) : []).map((id) => {
      try { return fs.readFileSync(path.join(locks, id, 'owner'), 'utf8'); } catch { return ''; }
    });
    // A is mid-build: it holds the lock and its pip waits on the index.
    held.hold();
    const a = installer(dataDir, held.url, 'wf-crash', 'pycage-hello\n');
    t.after(() => a.child.kill('SIGKILL'));
    await until('A to hold the lock with pip waiting on the index', () => held.held() > 0 && lockOwners().length === 1);
    assert.deepEqual(lockOwners(), [`${owners.HOST}~${a.child.pid}`]);
    const buildsOfA = fs.readdirSync(tmp).filter((e) => e.startsWith(`build-${owners.HOST}~${a.child.pid}-`));
    assert.equal(buildsOfA.length, 1);
    a.child.kill('SIGKILL');
    await a;
    held.release();
    // B installs the same key with the same set: it must take the dead
    // owner's lock rather than wait for it (a short timeout makes a wait fail).
    const b = await installer(dataDir, held.url, 'wf-crash', 'pycage-hello\n', { timeoutMs: 20000 });
    assert.equal(b.status, 'ready', JSON.stringify(b));
    assert.equal(b.ranPip, true);
    assert.equal(b.result, 'hello x');
    assert.deepEqual(fs.readdirSync(locks), []);
    assert.equal(fs.readdirSync(path.join(dataDir, 'bundles', 'installs')).length, 1);
    // B's startup removed the half build of its dead owner.
    assert.equal(fs.existsSync(path.join(tmp, buildsOfA[0])), false);
  });

  it('counts a zombie owner as dead: a SIGKILLed host nobody reaps owns nothing', async (t) => {
    const owners = require('../../js/owners');
    // A parent that never reaps its exited child, as a container's pid 1 may.
    const parent = spawn(PYTHON, ['-c', [
      'import os, sys, time',
      'pid = os.fork()',
      'if pid == 0:',
      '    os._exit(0)',
      'print(pid, flush=True)',
      'time.sleep(60)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => parent.kill('SIGKILL'));
    const zombie = Number(await new Promise((resolve) => parent.stdout.once('data', (d) => resolve(String(d).trim()))));
    const state = () => { try { const st = fs.readFileSync(`/proc/${zombie}/stat`, 'latin1'); return st[st.lastIndexOf(')') + 2]; } catch { return null; } };
    await until('the child to be a zombie', () => state() === 'Z');
    assert.equal(owners.pidAlive(zombie), false);
    assert.equal(owners.ownerAlive(`${owners.HOST}~${zombie}`, Date.now(), 60000), false);
    assert.equal(owners.pidAlive(parent.pid), true);
    assert.equal(owners.pidAlive(process.pid), true);
  });

  it("GC keeps what another live process serves or records, and collects the rest", async (t) => {
    const { BundleStore, INSTALL_META } = require('../../js/store');
    const owners = require('../../js/owners');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-shared-gc-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = new BundleStore(dir);
    const publish = (name) => {
      const d = path.join(store.installsDir, name);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, INSTALL_META), JSON.stringify({ sizeBytes: 1000, createdAt: new Date().toISOString() }));
      return d;
    };
    const served = publish('served');
    const recorded = publish('recorded');
    const dead = publish('dead-owner');
    const unused = publish('unused');
    // Another live process on this host serves `served`; a dead one served `dead-owner`.
    const other = spawn('sleep', ['30']);
    t.after(() => other.kill('SIGKILL'));
    for (const [d, pid] of [[served, other.pid], [dead, 2 ** 22 + 12345]]) {
      fs.mkdirSync(path.join(store.inUseDir, path.basename(d)), { recursive: true });
      fs.writeFileSync(path.join(store.inUseDir, path.basename(d), `${owners.HOST}~${pid}`), '');
    }
    await store.saveRecord({ key: 'k', status: 'ready', dir: recorded });
    const { removed } = await store.collectGarbage(0, new Set());
    assert.deepEqual(removed.map((d) => path.basename(d)).sort(), ['dead-owner', 'unused']);
    assert.ok(fs.existsSync(served) && fs.existsSync(recorded));
  });
});

describe('startup clean-up of a dead owner\'s work in progress', () => {
  it('neither fails nor waits forever while a dying installer still writes into it', async (t) => {
    const { BundleStore } = require('../../js/store');
    const owners = require('../../js/owners');
    const { spawnSync } = require('node:child_process');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-leftovers-'));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const store = new BundleStore(dataDir);
    // The owner named in the entry has exited; an orphan of it writes on.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const leftover = path.join(store.tmpDir, `build-${owners.HOST}~${deadPid}-abc123`);
    fs.mkdirSync(leftover);
    const writer = spawn(process.execPath, ['-e', `
      const fs = require('node:fs');
      const end = Date.now() + 600;
      for (let i = 0; Date.now() < end; i++) {
        try { fs.mkdirSync(${JSON.stringify(leftover)} + '/d' + i, { recursive: true });
              fs.writeFileSync(${JSON.stringify(leftover)} + '/d' + i + '/f', 'x'); } catch {}
      }`], { stdio: 'ignore' });
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));  // it is writing
    assert.doesNotThrow(() => store.clearLeftovers());
    await exited;
    store.clearLeftovers();
    assert.equal(fs.existsSync(leftover), false);
  });
});
