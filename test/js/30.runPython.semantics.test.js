'use strict';

// Python node semantics (README) through the real addon and jail.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Sandbox } = require('../..');
const { skipWithoutAddon } = require('./common');

describe('Sandbox#runPython() semantics', { skip: skipWithoutAddon }, () => {
  let sandbox;
  before(() => { sandbox = new Sandbox(); });
  after(() => sandbox && sandbox.close());

  async function ok(code, options) {
    const run = await sandbox.runPython(code, options);
    assert.equal(run.status, 'ok', `run failed: ${JSON.stringify(run.error)}\nstderr: ${run.stderr}`);
    return run;
  }

  it('returns the global result when the code assigns it', async () => {
    assert.deepEqual((await ok('result = {"a": 1}\n2 + 2')).result, { a: 1 });
  });

  it('returns the last expression statement otherwise', async () => {
    assert.equal((await ok('x = 20\nx * 2 + 2')).result, 42);
  });

  it('returns null when there is neither', async () => {
    assert.equal((await ok('x = 1')).result, null);
  });

  it('keeps integers beyond 2^53 exact, as decimal strings', async () => {
    assert.equal((await ok('2**64')).result, '18446744073709551616');
    assert.deepEqual((await ok('{"id": 10**20, "n": 2**53 - 1, "m": -(2**53)}')).result,
      { id: '100000000000000000000', n: 9007199254740991, m: '-9007199254740992' });
  });

  it('takes any Python identifier as an inputs key, Unicode ones included', async () => {
    assert.equal((await ok('café + _x1', { inputs: { café: 40, _x1: 2 } })).result, 42);
  });

  it('makes each key of inputs a global', async () => {
    const run = await ok('sum(o["amount"] for o in getOrders["data"])', {
      inputs: { getOrders: { data: [{ amount: 3 }, { amount: 4.5 }] } },
    });
    assert.equal(run.result, 7.5);
  });

  it('converts Python values to JSON as the README says', async () => {
    const run = await ok([
      'import datetime, decimal, math',
      'result = {',
      '  "t": (1, 2), "s": sorted({3}), "nan": math.nan, "inf": -math.inf,',
      '  "d": datetime.date(2024, 5, 1), "dec": decimal.Decimal("1.10"), "b": b"hi",',
      '}',
    ].join('\n'));
    assert.deepEqual(run.result, {
      t: [1, 2], s: [3], nan: null, inf: null, d: '2024-05-01', dec: '1.10', b: 'aGk=',
    });
  });

  it('resolves a TypeError naming the type of a value that cannot become JSON', async () => {
    const run = await sandbox.runPython('class Foo: pass\nresult = {"x": [Foo()]}');
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'TypeError');
    assert.match(run.error.message, /Foo/);
  });

  it('sees the standard library only: no site-packages or dist-packages on sys.path', async () => {
    const run = await ok('import sys\n[p for p in sys.path if "-packages" in p or p in ("", ".")]');
    assert.deepEqual(run.result, []);
  });

  it('converts numpy and pandas values when they are importable', async (t) => {
    // Runs see what the runner puts on sys.path (the standard library until
    // bundles exist), so ask the jail itself, not the host interpreter.
    const probe = await sandbox.runPython('import numpy, pandas');
    if (probe.status !== 'ok') {
      t.skip(`numpy/pandas not importable in a run: ${probe.error.message}`);
      return;
    }
    const run = await ok([
      'import numpy as np, pandas as pd',
      'df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})',
      'result = {"arr": np.arange(3), "n": np.float64(1.5), "df": df, "s": df["a"]}',
    ].join('\n'));
    assert.deepEqual(run.result, {
      arr: [0, 1, 2], n: 1.5, df: [{ a: 1, b: 'x' }, { a: 2, b: 'y' }], s: [1, 2],
    });
  });

  it('keeps stdout and stderr separate', async () => {
    const run = await ok('import sys\nprint("to out")\nprint("to err", file=sys.stderr)\n1');
    assert.equal(run.stdout, 'to out\n');
    assert.equal(run.stderr, 'to err\n');
    assert.deepEqual(run.truncated, { stdout: false, stderr: false, figures: false });
  });

  it('never takes the result from stdout', async () => {
    const run = await ok('print(\'{"status":"ok"}\')\nprint("42")\nresult = "real"');
    assert.equal(run.result, 'real');
  });

  it('resolves a Python exception with its type, node-relative line and a user-only traceback', async () => {
    const run = await sandbox.runPython('a = 1\nb = 0\n\nc = a / b\n');
    assert.equal(run.status, 'error');
    assert.equal(run.result, null);
    assert.equal(run.error.type, 'ZeroDivisionError');
    assert.equal(run.error.message, 'division by zero');
    assert.equal(run.error.line, 4);
    assert.match(run.error.traceback, /line 4/);
    assert.doesNotMatch(run.error.traceback, /runner|zygote|execute\.py|pycage/);
  });

  it('reports the line of a SyntaxError', async () => {
    const run = await sandbox.runPython('x = 1\ny = (\n');
    assert.equal(run.status, 'error');
    assert.equal(run.error.type, 'SyntaxError');
    assert.equal(typeof run.error.line, 'number');
  });

  it('passes no state from one run to the next', async () => {
    await ok('import sys\nleak = 1\nsys.modules["json"].leaked = True\nresult = 1');
    const run = await ok('import json\n[("leak" in globals()), hasattr(json, "leaked")]');
    assert.deepEqual(run.result, [false, false]);
  });

  it('reports usage and the isolation tier', async () => {
    const run = await ok('1');
    assert.equal(run.isolation, sandbox.capabilities().selected);
    assert.ok(run.usage.wallMs >= 0 && run.usage.cpuMs >= 0 && run.usage.peakMemoryKb >= 0);
    assert.deepEqual(run.figures, []);
    assert.deepEqual(run.audit, []);
  });
});
