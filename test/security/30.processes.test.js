'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { skipWithoutAddon, fullSandbox, onlyInFull, pidsWithMarker } = require('./common');


describe('security: processes, fds and syscalls', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = fullSandbox(); });
  after(() => sandbox && sandbox.close());

  it('stops a fork bomb while a concurrent normal run still succeeds', async () => {
    const bomb = sandbox.runPython('import os\nwhile True:\n    os.fork()', { limits: { wallMs: 5000 } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const normal = await sandbox.runPython('sum(range(1000))');
    assert.equal(normal.status, 'ok', JSON.stringify(normal.error));
    assert.equal(normal.result, 499500);
    const run = await bomb;
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'ProcessLimitExceeded', run.error.message);
  });

  it('leaves no double-forked setsid sleeper behind once the run ends', async () => {
    const marker = `pycage-marker-${crypto.randomBytes(8).toString('hex')}`;
    const run = await sandbox.runPython([
      'import os, sys, time',
      'pid = os.fork()',
      'if pid == 0:',
      '    os.setsid()',
      '    if os.fork() == 0:',
      '        try:',
      `            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", ${JSON.stringify(marker)}])`,
      '        finally:',
      '            os._exit(0)',
      '    os._exit(0)',
      'os.waitpid(pid, 0)',
      'time.sleep(0.3)',
      'result = "spawned"',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, 'spawned');
    // Give the kernel a moment to tear the pid namespace down.
    let alive = pidsWithMarker(marker);
    for (let i = 0; i < 20 && alive.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      alive = pidsWithMarker(marker);
    }
    assert.deepEqual(alive, [], `processes of the run survived it: ${alive.join(', ')}`);
  });

  it('holds no capability in any set, the bounding set included, with NO_NEW_PRIVS and a filter on', { skip: onlyInFull('no procfs is reachable at all (14.reduced)') }, async () => {
    // A run's user namespace starts it with every capability in every set;
    // each must be dropped, or an execve could gain them back.
    const run = await sandbox.runPython([
      'st = dict(line.split(":", 1) for line in open("/proc/self/status"))',
      '{k: st[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")}',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    const zero = '0'.repeat(16);
    assert.deepEqual(run.result, { CapInh: zero, CapPrm: zero, CapEff: zero, CapBnd: zero, CapAmb: zero, NoNewPrivs: '1', Seccomp: '2' });
  });

  it('opens only fds 0-3 in a run (plus the one listdir uses)', async () => {
    // fstat over every number: no /proc needed, so it holds in both tiers.
    const run = await sandbox.runPython('import os\nfds = []\nfor fd in range(4096):\n    try:\n        os.fstat(fd)\n        fds.append(fd)\n    except OSError:\n        pass\nfds');
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, [0, 1, 2, 3]);
  });

  it('kills a run calling ptrace with SandboxViolation', { skip: process.arch !== 'x64' && 'x86_64 syscall numbers' }, async () => {
    const run = await sandbox.runPython([
      'import ctypes',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'r = libc.syscall(101, 0, 0, 0, 0)  # ptrace(PTRACE_TRACEME)',
      'result = ["NOT KILLED", r, ctypes.get_errno()]',
    ].join('\n'));
    assert.equal(run.status, 'error', `ptrace returned: ${JSON.stringify(run.result)}`);
    assert.equal(run.error.type, 'SandboxViolation');
  });

  it('kills a run calling an x32 syscall with SandboxViolation', { skip: process.arch !== 'x64' && 'x86_64 only' }, async () => {
    const run = await sandbox.runPython([
      'import ctypes',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'r = libc.syscall(0x40000000 + 39)  # x32 getpid',
      'result = ["NOT KILLED", r, ctypes.get_errno()]',
    ].join('\n'));
    assert.equal(run.status, 'error', `x32 getpid returned: ${JSON.stringify(run.result)}`);
    assert.equal(run.error.type, 'SandboxViolation');
  });

  it('refuses to create new namespaces from a run', async () => {
    const run = await sandbox.runPython([
      'import ctypes',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'r = libc.unshare(0x10000000)  # CLONE_NEWUSER',
      'result = [r, ctypes.get_errno()]',
    ].join('\n'));
    if (run.status === 'ok') assert.equal(run.result[0], -1, 'unshare(CLONE_NEWUSER) succeeded');
    else assert.equal(run.error.type, 'SandboxViolation');
  });
});
