'use strict';

// Adaptive preload, measured in one run (section (e) of bundles.js):
// three nodes, each in a bundle of its own, run
//   - before learning (preload.learn false: the warm interpreter has the
//     bundle's top-level modules only),
//   - after learning (the pool swapped in a warm interpreter that preloads
//     what the node's runs imported),
// against a cold `python3` running the same node with the bundle on sys.path,
// and a cold bwrap jail per run (the nsjail-style peer) where bwrap exists.
// Wall time per run (p50, p99), back to back and with 5 ms between runs, the
// run's CPU, and its private memory (Private_Dirty, and Private_Clean +
// Private_Dirty, from the host's /proc/<pid>/smaps_rollup of runs that hold
// still after the node, four at a time). Beside them, the floor of any warm
// fork-per-run design here (floor.js): the same node forked per request with
// no isolation from a parent that ran it once, and the same with each fork
// in a run's own jail (the jailed floor), and each issue target against
// all three.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { Sandbox } = require('../..');
const { benchDataDir, forkFloor, jailedFloor, jailedFloorLibs, verdict } = require('./floor');

const RUNS = 200;
const COLD_RUNS = 10;

const NODES = [
  {
    name: 'numpy mean + percentile', requirements: 'numpy\n',
    code: 'import numpy as np\nx = np.arange(1000, dtype=float)\n[float(np.mean(x)), float(np.percentile(x, 90))]',
    check: (run) => run.result && run.result[1] === 899.1,
    floorCheck: (result) => Array.isArray(result) && result[1] === 899.1,
    targets: { p50Ms: 3, coldRatio: 40, memoryKb: 3072 },
  },
  {
    name: 'pandas groupby', requirements: 'pandas\n',
    code: "import pandas as pd\ndf = pd.DataFrame({'k': ['a', 'b', 'a', 'c'] * 25, 'v': range(100)})\n" +
      "df.groupby('k')['v'].sum().to_dict()",
    check: (run) => run.result && run.result.a === 2450,
    floorCheck: (result) => result !== null && result.a === 2450,
    targets: {},
  },
  {
    name: 'matplotlib plot, one PNG', requirements: 'matplotlib\n',
    code: 'import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(4, 3))\nax.plot([1, 2, 3], [4, 1, 5])\nNone',
    check: (run) => run.figures.length === 1 && run.figures[0].type === 'image/png',
    // The cold peer does the same work: draw and encode one PNG.
    coldTail: '\nimport io\nfig.savefig(io.BytesIO(), format="png")',
    floorCheck: (result) => result === null,
    targets: { p50Ms: 30 },
  },
];

// Appended to a node for the memory sample: it holds a marked file open and
// waits, so the host can find the run among the processes and read its
// private pages while it is still alive, as a concurrent run would sit. The
// mark is a bare descriptor: a Python file object (its buffer, text layer and
// codec) added 24-36 KiB of its own to every sample.
const HOLD = '\nimport os as _os, time as _t\n' +
  '_mark = _os.open("/tmp/pycage-bench-memory-mark", _os.O_WRONLY | _os.O_CREAT, 0o600)\n_t.sleep(0.8)\nNone';
const CONCURRENT = 4;

function percentile(samples, p) {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}
const median = (samples) => percentile(samples, 0.5);
const ms = (x) => `${x.toFixed(2)} ms`;
const sleep = (t) => new Promise((resolve) => setTimeout(resolve, t));

// Back to back and 5 ms apart, before and after learning, in alternating
// blocks so that drift on a shared machine hits both alike.
async function block(sandbox, bundle, node, gapMs, count, sink) {
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const run = await sandbox.runPython(node.code, { bundle });
    sink.wall.push(performance.now() - t);
    sink.cpu.push(run.usage.cpuMs);
    if (run.status !== 'ok' || !node.check(run)) throw new Error(`${node.name}: ${JSON.stringify(run.error || run.result)}`);
    if (gapMs) await sleep(gapMs);
  }
}

function summary(sink) {
  return { p50: median(sink.wall), p99: percentile(sink.wall, 0.99), cpuMs: median(sink.cpu) };
}

// Host pids whose open files include the mark.
function markedPids() {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      for (const fd of fs.readdirSync(`/proc/${entry}/fd`)) {
        if (fs.readlinkSync(`/proc/${entry}/fd/${fd}`).endsWith('pycage-bench-memory-mark')) {
          found.push(Number(entry));
          break;
        }
      }
    } catch { /* gone, or not ours to read */ }
  }
  return found;
}

function privateKb(pid) {
  const out = { dirty: 0, clean: 0 };
  for (const line of fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const [key, value] = line.split(/\s+/);
    if (key === 'Private_Dirty:') out.dirty = Number(value);
    if (key === 'Private_Clean:') out.clean = Number(value);
  }
  return out;
}

// Private memory per concurrent run: CONCURRENT runs of the node that then
// hold still, read from the host while all are alive (median over rounds).
async function privateMemory(sandbox, bundle, code) {
  const dirty = [];
  const total = [];
  for (let round = 0; round < 5; round++) {
    const runs = Array.from({ length: CONCURRENT }, () => sandbox.runPython(code + HOLD, { bundle }));
    let pids = [];
    const deadline = Date.now() + 5000;
    while (pids.length < CONCURRENT && Date.now() < deadline) {
      await sleep(20);
      pids = markedPids();
    }
    await sleep(50);
    for (const pid of pids) {
      try {
        const kb = privateKb(pid);
        dirty.push(kb.dirty);
        total.push(kb.dirty + kb.clean);
      } catch { /* it ended meanwhile */ }
    }
    for (const run of await Promise.all(runs)) {
      if (run.status !== 'ok') throw new Error(`memory sample: ${JSON.stringify(run.error)}`);
    }
  }
  return { dirtyKb: median(dirty), totalKb: median(total) };
}

async function measure(sides, bundle, node) {
  const sinks = sides.map(() => ({ back: { wall: [], cpu: [] }, paced: { wall: [], cpu: [] } }));
  for (const sandbox of sides) for (let i = 0; i < 20; i++) await sandbox.runPython(node.code, { bundle });
  const ROUNDS = 4;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, sandbox] of sides.entries()) {
      await block(sandbox, bundle, node, 0, RUNS / ROUNDS, sinks[i].back);
      await block(sandbox, bundle, node, 5, RUNS / ROUNDS / 2, sinks[i].paced);
    }
  }
  const out = [];
  for (const [i, sandbox] of sides.entries()) {
    out.push({ backToBack: summary(sinks[i].back), paced: summary(sinks[i].paced),
      memory: await privateMemory(sandbox, bundle, node.code), trivialMemory: await privateMemory(sandbox, bundle, '1') });
  }
  return out;
}

function coldSamples(cmd, args) {
  const first = spawnSync(cmd, args, { stdio: 'ignore', env: { OPENBLAS_NUM_THREADS: '1', MPLBACKEND: 'Agg' } });
  if (first.error || first.status !== 0) return null;
  const samples = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    const t = performance.now();
    spawnSync(cmd, args, { stdio: 'ignore', env: { OPENBLAS_NUM_THREADS: '1', MPLBACKEND: 'Agg' } });
    samples.push(performance.now() - t);
  }
  return median(samples);
}

function onPath(name) {
  return (process.env.PATH || '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, name)));
}

// Resolves once the bundle's pool has swapped in a learned warm interpreter.
// (Bundles are learned one at a time, so the next report is this one's.)
async function learn(sandbox, bundle, node, logs) {
  logs.length = 0;
  // A node that imports nothing its warm interpreter lacks has nothing to learn.
  const probe = await sandbox.runPython(`import sys as _s\n_before = set(_s.modules)\n${node.code}\n` +
    'len(set(_s.modules) - _before)', { bundle });
  if (probe.status !== 'ok') throw new Error(`${node.name}: ${JSON.stringify(probe.error)}`);
  if (probe.result === 0) return 0;
  for (let i = 0; i < 5; i++) await sandbox.runPython(node.code, { bundle });
  const deadline = Date.now() + 120000;
  const reported = () => logs.find((e) => e.message.includes('pycage-zygote: preload-report'));
  while (!reported() && Date.now() < deadline) await sleep(20);
  const line = reported();
  if (!line) throw new Error(`${node.name}: the pool never learned`);
  await sleep(200);
  return JSON.parse(line.message.slice(line.message.indexOf('{'))).loaded.length;
}

// Each target of the node against the learned run and the floor.
function targetLines(targets, r) {
  const a = r.after;
  const f = r.floor;
  const j = r.jailedFloor;
  const lines = [];
  // The verdict of one series (backToBack or paced) given whether a p50 meets
  // the target, and the floors' p50s in brackets.
  const judged = (series, meets, show) => {
    const jailedOk = j === null ? undefined : meets(j[series].p50);
    return `${verdict(meets(a[series].p50), meets(f[series].p50), jailedOk)} ${series === 'paced' ? 'paced' : 'back to back'} ` +
      `(${show(a[series].p50)}; floor ${show(f[series].p50)}${j === null ? '' : `, jailed floor ${show(j[series].p50)}`})`;
  };
  if (targets.p50Ms !== undefined) {
    const under = (runMs) => runMs <= targets.p50Ms;
    lines.push(`p50 <= ${targets.p50Ms} ms: ${judged('backToBack', under, ms)}, ${judged('paced', under, ms)}`);
  }
  if (targets.coldRatio !== undefined && r.coldPythonMs !== null) {
    const times = (runMs) => r.coldPythonMs / runMs;
    const reaches = (runMs) => times(runMs) >= targets.coldRatio;
    const show = (runMs) => `${times(runMs).toFixed(1)}x`;
    lines.push(`>= ${targets.coldRatio}x cold python3: ${judged('backToBack', reaches, show)}, ${judged('paced', reaches, show)}`);
  }
  if (targets.memoryKb !== undefined) {
    // No floor here: the floor's children are not sampled.
    lines.push(`private memory per concurrent run <= ${targets.memoryKb} KiB (clean + dirty): ` +
      `${verdict(a.memory.totalKb <= targets.memoryKb, true)} (${a.memory.totalKb} KiB)`);
  }
  return lines;
}

async function benchLearning(indexUrl) {
  const jail = jailedFloorLibs();
  const dataDir = benchDataDir('pycage-bench-learning-', jail);
  const python = process.env.PYCAGE_PYTHON || 'python3';
  const out = [];
  // Two Sandboxes on one data directory: one never learns, one has learned.
  const before = new Sandbox({ dataDir, index: { url: indexUrl }, installer: { tool: 'pip' }, preload: { learn: false } });
  const after = new Sandbox({ dataDir, index: { url: indexUrl }, preload: { minRuns: 3, idleMs: 100 } });
  const logs = [];
  after.on('log', (e) => logs.push(e));
  const results = new Map();
  try {
    for (const [i, node] of NODES.entries()) {
      for (const sandbox of [before, after]) {  // the second is a cache hit
        const status = await sandbox.install(`b${i}`, node.requirements);
        if (status.status !== 'ready') throw new Error(`${node.name}: install failed: ${status.error}`);
      }
    }
    for (const [i, node] of NODES.entries()) {
      const learned = await learn(after, `b${i}`, node, logs);
      const [b, a] = await measure([before, after], `b${i}`, node);
      results.set(node, { learned, before: b, after: a });
    }
    const installs = path.join(dataDir, 'bundles', 'installs');
    for (const node of NODES) {
      // The install whose site holds the node's package and neither of the
      // other two nodes' (numpy is a dependency of both others).
      const top = node.requirements.trim();
      const others = NODES.map((n) => n.requirements.trim()).filter((name) => name !== top && name !== 'numpy');
      const site = fs.readdirSync(installs).map((id) => path.join(installs, id, 'site'))
        .find((dir) => fs.existsSync(path.join(dir, top)) && others.every((name) => !fs.existsSync(path.join(dir, name))));
      const script = `import sys; sys.path.insert(0, ${JSON.stringify(site)})\n${node.code}${node.coldTail || ''}`;
      const r = results.get(node);
      r.coldPythonMs = coldSamples(python, ['-I', '-c', script]);
      r.coldBwrapMs = onPath('bwrap') ? coldSamples('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc',
        '--tmpfs', '/tmp', '--unshare-all', '--die-with-parent', python, '-I', '-c', script]) : null;
      const floorOptions = {
        code: `${node.code}${node.coldTail || ''}`, check: node.floorCheck, runs: RUNS, site, warm: true,
        env: { OPENBLAS_NUM_THREADS: '1', MPLBACKEND: 'Agg' },
      };
      const floor = await forkFloor(python, [0, 5], floorOptions);
      r.floor = { backToBack: floor.series[0], paced: floor.series[1], cpuMs: floor.cpu.total };
      const jailed = await jailedFloor(python, [0, 5], floorOptions, jail);
      r.jailedFloor = jailed && { backToBack: jailed.series[0], paced: jailed.series[1], cpuMs: jailed.cpu.total };
    }
  } finally {
    await before.close();
    await after.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(`(e) adaptive preload, ${RUNS} back-to-back and ${RUNS / 2} paced runs per side, alternating blocks; ` +
    `nsjail ${onPath('nsjail') ? 'present but not run' : 'not installed'}, bwrap stands for a cold jail per run`);
  for (const node of NODES) {
    const r = results.get(node);
    const b = r.before;
    const a = r.after;
    const ratio = (x) => (x === null ? 'n/a' : `${(x / a.backToBack.p50).toFixed(1)}x`);
    const pacedRatio = (x) => (x === null ? 'n/a' : `${(x / a.paced.p50).toFixed(1)}x`);
    console.log(`  ${node.name} (${r.learned} modules learned)`);
    console.log(`    back to back p50/p99: before ${ms(b.backToBack.p50)}/${ms(b.backToBack.p99)}, ` +
      `after ${ms(a.backToBack.p50)}/${ms(a.backToBack.p99)} (${(b.backToBack.p50 / a.backToBack.p50).toFixed(2)}x)`);
    console.log(`    5 ms apart p50: before ${ms(b.paced.p50)}, after ${ms(a.paced.p50)}; ` +
      `run CPU p50: before ${ms(b.backToBack.cpuMs)}, after ${ms(a.backToBack.cpuMs)}`);
    console.log(`    private memory per concurrent run (dirty / all): before ${b.memory.dirtyKb}/${b.memory.totalKb} KiB, ` +
      `after ${a.memory.dirtyKb}/${a.memory.totalKb} KiB (a trivial run: ${a.trivialMemory.dirtyKb}/${a.trivialMemory.totalKb} KiB)`);
    console.log(`    cold python3 ${r.coldPythonMs === null ? 'failed' : ms(r.coldPythonMs)} ` +
      `(${ratio(r.coldPythonMs)} the learned run back to back, ${pacedRatio(r.coldPythonMs)} paced), ` +
      `cold bwrap ${r.coldBwrapMs === null ? 'n/a' : ms(r.coldBwrapMs)} (${ratio(r.coldBwrapMs)}, ${pacedRatio(r.coldBwrapMs)})`);
    const f = r.floor;
    console.log(`    floor (fork per run, no isolation, the node run once in the parent first): back to back p50/p99 ` +
      `${ms(f.backToBack.p50)}/${ms(f.backToBack.p99)}, 5 ms apart p50 ${ms(f.paced.p50)}, CPU per run ${ms(f.cpuMs)} ` +
      `(Node and every python process)`);
    const j = r.jailedFloor;
    console.log(j === null ? `    jailed floor: not measured (${jail.unavailable})` :
      '    jailed floor (the same, each fork in a run\'s own jail, from pycage\'s jail code): back to back p50/p99 ' +
      `${ms(j.backToBack.p50)}/${ms(j.backToBack.p99)}, 5 ms apart p50 ${ms(j.paced.p50)}, CPU per run ${ms(j.cpuMs)}`);
    for (const line of targetLines(node.targets, r)) console.log(`    target, ${line}`);
    out.push({ node: node.name, ...r });
  }
  return out;
}

module.exports = { benchLearning, privateMemory };
