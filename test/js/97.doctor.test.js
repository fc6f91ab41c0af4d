'use strict';

// `npx pycage doctor`: each failing condition alone (injected), then the real
// command on this host and on one without user namespaces.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const doctor = require('../../js/doctor');
const { skipWithoutAddon } = require('./common');

const CLI = path.join(__dirname, '..', '..', 'js', 'cli.js');
const PYTHON = process.env.PYCAGE_PYTHON || '/usr/bin/python3';
const TRIAL_OK = { ok: true, exitCode: 0, signal: 0, timedOut: false, wallMs: 42, log: 'pycage-zygote: trial ok\n' };
const PROBE = { userns: true, cgroup2: { available: false, reason: 'no cgroup root given' } };

// A native module stand-in; `over` replaces any part of it.
function fakeNative(over = {}) {
  const binding = { trialJail: over.trialJail || (() => TRIAL_OK) };
  return {
    RUNNER_DIR: '/fake/runner',
    load: () => binding,
    helperPath: () => '/fake/pycage-jail',
    resolvePython: () => ({ python: '/fake/python3', pythonPrefixes: ['/fake'], version: '3.11.2' }),
    probe: () => PROBE,
    ...over,
  };
}

function scratchDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-doctor-'));
  return dir;
}

async function diagnose(over = {}, opts = {}, deps = {}) {
  const dataDir = opts.dataDir || scratchDir();
  try {
    return await doctor.diagnose({ dataDir, ...opts }, { native: fakeNative(over), env: {}, nodeVersion: '24.1.0', ...deps });
  } finally {
    if (!opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const byName = (report, name) => report.checks.find((c) => c.name === name);

// status, or 'auth': 200 only with the Basic credentials user:secret.
function serve(status) {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      const authorized = req.headers.authorization === `Basic ${Buffer.from('user:secret').toString('base64')}`;
      res.statusCode = status === 'auth' ? (authorized ? 200 : 401) : status;
      res.end('x');
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe('pycage doctor, one condition at a time', () => {
  it('passes on a host where everything works, and picks full', async () => {
    const report = await diagnose();
    assert.equal(report.ok, true);
    assert.equal(report.jailTier, 'full');
    assert.deepEqual(report.tiers.full, { available: true, trial: { ok: true, wallMs: 42 }, runUids: 'shared' });
    for (const name of ['node', 'addon', 'interpreter', 'tier full', 'tier reduced', 'tier bypass', 'dataDir']) {
      assert.equal(byName(report, name).ok, true, name);
    }
    assert.match(doctor.format(report), /^ok {4}node: Node 24\.1\.0$/m);
    assert.match(doctor.format(report), /isolation 'auto' picks: full/);
  });

  it('flags a Node line that is not supported', async () => {
    const report = await diagnose({}, {}, { nodeVersion: '20.11.0' });
    assert.equal(report.ok, false);
    assert.match(byName(report, 'node').detail, /Node 20\.11\.0 is not a supported line \(22, 24\)/);
    assert.match(byName(report, 'node').fix, /install Node 24/);
  });

  it('names an addon that does not load and the fix, and tries no tier', async () => {
    const err = new Error('Could not load the pycage native addon:\n  x\nPossible solutions:\n- Build from source: npx pycage build');
    const report = await diagnose({ load: () => { throw err; } });
    assert.equal(report.ok, false);
    assert.equal(report.jailTier, null);
    assert.equal(byName(report, 'addon').ok, false);
    assert.equal(byName(report, 'addon').fix, 'Build from source: npx pycage build');
    assert.match(byName(report, 'tier full').detail, /not tried/);
  });

  it('names a missing interpreter', async () => {
    const err = new Error("Could not use the Python interpreter '/x' (from the python option): not found\n- Install Python 3: apt-get install python3");
    const report = await diagnose({ resolvePython: () => { throw err; } });
    assert.equal(report.ok, false);
    assert.match(byName(report, 'interpreter').detail, /Could not use the Python interpreter '\/x'/);
    assert.match(byName(report, 'interpreter').fix, /apt-get install python3/);
  });

  it('turns a failed trial jail into the failed step and the fix, and exits non-zero without a jail tier', async (t) => {
    const trialJail = () => ({ ok: false, exitCode: 125, signal: 0, timedOut: false, wallMs: 9,
      log: 'pycage-jail: userns: unshare(CLONE_NEWUSER): Operation not permitted (errno 1)\n' });
    const report = await diagnose({ load: () => ({ trialJail }) });
    assert.equal(report.ok, false);
    assert.equal(report.jailTier, null);
    const full = byName(report, 'tier full');
    assert.equal(full.ok, false);
    assert.match(full.detail, /step 'userns': unshare\(CLONE_NEWUSER\) failed with Operation not permitted \(errno 1\)/);
    assert.match(full.fix, /kernel\.unprivileged_userns_clone=1/);
    assert.deepEqual(report.tiers.full.trial, { ok: false, stage: 'userns', syscall: 'unshare(CLONE_NEWUSER)', errno: 1,
      error: 'Operation not permitted' });
    let written = '';
    const dataDir = scratchDir();
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const code = await doctor.main(['--data-dir', dataDir], { native: fakeNative({ load: () => ({ trialJail }) }) },
      { write: (text) => { written += text; } });
    assert.equal(code, 1);
    assert.match(written, /no jail tier is available here/);
  });

  it('picks the reduced tier when only its trial jail runs, noting why full failed', async () => {
    const trialJail = (config) => (config.isolation === 'full'
      ? { ok: false, exitCode: 125, signal: 0, timedOut: false, wallMs: 9,
        log: 'pycage-jail: userns: unshare(CLONE_NEWUSER): Operation not permitted (errno 1)\n' }
      : TRIAL_OK);
    const report = await diagnose({ load: () => ({ trialJail }) });
    assert.equal(report.ok, true);
    assert.equal(report.jailTier, 'reduced');
    assert.equal(byName(report, 'tier reduced').ok, true);
    assert.match(doctor.format(report), /^note {2}tier full: a trial jail failed at step 'userns'/m);
    assert.match(doctor.format(report), /isolation 'auto' picks: reduced/);
  });

  it("says whether each tier's runs get host uids of their own, and what would give them", async () => {
    const rootWithoutSetuid = await diagnose({ probe: () => ({ ...PROBE, root: true, switchUid: false }) });
    assert.deepEqual([rootWithoutSetuid.tiers.full.runUids, rootWithoutSetuid.tiers.reduced.runUids], ['per-run', 'shared']);
    assert.match(byName(rootWithoutSetuid, 'tier full').detail, /each run gets a host uid of its own$/);
    assert.match(byName(rootWithoutSetuid, 'tier reduced').detail, /runs share one uid \(a uid per run needs root with CAP_SETUID and CAP_SETGID/);
    const dockerRoot = await diagnose({ probe: () => ({ ...PROBE, root: true, switchUid: true }) });
    assert.equal(dockerRoot.tiers.reduced.runUids, 'per-run');
    assert.match(byName(dockerRoot, 'tier reduced').detail, /each run gets a host uid of its own$/);
    const user = await diagnose({ probe: () => ({ ...PROBE, root: false, switchUid: false }) });
    assert.match(byName(user, 'tier full').detail, /runs share this process's uid \(a uid per run needs this process to run as root\)/);
  });

  it('notes a cgroup root that is not delegated, without failing', async () => {
    const probe = () => ({ cgroup2: { available: false, reason: '/sys/fs/cgroup/x is not delegated to uid 0' } });
    const report = await diagnose({ probe }, { cgroupRoot: '/sys/fs/cgroup/x' });
    assert.equal(report.ok, true);
    assert.match(byName(report, 'cgroup').detail, /is not delegated to uid 0/);
    assert.match(byName(report, 'cgroup').fix, /Delegate=yes/);
  });

  it('names a dataDir it cannot write', async () => {
    const dir = scratchDir();
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    try {
      const report = await diagnose({}, { dataDir: path.join(file, 'data') });
      assert.equal(report.ok, false);
      assert.match(byName(report, 'dataDir').detail, /file\/data is not writable \(ENOTDIR\)/);
      assert.match(byName(report, 'dataDir').fix, /PYCAGE_DATA_DIR/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells an unreachable index from one that refuses, one that is missing and one that works', async () => {
    const closed = await serve(200);
    const port = closed.address().port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await diagnose({}, { index: `http://user:secret@127.0.0.1:${port}/simple/` });
    assert.equal(unreachable.ok, false);
    assert.match(byName(unreachable, 'index').detail, new RegExp(`^http://127\\.0\\.0\\.1:${port}/simple/ is unreachable: ECONNREFUSED`));
    assert.doesNotMatch(JSON.stringify(unreachable), /secret/);
    for (const [status, pattern, ok] of [[401, /refused access \(HTTP 401\)/, false], [404, /answered HTTP 404/, false],
      [200, /answered HTTP 200/, true], ['auth', /answered HTTP 200/, true]]) {
      const server = await serve(status);
      const creds = status === 'auth' ? 'user:secret@' : '';
      try {
        const report = await diagnose({}, { index: `http://${creds}127.0.0.1:${server.address().port}/simple/` });
        assert.doesNotMatch(JSON.stringify(report), /secret/);
        assert.equal(byName(report, 'index').ok, ok, String(status));
        assert.match(byName(report, 'index').detail, pattern);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  it('refuses unknown arguments with a usage line', () => {
    assert.throws(() => doctor.parseArgs(['--jsn']), /unknown argument '--jsn'\nusage: pycage doctor/);
    assert.throws(() => doctor.parseArgs(['--index']), /--index needs a value/);
  });
});

describe('npx pycage doctor on this host', { skip: skipWithoutAddon }, () => {
  it('proves the full tier with a trial jail and exits 0 (--json for machines)', () => {
    const data = scratchDir();
    const out = spawnSync(process.execPath, [CLI, 'doctor', '--json', '--python', PYTHON, '--data-dir', data],
      { encoding: 'utf8', timeout: 60000 });
    fs.rmSync(data, { recursive: true, force: true });
    assert.equal(out.status, 0, out.stdout + out.stderr);
    const report = JSON.parse(out.stdout);
    assert.equal(report.jailTier, 'full');
    assert.equal(report.tiers.full.trial.ok, true);
    assert.equal(report.checks.find((c) => c.name === 'interpreter').ok, true);
  });

  it('exits 2 with the usage on a bad argument', () => {
    const out = spawnSync(process.execPath, [CLI, 'doctor', '--bogus'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(out.status, 2);
    assert.match(out.stderr, /unknown argument '--bogus'/);
  });

  const noBwrap = spawnSync('bwrap', ['--version']).status !== 0 ? 'bwrap is not installed' : false;
  it('picks reduced where user namespaces are forbidden, naming the step full failed at', { skip: noBwrap }, () => {
    const data = scratchDir();
    const out = spawnSync('bwrap', ['--dev-bind', '/', '/', '--unshare-user', '--disable-userns', '--uid', '0', '--gid', '0',
      process.execPath, CLI, 'doctor', '--python', PYTHON, '--data-dir', data], { encoding: 'utf8', timeout: 60000 });
    fs.rmSync(data, { recursive: true, force: true });
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /^note {2}tier full: a trial jail failed at step '[\w-]+': \S*(unshare|clone)\S*\(CLONE_NEWUSER[^)]*\) failed with/m);
    assert.match(out.stdout, /^ok {4}tier reduced: a trial jail ran Python/m);
    assert.match(out.stdout, /isolation 'auto' picks: reduced/);
  });
});
