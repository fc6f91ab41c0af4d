'use strict';

// One run measures, on this machine and at this moment:
//   (0) CPU per warm run, the primary throughput figure: utime + stime of
//       Node (JS and supervisor threads), the zygotes, the spares and the run
//       children they reaped, read from /proc; against the CPU of one cold
//       python3 -I -S -c pass in the same run. Steadier than runs/s on a
//       shared machine, because other tenants' load does not count;
//   (a) warm trivial runPython latency through Node (p50/p99, sequential);
//   (b) cold bwrap + python3 and cold plain python3 spawns, as ratios to (a);
//   (c) runs/s with 2 and 16 concurrent callers;
//   (d) event-loop lag while 100 runs are in flight;
//   (f) the floor: the same interpreter and runner modules forking one
//       pre-forked child per request with no isolation at all
//       (bench/floor/fork_floor.py), its latency and CPU per run, so that
//       pycage's figures read against what fork-per-run itself costs here;
//       and the jailed floor, the same with each fork in a run's own jail
//       (pycage's jail code, nothing else of pycage), so that the jail's
//       cost and pycage's own path read apart.
// Usage: node bench/js/run_latency.js [--warm N] [--cold N]

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');
const { Sandbox } = require('../..');
const { forkFloor, jailedFloor, jailedFloorLibs, summary, verdict } = require('./floor');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const WARM_RUNS = arg('warm', 1000);
const COLD_RUNS = arg('cold', 30);
const PYTHON = process.env.PYCAGE_PYTHON || 'python3';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

// /proc/PID/stat fields after the command name: state is 3, ppid 4, utime 14,
// stime 15, cutime 16, cstime 17 (proc(5)).
function readStat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), self: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;  // exited between readdir and read
  }
}

// CPU ms used so far by this process and every live descendant, including
// the children each of them has reaped (run children exit into the zygote's
// cutime/cstime). Node's own reaped children are counted apart (cold peers).
function treeCpuMs() {
  const stats = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (st) stats.set(Number(name), st);
  }
  const children = new Map();
  for (const [pid, st] of stats) {
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(pid);
  }
  const parts = { node: stats.get(process.pid).self, zygotes: 0, runs: 0 };
  const stack = [...(children.get(process.pid) || [])];
  while (stack.length) {
    const pid = stack.pop();
    const st = stats.get(pid);
    parts.zygotes += st.self;  // helpers, zygotes and live spares
    parts.runs += st.reaped;   // run children, once reaped
    stack.push(...(children.get(pid) || []));
  }
  const ms = (ticks) => (ticks * 1000) / CLK_TCK;
  return { total: ms(parts.node + parts.zygotes + parts.runs), node: ms(parts.node), zygotes: ms(parts.zygotes), runs: ms(parts.runs) };
}

function reapedByNodeMs() {
  return (readStat(process.pid).reaped * 1000) / CLK_TCK;
}

// CPU per run, split by process kind, of `total` runs that work() makes.
async function cpuPerRun(total, work) {
  const before = treeCpuMs();
  const value = await work();
  const after = treeCpuMs();
  const per = (key) => (after[key] - before[key]) / total;
  return { total: per('total'), node: per('node'), zygotes: per('zygotes'), runs: per('runs'), value };
}

function coldCpuPerSpawn(cmd, args, n) {
  const before = reapedByNodeMs();
  for (let i = 0; i < n; i++) spawnSync(cmd, args, { stdio: 'ignore' });
  return (reapedByNodeMs() - before) / n;
}

// Check the output before timing (simdjson's habit): a bench of a broken run
// would measure the wrong thing.
async function checkedRun(sandbox) {
  const run = await sandbox.runPython('1 + 1');
  if (run.status !== 'ok' || run.result !== 2) throw new Error(`warm run is broken: ${JSON.stringify(run.error)}`);
}

function coldSpawn(cmd, args) {
  const samples = [];
  const first = spawnSync(cmd, args, { stdio: 'ignore' });
  if (first.error || first.status !== 0) return { error: first.error ? first.error.message : `exit ${first.status}` };
  for (let i = 0; i < COLD_RUNS; i++) {
    const t = performance.now();
    spawnSync(cmd, args, { stdio: 'ignore' });
    samples.push(performance.now() - t);
  }
  return summary(samples);
}

async function throughput(sandbox, callers, total) {
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: callers }, async () => {
    while (next++ < total) await sandbox.runPython('1 + 1');
  }));
  return total / ((performance.now() - t) / 1000);
}

async function main() {
  const sandbox = new Sandbox({ concurrency: 16, maxQueue: 1000 });
  const tier = sandbox.capabilities().selected;
  try {
    for (let i = 0; i < 50; i++) await checkedRun(sandbox);

    // (a) warm, sequential: back to back, and paced with a 5 ms gap the way
    // workflow nodes arrive (the gap lets the zygote finish its next spare).
    const warmSeries = async (gapMs) => {
      const samples = [];
      for (let i = 0; i < WARM_RUNS; i++) {
        if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
        const t = performance.now();
        await sandbox.runPython('1 + 1');
        samples.push(performance.now() - t);
      }
      return summary(samples);
    };
    // (0) CPU per run of one caller, over this very back-to-back series
    const cpuSeq = await cpuPerRun(WARM_RUNS, () => warmSeries(0));
    const w = cpuSeq.value;
    const paced = await warmSeries(5);

    // (b) cold peers, same interpreter
    const real = spawnSync(PYTHON, ['-I', '-S', '-c', 'import sys;print(sys.executable)'], { encoding: 'utf8' });
    const python = real.status === 0 ? real.stdout.trim() : PYTHON;
    const bwrap = coldSpawn('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc',
      '--unshare-all', '--die-with-parent', python, '-c', 'pass']);
    const plain = coldSpawn(python, ['-I', '-S', '-c', 'pass']);

    // (0) CPU per run; the cold peer's CPU over the same count of spawns
    const cpu16 = await cpuPerRun(2000, () => throughput(sandbox, 16, 2000));
    const coldCpu = plain.error ? null : coldCpuPerSpawn(python, ['-I', '-S', '-c', 'pass'], 200);
    // Each series in a floor process of its own, so the back-to-back one's
    // CPU is its own (waking from idle between paced runs costs more).
    const floor = await forkFloor(python, [0], { runs: WARM_RUNS });
    const [floorBack] = floor.series;
    const [floorPaced] = (await forkFloor(python, [5], { runs: WARM_RUNS })).series;
    // The same with each fork in a run's own jail, built by pycage's code.
    const jail = jailedFloorLibs();
    const jailedBackRun = await jailedFloor(python, [0], { runs: WARM_RUNS }, jail);
    const jailedPacedRun = jailedBackRun && await jailedFloor(python, [5], { runs: WARM_RUNS }, jail);
    const jailed = jailedPacedRun ? jailedBackRun : null;  // both series, or neither
    const jailedBack = jailed && jailed.series[0];
    const jailedPaced = jailed && jailedPacedRun.series[0];

    // (c) throughput
    const rps2 = await throughput(sandbox, 2, 2000);
    const rps16 = await throughput(sandbox, 16, 4000);

    // (d) event-loop lag with 100 runs in flight
    const lag = monitorEventLoopDelay({ resolution: 1 });
    lag.enable();
    const t = performance.now();
    const burst = await Promise.all(Array.from({ length: 100 }, () => sandbox.runPython('sum(range(10000))')));
    const burstMs = performance.now() - t;
    lag.disable();
    const failed = burst.filter((r) => r.status !== 'ok').length;

    const fmt = (x) => (typeof x === 'number' ? x.toFixed(3) : String(x));
    const rows = [
      ['measure', 'n', 'p50 ms', 'p99 ms', 'p50 ratio to warm'],
      [`warm runPython (${tier}), back to back`, w.n, fmt(w.p50), fmt(w.p99), '1.0x'],
      [`warm runPython (${tier}), 5 ms apart`, paced.n, fmt(paced.p50), fmt(paced.p99), `${(paced.p50 / w.p50).toFixed(2)}x`],
      bwrap.error ? ['cold bwrap + python3', 0, `unavailable: ${bwrap.error}`, '', '']
        : ['cold bwrap + python3 -c pass', bwrap.n, fmt(bwrap.p50), fmt(bwrap.p99), `${(bwrap.p50 / w.p50).toFixed(1)}x`],
      plain.error ? ['cold python3 -I -S', 0, `unavailable: ${plain.error}`, '', '']
        : ['cold python3 -I -S -c pass', plain.n, fmt(plain.p50), fmt(plain.p99), `${(plain.p50 / w.p50).toFixed(1)}x`],
      ['floor: bare fork per run, back to back', floorBack.n, fmt(floorBack.p50), fmt(floorBack.p99), `${(floorBack.p50 / w.p50).toFixed(2)}x`],
      ['floor: bare fork per run, 5 ms apart', floorPaced.n, fmt(floorPaced.p50), fmt(floorPaced.p99), `${(floorPaced.p50 / w.p50).toFixed(2)}x`],
      ...(jailed === null ? [['jailed floor', 0, `not measured: ${jail.unavailable}`, '', '']] : [
        ['jailed floor: a run\'s jail per fork, back to back', jailedBack.n, fmt(jailedBack.p50), fmt(jailedBack.p99),
          `${(jailedBack.p50 / w.p50).toFixed(2)}x`],
        ['jailed floor: a run\'s jail per fork, 5 ms apart', jailedPaced.n, fmt(jailedPaced.p50), fmt(jailedPaced.p99),
          `${(jailedPaced.p50 / w.p50).toFixed(2)}x`],
      ]),
    ];
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
    console.log(`python: ${python}`);
    const split = (c) => `${c.total.toFixed(2)} ms (Node ${c.node.toFixed(2)}, zygotes and spares ${c.zygotes.toFixed(2)}, ` +
      `run children ${c.runs.toFixed(2)})`;
    console.log(`CPU per warm run (/proc, ${CLK_TCK} Hz ticks): one caller ${split(cpuSeq)}; 16 callers ${split(cpu16)}`);
    if (coldCpu !== null) {
      console.log(`CPU of one cold python3 -I -S -c pass: ${coldCpu.toFixed(2)} ms, ${(coldCpu / cpuSeq.total).toFixed(1)}x a warm run`);
    }
    console.log(`CPU per run of the floor (no isolation, same interpreter and modules): ${floor.cpu.total.toFixed(2)} ms ` +
      `(Node ${floor.cpu.node.toFixed(2)}, python ${floor.cpu.python.toFixed(2)}); pycage, one caller, is ` +
      `${(cpuSeq.total / floor.cpu.total).toFixed(2)}x that`);
    if (jailed !== null) {
      console.log(`CPU per run of the jailed floor (the same, each fork in a run's own jail): ${jailed.cpu.total.toFixed(2)} ms ` +
        `(Node ${jailed.cpu.node.toFixed(2)}, python, its init and fork server ${jailed.cpu.python.toFixed(2)}); the jail adds ` +
        `${(jailed.cpu.total - floor.cpu.total).toFixed(2)} ms, pycage's own path ${(cpuSeq.total - jailed.cpu.total).toFixed(2)} ms`);
    }
    for (const r of rows) console.log(r.map((v, c) => String(v).padEnd(widths[c])).join('  '));
    console.log('');
    console.log(`throughput, 2 callers:   ${rps2.toFixed(0)} runs/s`);
    console.log(`throughput, 16 callers:  ${rps16.toFixed(0)} runs/s`);
    console.log(`100 concurrent runs:     ${burstMs.toFixed(1)} ms total, ${failed} failed; ` +
      `event-loop lag max ${(lag.max / 1e6).toFixed(2)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(2)} ms`);
    // The run path's targets, each beside the floor measured in this run.
    // The jailed floor's verdict input and its figure beside the floor's,
    // each asked only when it was measured.
    const jailedOk = (test) => (jailed === null ? undefined : test());
    const andJailed = (show) => (jailed === null ? '' : `, jailed floor ${show()}`);
    console.log(`target, back to back p50 <= 1.5 ms: ${verdict(w.p50 <= 1.5, floorBack.p50 <= 1.5, jailedOk(() => jailedBack.p50 <= 1.5))} ` +
      `(${w.p50.toFixed(2)}; floor ${floorBack.p50.toFixed(2)}${andJailed(() => jailedBack.p50.toFixed(2))})`);
    // One caller back to back is a closed loop: every run's CPU (its
    // child's exit and the next spare included) is spent between two
    // replies, so the mean latency cannot fall below CPU per run / cores.
    // How busy the cores were in that series says how close to it we are.
    const cores = os.availableParallelism();
    const busy = (cpu, mean) => `${((100 * cpu) / (mean * cores)).toFixed(0)}%`;
    console.log(`  back to back is CPU-bound: ${cpuSeq.total.toFixed(2)} ms of CPU per run over a mean of ` +
      `${w.mean.toFixed(2)} ms kept the ${cores} cores ${busy(cpuSeq.total, w.mean)} busy (floor: ${floor.cpu.total.toFixed(2)} ` +
      `over ${floorBack.mean.toFixed(2)}, ${busy(floor.cpu.total, floorBack.mean)}` +
      `${andJailed(() => `${jailed.cpu.total.toFixed(2)} over ${jailedBack.mean.toFixed(2)}, ${busy(jailed.cpu.total, jailedBack.mean)}`)}); a 1.5 ms mean needs <= ` +
      `${(1.5 * cores).toFixed(1)} ms of CPU per run`);
    console.log(`target, back to back p99 <= 5 ms:   ${verdict(w.p99 <= 5, floorBack.p99 <= 5, jailedOk(() => jailedBack.p99 <= 5))} ` +
      `(${w.p99.toFixed(2)}; floor ${floorBack.p99.toFixed(2)}${andJailed(() => jailedBack.p99.toFixed(2))})`);
    console.log(`target, CPU per run <= 3 ms:        ${verdict(cpuSeq.total <= 3, floor.cpu.total <= 3, jailedOk(() => jailed.cpu.total <= 3))} ` +
      `(${cpuSeq.total.toFixed(2)}; floor ${floor.cpu.total.toFixed(2)}${andJailed(() => jailed.cpu.total.toFixed(2))})`);
    console.log(`target, >= 600 runs/s, 16 callers:  ${verdict(rps16 >= 600, 2000 / floor.cpu.total >= 600)} (${rps16.toFixed(0)}; the floor's CPU allows ` +
      `at most ${(2000 / floor.cpu.total).toFixed(0)} on 2 cores)`);
    // Each cold spawn runs alone, so both readings are printed: one run on
    // an idle pool (paced) and a closed loop that also pays every run's
    // refill (back to back), each beside the floor's own ratio.
    if (bwrap.error) {
      console.log(`target, >= 20x cold bwrap:          n/a (${bwrap.error})`);
    } else {
      const ratio = (ms) => (bwrap.p50 / ms).toFixed(1);
      const reaches = (ms) => bwrap.p50 / ms >= 20;
      console.log(`target, >= 20x cold bwrap:          ` +
        `${verdict(reaches(w.p50), reaches(floorBack.p50), jailedOk(() => reaches(jailedBack.p50)))} ` +
        `back to back (${ratio(w.p50)}x; floor ${ratio(floorBack.p50)}x${andJailed(() => `${ratio(jailedBack.p50)}x`)}), ` +
        `${verdict(reaches(paced.p50), reaches(floorPaced.p50), jailedOk(() => reaches(jailedPaced.p50)))} paced ` +
        `(${ratio(paced.p50)}x; floor ${ratio(floorPaced.p50)}x${andJailed(() => `${ratio(jailedPaced.p50)}x`)})`);
    }
  } finally {
    await sandbox.close();
  }
}

main().catch((err) => {
  console.error(err.code ? `${err.code}: ${err.message}` : err);
  process.exitCode = 1;
});
