'use strict';

// Shared helpers for the node:test suites (not a test file itself).

const fs = require('node:fs');
const { mock } = require('node:test');
const native = require('../../js/native');

const addonBuilt = native.ADDON_PATH !== null && fs.existsSync(native.ADDON_PATH);
// CI sets PYCAGE_REQUIRE_ADDON=1: there a missing addon is a failure, never a skip.
if (!addonBuilt && process.env.PYCAGE_REQUIRE_ADDON === '1') {
  throw new Error('PYCAGE_REQUIRE_ADDON=1 but no addon is built or prebuilt (npm run build)');
}

// Sandboxes made without a dataDir keep their bundle store in a scratch
// directory, not in the home directory of whoever runs the tests.
if (!process.env.PYCAGE_DATA_DIR) {
  const os = require('node:os');
  const path = require('node:path');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-test-data-'));
  fs.chmodSync(scratch, 0o755);  // reachable by the reduced tier's own uid (host root)
  process.env.PYCAGE_DATA_DIR = scratch;
  process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
}
const skipWithoutAddon = addonBuilt ? false : `the addon is not built (${native.ADDON_PATH})`;

const FULL_PROBE = Object.freeze({
  userns: true, mountns: true, pidns: true, netns: true, seccomp: true,
  landlockAbi: 3, cgroup2Delegated: false, root: true, missing: [], fix: [],
});

// Replaces the addon with a recording fake so JS-only behaviour (validation,
// defaults, signal wiring) is tested without building C++. Returns the fake;
// call restore() (or rely on mock.restoreAll in afterEach).
const TRIAL_OK = Object.freeze({ ok: true, exitCode: 0, signal: 0, timedOut: false, wallMs: 1, log: 'pycage-zygote: trial ok\n' });

function fakeBinding({ probe = FULL_PROBE, outcome, trial = TRIAL_OK } = {}) {
  const fake = {
    trialCalls: [],
    // trial: an outcome for every tier, or a function of the trial config.
    trialJail(config) { fake.trialCalls.push(config); return typeof trial === 'function' ? trial(config) : trial; },
    trialJailAsync(config) { return Promise.resolve(fake.trialJail(config)); },
    probeCalls: [],
    instances: [],
    probe(helperPath) { fake.probeCalls.push(helperPath); return probe; },
    probeAsyncCalls: [],
    probeAsync(helperPath) { fake.probeAsyncCalls.push(helperPath); return Promise.resolve(probe); },
    setErrorClass() {},
    NativeSandbox: class {
      constructor(options, ErrorClass) {
        this.options = options;
        this.ErrorClass = ErrorClass;
        this.runs = [];
        this.cancelled = [];
        this.closed = false;
        this.pending = new Map();
        fake.instances.push(this);
      }
      run(request) {
        this.runs.push(request);
        if (outcome === 'hold') {
          return new Promise((resolve) => this.pending.set(request.id, resolve));
        }
        return Promise.resolve(outcome ?? {
          status: 'ok', resultJson: '42', stdout: '', stderr: '',
          truncatedStdout: false, truncatedStderr: false, error: null,
          wallMs: 1, cpuMs: 1, peakMemoryKb: 100,
        });
      }
      cancel(id) {
        this.cancelled.push(id);
        const resolve = this.pending.get(id);
        if (resolve) {
          this.pending.delete(id);
          resolve({
            status: 'error', resultJson: null, stdout: '', stderr: '',
            truncatedStdout: false, truncatedStderr: false,
            error: { type: 'Cancelled', message: 'cancelled', traceback: '', line: null },
            wallMs: 1, cpuMs: 0, peakMemoryKb: 0,
          });
          return true;
        }
        return false;
      }
      close() { this.closed = true; return Promise.resolve(); }
    },
  };
  mock.method(native, 'load', () => fake);
  mock.method(native, 'helperPath', () => '/fake/build/Release/pycage-jail');
  const fakePython = {
    python: '/fake/bin/python3.11', pythonPrefixes: ['/fake'], version: '3.11.0', abi: 'cpython-311-x86_64-linux-gnu',
  };
  fake.pythonCalls = { sync: 0, async: 0 };
  mock.method(native, 'resolvePython', () => { fake.pythonCalls.sync += 1; return fakePython; });
  mock.method(native, 'resolvePythonAsync', async () => { fake.pythonCalls.async += 1; return fakePython; });
  return fake;
}

module.exports = { addonBuilt, skipWithoutAddon, FULL_PROBE, fakeBinding };
