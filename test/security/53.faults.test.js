'use strict';

// Fault injection: the zygote killed mid-run, the helper killed during its
// setup, the data directory's disk full during an install, and the host
// SIGKILLed at spread points of a bundle rebuild (publish included).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { Sandbox } = require('../..');
const { skipWithoutAddon, fullSandbox } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

// pid -> { ppid, cmd } from the host's /proc.
function processTable() {
  const table = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(fs.readFileSync(`/proc/${entry}/stat`, 'latin1').split(') ')[1].split(' ')[1]);
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0').join(' ');
      table.set(Number(entry), { ppid, cmd });
    } catch { /* exited meanwhile */ }
  }
  return table;
}

function descendants(root = process.pid) {
  const table = processTable();
  const found = new Map();
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, info] of table) {
      if ((info.ppid === root || found.has(info.ppid)) && !found.has(pid)) { found.set(pid, info); grew = true; }
    }
  }
  return found;
}

// The helper (pycage-jail, not a --probe) and its child, the zygote (the jail's pid 1).
function jailOf(excluding = new Set()) {
  for (const [pid, info] of descendants()) {
    if (excluding.has(pid) || !info.cmd.includes('pycage-jail') || info.cmd.includes('--probe')) continue;
    const zygote = [...descendants(pid)].find(([, z]) => z.ppid === pid);
    return { helper: pid, zygote: zygote ? zygote[0] : null };
  }
  return null;
}

const alive = (pid) => { try { return fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1][0] !== 'Z'; } catch { return false; } };

describe('security: fault injection', { skip: skipWithoutAddon }, () => {
  it('resolves a run whose zygote is SIGKILLed with a clear error, and the next run works', async (t) => {
    const sandbox = fullSandbox();
    t.after(() => sandbox.close());
    await sandbox.runPython('1');
    const jail = jailOf();
    assert.ok(jail && jail.zygote, 'found the helper and its zygote');
    const pending = sandbox.runPython('import time\ntime.sleep(5)\n"finished"');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killedAt = Date.now();
    process.kill(jail.zygote, 'SIGKILL');
    const run = await pending;
    assert.ok(Date.now() - killedAt < 2000, 'the run waited for its wall limit instead');
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'Crashed');
    assert.match(run.error.message, /warm interpreter died during the run.*safe to retry/);
    const next = await sandbox.runPython('"after"');
    assert.equal(next.status, 'ok', JSON.stringify(next.error));
    assert.equal(next.result, 'after');
    assert.equal(alive(jail.helper), false, 'the old helper is gone');
  });

  it('recovers when the helper is SIGKILLed during its setup, before the run starts', async (t) => {
    const before = new Set(descendants().keys());
    const sandbox = fullSandbox();
    t.after(() => sandbox.close());
    const pending = sandbox.runPython('"served"');
    let killed = null;
    for (let i = 0; i < 5000 && !killed; i++) {
      const jail = jailOf(before);
      if (jail) { process.kill(jail.helper, 'SIGKILL'); killed = jail.helper; }
      else await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(killed, 'never saw the helper start');
    const run = await pending;
    // The run had not been handed to a zygote yet: it is served by the
    // restarted one. (Were it already handed over, it would be Crashed and
    // say it is safe to retry.)
    if (run.status === 'ok') assert.equal(run.result, 'served');
    else assert.match(run.error.message, /safe to retry/);
    const next = await sandbox.runPython('"next"');
    assert.equal(next.result, 'next');
    const deadline = Date.now() + 3000;
    while (alive(killed) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(alive(killed), false);
  });

  describe('bundles', () => {
    let index;
    before(async () => { index = await startIndex([(await ensureWheels()).dir]); });
    after(() => index && index.close());

    it('fails an install on a full disk with the installer\'s message; the previous bundle stays ready', async (t) => {
      if (process.getuid() !== 0) { t.skip('mounting a small tmpfs needs root'); return; }
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-diskfull-'));
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', dataDir], { stdio: 'pipe' });
      } catch (err) {
        fs.rmSync(dataDir, { recursive: true, force: true });
        t.skip(`cannot mount a tmpfs here: ${String(err.stderr || err.message).trim()}`);
        return;
      }
      t.after(() => {
        execFileSync('umount', [dataDir]);
        fs.rmSync(dataDir, { recursive: true, force: true });
      });
      const sandbox = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
      t.after(() => sandbox.close());
      const first = await sandbox.install('wf-a', 'pycage-hello==1.0\n');
      assert.equal(first.status, 'ready', first.error);
      // Leave 16 KiB: too little for the next install.
      const st = fs.statfsSync(dataDir);
      fs.writeFileSync(path.join(dataDir, 'filler'), Buffer.alloc(st.bavail * st.bsize - 16 * 1024));

      const full = await sandbox.install('wf-b', 'pycage-hello==2.0\n');
      assert.equal(full.status, 'failed');
      assert.match(full.error, /No space left on device/);
      assert.equal(sandbox.status('wf-b').status, 'failed');
      assert.deepEqual(fs.readdirSync(path.join(dataDir, 'bundles', 'tmp')), []);
      assert.equal(sandbox.status('wf-a').status, 'ready');
      const run = await sandbox.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-a' });
      assert.equal(run.result, '1.0');

      // Space back: the same install now succeeds.
      fs.rmSync(path.join(dataDir, 'filler'));
      const retried = await sandbox.install('wf-b', 'pycage-hello==2.0\n');
      assert.equal(retried.status, 'ready', retried.error);
    });

    it('sees the old or the new bundle, never half, when the host is SIGKILLed at any point of a rebuild', async (t) => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-publish-'));
      t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
      const options = { dataDir, index: { url: index.url }, installer: { tool: 'pip' } };
      const seed = new Sandbox(options);
      const ready = await seed.install('wf-p', 'pycage-hello==1.0\n');
      assert.equal(ready.status, 'ready', ready.error);
      await seed.close();

      const hostScript = (version) => `
        const { Sandbox } = require(${JSON.stringify(path.resolve(__dirname, '../..'))});
        const s = new Sandbox(${JSON.stringify(options)});
        console.log('START');
        s.install('wf-p', 'pycage-hello==${version}\\n').then((st) => console.log('DONE ' + st.status));`;
      const host = (version) => {
        const child = spawn(process.execPath, ['-e', hostScript(version)], { stdio: ['ignore', 'pipe', 'ignore'] });
        const started = new Promise((resolve) => child.stdout.on('data', (d) => { if (String(d).includes('START')) resolve(Date.now()); }));
        const done = new Promise((resolve) => child.on('exit', resolve));
        return { child, started, done };
      };

      // How long an unkilled rebuild takes in a host, to spread the kills over it.
      const timed = host('2.0');
      const t0 = await timed.started;
      await timed.done;
      const duration = Date.now() - t0;
      const seen = new Set();
      for (const fraction of [0.25, 0.5, 0.75, 0.9, 0.97, 1.03]) {
        const serving = new Sandbox(options);
        const current = serving.status('wf-p');
        await serving.close();
        const target = current.requirements === 'pycage-hello==1.0\n' ? '2.0' : '1.0';
        const h = host(target);
        await h.started;
        await new Promise((resolve) => setTimeout(resolve, Math.round(duration * fraction)));
        h.child.kill('SIGKILL');
        await h.done;

        const reopened = new Sandbox(options);
        try {
          const status = reopened.status('wf-p');
          assert.equal(status.status, 'ready', `at ${fraction}: ${status.status} ${status.error}`);
          const version = status.requirements.match(/^pycage-hello==(\d\.\d)\n$/)[1];
          assert.deepEqual(status.packages, [{ name: 'pycage-hello', version }]);
          const run = await reopened.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-p' });
          assert.equal(run.result, version, `at ${fraction}: status says ${version}, the bundle runs ${run.result}`);
          seen.add(version === target ? 'new' : 'old');
        } finally {
          await reopened.close();
        }
      }
      t.diagnostic(`states seen after the kills: ${[...seen].join(', ')}`);
      assert.deepEqual(fs.readdirSync(path.join(dataDir, 'bundles', 'tmp')), []);
    });
  });
});
