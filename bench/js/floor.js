'use strict';

// The floor of a warm fork-per-run design on this machine
// (bench/floor/fork_floor.py): one pre-forked child per request, no
// isolation, protocol or supervisor. Requests go one line at a time over the
// child's stdin; its CPU (the parent and every reaped spare) comes back on
// stderr at EOF. run_latency.js measures it with the trivial node, and
// learning.js with each bundle's node, beside pycage in the same run. The
// jailed floor (option jail) is the same with each fork in a full-tier
// run's own jail, built by pycage's code: what it adds to the floor is the
// jail's cost, what pycage adds to it is pycage's own.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');

const SCRIPT = path.join(__dirname, '..', 'floor', 'fork_floor.py');
const ROOT = path.join(__dirname, '..', '..');
// The jailed floor's native half, built by the native build with benchmarks
// on (bench/native/floor_jail.cc).
const FLOOR_JAIL_LIB = path.join(ROOT, 'build-native', 'bench', 'native', 'libpycage_floor_jail.so');

// A benchmark's data directory. With a jailed floor (jail from
// jailedFloorLibs()), outside /tmp and readable by run uids: the floor's
// forks mount a /tmp of their own and import the bundles from there.
function benchDataDir(prefix, jail) {
  if (!jail || jail.unavailable) return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dir = fs.mkdtempSync(path.join('/var/tmp', prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

// What a jailed floor's fork reports of itself before it is timed.
const JAIL_PROBE = 'import os\nstatus = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() ' +
  'if ":\\t" in l)\n{"pid": os.getpid(), "uid": os.getuid(), "capEff": status["CapEff"], ' +
  '"seccompFilters": status.get("Seccomp_filters")}';

// The libraries for a jailed floor (fork_floor.py --jail): { floorLib,
// confineLib }, or { unavailable: why }. It needs root (its init maps run
// uids as a full-tier jail's init does) and the native benchmark build.
function jailedFloorLibs() {
  if (process.geteuid() !== 0) return { unavailable: 'needs root, as the full tier\'s uid map does' };
  if (!fs.existsSync(FLOOR_JAIL_LIB)) {
    return { unavailable: `${path.relative(ROOT, FLOOR_JAIL_LIB)} is not built (cmake -S . -B build-native ` +
      '-DPYCAGE_BUILD_BENCH=ON && cmake --build build-native --target pycage_floor_jail)' };
  }
  const { helperPath } = require('../../js/native');
  return { floorLib: FLOOR_JAIL_LIB, confineLib: path.join(path.dirname(helperPath()), 'pycage-confine.so') };
}

// n, p50, p99, min and mean of latency samples (ms).
function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: at(0.5), p99: at(0.99), min: s[0], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

// Series of `runs` requests, one per gap in gapsMs (0: back to back), after
// 50 unmeasured ones. options: code (the node; default '1 + 1'), check(result)
// (default: 2), site (a bundle's package tree), warm (true: run the node once
// in the parent before it forks; a string: run that code there instead, such
// as an import), env (the child's environment), jail (jailedFloorLibs()'s
// libraries: each fork gets a full-tier run's own jail).
async function forkFloor(interpreter, gapsMs, options = {}) {
  const { code = '1 + 1', check = (result) => result === 2, runs = 1000, site = null, warm = false, env, jail } = options;
  const args = ['-I', '-S', SCRIPT];
  if (site) args.push('--site', site);
  if (jail) args.push('--jail', jail.floorLib, '--confine', jail.confineLib);
  if (warm) args.push('--warm', typeof warm === 'string' ? warm : code);
  const child = spawn(interpreter, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env || process.env });
  let out = '';
  let err = '';
  let waiting = null;
  child.stdout.on('data', (chunk) => {
    out += chunk;
    const nl = out.indexOf('\n');
    if (nl >= 0 && waiting) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      const settle = waiting;
      waiting = null;
      settle(line);
    }
  });
  child.stderr.on('data', (chunk) => { err += chunk; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const requestLine = `${JSON.stringify({ code })}\n`;
  const request = (line = requestLine) => new Promise((resolve, reject) => {
    waiting = resolve;
    child.stdin.write(line, (e) => e && reject(e));
  });
  // One request's reply line; an error with the floor's stderr once it exited.
  const ask = (line) => Promise.race([request(line),
    exited.then(() => { throw new Error(`floor exited: ${err}`); })]);
  try {
    return await measure(ask, jail, check, gapsMs, runs, async () => {
      child.stdin.end();
      await exited;
      return JSON.parse(err.trim().split('\n').pop());
    });
  } catch (e) {
    child.kill('SIGKILL');  // its spares read EOF then, and its init dies with it
    throw e;
  }
}

// The floor's series over ask(); finish() ends the floor and returns its CPU.
async function measure(ask, jail, check, gapsMs, runs, finish) {
  let count = 0;
  if (jail) {
    // A jailed floor that is not jailed would measure nothing: its first
    // fork shows its pid namespace, capabilities and filters first.
    const line = await ask(`${JSON.stringify({ code: JAIL_PROBE })}\n`);
    const seen = JSON.parse(line).result;
    if (seen.pid !== 1 || seen.capEff !== '0000000000000000' || seen.seccompFilters !== '2' || seen.uid < 200000) {
      throw new Error(`the jailed floor's fork is not in a run's jail: ${line}`);
    }
    count++;
  }
  const series = async (gapMs, n) => {
    const samples = [];
    for (let i = 0; i < n; i++) {
      if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
      const t = performance.now();
      const line = await ask();
      samples.push(performance.now() - t);
      if (!check(JSON.parse(line).result)) throw new Error(`floor is broken: ${line}`);
      count++;
    }
    return summary(samples);
  };
  await series(0, 50);
  const nodeBefore = process.cpuUsage();
  const counted = count;
  const results = [];
  for (const gap of gapsMs) results.push(await series(gap, runs));
  const nodeCpu = process.cpuUsage(nodeBefore);
  const usage = await finish();
  // The python side is counted over every request (warm-up included), Node's
  // over the measured ones: both are per-run averages.
  const pythonMs = (usage.parentMs + usage.childrenMs) / count;
  const nodeMs = (nodeCpu.user + nodeCpu.system) / 1000 / (count - counted);
  return { series: results, cpu: { total: pythonMs + nodeMs, node: nodeMs, python: pythonMs } };
}

// forkFloor with a run's jail (jail from jailedFloorLibs()); null when it is
// unavailable, or when the jailed floor fails on this host (a container
// without user namespaces): jail.unavailable then says why, and later calls
// skip it. The bench goes on with the plain floor.
async function jailedFloor(interpreter, gapsMs, options, jail) {
  if (jail.unavailable) return null;
  try {
    return await forkFloor(interpreter, gapsMs, { ...options, jail });
  } catch (e) {
    jail.unavailable = `failed here: ${String(e.message).trim().split('\n').pop()}`;
    return null;
  }
}

// A target's verdict beside the floors': a target the floor misses too,
// with no isolation at all, is out of reach of any warm fork-per-run design
// on this machine in this run; one the jailed floor misses too (jailedOk
// false; undefined: not measured) is out of reach here of a warm fork per
// run in pycage's per-run jail, with nothing else of pycage. Each says so.
function verdict(ok, floorOk, jailedOk) {
  if (ok) return 'met';
  if (!floorOk) return 'NOT met, out of reach here (the floor misses it too)';
  if (jailedOk === false) return 'NOT met, out of reach with a run\'s jail here (the jailed floor misses it too)';
  return 'NOT met';
}

module.exports = { benchDataDir, forkFloor, jailedFloor, jailedFloorLibs, summary, verdict };
