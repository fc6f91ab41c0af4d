'use strict';

// Soak: many runs at high concurrency, mixing normal, failing, timing-out
// and cancelled runs, then checks that every run got its own expected
// outcome and that nothing leaked: children, fds, host mounts, temp dirs,
// and the host's RSS stays flat after warm-up.
//
// Usage: node bench/soak.js [--runs 10000] [--concurrency 32]
// Exit status 0 when every check passed. test/security/52.host.soak.test.js
// runs a short variant of the same function.

const fs = require('node:fs');
const os = require('node:os');
const { Sandbox } = require('..');

// What each kind of run does, and the outcome it must end with.
const KINDS = [
  { name: 'normal', weight: 55, code: (i) => `sum(range(${i % 1000}))`, check: (r, i) => r.status === 'ok' && r.result === ((i % 1000) * ((i % 1000) - 1)) / 2 },
  { name: 'exception', weight: 20, code: (i) => `raise KeyError(${i})`, check: (r, i) => r.error && r.error.type === 'KeyError' && r.error.message === String(i) },
  { name: 'timeout', weight: 15, code: () => 'while True:\n    pass', limits: { wallMs: 100 }, check: (r) => r.error && r.error.type === 'TimeoutError' },
  { name: 'cancelled', weight: 10, code: () => 'import time\ntime.sleep(5)', abortAfterMs: 20, check: (r) => r.error && r.error.type === 'Cancelled' },
];

function kindOf(i) {
  // A fixed interleaving, so every window of 100 runs has the same mix.
  let slot = (i * 37) % 100;
  for (const kind of KINDS) {
    if (slot < kind.weight) return kind;
    slot -= kind.weight;
  }
  return KINDS[0];
}

function rssMb() {
  return Math.round(process.memoryUsage().rss / 1024 / 102.4) / 10;
}

// Processes whose parent chain reaches this process.
function descendants() {
  const parent = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parent.set(Number(entry), Number(fs.readFileSync(`/proc/${entry}/stat`, 'latin1').split(') ')[1].split(' ')[1]));
    } catch { /* exited meanwhile */ }
  }
  let n = 0;
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid), hops = 0; p && hops < 64; p = parent.get(p), hops++) {
      if (p === process.pid) { n++; break; }
    }
  }
  return n;
}

const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const pycageMounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('pycage')).length;
const pycageTempDirs = () => fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith('pycage') && !e.startsWith('pycage-test-data-')).length;

async function soak({ runs = 10000, concurrency = 32, isolation = 'full', log = () => {} } = {}) {
  // One throwaway Sandbox first, so what Node and the addon load once (and
  // keep) is in the baseline rather than counted as a leak.
  const warm = new Sandbox({ isolation });
  await warm.runPython('1');
  await warm.close();
  const before = { fds: fdCount(), children: descendants(), mounts: pycageMounts(), tempDirs: pycageTempDirs(), rssMb: rssMb() };
  const sandbox = new Sandbox({ isolation, concurrency, maxQueue: concurrency * 2 });
  const counts = Object.fromEntries(KINDS.map((k) => [k.name, { ok: 0, wrong: 0 }]));
  const wrong = [];
  let settled = 0;
  let next = 0;
  let warmRss = null;
  let peakChildren = 0;
  const started = Date.now();

  async function one(i) {
    const kind = kindOf(i);
    const options = { limits: kind.limits };
    let timer;
    if (kind.abortAfterMs) {
      const controller = new AbortController();
      options.signal = controller.signal;
      timer = setTimeout(() => controller.abort(), kind.abortAfterMs);
    }
    const run = await sandbox.runPython(kind.code(i), options);
    clearTimeout(timer);
    settled++;
    if (kind.check(run, i)) counts[kind.name].ok++;
    else {
      counts[kind.name].wrong++;
      if (wrong.length < 10) wrong.push({ i, kind: kind.name, status: run.status, result: run.result, error: run.error });
    }
  }

  async function lane() {
    while (next < runs) {
      const i = next++;
      await one(i);
      if (settled === Math.min(500, runs)) {
        warmRss = rssMb();
        log(`warm-up done: ${settled} runs, rss ${warmRss} MB`);
      }
      if (settled % 1000 === 0) {
        peakChildren = Math.max(peakChildren, descendants());
        log(`${settled}/${runs} settled, rss ${rssMb()} MB, ${Math.round(settled / ((Date.now() - started) / 1000))} runs/s`);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (Date.now() - started) / 1000;
  const endRssBeforeClose = rssMb();
  await sandbox.close();
  if (global.gc) global.gc();
  // Give the kernel a moment to reap the last children.
  for (let i = 0; i < 40 && descendants() > before.children; i++) await new Promise((r) => setTimeout(r, 50));
  const after = { fds: fdCount(), children: descendants(), mounts: pycageMounts(), tempDirs: pycageTempDirs(), rssMb: rssMb() };
  const report = {
    runs, concurrency, seconds: Math.round(seconds * 10) / 10, runsPerSecond: Math.round(runs / seconds),
    settled, lost: runs - settled, counts, wrong,
    leaked: {
      children: after.children - before.children, fds: after.fds - before.fds,
      mounts: after.mounts - before.mounts, tempDirs: after.tempDirs - before.tempDirs,
    },
    peakChildren,
    rssMb: { start: before.rssMb, afterWarmUp: warmRss, end: endRssBeforeClose, afterClose: after.rssMb },
  };
  report.passed = report.lost === 0 && wrong.length === 0 && Object.values(report.leaked).every((n) => n <= 0);
  return report;
}

module.exports = { soak, KINDS };

if (require.main === module) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  soak({ runs: arg('runs', 10000), concurrency: arg('concurrency', 32), log: (line) => console.error(line) })
    .then((report) => {
      console.log(JSON.stringify(report, null, 2));
      process.exitCode = report.passed ? 0 : 1;
    }, (err) => {
      console.error(err);
      process.exitCode = 2;
    });
}
