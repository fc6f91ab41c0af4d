'use strict';

// Bundle code in the warm interpreter: a wheel's import-time code runs in the
// bundle's zygote before any run. It must hold no privilege a run lacks, and
// patching the runner from there must not loosen a later run.
//
// The two `todo` tests state what does not hold yet (SECURITY.md, "Known
// limits"; docs/ARCHITECTURE.md, "Open work"): they report their failure
// without failing the suite, and become plain tests with the run-path
// redesign. The third holds today.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { skipWithoutAddon, fullSandbox } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const KNOWN_GAP = 'bundle code in the warm interpreter is not yet confined like a run (SECURITY.md, "Known limits")';

describe('security: bundle code in the warm interpreter', { skip: skipWithoutAddon }, () => {
  let index;
  let sandbox;
  let dataDir;
  let probe;
  before(async () => {
    index = await startIndex([(await ensureWheels()).dir]);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-preload-'));
    // Restrictions in warn mode: the jail, not the friendly import error, must stop the socket.
    sandbox = fullSandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' }, restrictions: { mode: 'warn' } });
    const status = await sandbox.install('wf-probe', 'pycage-preload-probe==1.0\n');
    assert.equal(status.status, 'ready', status.error);
    const run = await sandbox.runPython([
      'import pycage_preload_probe as p',
      'result = {"atImport": p.AT_IMPORT, "patched": p.PATCHED, "run": p.privileges()}',
    ].join('\n'), { bundle: 'wf-probe' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    probe = run.result;
  });
  after(async () => {
    if (sandbox) await sandbox.close();
    if (index) await index.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('imports the wheel in the warm interpreter with no capability, as a non-root uid, under a filter', { todo: KNOWN_GAP }, () => {
    assert.equal(probe.atImport.capEff, 0, `CapEff at import: 0x${probe.atImport.capEff.toString(16)}`);
    assert.notEqual(probe.atImport.uid, 0);
    assert.ok(probe.atImport.noNewPrivs);
    assert.ok(probe.atImport.seccompFilters >= probe.run.seccompFilters);
  });

  it('a runner patched at import does not loosen the next run', { todo: KNOWN_GAP }, () => {
    assert.deepEqual(probe.patched, [], 'the wheel could reach the runner');
    assert.equal(probe.run.capEff, 0);
    assert.notEqual(probe.run.uid, 0);
  });

  it('even so, the patched run stays in the jail: no host file, no network, no new privileges', async () => {
    const run = await sandbox.runPython([
      'import os, socket, pycage_preload_probe as p',
      'out = {"patched": p.PATCHED, "nnp": p.privileges()["noNewPrivs"]}',
      'out["hostFiles"] = [f for f in ("/etc/shadow", "/root", "/home", "/var/lib") if os.path.exists(f)]',
      'try:',
      '    socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
      '    out["inet"] = "ALLOWED"',
      'except OSError as e:',
      '    out["inet"] = e.errno',
      'result = out',
    ].join('\n'), { bundle: 'wf-probe' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result.hostFiles, []);
    assert.notEqual(run.result.inet, 'ALLOWED');
    assert.equal(run.result.nnp, true);
  });
});
