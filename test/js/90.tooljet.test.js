'use strict';

const { describe, it, afterEach, mock } = require('node:test');
const assert = require('node:assert/strict');
const { Sandbox } = require('../..');
const { createPythonExecutor } = require('../../js/tooljet');
const { fakeBinding, skipWithoutAddon } = require('./common');

describe('createPythonExecutor()', () => {
  afterEach(() => mock.restoreAll());

  it('is exported as pycage/tooljet', () => {
    assert.equal(require('pycage/tooljet').createPythonExecutor, createPythonExecutor);
  });

  it('rejects something that is not a Sandbox with ERR_INVALID_ARGUMENT', () => {
    assert.throws(() => createPythonExecutor({}), {
      code: 'ERR_INVALID_ARGUMENT',
      message: 'Expected Sandbox or RemoteSandbox instance for sandbox but received {} of type object',
    });
  });

  it('passes state as inputs and lowers wallMs to the timeout', async () => {
    const fake = fakeBinding();
    const executor = createPythonExecutor(new Sandbox());
    const out = await executor.execute('x', { getOrders: { data: [] } }, null, 2500);
    const run = fake.instances[0].runs[0];
    assert.equal(run.inputsJson, '{"getOrders":{"data":[]}}');
    assert.equal(run.limits.wallMs, 2500);
    assert.equal(out.status, 'ok');
    assert.equal(out.data, 42);
    assert.equal(out.error, null);
    assert.equal(out.trace, null);
    assert.equal(typeof out.executionTimeMs, 'number');
  });

  it('never raises wallMs above the ceiling through the timeout', async () => {
    const fake = fakeBinding();
    await createPythonExecutor(new Sandbox()).execute('x', {}, undefined, 60_000);
    assert.equal(fake.instances[0].runs[0].limits.wallMs, 10_000);
  });

  it('rejects a bad timeout with ERR_INVALID_ARGUMENT', async () => {
    fakeBinding();
    await assert.rejects(createPythonExecutor(new Sandbox()).execute('x', {}, null, -5), {
      code: 'ERR_INVALID_ARGUMENT',
      message: 'Expected positive integer for timeout but received -5 of type number',
    });
  });

  it('maps a Python error to status error with the message and trace', async () => {
    fakeBinding({
      outcome: {
        status: 'error', resultJson: null, stdout: '', stderr: '', truncatedStdout: false, truncatedStderr: false,
        error: { type: 'KeyError', message: "'data'", traceback: 'Traceback (most recent call last):\n  line 1', line: 1 },
        wallMs: 1, cpuMs: 1, peakMemoryKb: 1,
      },
    });
    const out = await createPythonExecutor(new Sandbox()).execute('x["data"]', {});
    assert.deepEqual({ ...out, executionTimeMs: 0 }, {
      status: 'error', data: null, error: "KeyError: 'data'",
      trace: 'Traceback (most recent call last):\n  line 1', executionTimeMs: 0,
    });
  });
});

describe('createPythonExecutor() with the real addon', { skip: skipWithoutAddon }, () => {
  it('makes the keys of state globals and returns the result', async () => {
    const sandbox = new Sandbox();
    try {
      const out = await createPythonExecutor(sandbox).execute(
        'sum(o["amount"] for o in getOrders["data"])', { getOrders: { data: [{ amount: 2 }, { amount: 5 }] } }, null, 5000);
      assert.equal(out.status, 'ok', JSON.stringify(out));
      assert.equal(out.data, 7);
    } finally {
      await sandbox.close();
    }
  });
});

describe('createBundleService() when a version has no usable packages', { skip: skipWithoutAddon }, () => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { ensureWheels } = require('../support/wheels');
  const { startIndex } = require('../support/index_server');
  const { createBundleService } = require('../../js/tooljet');

  it('says the packages failed (and why) or are still building, instead of serving the standard library', async (t) => {
    const { dir } = await ensureWheels();
    const index = await startIndex([dir]);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-tooljet-'));
    const sandbox = new Sandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    t.after(async () => {
      await sandbox.close();
      await index.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    const service = createBundleService(sandbox);
    assert.equal(await service.getBundleForExecution('v-without-packages'), null);
    const building = service.updatePackages('v-building', 'pycage-hello\n');
    await assert.rejects(service.getBundleForExecution('v-building'), {
      code: 'ERR_BUNDLE_NOT_READY',
      message: /^The Python packages of app version "v-building" are still being installed and no earlier build/,
    });
    assert.equal((await building).status, 'ready');
    assert.equal((await service.getBundleForExecution('v-building')).bundleId, 'v-building');
    const failed = await service.updatePackages('v-failed', 'pycage-no-such-package\n');
    assert.equal(failed.status, 'failed');
    await assert.rejects(service.getBundleForExecution('v-failed'), {
      code: 'ERR_BUNDLE_NOT_READY',
      message: /^The Python packages of app version "v-failed" failed to install: there is no package named 'pycage-no-such-package'.*Fix the requirements/,
    });
  });
});
