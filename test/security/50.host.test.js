'use strict';

// The host's side: a SIGKILLed Node leaves no jailed process behind.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const { skipWithoutAddon, pidsWithMarker } = require('./common');

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

async function waitFor(predicate, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return predicate();
}

describe('security: the host process', { skip: skipWithoutAddon }, () => {
  it('leaves no helper, zygote or run behind when Node is SIGKILLed mid-run', async () => {
    const marker = `pycage-host-kill-${crypto.randomBytes(8).toString('hex')}`;
    // The child Node starts a run that execs a long sleeper carrying the
    // marker, prints "running" once the sleeper exists, and is then killed.
    const script = `
      const { Sandbox } = require(${JSON.stringify(ROOT)});
      const sandbox = new Sandbox({ isolation: 'full' });
      sandbox.runPython([
        'import os, sys, time',
        'if os.fork() == 0:',
        '    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", ${JSON.stringify(marker)}])',
        'time.sleep(60)',
      ].join('\\n'));
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    try {
      // The marker is in the child Node's own command line too: look past it.
      const sleepers = () => pidsWithMarker(marker).filter((pid) => pid !== child.pid && alive(pid));
      assert.ok(await waitFor(() => sleepers().length > 0, 10000), 'the run never started its sleeper');
      // The helper, the zygote, the spare, the run and the sleeper.
      const tree = descendantsOf(child.pid);
      assert.ok(tree.length >= 4, `expected helper, zygote and run under the child Node, found ${tree.length}`);
      child.kill('SIGKILL');
      const gone = await waitFor(() => tree.every((pid) => !alive(pid)), 5000);
      assert.ok(gone, `survivors: ${tree.filter(alive).join(', ')}`);
      assert.deepEqual(sleepers(), []);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
