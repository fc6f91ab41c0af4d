'use strict';

// Real packages (pydash, requests, numpy, pandas, matplotlib, scipy) from a
// local index of wheels downloaded once from PyPI (test/support/wheels.js),
// installed and used under the default limits.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { createBundleService, createPythonExecutor } = require('../../js/tooljet');
const { skipWithoutAddon } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const SIX = 'pydash\nrequests\nnumpy\npandas\nmatplotlib\nscipy\n';

describe('real packages under the default limits', { skip: skipWithoutAddon }, () => {
  let index;
  let sandbox;
  let dataDir;
  let status;
  const installLog = [];
  before(async () => {
    const { dir } = await ensureWheels({ real: true });
    index = await startIndex([dir]);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-real-'));
    sandbox = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    sandbox.on('log', (entry) => { if (entry.key === 'wf-real') installLog.push(entry.message); });
    status = await sandbox.install('wf-real', SIX);
  });
  after(async () => {
    await sandbox.close();
    await index.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('installs all six with their dependencies and builds the matplotlib font cache', () => {
    assert.equal(status.status, 'ready', status.error);
    const names = status.packages.map((p) => p.name.toLowerCase());
    for (const name of ['pydash', 'requests', 'numpy', 'pandas', 'matplotlib', 'scipy', 'urllib3', 'python-dateutil']) {
      assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    }
    const installs = path.join(dataDir, 'bundles', 'installs');
    const [only] = fs.readdirSync(installs);
    const fonts = fs.readdirSync(path.join(installs, only, 'site', '.pycage-mplconfig'));
    assert.ok(fonts.some((f) => /^fontlist-.*\.json$/.test(f)), fonts.join(', '));
  });

  it("does not judge the bundle against the host's own site-packages", () => {
    // This host's Debian scipy wants an older numpy than the bundle's.
    assert.ok(installLog.some((line) => /running .*pip install/.test(line)), installLog.join('\n'));
    const conflicts = installLog.filter((line) => /but you have|dependency conflicts|which is not installed/.test(line));
    assert.deepEqual(conflicts, []);
  });

  it('runs numpy, pandas, scipy, pydash and requests code, with the modules preloaded', async () => {
    const run = await sandbox.runPython([
      'import sys',
      'preloaded = sorted(m for m in ("numpy", "pandas", "scipy", "pydash", "requests", "matplotlib") if m in sys.modules)',
      'import numpy as np, pandas as pd, pydash, requests',
      'from scipy import stats',
      'df = pd.DataFrame({"x": np.arange(10), "y": np.arange(10) ** 2})',
      'result = {',
      '  "preloaded": preloaded,',
      '  "sum": df["y"].sum(),',
      '  "mean": df.mean(),',
      '  "t": round(float(stats.ttest_ind(df["x"], df["y"]).pvalue), 6),',
      '  "chunk": pydash.chunk([1, 2, 3, 4], 2),',
      '  "requests": requests.__version__ != "",',
      '}',
    ].join('\n'), { bundle: 'wf-real' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result.preloaded, ['matplotlib', 'numpy', 'pandas', 'pydash', 'requests', 'scipy']);
    assert.equal(run.result.sum, 285);
    assert.deepEqual(run.result.mean, [4.5, 28.5], 'a Series becomes a list');
    assert.deepEqual(run.result.chunk, [[1, 2], [3, 4]]);
    assert.equal(run.result.requests, true);
    assert.ok(run.result.t > 0 && run.result.t < 1);
  });

  it('draws a matplotlib figure without rebuilding the font cache or warning', async () => {
    const run = await sandbox.runPython([
      'import io, matplotlib.pyplot as plt',
      'fig, ax = plt.subplots()',
      'ax.plot([1, 2, 3], [3, 1, 2]); ax.set_title("demo")',
      'buf = io.BytesIO(); fig.savefig(buf, format="png")',
      'buf.getvalue()[:4] == b"\\x89PNG"',
    ].join('\n'), { bundle: 'wf-real' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, true);
    assert.equal(run.stderr, '', 'no font cache rebuild, no config-dir warning');
  });

  it('runs the numpy + pandas + matplotlib workload 200 times, 4 at a time, without one SIGSYS', async () => {
    // The run filter is an allowlist with default kill: a syscall that these
    // libraries make only now and then (a thread pool, a font lookup, a
    // tempfile) would show as a SandboxViolation in some runs.
    const code = [
      'import io, os, tempfile, threading, numpy as np, pandas as pd, matplotlib.pyplot as plt',
      'rng = np.random.default_rng(int(seed))',
      'df = pd.DataFrame({"x": rng.normal(size=500), "g": rng.integers(0, 5, 500)})',
      'stats = df.groupby("g")["x"].agg(["mean", "std", "count"])',
      'fig, ax = plt.subplots(); ax.hist(df["x"], bins=20); stats.plot.bar(ax=ax)',
      'buf = io.BytesIO(); fig.savefig(buf, format="png"); plt.close(fig)',
      'with tempfile.NamedTemporaryFile(suffix=".csv") as f:',
      '    df.to_csv(f.name); back = pd.read_csv(f.name)',
      't = threading.Thread(target=lambda: np.linalg.inv(np.eye(50) * 2)); t.start(); t.join()',
      'result = [int(stats["count"].sum()), len(back), buf.getvalue()[:4] == b"\\x89PNG"]',
    ].join('\n');
    const inFlight = new Set();
    const types = {};
    for (let i = 0; i < 200; i++) {
      const run = sandbox.runPython(code, { bundle: 'wf-real', inputs: { seed: i } }).then((r) => {
        const key = r.status === 'ok' ? JSON.stringify(r.result) : r.error.type;
        types[key] = (types[key] || 0) + 1;
      });
      inFlight.add(run);
      run.then(() => inFlight.delete(run));
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    assert.deepEqual(types, { '[500,500,true]': 200 });
  });

  it('a run cannot reach the network through requests', async () => {
    const run = await sandbox.runPython(`import requests\nrequests.get(${JSON.stringify(index.url)}, timeout=2)`, { bundle: 'wf-real' });
    assert.equal(run.status, 'error');
    assert.match(run.error.type, /ConnectionError/);
  });

  it('serves the ToolJet bundle service keyed by app version id', async () => {
    const service = createBundleService(sandbox);
    const executor = createPythonExecutor(sandbox);
    assert.equal((await service.getBundleStatus('wf-real')).status, 'ready');
    const forRun = await service.getBundleForExecution('wf-real');
    assert.deepEqual(forRun, { bundleId: 'wf-real', bundleSha: status.bundleSha });
    assert.equal(await service.getBundleForExecution('app-version-without-packages'), null);
    const result = await executor.execute('import numpy as np\nfloat(np.mean(values))', { values: [1, 2, 3] }, forRun.bundleId, 5000);
    assert.equal(result.status, 'ok', result.error);
    assert.equal(result.data, 2);
    const updated = await service.updatePackages('app-v2', 'pydash\n');
    assert.equal(updated.status, 'ready', updated.error);
    const generated = await service.generateBundle('app-v2');
    assert.equal(generated.bundleSha, updated.bundleSha);
    const rebuilt = await service.rebuildBundle('app-v2');
    assert.equal(rebuilt.status, 'ready');
    await assert.rejects(service.updatePackages('app-v3', '-e .\n'), { code: 'ERR_REQUIREMENTS_INVALID' });
  });
});
