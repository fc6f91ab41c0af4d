'use strict';

// Adaptive preload, attacked the way a node author would: a node's runs try
// to poison what the next warm interpreter imports, with names outside the
// bundle (a forged reply naming the runner's own modules), a flood of names,
// and bundle modules whose import has side effects (a thread, a socket, a
// process, a failure). The safe outcome: only the bundle's well-behaved
// module is preloaded, every other name is dropped with a log entry, and the
// new warm interpreter still runs nodes.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { skipWithoutAddon, fullSandbox, scratchDataDir } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const MAX_MODULES = 20;
const SIDE_EFFECTS = ['pycage_lazy.threader', 'pycage_lazy.netter', 'pycage_lazy.spawner', 'pycage_lazy.flaky'];
const OUTSIDE = ['zygote', 'execute', 'confine', 'pycage_no_such_module'];

// The bundle's modules, the well-behaved one and those with side effects.
const IMPORT_LAZY = [
  'import builtins, importlib',
  'builtins.PYCAGE_LAZY_FLAG = 1  # flaky imports only where this is set',
  `for name in ${JSON.stringify(['pycage_lazy.heavy', ...SIDE_EFFECTS])}:`,
  '    importlib.import_module(name)',
  'len(importlib.import_module("pycage_lazy.heavy").TABLE)',
].join('\n');

// A reply written by hand on the run's channel, naming modules the bundle
// does not provide (the runner's own, and one that exists nowhere).
const FORGED_REPLY = [
  'import json, os, sys',
  'frames = sys.modules["frames"]',
  `meta = json.dumps({"status": "ok", "usage": {}, "imported": ${JSON.stringify(OUTSIDE)}}).encode()`,
  'frames.write_frames(3, meta, b"1")',
  'os._exit(0)',
].join('\n');

// 80 standard-library modules, more than a run may report (64).
const FLOOD = [
  'import importlib, sys',
  'names = sorted(n for n in sys.stdlib_module_names if not n.startswith("_") and n not in sys.modules',
  '               and n not in ("antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"))',
  'done = []',
  'for name in names:',
  '    if len(done) == 80: break',
  '    try:',
  '        importlib.import_module(name)',
  '        done.append(name)',
  '    except Exception:',
  '        pass',
  'len(done)',
].join('\n');

describe('security: poisoning the adaptive preload', { skip: skipWithoutAddon }, () => {
  let index;
  let dataDir;
  let sandbox;
  const logs = [];
  before(async () => {
    const { dir } = await ensureWheels();
    index = await startIndex([dir]);
    dataDir = scratchDataDir('pycage-poison-');
    sandbox = fullSandbox({
      dataDir, index: { url: index.url }, installer: { tool: 'pip' },
      preload: { minRuns: 2, idleMs: 50, maxModules: MAX_MODULES },
      restrictions: { mode: 'warn' },
    });
    sandbox.on('log', (entry) => logs.push(entry));
    const status = await sandbox.install('wf-lazy', 'pycage-lazy\n');
    assert.equal(status.status, 'ready', status.error);
  });
  after(async () => {
    if (sandbox) await sandbox.close();
    if (index) await index.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function learnedFile() {
    const dir = path.join(dataDir, 'bundles', 'learned');
    const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    assert.ok(files.length <= 1, files.join(', '));
    return files.length === 0 ? null : JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8'));
  }

  it('preloads only the bundle\'s well-behaved module and drops the rest with a log entry', async () => {
    // Three runs of the lazy imports and of the forged reply (they outrank
    // the flood's two), then the flood.
    for (let i = 0; i < 3; i++) {
      const lazy = await sandbox.runPython(IMPORT_LAZY, { bundle: 'wf-lazy' });
      assert.equal(lazy.status, 'ok', JSON.stringify(lazy.error));
      assert.equal(lazy.result, 1000);
      const forged = await sandbox.runPython(FORGED_REPLY, { bundle: 'wf-lazy' });
      assert.equal(forged.status, 'ok', JSON.stringify(forged.error));
    }
    for (let i = 0; i < 2; i++) {
      const flood = await sandbox.runPython(FLOOD, { bundle: 'wf-lazy' });
      assert.equal(flood.status, 'ok', JSON.stringify(flood.error));
      assert.ok(flood.result >= 70, `the flood imported only ${flood.result} modules`);
    }

    // The pool goes idle: a new warm interpreter probes the candidates.
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline && !logs.some((e) => /preload-report/.test(e.message))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(logs.some((e) => /preload-report/.test(e.message)), 'no warm interpreter reported its preload');
    // Let every report line arrive, then look at what was kept.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const saved = learnedFile();
    assert.ok(saved, 'nothing was persisted');
    assert.ok(saved.learned.includes('pycage_lazy.heavy'), JSON.stringify(saved));
    for (const name of [...SIDE_EFFECTS, ...OUTSIDE]) {
      assert.ok(!saved.learned.includes(name), `${name} was learned: ${JSON.stringify(saved)}`);
      assert.ok(saved.dropped[name], `${name} was not dropped: ${JSON.stringify(saved)}`);
    }
    assert.match(saved.dropped['pycage_lazy.threader'], /started a thread/);
    assert.match(saved.dropped['pycage_lazy.netter'], /tried socket\./);
    assert.match(saved.dropped['pycage_lazy.spawner'], /tried (subprocess|os\.(posix_spawn|fork|exec))/);
    assert.match(saved.dropped['pycage_lazy.flaky'], /import failed: AttributeError/);
    for (const name of OUTSIDE) {
      assert.match(saved.dropped[name], /not provided by the bundle or the standard library/, name);
    }
    // The flood got no more than the module cap left it.
    const offered = saved.learned.length + Object.keys(saved.dropped).length;
    assert.ok(offered <= MAX_MODULES, `${offered} names were offered to the warm interpreter (cap ${MAX_MODULES})`);
    // Every drop was logged.
    for (const name of [...SIDE_EFFECTS, ...OUTSIDE]) {
      const line = logs.find((e) => e.message.includes(`preload of ${name} dropped:`));
      assert.ok(line, `no log entry for ${name}`);
      assert.equal(line.level, 'warn');
    }
  });

  it('serves runs from the new warm interpreter: heavy is there, no side effect is', async () => {
    // The pool swaps once the new warm interpreter's first run went through.
    const deadline = Date.now() + 10000;
    for (;;) {
      const probe = await sandbox.runPython('import sys\n"pycage_lazy.heavy" in sys.modules', { bundle: 'wf-lazy' });
      if (probe.result === true || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const run = await sandbox.runPython([
      'import sys, threading',
      'mods = set(sys.modules)',
      '[sorted(n for n in mods if n.startswith("pycage_lazy.")), threading.active_count(),',
      ' [n for n in ("zygote", "execute") if n in mods and sys.modules[n].__name__ != n]]',
    ].join('\n'), { bundle: 'wf-lazy' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    const [lazy, threads, reimported] = run.result;
    assert.deepEqual(lazy, ['pycage_lazy.heavy']);
    assert.equal(threads, 1);
    assert.deepEqual(reimported, []);
  });
});
