'use strict';

// Cancellation, close(), overload and capabilities() with the real addon.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { Sandbox, PycageError } = require('../..');
const { skipWithoutAddon } = require('./common');

// Live (non-zombie) children of this process, from /proc.
function liveChildren() {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [state, ppid] = fs.readFileSync(`/proc/${entry}/stat`, 'latin1').split(') ')[1].split(' ');
      if (Number(ppid) === process.pid && state !== 'Z') found.push(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  return found;
}

describe('Sandbox lifecycle', { skip: skipWithoutAddon }, () => {
  it('Sandbox.create() lets the event loop turn while it probes the host, then runs', async () => {
    // A probe waited for on the JS thread would settle create() before any
    // setImmediate callback could run.
    let turns = 0;
    const tick = () => { turns += 1; if (turns < 1000) timer = setImmediate(tick); };
    let timer = setImmediate(tick);
    const sandbox = await Sandbox.create();
    clearImmediate(timer);
    assert.ok(turns > 0, 'the event loop never turned during create()');
    assert.equal(sandbox.capabilities().selected, sandbox.isolation);
    assert.equal((await sandbox.runPython('6 * 7')).result, 42);
    await sandbox.close();
  });

  it('leaves no fd or child process behind after 300 mixed runs and close()', async () => {
    // The addon's own libuv opens one process-wide pipe (its signal pipe) with
    // the first loop it makes, and keeps it: count from after that.
    await new Sandbox().close();
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;
    const childrenBefore = liveChildren().length;
    const sandbox = new Sandbox();
    const codes = ['1 + 1', 'raise ValueError("x")', 'print("y" * 10000)', 'import os\nos._exit(3)'];
    const runs = [];
    for (let i = 0; i < 300; i++) runs.push(sandbox.runPython(codes[i % codes.length]));
    runs.push(sandbox.runPython('while True: pass', { limits: { wallMs: 200 } }));
    const results = await Promise.all(runs);
    assert.equal(results.filter((r) => r.status === 'ok').length, 150);
    assert.equal(results.at(-1).error.type, 'TimeoutError');
    assert.ok(liveChildren().length > childrenBefore, 'the warm interpreter should be running');
    await sandbox.close();
    assert.equal(liveChildren().length, childrenBefore, `children left: ${liveChildren().join(', ')}`);
    assert.equal(fs.readdirSync('/proc/self/fd').length, fdsBefore);
  });


  it('resolves Cancelled when the signal aborts a running run', async () => {
    const sandbox = new Sandbox();
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const started = Date.now();
      const run = await sandbox.runPython('import time\ntime.sleep(20)', { signal: controller.signal });
      assert.equal(run.status, 'error');
      assert.equal(run.error.type, 'Cancelled');
      assert.ok(Date.now() - started < 5000);
    } finally {
      await sandbox.close();
    }
  });

  it('rejects calls beyond concurrency + maxQueue with ERR_OVERLOADED', async () => {
    const sandbox = new Sandbox({ concurrency: 1, maxQueue: 1 });
    try {
      const runs = [1, 2, 3].map(() => sandbox.runPython('import time\ntime.sleep(0.3)'));
      const settled = await Promise.allSettled(runs);
      const rejected = settled.filter((s) => s.status === 'rejected');
      assert.ok(rejected.length >= 1, 'no call was refused');
      for (const r of rejected) {
        assert.ok(r.reason instanceof PycageError);
        assert.equal(r.reason.code, 'ERR_OVERLOADED');
      }
      assert.ok(settled.some((s) => s.status === 'fulfilled' && s.value.status === 'ok'));
    } finally {
      await sandbox.close();
    }
  });

  it('rejects with ERR_CLOSED after close() and ends runs in flight', async () => {
    const sandbox = new Sandbox();
    // Settle-handlers are attached at once: close() may reject it before we await.
    const inflight = sandbox.runPython('import time\ntime.sleep(20)').then((r) => r, (e) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await sandbox.close();
    const outcome = await inflight;
    // Either a rejection with ERR_CLOSED or a resolved error: never a hang.
    if (outcome instanceof Error) assert.equal(outcome.code, 'ERR_CLOSED');
    else assert.equal(outcome.status, 'error');
    assert.ok(Date.now() - started < 5000);
    await assert.rejects(sandbox.runPython('1'), { code: 'ERR_CLOSED', message: 'This Sandbox is closed' });
  });

  it('close({ drainMs }) lets runs in flight finish while new calls reject with ERR_CLOSED', async () => {
    const sandbox = new Sandbox();
    await sandbox.runPython('1');  // warm
    const inflight = sandbox.runPython('import time\ntime.sleep(0.4)\n"finished"');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = sandbox.close({ drainMs: 10000 });
    await assert.rejects(sandbox.runPython('1'), { code: 'ERR_CLOSED' });
    const run = await inflight;
    assert.deepEqual([run.status, run.result], ['ok', 'finished']);
    await closing;
  });

  it('close({ drainMs }) kills what is still running at the deadline', async () => {
    const sandbox = new Sandbox();
    const inflight = sandbox.runPython('import time\ntime.sleep(30)').then((r) => r, (e) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    await sandbox.close({ drainMs: 300 });
    const outcome = await inflight;
    assert.ok(Date.now() - started >= 250, 'close did not wait for the drain');
    assert.ok(Date.now() - started < 10000);
    if (outcome instanceof Error) assert.equal(outcome.code, 'ERR_CLOSED');
    else assert.equal(outcome.status, 'error');
  });

  it('close() refuses a bad drainMs', async () => {
    const sandbox = new Sandbox();
    await assert.rejects(sandbox.close({ drainMs: -1 }), { code: 'ERR_INVALID_ARGUMENT', message: /drainMs/ });
    await assert.rejects(sandbox.close({ drain: 5 }), { code: 'ERR_INVALID_ARGUMENT', message: /Unknown option 'drain' for close\(\)/ });
    await sandbox.close();
  });

  it('says which run was a cold start and how long it queued, in the result, the run event and metrics()', async () => {
    const sandbox = new Sandbox();
    const events = [];
    sandbox.on('run', (summary) => events.push(summary));
    const first = await sandbox.runPython('1');
    const second = await sandbox.runPython('raise KeyError("k")');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(first.usage.coldStart, true);
    assert.ok(first.usage.queueMs > first.usage.wallMs, JSON.stringify(first.usage));
    assert.equal(second.usage.coldStart, false);
    assert.ok(second.usage.queueMs >= 0 && second.usage.queueMs < first.usage.queueMs, JSON.stringify(second.usage));
    assert.equal(events.length, 2);
    assert.deepEqual({ ...events[1], wallMs: 0, cpuMs: 0, peakMemoryKb: 0, queueMs: 0 }, {
      bundle: null, session: null, tier: sandbox.isolation, status: 'error', errorType: 'KeyError',
      wallMs: 0, cpuMs: 0, peakMemoryKb: 0, queueMs: 0, coldStart: false,
    });
    const metrics = Object.fromEntries(await Promise.all(sandbox.metrics().map(async (m) => [m.name, await m.get()])));
    const runs = metrics.pycage_runs_total.values;
    assert.deepEqual(runs.map((v) => [v.labels.status, v.labels.error_type, v.value]).sort(), [['error', 'KeyError', 1], ['ok', '', 1]]);
    assert.equal(metrics.pycage_cold_starts_total.values[0].value, 1);
    const wallCount = metrics.pycage_run_wall_seconds.values.find((v) => v.metricName === 'pycage_run_wall_seconds_count');
    assert.equal(wallCount.value, 2);
    const inf = metrics.pycage_run_wall_seconds.values.find((v) => v.labels.le === '+Inf');
    assert.equal(inf.value, 2);
    await sandbox.close();
  });

  it('metrics() registers in a real prom-client Registry with no glue, and two Sandboxes share one by prefix', async () => {
    const { Registry } = require('prom-client');
    const a = new Sandbox();
    const b = new Sandbox();
    try {
      await a.runPython('1');
      await a.runPython('raise KeyError("k")');
      await b.runPython('2');
      const registry = new Registry();
      for (const metric of a.metrics()) registry.registerMetric(metric);
      // The same objects again are not a second metric of that name; another
      // Sandbox's are, so it takes a prefix (and may add constant labels).
      for (const metric of a.metrics()) registry.registerMetric(metric);
      assert.throws(() => registry.registerMetric(b.metrics()[0]), /pycage_runs_total has already been registered/);
      for (const metric of b.metrics({ prefix: 'etl_', labels: { app: 'etl' } })) registry.registerMetric(metric);
      const text = await registry.metrics();
      assert.match(text, /^# TYPE pycage_runs_total counter$/m);
      assert.match(text, new RegExp(`^pycage_runs_total\\{tier="${a.isolation}",status="error",error_type="KeyError"\\} 1$`, 'm'));
      assert.match(text, /^pycage_cold_starts_total\{tier="[a-z]+"\} 1$/m);
      assert.match(text, /^# TYPE pycage_run_wall_seconds histogram$/m);
      assert.match(text, /^pycage_run_wall_seconds_bucket\{tier="[a-z]+",le="\+Inf"\} 2$/m);
      assert.match(text, /^pycage_run_wall_seconds_count\{tier="[a-z]+"\} 2$/m);
      assert.match(text, /^etl_pycage_runs_total\{app="etl",tier="[a-z]+",status="ok",error_type=""\} 1$/m);
      assert.match(text, /^etl_pycage_run_peak_memory_bytes_count\{app="etl",tier="[a-z]+"\} 1$/m);
      // resetMetrics() calls reset() on each metric.
      registry.resetMetrics();
      const after = await registry.metrics();
      assert.doesNotMatch(after, /^(etl_)?pycage_runs_total\{/m);
      await a.runPython('3');
      assert.match(await registry.metrics(), /^pycage_runs_total\{tier="[a-z]+",status="ok",error_type=""\} 1$/m);
      assert.throws(() => a.metrics({ prefix: '1x' }), { code: 'ERR_INVALID_ARGUMENT', message: /metrics\(\) prefix/ });
      assert.throws(() => a.metrics({ labels: { tier: 'x' } }), { code: 'ERR_INVALID_ARGUMENT', message: /labels key but received 'tier'/ });
      assert.throws(() => a.metrics({ labels: { app: 1 } }), { code: 'ERR_INVALID_ARGUMENT', message: /labels\.app/ });
      assert.throws(() => a.metrics({ prefx: 'a_' }), { code: 'ERR_INVALID_ARGUMENT', message: /did you mean 'prefix'/ });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('emits restart when a warm interpreter that served runs dies, and runs on', async () => {
    const sandbox = new Sandbox();
    await sandbox.runPython('1');
    // An idle Sandbox does not hold the event loop open: the timer does, meanwhile.
    const restarted = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no restart event within 15 s')), 15000);
      sandbox.once('restart', (info) => { clearTimeout(timer); resolve(info); });
    });
    // The jail helper is this process's child; killing it ends the warm interpreter.
    for (const pid of liveChildren()) {
      try {
        if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('pycage-jail')) process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    const info = await restarted;
    assert.equal(info.installId, null);
    assert.match(info.reason, /killed by signal 9|closed its control channel/);
    assert.equal((await sandbox.runPython('6 * 7')).result, 42);
    const restarts = await sandbox.metrics().find((m) => m.name === 'pycage_interpreter_restarts_total').get();
    assert.equal(restarts.values[0].value, 1);
    await sandbox.close();
  });

  it('reports capabilities() for this host', async () => {
    const sandbox = new Sandbox();
    try {
      const caps = sandbox.capabilities();
      assert.ok(['full', 'reduced'].includes(caps.selected));
      // Under 'auto' the reduced tier is tried only when full fails; the probe still says whether it could run.
      assert.equal(caps.tiers.reduced.available, caps.host.seccomp && caps.host.landlockAbi >= 1);
      assert.equal(caps.tiers.bypass.available, true);
      for (const field of ['userns', 'mountns', 'pidns', 'netns', 'seccomp', 'root']) {
        assert.equal(typeof caps.host[field], 'boolean', field);
      }
      assert.ok(Array.isArray(caps.host.missing));
    } finally {
      await sandbox.close();
    }
  });

  it('lets the process exit while a Sandbox is idle', async () => {
    const { spawnSync } = require('node:child_process');
    const script = `const { Sandbox } = require(${JSON.stringify(require.resolve('../..'))});
      const s = new Sandbox(); s.runPython('1').then((r) => console.log(r.status));`;
    const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000, env: process.env });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout.trim(), 'ok');
  });
});
