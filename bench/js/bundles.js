'use strict';

// Bundles, measured in one run on this machine:
//   (a) install() that hits the cache (a new key, a set already installed);
//   (b) a cold install of pydash + requests with pip and with uv, as a ratio
//       (fresh data directories, so neither has a download cache; wheels from
//       a local PEP 503 index on loopback, so the network is not measured);
//   (c) the first run after an install (zygote start with preload);
//   (d) a warm run with numpy preloaded against a cold `python3 -c 'import numpy'`
//       with the same bundle on PYTHONPATH, as a ratio (goal >= 30x);
//   (e) adaptive preload: a numpy, a pandas and a matplotlib node, each
//       before learning and after, against a cold python3 running the same
//       node, and a cold bwrap jail per run (nsjail-style) where present;
//       per-run private memory before and after (learning.js).
// Usage: node bench/js/bundles.js [--repeat N] [--only learning]

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { Sandbox } = require('../..');
const { ensureWheels } = require('../../test/support/wheels');
const { startIndex } = require('../../test/support/index_server');
const { ensureUv } = require('../../test/support/uv');
const { benchDataDir, forkFloor, jailedFloor, jailedFloorLibs, verdict } = require('./floor');
const { benchLearning, privateMemory } = require('./learning');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const REPEAT = arg('repeat', 3);

function median(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const ms = (x) => `${x.toFixed(2)} ms`;

async function coldInstall(tool, uvPath, url, requirements) {
  const dataDir = benchDataDir('pycage-bench-bundles-');
  const sandbox = new Sandbox({ dataDir, index: { url }, installer: { tool, uvPath } });
  try {
    const t = performance.now();
    const status = await sandbox.install('bench', requirements);
    const elapsed = performance.now() - t;
    if (status.status !== 'ready') throw new Error(`${tool} install failed: ${status.error}`);
    return elapsed;
  } finally {
    await sandbox.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const { dir } = await ensureWheels({ real: true });
  const index = await startIndex([dir]);
  if (process.argv.includes('--only')) {
    try {
      console.log(JSON.stringify(await benchLearning(index.url)));
    } finally {
      await index.close();
    }
    return;
  }
  const uvPath = await ensureUv();
  const out = { repeat: REPEAT };
  try {
    // (b) cold installs, alternating tools so drift hits both alike.
    const pip = [];
    const uv = [];
    for (let i = 0; i < REPEAT; i++) {
      pip.push(await coldInstall('pip', undefined, index.url, 'pydash\nrequests\n'));
      if (uvPath) uv.push(await coldInstall('uv', uvPath, index.url, 'pydash\nrequests\n'));
    }
    out.coldInstallPydashRequests = { pipMs: median(pip), uvMs: uvPath ? median(uv) : null };
    console.log(`cold install pydash+requests: pip ${ms(median(pip))}` +
      (uvPath ? `, uv ${ms(median(uv))}, pip/uv = ${(median(pip) / median(uv)).toFixed(2)}x` : ' (uv unavailable)'));

    const jail = jailedFloorLibs();
    const dataDir = benchDataDir('pycage-bench-bundles-', jail);
    const sandbox = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: uvPath ? 'uv' : 'pip', uvPath } });
    try {
      const numpySet = 'numpy\n';
      const first = await sandbox.install('np-1', numpySet);
      if (first.status !== 'ready') throw new Error(`numpy install failed: ${first.error}`);

      // (a) cache hits: a new key for an installed set.
      const hits = [];
      for (let i = 0; i < 50; i++) {
        const t = performance.now();
        const status = await sandbox.install(`np-hit-${i}`, '# same set\nNumPy\n');
        hits.push(performance.now() - t);
        if (status.bundleSha !== first.bundleSha) throw new Error('cache hit gave another bundle');
      }
      out.cacheHitInstallMs = median(hits);
      console.log(`install() cache hit: p50 ${ms(median(hits))} (target <= 20 ms)`);

      // (c) the first run after an install: starts the bundle's zygote and preloads numpy.
      let t = performance.now();
      const firstRun = await sandbox.runPython('import numpy\nnumpy.__version__', { bundle: 'np-1' });
      out.firstRunAfterInstallMs = performance.now() - t;
      if (firstRun.status !== 'ok') throw new Error(`first numpy run failed: ${JSON.stringify(firstRun.error)}`);
      console.log(`first run after install (zygote start + numpy preload): ${ms(out.firstRunAfterInstallMs)}`);

      // (d) warm numpy runs against a cold interpreter importing numpy.
      const code = 'import numpy as np\nfloat(np.arange(100).sum())';
      const check = await sandbox.runPython(code, { bundle: 'np-1' });
      if (check.result !== 4950) throw new Error(`warm numpy run is broken: ${JSON.stringify(check)}`);
      // Back to back, and 5 ms apart (one run at a time on an idle pool, as
      // the cold runs below are measured), as the other figures here.
      const warm = [];
      const warmPaced = [];
      for (let i = 0; i < 200; i++) {
        t = performance.now();
        await sandbox.runPython(code, { bundle: 'np-1' });
        warm.push(performance.now() - t);
      }
      for (let i = 0; i < 100; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        t = performance.now();
        await sandbox.runPython(code, { bundle: 'np-1' });
        warmPaced.push(performance.now() - t);
      }
      const site = path.join(dataDir, 'bundles', 'installs', fs.readdirSync(path.join(dataDir, 'bundles', 'installs'))[0], 'site');
      const python = process.env.PYCAGE_PYTHON || 'python3';
      const coldArgs = ['-I', '-c', `import sys; sys.path.insert(0, ${JSON.stringify(site)}); import numpy; float(numpy.arange(100).sum())`];
      const probe = spawnSync(python, coldArgs, { stdio: 'ignore', env: { OPENBLAS_NUM_THREADS: '1' } });
      if (probe.status !== 0) throw new Error('cold numpy import failed');
      const cold = [];
      for (let i = 0; i < 20; i++) {
        t = performance.now();
        spawnSync(python, coldArgs, { stdio: 'ignore', env: { OPENBLAS_NUM_THREADS: '1' } });
        cold.push(performance.now() - t);
      }
      // Its floor: the same interpreter with numpy imported (not run) before
      // it forks one child per run, with no isolation (bench/js/floor.js).
      const floorOptions = {
        code, check: (result) => result === 4950, runs: 200, site, warm: 'import numpy',
        env: { OPENBLAS_NUM_THREADS: '1' },
      };
      const floor = await forkFloor(python, [0, 5], floorOptions);
      // And with each fork in a run's own jail, from pycage's jail code.
      const jailed = await jailedFloor(python, [0, 5], floorOptions, jail);
      out.warmNumpyRunMs = median(warm);
      out.warmNumpyRunPacedMs = median(warmPaced);
      out.coldNumpyImportMs = median(cold);
      out.warmNumpyFloor = { backToBackMs: floor.series[0].p50, pacedMs: floor.series[1].p50 };
      const times = (runMs) => (median(cold) / runMs).toFixed(1);
      console.log(`warm numpy run p50 ${ms(median(warm))} back to back, ${ms(median(warmPaced))} 5 ms apart, vs cold ` +
        `python3 -c 'import numpy' p50 ${ms(median(cold))}: ${times(median(warm))}x faster back to ` +
        `back, ${times(median(warmPaced))}x paced (goal >= 30x)`);
      console.log(`  its floor (numpy imported, a fork per run, no isolation): ${ms(floor.series[0].p50)} back to back ` +
        `(${times(floor.series[0].p50)}x), ${ms(floor.series[1].p50)} paced (${times(floor.series[1].p50)}x)`);
      console.log(jailed === null ? `  its jailed floor: not measured (${jail.unavailable})` :
        `  its jailed floor (the same, each fork in a run's own jail): ${ms(jailed.series[0].p50)} back to back ` +
        `(${times(jailed.series[0].p50)}x), ${ms(jailed.series[1].p50)} paced (${times(jailed.series[1].p50)}x)`);
      out.warmNumpyJailedFloor = jailed && { backToBackMs: jailed.series[0].p50, pacedMs: jailed.series[1].p50 };
      const atLeast30 = (runMs) => median(cold) / runMs >= 30;
      const judged = (runMs, i) => verdict(atLeast30(runMs), atLeast30(floor.series[i].p50),
        jailed === null ? undefined : atLeast30(jailed.series[i].p50));
      console.log(`  target, >= 30x: ${judged(median(warm), 0)} back to back, ${judged(median(warmPaced), 1)} paced`);
      // A run child's private memory (its copies of the warm interpreter's
      // pages plus its own), read from /proc while four runs hold still.
      const stdlibMemory = await privateMemory(sandbox, undefined, '1');
      const numpyMemory = await privateMemory(sandbox, 'np-1', code);
      out.runMemoryKb = { stdlib: stdlibMemory.totalKb, numpy: numpyMemory.totalKb };
      const within = (kb) => verdict(kb <= 2048, true);
      console.log(`private memory per concurrent run (target <= 2048 KiB): a stdlib run ${stdlibMemory.totalKb} KiB ` +
        `(${within(stdlibMemory.totalKb)}), the warm numpy run ${numpyMemory.totalKb} KiB (${within(numpyMemory.totalKb)})`);
    } finally {
      await sandbox.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    // (e) adaptive preload
    out.learning = await benchLearning(index.url);
  } finally {
    await index.close();
  }
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
