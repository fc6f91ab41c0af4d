'use strict';

// The floor of a warm fork-per-run design on this machine
// (bench/floor/fork_floor.py): one pre-forked child per request, no
// isolation, protocol or supervisor. Requests go one line at a time over the
// child's stdin; its CPU (the parent and every reaped spare) comes back on
// stderr at EOF. run_latency.js measures it with the trivial node, and
// learning.js with each bundle's node, beside pycage in the same run.

const path = require('node:path');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');

const SCRIPT = path.join(__dirname, '..', 'floor', 'fork_floor.py');

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
// as an import), env (the child's environment).
async function forkFloor(interpreter, gapsMs, options = {}) {
  const { code = '1 + 1', check = (result) => result === 2, runs = 1000, site = null, warm = false, env } = options;
  const args = ['-I', '-S', SCRIPT];
  if (site) args.push('--site', site);
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
  const request = () => new Promise((resolve, reject) => {
    waiting = resolve;
    child.stdin.write(requestLine, (e) => e && reject(e));
  });
  let count = 0;
  const series = async (gapMs, n) => {
    const samples = [];
    for (let i = 0; i < n; i++) {
      if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
      const t = performance.now();
      const line = await Promise.race([request(), exited.then(() => { throw new Error(`floor exited: ${err}`); })]);
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
  child.stdin.end();
  await exited;
  const usage = JSON.parse(err.trim().split('\n').pop());
  // The python side is counted over every request (warm-up included), Node's
  // over the measured ones: both are per-run averages.
  const pythonMs = (usage.parentMs + usage.childrenMs) / count;
  const nodeMs = (nodeCpu.user + nodeCpu.system) / 1000 / (count - counted);
  return { series: results, cpu: { total: pythonMs + nodeMs, node: nodeMs, python: pythonMs } };
}

// A target's verdict beside the floor's: a target the floor misses too,
// with no isolation at all, is out of reach of any warm fork-per-run design
// on this machine in this run, and says so.
function verdict(ok, floorOk) {
  if (ok) return 'met';
  return floorOk ? 'NOT met' : 'NOT met, out of reach here (the floor misses it too)';
}

module.exports = { forkFloor, summary, verdict };
