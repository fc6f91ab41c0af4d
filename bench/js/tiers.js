'use strict';

// The warm-run p50 of each jail tier this host allows, against cold bwrap +
// python3 and cold python3, all in one run (this machine is shared: only
// ratios measured together mean anything). Tiers alternate in rounds so a
// burst of load on the host hits them alike.
// Usage: node bench/js/tiers.js [--runs N] [--rounds R] [--cold N]

const { spawnSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { Sandbox } = require('../..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const RUNS = arg('runs', 200);
const ROUNDS = arg('rounds', 5);
const COLD = arg('cold', 20);
const PYTHON = process.env.PYCAGE_PYTHON || 'python3';

const p50 = (samples) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)];

function cold(cmd, args) {
  const samples = [];
  for (let i = 0; i < COLD; i++) {
    const t = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.error || r.status !== 0) return null;
    samples.push(performance.now() - t);
  }
  return p50(samples);
}

async function main() {
  const tiers = [];
  for (const isolation of ['full', 'reduced']) {
    try {
      const sandbox = await Sandbox.create({ isolation });
      for (let i = 0; i < 30; i++) await sandbox.runPython('1 + 1');
      tiers.push({ isolation, sandbox, samples: [] });
    } catch (err) {
      console.log(`${isolation}: unavailable here (${err.code})`);
    }
  }
  const bwrapArgs = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-all', '--die-with-parent',
    PYTHON, '-c', 'pass'];
  const coldBwrap = [];
  const coldPython = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const tier of tiers) {
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        const run = await tier.sandbox.runPython('1 + 1');
        tier.samples.push(performance.now() - t);
        if (run.isolation !== tier.isolation || run.result !== 2) throw new Error(`${tier.isolation}: a broken run`);
      }
    }
    const b = cold('bwrap', bwrapArgs);
    if (b !== null) coldBwrap.push(b);
    coldPython.push(cold(PYTHON, ['-I', '-S', '-c', 'pass']));
  }
  const bwrap = coldBwrap.length ? p50(coldBwrap) : null;
  const python = p50(coldPython);
  console.log(`runs per tier: ${RUNS * ROUNDS} in ${ROUNDS} alternating rounds; python: ${PYTHON}`);
  console.log(`cold bwrap + python3 -c pass: p50 ${bwrap === null ? 'unavailable' : `${bwrap.toFixed(2)} ms`}`);
  console.log(`cold python3 -I -S -c pass:   p50 ${python.toFixed(2)} ms`);
  for (const tier of tiers) {
    const warm = p50(tier.samples);
    console.log(`warm runPython, ${tier.isolation.padEnd(7)} p50 ${warm.toFixed(2)} ms: ` +
      `${bwrap === null ? 'n/a' : `${(bwrap / warm).toFixed(1)}x`} faster than cold bwrap, ` +
      `${(python / warm).toFixed(1)}x faster than cold python3`);
    await tier.sandbox.close();
  }
  if (tiers.length === 2) {
    console.log(`reduced / full warm p50: ${(p50(tiers[1].samples) / p50(tiers[0].samples)).toFixed(2)}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
