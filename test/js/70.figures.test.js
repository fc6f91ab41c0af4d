'use strict';

// RunResult.figures (README "Figures") through the public API: a bundle
// with real matplotlib and pandas wheels from the local test index (see
// test/support), under the default limits and the default restrictions.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { skipWithoutAddon } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// [width, height] of a base64 PNG, from its IHDR chunk.
function pngSize(figure) {
  assert.equal(figure.type, 'image/png');
  const bytes = Buffer.from(figure.data, 'base64');
  assert.equal(bytes.toString('base64'), figure.data, 'strict base64');
  assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

describe('RunResult.figures with the standard library only', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = new Sandbox(); });
  after(() => sandbox && sandbox.close());

  it('is empty, not truncated, and matplotlib is never imported for the run', async () => {
    const run = await sandbox.runPython('import sys\n[m for m in sys.modules if m.startswith("matplotlib")]');
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, []);
    assert.deepEqual(run.figures, []);
    assert.equal(run.truncated.figures, false);
  });
});

describe('RunResult.figures from a matplotlib bundle', { skip: skipWithoutAddon }, () => {
  let index;
  let sandbox;
  let dataDir;
  before(async () => {
    const { dir } = await ensureWheels({ real: true });
    index = await startIndex([dir]);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-figures-'));
    sandbox = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    const status = await sandbox.install('wf-plots', 'matplotlib\npandas\n');
    assert.equal(status.status, 'ready', status.error);
  });
  after(async () => {
    if (sandbox) await sandbox.close();
    if (index) await index.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function plot(code) {
    const run = await sandbox.runPython(code, { bundle: 'wf-plots' });
    assert.equal(run.status, 'ok', `${JSON.stringify(run.error)}\nstderr: ${run.stderr}`);
    return run;
  }

  it('returns the figures still open at the end as PNG, in figure-number order', async () => {
    const run = await plot([
      'import matplotlib.pyplot as plt',
      'plt.figure(2, figsize=(3, 2), dpi=50); plt.plot([1, 2, 3], [3, 1, 2])',
      'plt.figure(1, figsize=(2, 1), dpi=50); plt.bar(["a", "b"], [1, 2])',
      '"plotted"',
    ].join('\n'));
    assert.equal(run.result, 'plotted');
    assert.deepEqual(run.figures.map(pngSize), [[100, 50], [150, 100]]);
    assert.equal(run.truncated.figures, false);
    assert.equal(run.stderr, '', 'no backend or font cache warnings');
  });

  it('works in sessions: each call returns its own figures, and state persists', async () => {
    const opts = { bundle: 'wf-plots', session: 'plots' };
    const first = await sandbox.runPython(
      'import matplotlib.pyplot as plt\nxs = [1, 2, 3]\nplt.figure(figsize=(2, 2), dpi=50); plt.plot(xs)\nlen(xs)', opts);
    assert.equal(first.status, 'ok', JSON.stringify(first.error));
    assert.deepEqual(first.figures.map(pngSize), [[100, 100]]);
    const second = await sandbox.runPython('xs.append(4)\nlen(plt.get_fignums())', opts);
    assert.deepEqual([second.result, second.figures, second.sessionRestarted], [0, [], false]);
    const third = await sandbox.runPython('plt.figure(figsize=(3, 1), dpi=50); plt.plot(xs); plt.show()\nlen(xs)', opts);
    assert.deepEqual([third.result, third.figures.map(pngSize)], [4, [[150, 50]]]);
    await sandbox.closeSession('plots');
  });

  it('captures and closes the figures passed to plt.show() and Figure.show()', async () => {
    const run = await plot([
      'import matplotlib.pyplot as plt',
      'plt.figure(figsize=(1, 1), dpi=40); plt.plot([1, 2]); plt.show()',
      'open_after_show = plt.get_fignums()',
      'kept = plt.figure(figsize=(2, 2), dpi=40)',
      'shown = plt.figure(figsize=(3, 3), dpi=40); shown.show()',
      'result = {"afterShow": open_after_show, "afterFigureShow": len(plt.get_fignums())}',
    ].join('\n'));
    assert.deepEqual(run.result, { afterShow: [], afterFigureShow: 1 });
    // plt.show()'s figure, then Figure.show()'s, then the one left open.
    assert.deepEqual(run.figures.map(pngSize), [[40, 40], [120, 120], [80, 80]]);
    assert.equal(run.stderr, '');
  });

  it('draws pandas plots, and returns figures with an error too', async () => {
    const run = await sandbox.runPython([
      'import pandas as pd',
      'df = pd.DataFrame({"x": range(5), "y": [v * v for v in range(5)]})',
      'df.plot(x="x", y="y", figsize=(2, 2))',
      'raise ValueError("after the plot")',
    ].join('\n'), { bundle: 'wf-plots' });
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'ValueError');
    assert.equal(run.figures.length, 1);
    assert.equal(pngSize(run.figures[0])[0], 200);
  });

  it('keeps 16 figures and sets truncated.figures when there are more', async () => {
    const run = await plot([
      'import matplotlib.pyplot as plt',
      'for i in range(20):',
      '    plt.figure(figsize=(1, 1), dpi=20); plt.plot([0, i])',
    ].join('\n'));
    assert.equal(run.figures.length, 16);
    assert.equal(run.truncated.figures, true);
  });

  it('drops figures beyond 4 MB of PNG in total', async () => {
    // Noise does not compress: each 1000x1000 image is about 3 MB of PNG.
    const run = await plot([
      'import numpy as np, matplotlib.pyplot as plt',
      'rng = np.random.default_rng(1)',
      'for i in range(3):',
      '    fig = plt.figure(figsize=(10, 10), dpi=100)',
      '    fig.figimage(rng.random((1000, 1000, 3)))',
    ].join('\n'));
    assert.equal(run.truncated.figures, true);
    assert.equal(run.figures.length, 1);
    const bytes = Buffer.from(run.figures[0].data, 'base64').length;
    assert.ok(bytes > 2e6 && bytes <= 4 * 1024 * 1024, `${bytes} bytes`);
  });

  it('leaves nothing open for the next run', async () => {
    // A matplotlib bundle preloads pyplot (through matplotlib's top-level
    // pylab module), so every run forks with it; no figure may survive.
    await plot('import matplotlib.pyplot as plt\nlines = plt.plot([1, 2])');
    const run = await plot('import sys\nsys.modules["matplotlib.pyplot"].get_fignums()');
    assert.deepEqual(run.result, []);
    assert.deepEqual(run.figures, []);
  });
});
