'use strict';

// Broken limits resolve with their typed error (README "RunResult").

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

  it('resolves CpuLimitExceeded for a busy loop that passes cpuMs', async () => {
    // The wall limit is far enough away that the CPU limit always fires first.
    const run = await sandbox.runPython('while True: pass', { limits: { cpuMs: 1000, wallMs: 10000 } });
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'CpuLimitExceeded');
    assert.equal(run.error.message, 'the node used more CPU time than 1 s');
  });

  it('resolves MemoryLimitExceeded when allocating beyond memoryBytes', async () => {
    const run = await sandbox.runPython('x = bytearray(1024 * 1024 * 1024)\nlen(x)');
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'MemoryLimitExceeded');
  });

  it('refuses file descriptors beyond openFiles with EMFILE, and allows them under it', async () => {
    const code = 'import os\nfds = [os.open("/dev/null", os.O_RDONLY) for _ in range(60)]\nlen(fds)';
    const refused = await sandbox.runPython(code, { limits: { openFiles: 32 } });
    assert.equal(refused.status, 'error');
    assert.equal(refused.error.type, 'OSError');
    assert.match(refused.error.message, /Too many open files/);
    const allowed = await sandbox.runPython(code, { limits: { openFiles: 128 } });
    assert.equal(allowed.status, 'ok', JSON.stringify(allowed.error));
    assert.equal(allowed.result, 60);
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
    assert.equal(run.error.type, 'OutputLimitExceeded');
    assert.equal(run.error.message, 'result is 5002 bytes, over the 1000 bytes limit (limits.resultBytes)');
  });

  it('fails to write a file larger than fileSizeBytes', async () => {
    const run = await sandbox.runPython([
      'try:',
      '    with open("/tmp/big", "wb") as f: f.write(b"x" * 4096)',
      '    result = "written"',
      'except OSError as e:',
      '    result = "refused"',
    ].join('\n'), { limits: { fileSizeBytes: 1024 } });
    // Python ignores SIGXFSZ, so the write fails with EFBIG, which the node can catch.
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, 'refused');
  });

  it('resolves OutputLimitExceeded when an uncaught write passes fileSizeBytes', async () => {
    const run = await sandbox.runPython('with open("/tmp/big", "wb") as f: f.write(b"x" * 4096)',
      { limits: { fileSizeBytes: 1024 } });
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'OutputLimitExceeded');
    assert.equal(run.error.message, 'a file written by the node exceeded the 1024 bytes file-size limit');
  });

  it('resolves ProcessLimitExceeded when forking beyond processes', async () => {
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
    assert.equal(run.error.type, 'ProcessLimitExceeded', run.error.message);
  });

  it('counts threads against processes too', async () => {
    const run = await sandbox.runPython([
      'import threading, time',
      'threads = [threading.Thread(target=time.sleep, args=(1,)) for _ in range(10)]',
      'for t in threads: t.start()',
    ].join('\n'), { limits: { processes: 3 } });
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'ProcessLimitExceeded', run.error.message);
  });
});
