'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { skipWithoutAddon, fullSandbox } = require('./common');

const MiB = 1024 * 1024;

describe('security: CPU, memory and output', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = fullSandbox(); });
  after(() => sandbox && sandbox.close());

  it('ends `while True: pass` with CpuLimitExceeded while Node stays responsive', async () => {
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 20);
    const started = Date.now();
    const run = await sandbox.runPython('while True: pass', { limits: { cpuMs: 1000, wallMs: 10000 } });
    clearInterval(timer);
    lag.disable();
    const elapsed = Date.now() - started;
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'CpuLimitExceeded');
    assert.ok(elapsed < 6000, `took ${elapsed} ms`);
    assert.ok(ticks >= elapsed / 20 / 3, `only ${ticks} timer ticks in ${elapsed} ms`);
    assert.ok(lag.max / 1e6 < 250, `event loop lag reached ${lag.max / 1e6} ms`);
  });

  it('ends a 2 GB allocation with MemoryLimitExceeded', async () => {
    const run = await sandbox.runPython('x = bytearray(2 * 1024 ** 3)\nlen(x)');
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'MemoryLimitExceeded');
  });

  it('ends growing allocations with MemoryLimitExceeded', async () => {
    const run = await sandbox.runPython('chunks = []\nwhile True:\n    chunks.append(b"x" * (64 * 1024 * 1024))');
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'MemoryLimitExceeded');
  });

  it('truncates a 4 MB stdout flood at 1 MB and flags it', async () => {
    const run = await sandbox.runPython('import sys\nfor _ in range(64):\n    sys.stdout.write("x" * 65536)\nresult = 1');
    assert.equal(run.truncated.stdout, true);
    assert.ok(Buffer.byteLength(run.stdout) <= MiB, `stdout is ${Buffer.byteLength(run.stdout)} bytes`);
    assert.ok(Buffer.byteLength(run.stdout) >= MiB / 2, 'stdout lost the head of the output');
  });

  it('bounds an endless stdout and stderr flood', async () => {
    const run = await sandbox.runPython(
      'import sys\nwhile True:\n    sys.stdout.write("o" * 65536)\n    sys.stderr.write("e" * 65536)',
      { limits: { wallMs: 2000 } });
    assert.equal(run.status, 'error');
    assert.ok(Buffer.byteLength(run.stdout) <= MiB);
    assert.ok(Buffer.byteLength(run.stderr) <= MiB);
    assert.equal(run.truncated.stdout, true);
    assert.equal(run.truncated.stderr, true);
  });
});
