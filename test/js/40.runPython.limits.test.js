'use strict';

// Broken limits resolve with their typed error (DESIGN.md "RunResult").

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Sandbox } = require('../..');
const { skipWithoutAddon } = require('./common');

describe('Sandbox#runPython() limits', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = new Sandbox(); });
  after(() => sandbox && sandbox.close());

  it('resolves TimeoutError when wallMs passes', async () => {
    const started = Date.now();
    const run = await sandbox.runPython('import time\ntime.sleep(30)', { limits: { wallMs: 300 } });
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'TimeoutError');
    assert.ok(Date.now() - started < 5000, 'the run was not stopped near its wall limit');
  });

  it('resolves CpuLimitExceeded (or TimeoutError) for a busy loop', async () => {
    const run = await sandbox.runPython('while True: pass', { limits: { cpuMs: 1000, wallMs: 4000 } });
    assert.equal(run.status, 'error');
    assert.ok(['CpuLimitExceeded', 'TimeoutError'].includes(run.error.type), run.error.type);
  });

  it('resolves MemoryLimitExceeded when allocating beyond memoryBytes', async () => {
    const run = await sandbox.runPython('x = bytearray(1024 * 1024 * 1024)\nlen(x)');
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'MemoryLimitExceeded');
  });

  it('truncates stdout at stdoutBytes and sets the flag', async () => {
    const run = await sandbox.runPython('print("x" * 5000)\n1', { limits: { stdoutBytes: 1000 } });
    assert.equal(run.truncated.stdout, true);
    assert.ok(Buffer.byteLength(run.stdout) <= 1000, `stdout is ${run.stdout.length} bytes`);
    assert.equal(run.truncated.stderr, false);
  });

  it('refuses a result larger than resultBytes', async () => {
    const run = await sandbox.runPython('result = "x" * 5000', { limits: { resultBytes: 1000 } });
    assert.equal(run.status, 'error');
    assert.equal(run.result, null);
  });

  it('fails to write a file larger than fileSizeBytes', async () => {
    const run = await sandbox.runPython([
      'try:',
      '    with open("/tmp/big", "wb") as f: f.write(b"x" * 4096)',
      '    result = "written"',
      'except OSError as e:',
      '    result = "refused"',
    ].join('\n'), { limits: { fileSizeBytes: 1024 } });
    // RLIMIT_FSIZE delivers SIGXFSZ or EFBIG; either way the file is not written.
    if (run.status === 'ok') assert.equal(run.result, 'refused');
    else assert.notEqual(run.error.type, undefined);
  });

  it('resolves ProcessLimitExceeded (or a clean error) when forking beyond processes', async () => {
    const run = await sandbox.runPython([
      'import os',
      'pids = []',
      'for _ in range(20):',
      '    pid = os.fork()',
      '    if pid == 0:',
      '        import time; time.sleep(5); os._exit(0)',
      '    pids.append(pid)',
    ].join('\n'), { limits: { processes: 3 } });
    assert.equal(run.status, 'error');
    assert.ok(['ProcessLimitExceeded', 'BlockingIOError', 'OSError'].includes(run.error.type), run.error.type);
  });
});
