'use strict';

// A run against a bundle: the bundle's package tree is read-only, so a run
// cannot plant code (a module, a .pth, a sitecustomize) for the next run.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { skipWithoutAddon, fullSandbox, scratchDataDir, TIER, onlyInFull } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const EPERM = 1;
const EACCES = 13;
const EROFS = 30;

describe('security: the bundle site directory', { skip: skipWithoutAddon }, () => {
  let index;
  let sandbox;
  let dataDir;
  before(async () => {
    index = await startIndex([(await ensureWheels()).dir]);
    dataDir = scratchDataDir('pycage-site-');
    sandbox = fullSandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' } });
    const status = await sandbox.install('wf-site', 'pycage-hello==1.0\n');
    assert.equal(status.status, 'ready', status.error);
  });
  after(async () => {
    if (sandbox) await sandbox.close();
    if (index) await index.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('cannot write into the bundle, modify an installed module or plant a .pth or sitecustomize', async () => {
    const run = await sandbox.runPython([
      'import os, sys, pycage_hello',
      'site = os.environ["PYCAGE_SITE"]',
      'module = pycage_hello.__file__',
      'out = {"site_on_path": site in sys.path, "module_in_site": module.startswith(site)}',
      'targets = {"module": module, "pth": os.path.join(site, "evil.pth"), "sitecustomize": os.path.join(site, "sitecustomize.py")}',
      'for name, target in targets.items():',
      '    try:',
      '        with open(target, "a") as f: f.write("import os; os.environ[\'PWNED\'] = \'1\'\\n")',
      '        out[name] = "WRITTEN"',
      '    except OSError as e:',
      '        out[name] = e.errno',
      'try:',
      '    os.mkdir(os.path.join(site, "evil_pkg"))',
      '    out["mkdir"] = "MADE"',
      'except OSError as e:',
      '    out["mkdir"] = e.errno',
      'try:',
      '    os.chmod(module, 0o777)',
      '    out["chmod"] = "CHANGED"',
      'except OSError as e:',
      '    out["chmod"] = e.errno',
      'result = out',
    ].join('\n'), { bundle: 'wf-site' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    // An existing file may fail its permission check (EACCES) before the read-only one.
    const { module, ...rest } = run.result;
    assert.ok([EACCES, EROFS].includes(module), `module: ${module}`);
    // full: a read-only bind (a permission check may answer first: EACCES,
    // EPERM); reduced: Landlock (EACCES) and the run filter (chmod: EPERM).
    // Which comes first depends on the run's uid against the files' owner
    // (per-run uids, or one mapped uid): both are refusals.
    const { mkdir, chmod, pth, sitecustomize, ...where } = rest;
    assert.deepEqual(where, { site_on_path: true, module_in_site: true });
    const created = TIER === 'full' ? [EROFS, EACCES] : [EACCES];
    for (const [name, errno] of Object.entries({ pth, sitecustomize, mkdir })) assert.ok(created.includes(errno), `${name}: ${errno}`);
    assert.ok((TIER === 'full' ? [EROFS, EPERM] : [EPERM]).includes(chmod), `chmod: ${chmod}`);
    const next = await sandbox.runPython('import os, sys\n[os.environ.get("PWNED"), "sitecustomize" in sys.modules]', { bundle: 'wf-site' });
    assert.equal(next.status, 'ok', JSON.stringify(next.error));
    assert.deepEqual(next.result, [null, false]);
  });

  it('does not see the host path of the data directory', { skip: onlyInFull('no mounts: the bundle is read where it is on the host, so its path shows (read-only, nothing else below dataDir)') }, async () => {
    const run = await sandbox.runPython([
      'import os',
      `paths = [${JSON.stringify(dataDir)}, os.path.join(${JSON.stringify(dataDir)}, "bundles")]`,
      'result = [os.path.exists(p) for p in paths]',
    ].join('\n'), { bundle: 'wf-site' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result, [false, false]);
  });
});
