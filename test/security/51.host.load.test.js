'use strict';

// The host under hostile load: many infinite loops at once, and floods of
// runs that fail fast. Node's event loop must stay responsive, every run
// must settle with its own error, and nothing may leak.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { skipWithoutAddon, fullSandbox } = require('./common');

function openFds() {
  return fs.readdirSync('/proc/self/fd').length;
}

function childCount() {
  let n = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/stat`, 'latin1').split(') ')[1].split(' ')[1] === String(process.pid)) n++;
    } catch { /* gone */ }
  }
  return n;
}

describe('security: the host under load', { skip: skipWithoutAddon }, () => {
  it('times out 100 concurrent infinite loops while the event loop stays responsive', async (t) => {
    const sandbox = fullSandbox({ concurrency: 16, maxQueue: 200 });
    t.after(() => sandbox.close());
    await sandbox.runPython('1');
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 20);
    const started = Date.now();
    const runs = await Promise.all(Array.from({ length: 100 }, () =>
      sandbox.runPython('while True:\n    pass', { limits: { wallMs: 300 } })));
    const elapsed = Date.now() - started;
    clearInterval(timer);
    lag.disable();
    const types = runs.map((r) => r.error && r.error.type);
    assert.deepEqual([...new Set(types)], ['TimeoutError']);
    // 100 runs of 300 ms, 16 at a time: about 7 rounds.
    assert.ok(elapsed < 20000, `took ${elapsed} ms`);
    assert.ok(ticks >= elapsed / 20 / 3, `only ${ticks} timer ticks in ${elapsed} ms`);
    assert.ok(lag.max / 1e6 < 250, `event loop lag reached ${lag.max / 1e6} ms`);
    const after = await sandbox.runPython('"still serving"');
    assert.equal(after.result, 'still serving');
  });

  it('settles 10,000 runs that fail before a jail and 500 that fail inside one, leaking nothing', async (t) => {
    const sandbox = fullSandbox({ concurrency: 4, maxQueue: 20000 });
    t.after(() => sandbox.close());
    // Four runs at once: in the reduced tier as host root each concurrent
    // run has a warm interpreter of its own (SECURITY.md), so all four are
    // started before the counts are taken.
    await Promise.all(Array.from({ length: 4 }, () => sandbox.runPython('import time\ntime.sleep(1)')));
    const fdsBefore = openFds();
    const childrenBefore = childCount();

    // Before a jail: an unknown bundle, and a limit above the ceiling.
    const early = await Promise.all(Array.from({ length: 10000 }, (_, i) =>
      (i % 2 ? sandbox.runPython('1', { bundle: `missing-${i}` }) : sandbox.runPython('1', { limits: { wallMs: 10 ** 9 } }))
        .then(() => 'resolved', (err) => err.code)));
    assert.deepEqual([...new Set(early)].sort(), ['ERR_BUNDLE_NOT_READY', 'ERR_INVALID_ARGUMENT']);

    // Inside a jail: exceptions, a killed interpreter, a forbidden syscall, an early exit.
    const codes = [
      ['raise ValueError("boom")', 'ValueError'],
      ['import ctypes\nctypes.string_at(0)', 'Crashed'],
      ['import ctypes\nctypes.CDLL(None).syscall(321, 0, 0, 0)', 'SandboxViolation'],
      ['import os\nos._exit(7)', 'Crashed'],
      ['1/0', 'ZeroDivisionError'],
    ];
    const late = await Promise.all(Array.from({ length: 500 }, (_, i) => sandbox.runPython(codes[i % codes.length][0])));
    late.forEach((run, i) => assert.equal(run.error && run.error.type, codes[i % codes.length][1], `run ${i}`));

    const next = await sandbox.runPython('6 * 7');
    assert.equal(next.result, 42);
    // The warm interpreters may have been replaced, not multiplied.
    assert.ok(childCount() <= childrenBefore, `children: ${childrenBefore} -> ${childCount()}`);
    // A resolved run's three fds close a moment later, with its exit report.
    for (let i = 0; i < 40 && openFds() > fdsBefore + 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(openFds() <= fdsBefore + 2, `fds: ${fdsBefore} -> ${openFds()}`);
  });
});
