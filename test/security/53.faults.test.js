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
const { skipWithoutAddon, fullSandbox, scratchDataDir, TIER } = require('./common');
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

// The helper (pycage-jail, not a --probe) and its child, the zygote (the
// jail's pid 1). In the reduced tier the helper execs the zygote itself: one
// process (its command line is the interpreter's).
function jailOf(excluding = new Set()) {
  for (const [pid, info] of descendants()) {
    if (excluding.has(pid) || info.cmd.includes('--probe')) continue;
    if (TIER === 'reduced' && info.cmd.includes('zygote.py') && info.ppid === process.pid) return { helper: pid, zygote: pid };
    if (!info.cmd.includes('pycage-jail')) continue;
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
      const dataDir = scratchDataDir('pycage-diskfull-');
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', dataDir], { stdio: 'pipe' });
      } catch (err) {
        fs.rmSync(dataDir, { recursive: true, force: true });
        t.skip(`cannot mount a tmpfs here: ${String(err.stderr || err.message).trim()}`);
        return;
      }
      let sandbox = null;
      // One hook, in this order: the reduced tier's warm interpreter keeps
      // files of the dataDir open until it is closed, so umount waits for it.
      t.after(async () => {
        if (sandbox) await sandbox.close();
        execFileSync('umount', [dataDir]);
        fs.rmSync(dataDir, { recursive: true, force: true });
      });
      sandbox = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' }, isolation: TIER });
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
      const dataDir = scratchDataDir('pycage-publish-');
      t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
      const options = { dataDir, index: { url: index.url }, installer: { tool: 'pip' }, isolation: TIER };

      const hostScript = (requirements) => `
        const { Sandbox } = require(${JSON.stringify(path.resolve(__dirname, '../..'))});
        const s = new Sandbox(${JSON.stringify(options)});
        console.log('START');
        s.install('wf-p', ${JSON.stringify(requirements)}).then((st) => console.log('DONE ' + st.status));`;
      const host = (requirements) => {
        const child = spawn(process.execPath, ['-e', hostScript(requirements)], { stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        const started = new Promise((resolve) => child.stdout.on('data', (d) => { out += d; if (out.includes('START')) resolve(Date.now()); }));
        const finished = new Promise((resolve) => child.stdout.on('data', () => { if (out.includes('DONE')) resolve(Date.now()); }));
        const done = new Promise((resolve) => child.on('exit', resolve));
        return { child, started, finished, done };
      };
      // Every rebuild asks for a set never built before (installs of the same
      // set are shared, so a repeated set would publish instantly).
      const spec = (k) => {
        const version = k % 2 ? '1.0' : '2.0';
        return { version, requirements: `pycage-hello<${version}.${k + 1},>=${version}\n` };
      };

      // How long an unkilled rebuild takes in a host, to spread the kills over it.
      let old = spec(0);
      const timed = host(old.requirements);
      const t0 = await timed.started;
      const duration = (await timed.finished) - t0;
      timed.child.kill('SIGKILL');
      await timed.done;
      const seen = new Set();
      const fractions = [0.3, 0.6, 0.85, 0.95, 1.0, 1.05, 1.15, 1.3];
      for (let k = 1; k <= fractions.length; k++) {
        const target = spec(k);
        const h = host(target.requirements);
        await h.started;
        await new Promise((resolve) => setTimeout(resolve, Math.round(duration * fractions[k - 1])));
        h.child.kill('SIGKILL');
        await h.done;

        const reopened = new Sandbox(options);
        try {
          const status = reopened.status('wf-p');
          assert.equal(status.status, 'ready', `at ${fractions[k - 1]}: ${status.status} ${status.error}`);
          const now = [old, target].find((c) => c.requirements === status.requirements);
          assert.ok(now, `at ${fractions[k - 1]}: serving ${JSON.stringify(status.requirements)}, neither old nor new`);
          assert.deepEqual(status.packages, [{ name: 'pycage-hello', version: now.version }]);
          const run = await reopened.runPython('import pycage_hello\npycage_hello.VERSION', { bundle: 'wf-p' });
          assert.equal(run.result, now.version, `status says ${now.version}, the bundle runs ${run.result}`);
          seen.add(now === target ? 'new' : 'old');
          t.diagnostic(`killed at ${fractions[k - 1]}: ${now === target ? 'new' : 'old'}`);
          old = now;
        } finally {
          await reopened.close();
        }
      }
      t.diagnostic(`rebuild took ${duration} ms; states seen after the kills: ${[...seen].join(', ')}`);
      assert.deepEqual(fs.readdirSync(path.join(dataDir, 'bundles', 'tmp')), []);
    });
  });
});
