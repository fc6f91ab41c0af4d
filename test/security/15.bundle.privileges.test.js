'use strict';

// Bundle code in the warm interpreter: a wheel's import-time code runs in the
// bundle's zygote before any run. It holds no uid, capability or filter a run
// lacks beyond its own confinement steps (docs/ARCHITECTURE.md, "No privilege
// near bundle code"); it tries to raise its privileges and to reach what sets
// up later runs, and it patches the runner to skip every later run's jail.
// Each attempt must get nothing.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { skipWithoutAddon, fullSandbox, scratchDataDir, TIER } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const REFUSED = ['EPERM', 'EACCES', 'EROFS', 'ENOENT'];

function assertAllRefused(attempts, where) {
  for (const [name, outcome] of Object.entries(attempts)) {
    assert.ok(REFUSED.includes(outcome), `${where}: ${name} -> ${outcome}`);
  }
}

describe('security: bundle code in the warm interpreter', { skip: skipWithoutAddon }, () => {
  let index;
  let sandbox;
  let dataDir;
  let probe;
  before(async () => {
    index = await startIndex([(await ensureWheels()).dir]);
    dataDir = scratchDataDir('pycage-preload-');
    // Restrictions in warn mode: the jail, not the friendly import error, must stop the socket.
    sandbox = fullSandbox({ dataDir, index: { url: index.url }, installer: { tool: 'pip' }, restrictions: { mode: 'warn' } });
    const status = await sandbox.install('wf-probe', 'pycage-preload-probe==2.0\n');
    assert.equal(status.status, 'ready', status.error);
    const run = await sandbox.runPython([
      'import pycage_preload_probe as p',
      'result = {"atImport": p.AT_IMPORT, "patched": p.PATCHED, "run": dict(p.privileges(), attempts=p.attempts())}',
    ].join('\n'), { bundle: 'wf-probe' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    probe = run.result;
  });
  after(async () => {
    if (sandbox) await sandbox.close();
    if (index) await index.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('imports the wheel in the warm interpreter with no capability, as a non-root uid, under a filter', () => {
    const at = probe.atImport;
    assert.equal(at.capEff, 0, `CapEff at import: 0x${at.capEff.toString(16)}`);
    assert.equal(at.capPrm, 0);
    // A non-root host in the reduced tier cannot drop its bounding set (no
    // CAP_SETPCAP, no user namespace); NO_NEW_PRIVS keeps an execve from
    // gaining anything through it.
    if (TIER === 'full' || process.getuid() === 0) assert.equal(at.capBnd, 0);
    if (process.getuid() === 0) assert.notEqual(at.uid, 0, 'a uid range gives the zygote a uid of its own');
    assert.ok(at.noNewPrivs);
    assert.ok(at.seccompFilters >= 1);
  });

  it('cannot raise its privileges or reach what sets up later runs', () => {
    assertAllRefused(probe.atImport.attempts, 'at import');
  });

  it('a runner patched at import gives the next run nothing beyond the warm interpreter: no capability, no root, the filter on', () => {
    // Python lets the wheel patch the runner: that is not what is tested.
    assert.deepEqual(probe.patched, ['confine.RunJail.fork', 'confine.ReducedRunJail.fork', 'confine.RunJail.serve_forks']);
    const run = probe.run;
    assert.equal(run.capEff, 0);
    assert.equal(run.capPrm, 0);
    if (process.getuid() === 0) assert.notEqual(run.uid, 0);
    assert.ok(run.noNewPrivs);
    assert.ok(run.seccompFilters >= 1);
    assertAllRefused(run.attempts, 'in the unconfined run');
  });

  it('even so, the patched run stays in the jail: no host file, no network, no mount, no new privileges', async () => {
    const run = await sandbox.runPython([
      'import ctypes, os, socket, pycage_preload_probe as p',
      'out = {"patched": p.PATCHED, "nnp": p.privileges()["noNewPrivs"]}',
      // Readable, not merely there: Landlock (reduced tier) refuses opening,
      // not stat, so the names of host paths may show, their contents not.
      'def readable(f):',
      '    try:',
      '        os.listdir(f) if os.path.isdir(f) else open(f, "rb").read(1)',
      '        return True',
      '    except OSError:',
      '        return False',
      'out["hostFiles"] = [f for f in ("/etc/shadow", "/root", "/home", "/var/lib") if readable(f)]',
      'try:',
      '    socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
      '    out["inet"] = "ALLOWED"',
      'except OSError as e:',
      '    out["inet"] = e.errno',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'out["mountProc"] = libc.mount(b"proc", b"/proc", b"proc", 0, None) == 0 or ctypes.get_errno()',
      'result = out',
    ].join('\n'), { bundle: 'wf-probe' });
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.deepEqual(run.result.hostFiles, []);
    assert.notEqual(run.result.inet, 'ALLOWED');
    assert.notEqual(run.result.mountProc, true);
    assert.equal(run.result.nnp, true);
  });
});
