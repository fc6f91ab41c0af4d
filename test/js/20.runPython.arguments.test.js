'use strict';

// Argument handling of runPython with a fake addon: what reaches the native
// side, and what is refused before it.

const { describe, it, afterEach, mock } = require('node:test');
const assert = require('node:assert/strict');
const { Sandbox, PycageError } = require('../..');
const { fakeBinding } = require('./common');

async function rejects(promise, code, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof PycageError, `expected PycageError, got ${err}`);
    assert.equal(err.code, code);
    if (message instanceof RegExp) assert.match(err.message, message);
    else assert.equal(err.message, message);
    return true;
  });
}

describe('Sandbox#runPython()', () => {
  afterEach(() => mock.restoreAll());

  it('rejects code that is not a string with ERR_INVALID_ARGUMENT', async () => {
    fakeBinding();
    const sandbox = new Sandbox();
    await rejects(sandbox.runPython(42), 'ERR_INVALID_ARGUMENT',
      'Expected string for code but received 42 of type number');
    await rejects(sandbox.runPython(), 'ERR_INVALID_ARGUMENT',
      'Expected string for code but received undefined of type undefined');
  });

  it('rejects code above 1 MiB with ERR_INVALID_ARGUMENT', async () => {
    fakeBinding();
    await rejects(new Sandbox().runPython('#'.repeat(1024 * 1024 + 1)), 'ERR_INVALID_ARGUMENT',
      'Expected code of at most 1048576 bytes but received 1048577 bytes');
  });

  it('rejects a misspelled option with ERR_INVALID_ARGUMENT', async () => {
    fakeBinding();
    await rejects(new Sandbox().runPython('1', { input: {} }), 'ERR_INVALID_ARGUMENT',
      "Unknown option 'input' for sandbox.runPython(); did you mean 'inputs'?");
    await rejects(new Sandbox().runPython('1', []), 'ERR_INVALID_ARGUMENT',
      'Expected plain object for options of sandbox.runPython() but received [] of type array');
  });

  it('rejects a session id that is not a string of at most 200 characters', async () => {
    fakeBinding();
    await rejects(new Sandbox().runPython('1', { session: 7 }), 'ERR_INVALID_ARGUMENT',
      /^Expected non-empty string of at most 200 characters for session but received 7 of type number$/);
    await rejects(new Sandbox().runPython('1', { session: '' }), 'ERR_INVALID_ARGUMENT', /for session/);
  });

  it("rejects bundle with ERR_BUNDLE_NOT_READY (status 'none')", async () => {
    fakeBinding();
    await rejects(new Sandbox().runPython('1', { bundle: 'app-v1' }), 'ERR_BUNDLE_NOT_READY',
      "Bundle \"app-v1\" is not ready (status 'none'): call sandbox.install(key, requirementsText) first");
    await rejects(new Sandbox().runPython('1', { bundle: 'x'.repeat(201) }), 'ERR_INVALID_ARGUMENT',
      /^Expected non-empty string of at most 200 characters for bundle but received 'x{60}'\.\.\. 141 more characters of type string$/);
  });

  it('rejects inputs that are not a JSON object with ERR_INVALID_ARGUMENT', async () => {
    fakeBinding();
    const sandbox = new Sandbox();
    await rejects(sandbox.runPython('1', { inputs: [1, 2] }), 'ERR_INVALID_ARGUMENT',
      'Expected plain object for inputs but received [ 1, 2 ] of type array');
    const circular = {};
    circular.self = circular;
    await rejects(sandbox.runPython('1', { inputs: circular }), 'ERR_INVALID_ARGUMENT',
      /^Expected JSON-serialisable values in inputs but serialising them failed: Converting circular structure to JSON/);
    await rejects(sandbox.runPython('1', { inputs: { n: 1n } }), 'ERR_INVALID_ARGUMENT',
      'Expected JSON-serialisable values in inputs but serialising them failed: Do not know how to serialize a BigInt');
  });

  it('rejects an inputs key that Python code could not name, naming the key', async () => {
    fakeBinding();
    const sandbox = new Sandbox();
    for (const key of ['my node', '1st', 'class', 'a-b', '']) {
      await rejects(sandbox.runPython('1', { inputs: { [key]: 1 } }), 'ERR_INVALID_ARGUMENT',
        new RegExp(`^Expected a Python identifier for each inputs key but received ${JSON.stringify(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    }
  });

  it('rejects raising a limit above the ceiling with ERR_INVALID_ARGUMENT', async () => {
    fakeBinding();
    await rejects(new Sandbox().runPython('1', { limits: { wallMs: 60000 } }), 'ERR_INVALID_ARGUMENT',
      "limits.wallMs of 60000 exceeds this Sandbox's ceiling of 10000; a run may only lower its limits. " +
      'To raise the ceiling, construct the Sandbox with new Sandbox({ limits: { wallMs: 60000 } })');
    await rejects(new Sandbox().runPython('1', { limits: { wall: 1 } }), 'ERR_INVALID_ARGUMENT',
      "Unknown limit 'wall' for limits of sandbox.runPython(); did you mean 'wallMs'?");
  });

  it('rejects a signal that is not an AbortSignal with ERR_INVALID_ARGUMENT', async () => {
    fakeBinding();
    await rejects(new Sandbox().runPython('1', { signal: true }), 'ERR_INVALID_ARGUMENT',
      'Expected AbortSignal for signal but received true of type boolean');
  });

  it('sends code, serialised inputs, merged limits and unique ids to the native side', async () => {
    const fake = fakeBinding();
    const sandbox = new Sandbox({ limits: { cpuMs: 8000 } });
    await sandbox.runPython('a', { inputs: { getOrders: { data: [1] } }, limits: { wallMs: 500 } });
    await sandbox.runPython('b');
    const [first, second] = fake.instances[0].runs;
    assert.equal(first.code, 'a');
    assert.equal(first.inputsJson, '{"getOrders":{"data":[1]}}');
    assert.equal(first.limits.wallMs, 500);
    assert.equal(first.limits.cpuMs, 8000);
    assert.equal(second.inputsJson, '{}');
    assert.equal(second.limits.wallMs, 10000);
    assert.ok(Number.isSafeInteger(first.id) && first.id > 0);
    assert.notEqual(first.id, second.id);
  });

  it('builds the public RunResult from the native outcome', async () => {
    fakeBinding({
      outcome: {
        status: 'error', resultJson: null, stdout: 'out', stderr: 'err',
        truncatedStdout: true, truncatedStderr: false, truncatedFigures: true,
        figures: [{ type: 'image/png', data: 'iVBORw0KGgo=' }],
        audit: [{ kind: 'module', name: 'socket', message: 'no network' }],
        error: { type: 'ZeroDivisionError', message: 'division by zero', traceback: 'Traceback…', line: 3 },
        wallMs: 2.5, cpuMs: 1.25, peakMemoryKb: 9000, queueMs: 0.75, coldStart: true,
      },
    });
    const result = await new Sandbox().runPython('1/0');
    assert.deepEqual(result, {
      status: 'error', result: null, stdout: 'out', stderr: 'err',
      figures: [{ type: 'image/png', data: 'iVBORw0KGgo=' }],
      error: { type: 'ZeroDivisionError', message: 'division by zero', traceback: 'Traceback…', line: 3 },
      truncated: { stdout: true, stderr: false, figures: true },
      audit: [{ kind: 'module', name: 'socket', message: 'no network' }],
      usage: { wallMs: 2.5, cpuMs: 1.25, peakMemoryKb: 9000, queueMs: 0.75, coldStart: true },
      isolation: 'full',
    });
  });

  it('resolves Cancelled without starting the run when the signal is already aborted', async () => {
    const fake = fakeBinding();
    const result = await new Sandbox().runPython('while True: pass', { signal: AbortSignal.abort() });
    assert.equal(result.status, 'error');
    assert.equal(result.error.type, 'Cancelled');
    assert.equal(result.error.message, 'The run was cancelled before it started: its AbortSignal was already aborted');
    assert.equal(fake.instances[0].runs.length, 0);
  });

  it('cancels the native run when the signal aborts mid-run', async () => {
    const fake = fakeBinding({ outcome: 'hold' });
    const controller = new AbortController();
    const pending = new Sandbox().runPython('while True: pass', { signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    const result = await pending;
    assert.equal(result.error.type, 'Cancelled');
    assert.deepEqual(fake.instances[0].cancelled, [fake.instances[0].runs[0].id]);
  });

  it('rejects every call after close() with ERR_CLOSED', async () => {
    const fake = fakeBinding();
    const sandbox = new Sandbox();
    await sandbox.close();
    await sandbox.close();
    assert.equal(fake.instances[0].closed, true);
    await rejects(sandbox.runPython('1'), 'ERR_CLOSED', 'This Sandbox is closed');
    assert.throws(() => sandbox.capabilities(), { code: 'ERR_CLOSED' });
  });

  it('attaches the caller stack to native rejections', async () => {
    const fake = fakeBinding();
    const sandbox = new Sandbox();
    fake.instances[0].run = () => Promise.reject(new PycageError('queue full', 'ERR_OVERLOADED'));
    await assert.rejects(sandbox.runPython('1'), (err) => {
      assert.equal(err.code, 'ERR_OVERLOADED');
      assert.match(err.stack, /20\.runPython\.arguments\.test\.js/);
      return true;
    });
  });
});
