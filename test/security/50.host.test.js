'use strict';

// The host's side: a SIGKILLed Node leaves no jailed process behind.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { skipWithoutAddon, pidsWithArgument, TIER } = require('./common');

const ROOT = require.resolve('../..');

// [pid, ppid, state] of every process, from the host's /proc.
function processTable() {
  const rows = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = fs.readFileSync(`/proc/${entry}/stat`, 'latin1').split(') ')[1].split(' ');
      rows.push([Number(entry), Number(fields[1]), fields[0]]);
    } catch { /* exited meanwhile */ }
  }
  return rows;
}

function descendantsOf(root) {
  const table = processTable();
  const found = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of table) {
      if (found.has(ppid) && !found.has(pid)) { found.add(pid); grew = true; }
    }
  }
  found.delete(root);
  return [...found];
}

// A zombie has already released everything; only its exit status remains.
function alive(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1][0] !== 'Z';
  } catch {
    return false;
  }
}

// Host mount points that pycage could have left (none is ever made on the host).
function pycageMounts() {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
    .filter((m) => m && m.includes('pycage')).sort();
}

// Everything in a directory tree, as relative paths.
function listTree(dir) {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

async function waitFor(predicate, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return predicate();
}

describe('security: the host process', { skip: skipWithoutAddon }, () => {
  it('leaves no helper, zygote, run, temp file or mount behind when Node is SIGKILLed mid-run', async (t) => {
    const marker = `pycage-host-kill-${crypto.randomBytes(8).toString('hex')}`;
    // The child Node starts a run that execs a long sleeper carrying the
    // marker, prints "running" once the sleeper exists, and is then killed.
    const script = `
      const { Sandbox } = require(${JSON.stringify(ROOT)});
      const sandbox = new Sandbox({ isolation: ${JSON.stringify(TIER)} });
      sandbox.runPython([
        'import os, sys, time',
        'if os.fork() == 0:',
        '    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", ${JSON.stringify(marker)}])',
        'time.sleep(60)',
      ].join('\\n'));
      setInterval(() => {}, 1000);
    `;
    // The child gets its own TMPDIR and data dir, so what it leaves there is
    // its own (other test suites may share the host's /tmp).
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-host-kill-'));
    fs.chmodSync(scratch, 0o755);  // the reduced tier's own uid makes its scratch tree below it
    t.after(() => fs.rmSync(scratch, { recursive: true, force: true }));
    const tmpDir = path.join(scratch, 'tmp');
    const dataDir = path.join(scratch, 'data');
    fs.mkdirSync(tmpDir);
    const mountsBefore = pycageMounts();
    const child = spawn(process.execPath, ['-e', script], {
      stdio: 'ignore', env: { ...process.env, TMPDIR: tmpDir, PYCAGE_DATA_DIR: dataDir },
    });
    try {
      // The sleeper has the marker as an argument of its own; the child Node
      // (and its forks before they exec the helper) only quote it in a script.
      const sleepers = () => pidsWithArgument(marker).filter(alive);
      assert.ok(await waitFor(() => sleepers().length > 0, 10000), 'the run never started its sleeper');
      // The helper, the zygote, the spare, the run and the sleeper.
      const tree = descendantsOf(child.pid);
      assert.ok(tree.length >= 4, `expected helper, zygote and run under the child Node, found ${tree.length}`);
      child.kill('SIGKILL');
      const gone = await waitFor(() => tree.every((pid) => !alive(pid)), 5000);
      assert.ok(gone, `survivors: ${tree.filter(alive).join(', ')}`);
      assert.deepEqual(sleepers(), []);
      // The jail's mounts lived in its own mount namespace, and a run keeps
      // its files in its own tmpfs: the host has neither a new mount nor a
      // new pycage temp entry.
      assert.deepEqual(pycageMounts(), mountsBefore);
      if (TIER === 'reduced') {
        // No tmpfs of its own: the scratch tree stays until the next Sandbox
        // on this host starts, which removes the trees of dead processes.
        const next = spawnSync(process.execPath, ['-e', `
          const { Sandbox } = require(${JSON.stringify(ROOT)});
          const s = new Sandbox({ isolation: 'reduced' });
          s.runPython('1').then(() => s.close());`], { env: { ...process.env, TMPDIR: tmpDir, PYCAGE_DATA_DIR: dataDir },
          encoding: 'utf8', timeout: 30000 });
        assert.equal(next.status, 0, next.stderr);
      }
      assert.deepEqual(listTree(tmpDir), []);
      const dataLeft = fs.existsSync(dataDir) ? listTree(dataDir).filter((p) => /(^|\/)(tmp|imports)\/./.test(p)) : [];
      assert.deepEqual(dataLeft, []);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
