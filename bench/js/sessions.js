'use strict';

// A session call against a fresh warm run, measured in the same run so the
// ratio holds on a noisy, shared machine.
//   session call: runPython('n += 1\nn', { session }) on a live session;
//   warm run:     runPython('1 + 1'), a fork of the warm zygote per run.
// Target (issue 4): session call p50 <= 1 ms.
// Usage: node bench/js/sessions.js [--calls N]

const { performance } = require('node:perf_hooks');
const { Sandbox } = require('../..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const CALLS = arg('calls', 2000);

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function timed(fn, n) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return { p50: pct(samples, 50), p99: pct(samples, 99) };
}

async function main() {
  const sandbox = new Sandbox();
  try {
    // Warm both paths and check they work before timing them.
    const first = await sandbox.runPython('n = 0', { session: 'bench' });
    if (first.status !== 'ok') throw new Error(`session is broken: ${JSON.stringify(first.error)}`);
    for (let i = 0; i < 200; i++) await sandbox.runPython('1 + 1');
    const check = await sandbox.runPython('n += 1\nn', { session: 'bench' });
    if (check.result !== 1) throw new Error('session state is broken');

    // Interleaved rounds, so drift in machine load hits both sides alike.
    const session = [];
    const warm = [];
    const rounds = 10;
    for (let r = 0; r < rounds; r++) {
      session.push(await timed(async () => {
        const run = await sandbox.runPython('n += 1\nn', { session: 'bench' });
        if (run.status !== 'ok') throw new Error(JSON.stringify(run.error));
      }, CALLS / rounds));
      warm.push(await timed(() => sandbox.runPython('1 + 1'), CALLS / rounds));
    }
    const med = (list, key) => list.map((x) => x[key]).sort((a, b) => a - b)[Math.floor(list.length / 2)];
    const s50 = med(session, 'p50');
    const w50 = med(warm, 'p50');
    console.log(`isolation: ${sandbox.isolation}, ${CALLS} calls each, median of ${rounds} interleaved rounds`);
    console.log(`session call   p50 ${s50.toFixed(3)} ms  p99 ${med(session, 'p99').toFixed(3)} ms  (target p50 <= 1 ms)`);
    console.log(`fresh warm run p50 ${w50.toFixed(3)} ms  p99 ${med(warm, 'p99').toFixed(3)} ms`);
    console.log(`ratio: a session call takes ${(s50 / w50).toFixed(2)}x the time of a fresh warm run`);
  } finally {
    await sandbox.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
