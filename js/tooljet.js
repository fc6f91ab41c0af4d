'use strict';

const { performance } = require('node:perf_hooks');
const { Sandbox } = require('./sandbox');

const { RemoteSandbox } = require('./worker');

// A Sandbox, or a RemoteSandbox (pycage/worker), which has the same runPython,
// limits, status, install and bundle (its status answers from the bundle store).
function checkSandbox(sandbox) {
  if (!(sandbox instanceof Sandbox) && !(sandbox instanceof RemoteSandbox)) {
    throw validate.expected('Sandbox or RemoteSandbox instance', 'sandbox', sandbox);
  }
}
const validate = require('./validate');
const { PycageError, codes } = require('./errors');

// ToolJet's executor shape over Sandbox#runPython. Caller faults (bad
// arguments, closed sandbox, overload) still reject with PycageError; what the
// Python code did (an exception, a broken limit) comes back as status 'error'.
function createPythonExecutor(sandbox) {
  checkSandbox(sandbox);

  async function execute(code, state, bundleId, timeout) {
    const options = {};
    if (state !== undefined && state !== null) options.inputs = validate.object(state, 'state');
    if (bundleId !== undefined && bundleId !== null) options.bundle = bundleId;
    if (timeout !== undefined && timeout !== null) {
      validate.positiveInteger(timeout, 'timeout');
      // The host's timeout may only lower the operator's wall-time ceiling.
      options.limits = { wallMs: Math.min(timeout, sandbox.limits.wallMs) };
    }
    const started = performance.now();
    const run = await sandbox.runPython(code, options);
    const executionTimeMs = Math.round((performance.now() - started) * 1000) / 1000;
    if (run.status === 'ok') {
      return { status: 'ok', data: run.result, error: null, trace: null, executionTimeMs };
    }
    return {
      status: 'error',
      data: null,
      error: `${run.error.type}: ${run.error.message}`,
      trace: run.error.traceback || null,
      executionTimeMs,
    };
  }

  return { execute };
}

// ToolJet's bundle service, keyed by app version id (the Sandbox's bundle key).
// Every method returns the Sandbox's BundleStatus, except
// getBundleForExecution, which says which bundle a run of that version uses:
// { bundleId, bundleSha } while a ready bundle serves it (also during a
// rebuild), null when the version has no packages (the standard library
// only), and ERR_BUNDLE_NOT_READY, saying why, when its packages failed or
// are still building with nothing older to serve.
function createBundleService(sandbox) {
  checkSandbox(sandbox);
  return {
    updatePackages: (appVersionId, requirementsText) => sandbox.install(appVersionId, requirementsText),
    generateBundle: (appVersionId) => sandbox.bundle(appVersionId),
    rebuildBundle: (appVersionId) => sandbox.bundle(appVersionId, { rebuild: true }),
    getBundleStatus: async (appVersionId) => sandbox.status(appVersionId),
    async getBundleForExecution(appVersionId) {
      const status = await sandbox.status(appVersionId);
      if (status.bundleSha && (status.status === 'ready' || status.status === 'building')) {
        return { bundleId: appVersionId, bundleSha: status.bundleSha };
      }
      if (status.status === 'none') return null;  // no packages: the standard library
      // A run without the version's packages would only fail later with a
      // ModuleNotFoundError that hides the cause: say it now.
      const why = status.status === 'failed'
        ? `failed to install: ${String(status.error || 'no reason recorded').split('\n').slice(0, 3).join(' ')}. ` +
          'Fix the requirements and save them again (updatePackages), or rebuild (rebuildBundle)'
        : 'are still being installed and no earlier build of this version can serve meanwhile. ' +
          'Retry when getBundleStatus() says ready';
      throw new PycageError(`The Python packages of app version ${JSON.stringify(appVersionId)} ${why}`,
        codes.ERR_BUNDLE_NOT_READY);
    },
  };
}

module.exports = { createPythonExecutor, createBundleService };
