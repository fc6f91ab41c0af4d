'use strict';

// Stateful sessions through the public API (README "Sessions").

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { Sandbox, PycageError } = require('../..');
const { skipWithoutAddon } = require('./common');

function rssKb() {
  const line = fs.readFileSync('/proc/self/status', 'latin1').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]);
}

describe('sessions', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = new Sandbox(); });
  after(() => sandbox.close());

  it('keeps variables, imports and functions between calls', async () => {
    const first = await sandbox.runPython('import statistics\nrows = data\ndef avg():\n    return statistics.mean(rows)',
      { session: 'keep', inputs: { data: [1, 2, 3] } });
    assert.equal(first.status, 'ok', JSON.stringify(first.error));
    assert.equal(first.sessionRestarted, false);
    const second = await sandbox.runPython('rows.append(10)\navg()', { session: 'keep' });
    assert.equal(second.result, 4);
    assert.equal(second.sessionRestarted, false);
    assert.equal(second.isolation, sandbox.isolation);
  });

  it('does not lose the state on an exception, and reports the node line', async () => {
    await sandbox.runPython('total = 1', { session: 'exc' });
    const failed = await sandbox.runPython('total += 1\n\nraise ValueError("boom")', { session: 'exc' });
    assert.equal(failed.status, 'error');
    assert.equal(failed.error.type, 'ValueError');
    assert.equal(failed.error.line, 3);
    const after = await sandbox.runPython('total', { session: 'exc' });
    assert.equal(after.result, 2);
    assert.equal(after.sessionRestarted, false);
  });

  it('keeps output per call and inputs as fresh globals each call', async () => {
    const a = await sandbox.runPython('print("one")\nx', { session: 'io', inputs: { x: 1 } });
    const b = await sandbox.runPython('print("two")\nx', { session: 'io', inputs: { x: 2 } });
    assert.deepEqual([a.stdout, a.result, b.stdout, b.result], ['one\n', 1, 'two\n', 2]);
  });

  it('keeps sessions apart from each other and from plain runs', async () => {
    await sandbox.runPython('secret = "s1"', { session: 'apart-1' });
    const other = await sandbox.runPython('"secret" in globals()', { session: 'apart-2' });
    const plain = await sandbox.runPython('"secret" in globals()');
    assert.deepEqual([other.result, plain.result], [false, false]);
  });

  it('runs the calls of one session in the order they were made', async () => {
    await sandbox.runPython('seen = []', { session: 'order' });
    const calls = [];
    for (let i = 0; i < 20; i++) {
      calls.push(sandbox.runPython(`import time\ntime.sleep(${(20 - i) % 3} / 1000)\nseen.append(${i})\nlen(seen)`,
        { session: 'order' }));
    }
    const results = await Promise.all(calls);
    assert.deepEqual(results.map((r) => r.result), Array.from({ length: 20 }, (_, i) => i + 1));
    const seen = await sandbox.runPython('seen', { session: 'order' });
    assert.deepEqual(seen.result, Array.from({ length: 20 }, (_, i) => i));
  });

  it('a timeout kills the session; the next call starts fresh and says so', async () => {
    await sandbox.runPython('kept = 1', { session: 'timeout' });
    const slow = await sandbox.runPython('while True:\n    pass', { session: 'timeout', limits: { wallMs: 300 } });
    assert.equal(slow.error.type, 'TimeoutError');
    const next = await sandbox.runPython('"kept" in globals()', { session: 'timeout' });
    assert.equal(next.result, false);
    assert.equal(next.sessionRestarted, true);
    const then = await sandbox.runPython('1', { session: 'timeout' });
    assert.equal(then.sessionRestarted, false);
  });

  it('a crash kills the session; the next call starts fresh and says so', async () => {
    await sandbox.runPython('kept = 1', { session: 'crash' });
    const crashed = await sandbox.runPython('import os\nos._exit(3)', { session: 'crash' });
    assert.equal(crashed.error.type, 'Crashed');
    const next = await sandbox.runPython('"kept" in globals()', { session: 'crash' });
    assert.deepEqual([next.result, next.sessionRestarted], [false, true]);
  });

  it('budgets CPU per call, not over the session', async () => {
    const burn = 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6:\n    pass\n"done"';
    for (let i = 0; i < 3; i++) {
      // 1.8 s of CPU in all against a budget of 1 s per call.
      const run = await sandbox.runPython(burn, { session: 'cpu', limits: { cpuMs: 1000 } });
      assert.equal(run.status, 'ok', JSON.stringify(run.error));
      assert.equal(run.sessionRestarted, false);
      assert.ok(run.usage.cpuMs < 1000, `cpuMs ${run.usage.cpuMs} is the call's own`);
    }
    const over = await sandbox.runPython('while True:\n    pass', { session: 'cpu', limits: { cpuMs: 1000 } });
    assert.equal(over.error.type, 'CpuLimitExceeded');
    const next = await sandbox.runPython('1', { session: 'cpu' });
    assert.equal(next.sessionRestarted, true);
  });

  it('caps memory per session with the address-space limit', async () => {
    await sandbox.runPython('blocks = []', { session: 'mem', limits: { memoryBytes: 256 * 1024 * 1024 } });
    const grow = await sandbox.runPython('blocks.append(bytearray(300 * 1024 * 1024))', { session: 'mem' });
    assert.equal(grow.status, 'error');
    assert.equal(grow.error.type, 'MemoryLimitExceeded');
    const still = await sandbox.runPython('len(blocks)', { session: 'mem' });
    assert.deepEqual([still.result, still.sessionRestarted], [0, false]);
  });

  it('nothing a call starts outlives the call', async () => {
    const started = await sandbox.runPython(
      'import subprocess\np = subprocess.Popen(["/bin/sleep", "60"])\np.pid', { session: 'procs' });
    assert.equal(started.status, 'ok', JSON.stringify(started.error));
    const check = await sandbox.runPython(
      'import os\ntry:\n    os.kill(p.pid, 0)\n    alive = True\nexcept ProcessLookupError:\n    alive = False\nalive',
      { session: 'procs' });
    assert.equal(check.result, false);
  });

  it('closeSession ends it; a later call with the id starts a new one', async () => {
    await sandbox.runPython('v = 1', { session: 'closing' });
    assert.equal(await sandbox.closeSession('closing'), true);
    assert.equal(await sandbox.closeSession('closing'), false);
    const next = await sandbox.runPython('"v" in globals()', { session: 'closing' });
    assert.deepEqual([next.result, next.sessionRestarted], [false, false]);
  });

  it('cancels a session call with its AbortSignal and restarts the session', async () => {
    await sandbox.runPython('v = 1', { session: 'abort' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const run = await sandbox.runPython('import time\ntime.sleep(30)', { session: 'abort', signal: controller.signal });
    assert.equal(run.error.type, 'Cancelled');
    const next = await sandbox.runPython('"v" in globals()', { session: 'abort' });
    assert.deepEqual([next.result, next.sessionRestarted], [false, true]);
  });

  it('1,000 calls to one session do not grow the host', async () => {
    await sandbox.runPython('n = 0', { session: 'many' });
    for (let i = 0; i < 100; i++) await sandbox.runPython('n += 1', { session: 'many' });
    // A resolved call's pipes close a moment later (after its exit report).
    const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
    await settle();
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;
    const rssBefore = rssKb();
    for (let i = 0; i < 1000; i++) await sandbox.runPython('n += 1\nprint(n)\nn', { session: 'many' });
    const last = await sandbox.runPython('n', { session: 'many' });
    assert.equal(last.result, 1100);
    await settle();
    assert.equal(fs.readdirSync('/proc/self/fd').length, fdsBefore);
    // Generous: V8's heap moves around; a per-call leak of even 20 KB would show.
    assert.ok(rssKb() - rssBefore < 20_000, `host RSS grew by ${rssKb() - rssBefore} KB`);
  });

  it('validates the session id and closeSession arguments', async () => {
    await assert.rejects(sandbox.runPython('1', { session: 42 }), (err) => err instanceof PycageError &&
      err.code === 'ERR_INVALID_ARGUMENT' && /session/.test(err.message));
    await assert.rejects(sandbox.runPython('1', { session: 'x'.repeat(201) }), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(sandbox.closeSession(), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('session limits', { skip: skipWithoutAddon }, () => {
  it('evicts the least recently used idle session beyond sessions.max', async () => {
    const sandbox = new Sandbox({ sessions: { max: 2 } });
    try {
      await sandbox.runPython('v = "a"', { session: 'a' });
      await sandbox.runPython('v = "b"', { session: 'b' });
      await sandbox.runPython('v', { session: 'a' });        // b is now the least recently used
      await sandbox.runPython('v = "c"', { session: 'c' });  // evicts b
      const a = await sandbox.runPython('v', { session: 'a' });
      const b = await sandbox.runPython('"v" in globals()', { session: 'b' });
      assert.equal(a.result, 'a');
      assert.equal(b.result, false);
    } finally {
      await sandbox.close();
    }
  });

  it('rejects a new session with ERR_OVERLOADED when every session is busy', async () => {
    const sandbox = new Sandbox({ sessions: { max: 1 } });
    try {
      const busy = sandbox.runPython('import time\ntime.sleep(1)', { session: 'busy' });
      await assert.rejects(sandbox.runPython('1', { session: 'other' }), { code: 'ERR_OVERLOADED' });
      assert.equal((await busy).status, 'ok');
    } finally {
      await sandbox.close();
    }
  });

  it('closes a session after its idle TTL', async () => {
    const sandbox = new Sandbox({ sessions: { idleMs: 100 } });
    try {
      await sandbox.runPython('v = 1', { session: 'ttl' });
      await new Promise((resolve) => setTimeout(resolve, 400));
      const next = await sandbox.runPython('"v" in globals()', { session: 'ttl' });
      assert.deepEqual([next.result, next.sessionRestarted], [false, false]);
    } finally {
      await sandbox.close();
    }
  });

  it('refuses bad sessions options', () => {
    assert.throws(() => new Sandbox({ sessions: { max: 0 } }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new Sandbox({ sessions: { ttl: 5 } }), (err) => err.code === 'ERR_INVALID_ARGUMENT' &&
      /ttl/.test(err.message));
  });
});
