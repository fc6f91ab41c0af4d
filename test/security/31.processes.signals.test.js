'use strict';

// Signals and process tricks from inside a run: kill(-1), stopping itself,
// ignoring the limit signals, and children that try to outlive the run or
// keep its stdout open.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const { skipWithoutAddon, fullSandbox, pidsWithMarker, TIER, onlyInFull } = require('./common');

const ESRCH = 3;

async function until(predicate, ms) {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return predicate();
}

describe('security: signals and escaping children', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = fullSandbox(); });
  after(() => sandbox && sandbox.close());

  it('kill(-1, SIGKILL) reaches no one: not a host process, not a concurrent run', async () => {
    const hostSleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const neighbour = sandbox.runPython('import time\ntime.sleep(0.5)\n"neighbour survived"');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const run = await sandbox.runPython([
        'import os, signal',
        'try:',
        '    os.kill(-1, signal.SIGKILL)',
        '    result = "SENT"',
        'except OSError as e:',
        '    result = e.errno',
      ].join('\n'));
      assert.equal(run.status, 'ok', JSON.stringify(run.error));
      // full: the run is alone in its pid namespace, there is no one to
      // signal. reduced: Landlock's signal scope refuses every target (kill
      // with pid -1 then returns 0): what counts is that everyone survives.
      if (TIER === 'full') assert.equal(run.result, ESRCH);
      const other = await neighbour;
      assert.equal(other.status, 'ok', JSON.stringify(other.error));
      assert.equal(other.result, 'neighbour survived');
      assert.equal(hostSleeper.exitCode, null);
      assert.equal(hostSleeper.signalCode, null);
    } finally {
      hostSleeper.kill('SIGKILL');
    }
  });

  it('SIGSTOP sent to itself is ignored (pid 1 of its namespace) and the run completes', { skip: onlyInFull('a run is not pid 1: SIGSTOP stops it and its wall-time limit ends it') }, async () => {
    const run = await sandbox.runPython('import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n"still running"',
      { limits: { wallMs: 3000 } });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, 'still running');
  });

  it('a stopped child does not hold the run: it resolves and the child dies with it', async () => {
    const marker = `pycage-stopped-${crypto.randomBytes(6).toString('hex')}`;
    const run = await sandbox.runPython([
      'import os, sys, signal, time',
      'if os.fork() == 0:',
      `    os.execv(sys.executable, [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSTOP)", ${JSON.stringify(marker)}])`,
      'time.sleep(0.3)',
      '"parent done"',
    ].join('\n'), { limits: { wallMs: 5000 } });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, 'parent done');
    assert.ok(await until(() => pidsWithMarker(marker).length === 0, 2000), 'the stopped child outlived the run');
  });

  it('ignoring SIGXCPU does not escape the CPU limit (the hard limit SIGKILLs)', async () => {
    const started = Date.now();
    const run = await sandbox.runPython('import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass',
      { limits: { cpuMs: 1000, wallMs: 9000 } });
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'CpuLimitExceeded', run.error.message);
    assert.ok(Date.now() - started < 9000);
  });

  it('ignoring SIGTERM, SIGINT, SIGHUP and SIGXCPU does not escape the wall limit', async () => {
    const started = Date.now();
    const run = await sandbox.runPython([
      'import signal, time',
      'for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):',
      '    signal.signal(s, signal.SIG_IGN)',
      'while True:',
      '    time.sleep(0.01)',
    ].join('\n'), { limits: { wallMs: 1000 } });
    const elapsed = Date.now() - started;
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'TimeoutError');
    assert.ok(elapsed < 3000, `took ${elapsed} ms`);
  });

  it('resolves promptly while a grandchild keeps the stdout pipe open, and the grandchild dies', async () => {
    const marker = `pycage-holder-${crypto.randomBytes(6).toString('hex')}`;
    const started = Date.now();
    const run = await sandbox.runPython([
      'import os, sys',
      'print("before", flush=True)',
      'if os.fork() == 0:',
      '    os.setsid()',
      '    if os.fork() == 0:',
      '        # inherits fds 1 and 2: the run\'s stdout and stderr pipes',
      `        os.execv(sys.executable, [sys.executable, "-c", "import time, sys; time.sleep(30); print('late')", ${JSON.stringify(marker)}])`,
      '    os._exit(0)',
      'os.wait()',
      '"resolved"',
    ].join('\n'), { limits: { wallMs: 8000 } });
    const elapsed = Date.now() - started;
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, 'resolved');
    assert.equal(run.stdout, 'before\n');
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
    assert.ok(await until(() => pidsWithMarker(marker).length === 0, 2000), 'the grandchild outlived the run');
  });
});
