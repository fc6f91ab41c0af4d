'use strict';

const { describe, it, afterEach, mock } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Sandbox, PycageError } = require('../..');
const { fakeBinding, FULL_PROBE } = require('./common');

function rejects(fn, code, message) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof PycageError, `expected PycageError, got ${err}`);
    assert.equal(err.code, code);
    if (message instanceof RegExp) assert.match(err.message, message);
    else assert.equal(err.message, message);
    return true;
  });
}

// These checks happen before the addon is touched: they pass without a build.
describe('new Sandbox() argument checks', () => {
  it('rejects a misspelled option with ERR_INVALID_ARGUMENT and a suggestion', () => {
    rejects(() => new Sandbox({ limit: {} }), 'ERR_INVALID_ARGUMENT',
      "Unknown option 'limit' for new Sandbox(); did you mean 'limits'?");
    rejects(() => new Sandbox({ isolaton: 'full' }), 'ERR_INVALID_ARGUMENT',
      "Unknown option 'isolaton' for new Sandbox(); did you mean 'isolation'?");
  });

  it('rejects an unknown option with ERR_INVALID_ARGUMENT listing the valid ones', () => {
    rejects(() => new Sandbox({ zzz: 1 }), 'ERR_INVALID_ARGUMENT',
      "Unknown option 'zzz' for new Sandbox(); expected one of 'dataDir', 'python', 'isolation', 'limits', 'index', 'concurrency', 'maxQueue', " +
      "'installer', 'diskCapBytes', 'cgroupRoot', 'sessions', 'restrictions', 'preload'");
  });

  it('rejects options that are not a plain object with ERR_INVALID_ARGUMENT', () => {
    rejects(() => new Sandbox(5), 'ERR_INVALID_ARGUMENT',
      'Expected plain object for options of new Sandbox() but received 5 of type number');
    rejects(() => new Sandbox(null), 'ERR_INVALID_ARGUMENT',
      'Expected plain object for options of new Sandbox() but received null of type null');
  });

  it('rejects a non-positive limit with ERR_INVALID_ARGUMENT', () => {
    rejects(() => new Sandbox({ limits: { cpuMs: -1 } }), 'ERR_INVALID_ARGUMENT',
      'Expected positive integer for limits.cpuMs but received -1 of type number');
    rejects(() => new Sandbox({ limits: { wallMs: 1.5 } }), 'ERR_INVALID_ARGUMENT',
      'Expected positive integer for limits.wallMs but received 1.5 of type number');
    rejects(() => new Sandbox({ limits: { memoryBytes: '512m' } }), 'ERR_INVALID_ARGUMENT',
      "Expected positive integer for limits.memoryBytes but received '512m' of type string");
  });

  it('rejects a misspelled limit with ERR_INVALID_ARGUMENT', () => {
    rejects(() => new Sandbox({ limits: { cpu_ms: 5 } }), 'ERR_INVALID_ARGUMENT',
      "Unknown limit 'cpu_ms' for limits of new Sandbox(); did you mean 'cpuMs'?");
    rejects(() => new Sandbox({ limits: { timeout: 5 } }), 'ERR_INVALID_ARGUMENT',
      "Unknown limit 'timeout' for limits of new Sandbox(); expected one of 'wallMs', 'cpuMs', 'memoryBytes', 'fileSizeBytes', 'processes', 'openFiles', 'stdoutBytes', 'stderrBytes', 'resultBytes', 'tmpBytes'");
  });

  it('rejects an unknown isolation tier with ERR_INVALID_ARGUMENT', () => {
    rejects(() => new Sandbox({ isolation: 'none' }), 'ERR_INVALID_ARGUMENT',
      "Expected one of 'auto', 'full', 'reduced', 'bypass' for isolation but received 'none' of type string");
  });

  it('rejects bad python, dataDir, index, concurrency and maxQueue with ERR_INVALID_ARGUMENT', () => {
    rejects(() => new Sandbox({ python: '' }), 'ERR_INVALID_ARGUMENT',
      "Expected non-empty string for python but received '' of type string");
    rejects(() => new Sandbox({ dataDir: 3 }), 'ERR_INVALID_ARGUMENT',
      'Expected non-empty string for dataDir but received 3 of type number');
    rejects(() => new Sandbox({ index: { url: 'https://x', extraURLs: [] } }), 'ERR_INVALID_ARGUMENT',
      "Unknown option 'extraURLs' for index of new Sandbox(); did you mean 'extraUrls'?");
    rejects(() => new Sandbox({ index: { trustedHosts: 'x' } }), 'ERR_INVALID_ARGUMENT',
      "Expected array of non-empty strings for index.trustedHosts but received 'x' of type string");
    rejects(() => new Sandbox({ concurrency: 0 }), 'ERR_INVALID_ARGUMENT',
      'Expected integer between 1 and 64 for concurrency but received 0 of type number');
    rejects(() => new Sandbox({ maxQueue: 0 }), 'ERR_INVALID_ARGUMENT',
      'Expected integer between 1 and 1000000 for maxQueue but received 0 of type number');
  });
});

describe('new Sandbox() with a fake addon', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    mock.restoreAll();
    for (const name of ['PYCAGE_SANDBOX_BYPASS', 'TOOLJET_WORKFLOW_SANDBOX_BYPASS']) {
      if (savedEnv[name] === undefined) delete process.env[name]; else process.env[name] = savedEnv[name];
    }
  });

  it('Sandbox.create() probes and resolves the interpreter off the JS thread, then constructs', async () => {
    const fake = fakeBinding();
    const sandbox = await Sandbox.create({ concurrency: 2 });
    assert.ok(sandbox instanceof Sandbox);
    assert.deepEqual(fake.probeAsyncCalls, ['/fake/build/Release/pycage-jail']);
    assert.deepEqual(fake.probeCalls, []);
    assert.deepEqual(fake.pythonCalls, { sync: 0, async: 1 });
    assert.equal(fake.instances[0].options.python, '/fake/bin/python3.11');
    assert.equal(fake.instances[0].options.concurrency, 2);
    // A later plain constructor probes for itself.
    const other = new Sandbox();
    assert.deepEqual(fake.probeCalls, ['/fake/build/Release/pycage-jail']);
    await Promise.all([sandbox.close(), other.close()]);
  });

  it('Sandbox.create() rejects what the constructor throws', async () => {
    const fake = fakeBinding({ probe: { ...FULL_PROBE, userns: false, missing: ['userns'] } });
    await assert.rejects(Sandbox.create({ isolation: 'full' }), { code: 'ERR_ISOLATION_UNAVAILABLE', message: /userns/ });
    await assert.rejects(Sandbox.create({ concurency: 2 }), { code: 'ERR_INVALID_ARGUMENT', message: /did you mean 'concurrency'/ });
    assert.equal(fake.instances.length, 0);
  });

  it('hands the resolved options and PycageError to the native object', () => {
    const fake = fakeBinding();
    const sandbox = new Sandbox({ concurrency: 3, maxQueue: 7 });
    assert.equal(fake.instances.length, 1);
    const { options, ErrorClass } = fake.instances[0];
    assert.equal(ErrorClass, PycageError);
    assert.equal(options.helperPath, '/fake/build/Release/pycage-jail');
    assert.equal(options.runnerDir, path.resolve(__dirname, '../../native/runner'));
    assert.equal(options.python, '/fake/bin/python3.11');
    assert.deepEqual(options.pythonPrefixes, ['/fake']);
    assert.equal(options.isolation, 'full');
    assert.equal(options.concurrency, 3);
    assert.equal(options.maxQueue, 7);
    assert.equal(typeof options.onLog, 'function');
    assert.equal(sandbox.isolation, 'full');
  });

  it('forwards native diagnostics as log entries with a level and a source', () => {
    const fake = fakeBinding();
    const sandbox = new Sandbox();
    const entries = [];
    sandbox.on('log', (entry) => entries.push(entry));
    fake.instances[0].options.onLog('pycage-zygote: preload of x failed: ImportError: no');
    fake.instances[0].options.onLog('pycage-jail: mount_ns: mount(proc, /newroot/proc, proc, 0): Operation not permitted (errno 1)');
    assert.deepEqual(entries, [
      { level: 'warn', source: 'zygote', key: null, message: 'pycage-zygote: preload of x failed: ImportError: no' },
      { level: 'error', source: 'jail', key: null,
        message: 'pycage-jail: mount_ns: mount(proc, /newroot/proc, proc, 0): Operation not permitted (errno 1)' },
    ]);
  });

  it('grades installer output: pip chatter is debug, warnings warn, errors error', () => {
    const { fromInstaller } = require('../../js/log');
    assert.equal(fromInstaller('Collecting numpy').level, 'debug');
    assert.equal(fromInstaller('WARNING: Retrying (Retry(total=4)) after connection broken').level, 'warn');
    assert.equal(fromInstaller('ERROR: No matching distribution found for x').level, 'error');
    assert.equal(fromInstaller('pycage-install: running pip install').level, 'info');
    assert.equal(fromInstaller("pycage-install: WARNING: pip of /usr/bin/python3 does not start without …").level, 'warn');
    assert.equal(fromInstaller('x').source, 'installer');
  });

  it('uses ToolJet defaults and lets the operator raise the ceiling', () => {
    fakeBinding();
    assert.deepEqual({ ...new Sandbox().limits }, {
      wallMs: 10000, cpuMs: 5000, memoryBytes: 536870912, fileSizeBytes: 1048576, processes: 5,
      openFiles: 256, stdoutBytes: 1048576, stderrBytes: 1048576, resultBytes: 16777216, tmpBytes: 16777216,
    });
    const raised = new Sandbox({ limits: { wallMs: 60000, memoryBytes: 2 ** 30 } });
    assert.equal(raised.limits.wallMs, 60000);
    assert.equal(raised.limits.memoryBytes, 2 ** 30);
    assert.equal(raised.limits.cpuMs, 5000);
  });

  it("rejects 'auto' with ERR_ISOLATION_UNAVAILABLE naming what each tier lacks and the fix", () => {
    fakeBinding({
      probe: {
        ...FULL_PROBE, userns: false, landlockAbi: 0,
        missing: ['unprivileged user namespaces (kernel.unprivileged_userns_clone=0)'],
        fix: ['sysctl -w kernel.unprivileged_userns_clone=1'],
      },
    });
    rejects(() => new Sandbox(), 'ERR_ISOLATION_UNAVAILABLE',
      "Isolation 'auto' is unavailable on this host. " +
      'The full jail lacks: unprivileged user namespaces (kernel.unprivileged_userns_clone=0). ' +
      'How to fix: sysctl -w kernel.unprivileged_userns_clone=1. ' +
      "The reduced jail lacks: Landlock (Linux 5.13 or later with landlock in the kernel's lsm= list). " +
      "To run without any jail, opt in explicitly with isolation: 'bypass' or PYCAGE_SANDBOX_BYPASS=true.");
    rejects(() => new Sandbox({ isolation: 'full' }), 'ERR_ISOLATION_UNAVAILABLE', /^Isolation 'full' is unavailable/);
    rejects(() => new Sandbox({ isolation: 'reduced' }), 'ERR_ISOLATION_UNAVAILABLE',
      /^Isolation 'reduced' is unavailable on this host\. The reduced jail lacks: Landlock/);
  });

  it("picks the reduced tier under 'auto' where user namespaces are refused, proven by its own trial jail", async () => {
    const fake = fakeBinding({ probe: { ...FULL_PROBE, userns: false, missing: ['userns'] } });
    const sandbox = new Sandbox();
    assert.equal(sandbox.isolation, 'reduced');
    assert.deepEqual(fake.trialCalls.map((config) => config.isolation), ['reduced']);
    assert.equal(fake.instances[0].options.isolation, 'reduced');
    const caps = sandbox.capabilities();
    assert.equal(caps.selected, 'reduced');
    assert.deepEqual(caps.tiers.reduced, { available: true, missing: [], runUids: 'shared', trial: { ok: true, wallMs: 1 } });
    assert.equal(caps.tiers.full.available, false);
    await sandbox.close();
  });

  it("proves isolation 'reduced' when asked for, even where full would work", async () => {
    const fake = fakeBinding();
    const sandbox = new Sandbox({ isolation: 'reduced' });
    assert.equal(sandbox.isolation, 'reduced');
    assert.deepEqual(fake.trialCalls.map((config) => config.isolation), ['reduced']);
    await sandbox.close();
  });

  it('never falls back to bypass silently', () => {
    fakeBinding({ probe: { ...FULL_PROBE, seccomp: false, missing: ['seccomp'] } });
    assert.throws(() => new Sandbox(), { code: 'ERR_ISOLATION_UNAVAILABLE' });
  });

  for (const name of ['PYCAGE_SANDBOX_BYPASS', 'TOOLJET_WORKFLOW_SANDBOX_BYPASS']) {
    it(`selects bypass from ${name}=true and logs it loudly once`, async () => {
      const fake = fakeBinding();
      process.env[name] = 'true';
      const warnings = [];
      mock.method(process, 'emitWarning', (msg, opts) => warnings.push([msg, opts]));
      const sandbox = new Sandbox();
      const logs = [];
      sandbox.on('log', (entry) => logs.push(entry));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(fake.instances[0].options.isolation, 'bypass');
      assert.equal(sandbox.isolation, 'bypass');
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0][1].code, 'PYCAGE_SANDBOX_BYPASS');
      assert.match(warnings[0][0], new RegExp(`SANDBOX BYPASS ENABLED by ${name}=true in the environment`));
      assert.equal(logs.length, 1);
      assert.deepEqual(logs[0], { level: 'warn', source: 'sandbox', key: null, message: warnings[0][0] });
      assert.equal(sandbox.capabilities().tiers.bypass.optIn, true);
    });
  }

  it("lets an explicit isolation 'full' win over the bypass environment variable", () => {
    const fake = fakeBinding();
    process.env.PYCAGE_SANDBOX_BYPASS = 'true';
    new Sandbox({ isolation: 'full' });
    assert.equal(fake.instances[0].options.isolation, 'full');
  });

  it("selects bypass from the option even on a host that cannot jail", () => {
    const fake = fakeBinding({ probe: { ...FULL_PROBE, userns: false, missing: ['userns'] } });
    mock.method(process, 'emitWarning', () => {});
    const sandbox = new Sandbox({ isolation: 'bypass' });
    assert.equal(fake.instances[0].options.isolation, 'bypass');
    assert.deepEqual(sandbox.capabilities().tiers.full, { available: false, missing: ['userns'], runUids: 'per-run' });
  });

  it('reports capabilities() with every tier, the selection and the host probe', () => {
    fakeBinding();
    const caps = new Sandbox().capabilities();
    assert.deepEqual(caps, {
      tiers: {
        full: { available: true, missing: [], runUids: 'per-run', trial: { ok: true, wallMs: 1 } },
        reduced: { available: true, missing: [], runUids: 'shared' },
        bypass: { available: true, optIn: false },
      },
      selected: 'full',
      host: FULL_PROBE,
    });
  });
});

describe('the trial jail at construction', () => {
  afterEach(() => mock.restoreAll());
  const failed = (log, extra = {}) => ({ ok: false, exitCode: 125, signal: 0, timedOut: false, wallMs: 5, log, ...extra });

  it('proves the full tier with the stdlib pool config, once per process and binding', () => {
    const fake = fakeBinding();
    const first = new Sandbox({ concurrency: 2 });
    const second = new Sandbox({ concurrency: 2 });
    assert.equal(fake.trialCalls.length, 1);
    const config = fake.trialCalls[0];
    assert.equal(config.isolation, 'full');
    assert.equal(config.python, '/fake/bin/python3.11');
    assert.deepEqual(config.extraBinds, []);
    assert.equal(config.onLog, undefined);
    return Promise.all([first.close(), second.close()]);
  });

  it('runs no trial for bypass', () => {
    const fake = fakeBinding();
    const sandbox = new Sandbox({ isolation: 'bypass' });
    assert.equal(fake.trialCalls.length, 0);
    assert.equal(sandbox.capabilities().tiers.full.trial, undefined);
    return sandbox.close();
  });

  it('turns a failed step into ERR_ISOLATION_UNAVAILABLE with the stage, syscall, errno and a fix', () => {
    const procRefused = failed(
      'pycage-jail: mount_ns: mount(proc, /newroot/proc, proc, MS_NOSUID|MS_NODEV|MS_NOEXEC): Operation not permitted (errno 1)\n');
    const landlockRefused = failed('pycage-jail: landlock: landlock_create_ruleset(filesystem): Operation not permitted (errno 1)\n');
    const fake = fakeBinding({ trial: (config) => (config.isolation === 'full' ? procRefused : landlockRefused) });
    assert.throws(() => new Sandbox(), (err) => {
      assert.equal(err.code, 'ERR_ISOLATION_UNAVAILABLE');
      assert.match(err.message, /^Isolation 'auto' is unavailable: a trial full jail failed at step 'mount_ns': mount\(proc, \/newroot\/proc, proc, MS_NOSUID\|MS_NODEV\|MS_NOEXEC\) failed with Operation not permitted \(errno 1\)\./);
      assert.match(err.message, /How to fix \(\w+\): /);
      assert.match(err.message, /A trial reduced jail failed too, at step 'landlock': landlock_create_ruleset\(filesystem\) failed with Operation not permitted \(errno 1\)\./);
      assert.deepEqual(err.step, { stage: 'mount_ns', syscall: 'mount(proc, /newroot/proc, proc, MS_NOSUID|MS_NODEV|MS_NOEXEC)', errno: 1, error: 'Operation not permitted' });
      return true;
    });
    // 'auto' tried full, then reduced; a failure is not remembered: the next Sandbox tries again.
    assert.deepEqual(fake.trialCalls.map((config) => config.isolation), ['full', 'reduced']);
    assert.throws(() => new Sandbox(), { code: 'ERR_ISOLATION_UNAVAILABLE' });
    assert.equal(fake.trialCalls.length, 4);
    assert.equal(fake.instances.length, 0);
  });

  it("falls back to the reduced tier when the full tier's trial jail fails", async () => {
    const fake = fakeBinding({ trial: (config) => (config.isolation === 'full'
      ? failed('pycage-jail: mount_ns: mount(proc, /newroot/proc, proc, 0): Operation not permitted (errno 1)\n')
      : { ok: true, exitCode: 0, signal: 0, timedOut: false, wallMs: 2, log: '' }) });
    const sandbox = await Sandbox.create();
    assert.equal(sandbox.isolation, 'reduced');
    const caps = sandbox.capabilities();
    assert.equal(caps.tiers.full.available, false);
    assert.match(caps.tiers.full.missing[0], /trial jail failed at mount_ns/);
    assert.deepEqual(caps.tiers.reduced.trial, { ok: true, wallMs: 2 });
    assert.deepEqual(fake.trialCalls.map((config) => config.isolation), ['full', 'reduced']);
    await sandbox.close();
  });

  it("names a run child's failed plan step, a crash, and a timeout", async () => {
    fakeBinding({ trial: failed('pycage-zygote: trial: run-userns: unshare(CLONE_NEWUSER): No space left on device (errno 28)\n', { exitCode: 3 }) });
    assert.throws(() => new Sandbox({ isolation: 'full' }),
      { code: 'ERR_ISOLATION_UNAVAILABLE', message: /^Isolation 'full' is unavailable: a trial full jail failed at step 'run-userns': unshare\(CLONE_NEWUSER\) failed with No space left on device \(errno 28\)\..*user\.max_user_namespaces/ });
    mock.restoreAll();
    fakeBinding({ trial: failed('pycage-zygote: fatal: ImportError: boom\n', { exitCode: 1 }) });
    assert.throws(() => new Sandbox(), { code: 'ERR_ISOLATION_UNAVAILABLE', message: /failed with no jail step to blame: the trial jail exited with code 1 \(pycage-zygote: fatal: ImportError: boom\)\. How to fix \(\w+\): check that the interpreter starts/ });
    mock.restoreAll();
    fakeBinding({ trial: failed('', { exitCode: 0, signal: 9, timedOut: true }) });
    await assert.rejects(Sandbox.create(), { code: 'ERR_ISOLATION_UNAVAILABLE', message: /did not finish within 30 s/ });
  });

  it('Sandbox.capabilities() answers without constructing: the tier, or why none', async () => {
    const fake = fakeBinding();
    const caps = await Sandbox.capabilities();
    assert.equal(caps.selected, 'full');
    assert.equal(caps.error, null);
    assert.deepEqual(caps.tiers.full, { available: true, missing: [], runUids: 'per-run', trial: { ok: true, wallMs: 1 } });
    assert.equal(fake.instances.length, 0);
    mock.restoreAll();
    fakeBinding({ trial: failed('pycage-jail: mount_ns: mount(proc, /newroot/proc, proc, 0): Operation not permitted (errno 1)\n') });
    const refused = await Sandbox.capabilities({ isolation: 'full' });
    assert.equal(refused.selected, null);
    assert.equal(refused.error.code, 'ERR_ISOLATION_UNAVAILABLE');
    assert.deepEqual(refused.error.step, { stage: 'mount_ns', syscall: 'mount(proc, /newroot/proc, proc, 0)', errno: 1, error: 'Operation not permitted' });
    assert.equal(refused.tiers.full.available, false);
    assert.match(refused.tiers.full.missing[0], /trial jail failed at mount_ns/);
    assert.equal((await Sandbox.capabilities({ isolation: 'bypass' })).selected, 'bypass');
    await assert.rejects(Sandbox.capabilities({ isolaton: 'full' }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('gives the fix for the platform this most likely is', () => {
    const trialMod = require('../../js/trial');
    const proc = failed('pycage-jail: mount_ns: mount(proc, /newroot/proc, proc, 0): Operation not permitted (errno 1)\n');
    const none = () => false;
    const docker = trialMod.trialError('auto', [{ tier: 'full', outcome: proc }], { env: {}, exists: (p) => p === '/.dockerenv' });
    assert.match(docker.message, /How to fix \(docker\): .*--security-opt seccomp=.*apparmor=unconfined.*systempaths=unconfined/);
    const k8s = trialMod.trialError('auto', [{ tier: 'full', outcome: proc }], { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, exists: none });
    assert.match(k8s.message, /How to fix \(kubernetes\): .*seccompProfile.*procMount: Unmasked/);
    const cgroup = failed('pycage-jail: cgroup: mkdir(/sys/fs/cgroup/x/pycage-1): Permission denied (errno 13); delegate it\n');
    const systemd = trialMod.trialError('auto', [{ tier: 'full', outcome: cgroup }], { env: {}, exists: (p) => p === '/run/systemd/system' });
    assert.match(systemd.message, /How to fix \(systemd\): delegate it; .*Delegate=yes/);
    const userns = failed('pycage-jail: userns: unshare(CLONE_NEWUSER): Operation not permitted (errno 1)\n');
    assert.match(trialMod.trialError('auto', [{ tier: 'full', outcome: userns }], { env: {}, exists: none }).message,
      /How to fix \(linux\): sysctl kernel\.unprivileged_userns_clone=1/);
  });
});

describe('new Sandbox() on a host without user namespaces', () => {
  const { spawnSync } = require('node:child_process');
  const fs = require('node:fs');
  const native = require('../../js/native');
  const bwrap = spawnSync('bwrap', ['--version']);
  const skip = !(native.ADDON_PATH && fs.existsSync(native.ADDON_PATH)) ? 'the addon is not built'
    : bwrap.status !== 0 ? 'bwrap is not installed' : false;

  // bwrap --disable-userns gives the child a user namespace in which no
  // further one can be made: what Docker's default seccomp profile does.
  it("picks 'reduced' from 'auto' with the real probe and runs Python there, never bypass; 'full' names what it lacks", { skip }, () => {
    const script = `
      const { Sandbox } = require(${JSON.stringify(require.resolve('../..'))});
      const python = ${JSON.stringify(process.env.PYCAGE_PYTHON || '/usr/bin/python3')};
      (async () => {
        const s = new Sandbox({ python });
        const run = await s.runPython('6 * 7');
        console.log(JSON.stringify({ tier: s.isolation, result: run.result, isolation: run.isolation }));
        await s.close();
        try { new Sandbox({ python, isolation: 'full' }); console.log('{}'); }
        catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
      })();`;
    const out = spawnSync('bwrap', ['--dev-bind', '/', '/', '--unshare-user', '--disable-userns', '--uid', '0',
      '--gid', '0', process.execPath, '-e', script], { encoding: 'utf8', timeout: 30000 });
    assert.equal(out.status, 0, out.stderr);
    const [auto, full] = out.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(auto, { tier: 'reduced', result: 42, isolation: 'reduced' }, out.stdout);
    assert.equal(full.code, 'ERR_ISOLATION_UNAVAILABLE', out.stdout);
    assert.match(full.message, /^Isolation 'full' is unavailable on this host\. The full jail lacks: userns; /);
    assert.doesNotMatch(full.message, /lacks: [^.]*cgroup2/);
    assert.match(full.message, /opt in explicitly with isolation: 'bypass'/);
  });

  // Docker masks /proc paths with overmounts; the kernel then refuses a new
  // procfs in a user namespace. The probe cannot see that; the trial jail must.
  const maskSkip = !(native.ADDON_PATH && fs.existsSync(native.ADDON_PATH)) ? 'the addon is not built'
    : process.getuid() !== 0 ? 'needs root to overmount /proc'
      : spawnSync('unshare', ['--version']).status !== 0 ? 'unshare is not installed' : false;
  it("refuses 'full' at construction, naming the /proc mount, when /proc is masked as Docker masks it", { skip: maskSkip }, () => {
    const script = `
      const { Sandbox } = require(${JSON.stringify(require.resolve('../..'))});
      const report = (e) => console.log(JSON.stringify({ code: e.code, message: e.message, step: e.step }));
      const options = { python: ${JSON.stringify(process.env.PYCAGE_PYTHON || '/usr/bin/python3')}, isolation: 'full' };
      try { new Sandbox(options); console.log('{}'); }
      catch (e) { report(e); }
      Sandbox.create(options).then(() => console.log('{}'), report)
        .then(() => Sandbox.capabilities(options))
        .then((caps) => report(caps.error || {}))
        .then(() => Sandbox.capabilities({ python: options.python }))
        .then((caps) => console.log(JSON.stringify({ auto: caps.selected })));`;
    const masks = 'mount --bind /dev/null /proc/timer_list && mount --bind /proc/sys /proc/sys && ' +
      'mount -o remount,bind,ro /proc/sys && exec "$0" -e "$1"';
    const out = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', masks, process.execPath, script],
      { encoding: 'utf8', timeout: 60000 });
    assert.equal(out.status, 0, out.stderr);
    const outcomes = out.stdout.trim().split('\n').map((line) => JSON.parse(line));
    // 'auto' settles on the reduced tier there, which needs no procfs of its own.
    assert.deepEqual(outcomes.pop(), { auto: 'reduced' }, out.stdout);
    assert.equal(outcomes.length, 3, out.stdout);
    for (const outcome of outcomes) {
      assert.equal(outcome.code, 'ERR_ISOLATION_UNAVAILABLE', out.stdout);
      assert.match(outcome.message, /a trial full jail failed at step '\w+': mount\(proc, \/newroot\/proc, proc, [A-Z_|]+\) failed with Operation not permitted \(errno 1\)/);
      assert.match(outcome.message, /unmasked \/proc|systempaths=unconfined|procMount/);
      assert.equal(outcome.step.errno, 1);
    }
  });

  it("Sandbox.create() rejects 'full' the same way with the real probe", { skip }, () => {
    const script = `
      const { Sandbox } = require(${JSON.stringify(require.resolve('../..'))});
      Sandbox.create({ isolation: 'full' }).then((s) => { console.log(JSON.stringify({ tier: s.isolation })); return s.close(); },
        (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
    const out = spawnSync('bwrap', ['--dev-bind', '/', '/', '--unshare-user', '--disable-userns', '--uid', '0',
      '--gid', '0', process.execPath, '-e', script], { encoding: 'utf8', timeout: 30000 });
    assert.equal(out.status, 0, out.stderr);
    const outcome = JSON.parse(out.stdout.trim());
    assert.equal(outcome.code, 'ERR_ISOLATION_UNAVAILABLE', out.stdout);
    assert.match(outcome.message, /The full jail lacks: userns; /);
  });
});

describe('new Sandbox({ cgroupRoot })', () => {
  afterEach(() => mock.restoreAll());

  it('refuses a cgroupRoot the probe cannot use, with the reason and the fix', () => {
    const fake = fakeBinding({ probe: { ...FULL_PROBE, cgroup2: { available: false, reason: '/nope is not on a cgroup2 filesystem' } } });
    assert.throws(() => new Sandbox({ cgroupRoot: '/nope' }), {
      code: 'ERR_ISOLATION_UNAVAILABLE',
      message: /cgroupRoot \/nope cannot be used: \/nope is not on a cgroup2 filesystem\. Delegate a cgroup v2 subtree/,
    });
    assert.deepEqual(fake.probeCalls, ['/fake/build/Release/pycage-jail']);
  });

  it('hands a usable cgroupRoot to every jail with limits for all its run slots and sessions', () => {
    const fake = fakeBinding({ probe: { ...FULL_PROBE, cgroup2: { available: true, reason: '' } } });
    const sandbox = new Sandbox({ cgroupRoot: '/sys/fs/cgroup/pycage.slice', concurrency: 4, limits: { processes: 10 },
      sessions: { max: 2 } });
    const { options } = fake.instances[0];
    assert.equal(options.cgroupRoot, '/sys/fs/cgroup/pycage.slice');
    assert.equal(options.maxSessions, 2);
    // Runs, sessions, two spares and the zygote.
    assert.equal(options.cgroupPidsMax, (4 + 2 + 3) * 10 + 64);
    assert.equal(options.cgroupMemoryMax, (4 + 2 + 3) * 512 * 1024 * 1024);
    return sandbox.close();
  });

  it('refuses a relative cgroupRoot', () => {
    fakeBinding();
    assert.throws(() => new Sandbox({ cgroupRoot: 'pycage.slice' }), { code: 'ERR_INVALID_ARGUMENT', message: /absolute path for cgroupRoot/ });
  });
});
