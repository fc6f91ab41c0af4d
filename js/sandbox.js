'use strict';

const os = require('node:os');
const path = require('node:path');
const { EventEmitter } = require('node:events');
const { PycageError, codes, invalidArgument, withCallerStack } = require('./errors');
const validate = require('./validate');
const limitsOf = require('./limits');
const isolation = require('./isolation');
const native = require('./native');
const { toRunResult, cancelledBeforeStart } = require('./result');

// The native object and the private state hide behind Symbols so the public
// surface is exactly DESIGN.md's API (better-sqlite3's habit).
const kNative = Symbol('pycage.native');
const kState = Symbol('pycage.state');

const CONSTRUCTOR_OPTIONS = Object.freeze(['dataDir', 'python', 'isolation', 'limits', 'index', 'concurrency', 'maxQueue']);
const RUN_OPTIONS = Object.freeze(['bundle', 'inputs', 'limits', 'session', 'signal']);
const INDEX_OPTIONS = Object.freeze(['url', 'extraUrls', 'findLinks', 'trustedHosts']);
const MAX_CODE_BYTES = 1024 * 1024;
const MAX_KEY_LENGTH = 200;
const MAX_CONCURRENCY = 64;
const MAX_QUEUE = 1_000_000;

function defaultConcurrency() {
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.min(16, 2 * Math.max(1, cpus));
}

function checkIndex(index) {
  if (index === undefined) return undefined;
  validate.object(index, 'index');
  validate.knownKeys(index, INDEX_OPTIONS, 'index of new Sandbox()');
  if (index.url !== undefined) validate.string(index.url, 'index.url');
  for (const name of ['extraUrls', 'findLinks', 'trustedHosts']) {
    const list = index[name];
    if (list === undefined) continue;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s.length > 0)) {
      throw validate.expected('array of non-empty strings', `index.${name}`, list);
    }
  }
  return Object.freeze({ ...index });
}

// Step 1 of the constructor: everything that can be checked without touching
// the host, so a bad call fails the same way whether or not the addon is built.
function interpretOptions(options) {
  if (options === undefined) options = {};
  validate.object(options, 'options of new Sandbox()');
  validate.knownKeys(options, CONSTRUCTOR_OPTIONS, 'new Sandbox()');
  const dataDir = options.dataDir !== undefined
    ? validate.string(options.dataDir, 'dataDir')
    : (process.env.PYCAGE_DATA_DIR || path.join(os.homedir(), '.cache', 'pycage'));
  if (options.python !== undefined) validate.string(options.python, 'python');
  const requested = isolation.checkRequested(options.isolation);
  const ceiling = limitsOf.resolveCeiling(options.limits);
  const index = checkIndex(options.index);
  // The bounds are the supervisor's: one slot per concurrent run, and a queue
  // that stays a queue rather than a memory sink.
  const concurrency = options.concurrency === undefined
    ? defaultConcurrency() : validate.integerBetween(options.concurrency, 'concurrency', 1, MAX_CONCURRENCY);
  const maxQueue = options.maxQueue === undefined
    ? 1000 : validate.integerBetween(options.maxQueue, 'maxQueue', 1, MAX_QUEUE);
  return { dataDir: path.resolve(dataDir), python: options.python, requested, ceiling, index, concurrency, maxQueue };
}

function checkSignal(signal) {
  if (signal === undefined) return undefined;
  const looksLikeSignal = signal !== null && typeof signal === 'object' &&
    typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function';
  if (!looksLikeSignal) throw validate.expected('AbortSignal', 'signal', signal);
  return signal;
}

function serializeInputs(inputs) {
  if (inputs === undefined || inputs === null) return '{}';
  validate.object(inputs, 'inputs');
  try {
    return JSON.stringify(inputs);
  } catch (err) {
    throw invalidArgument(`Expected JSON-serialisable values in inputs but serialising them failed: ${err.message}`);
  }
}

class Sandbox extends EventEmitter {
  constructor(options) {
    super();
    // 1. validate and interpret options (pure)
    const opts = interpretOptions(options);
    // 2. look at the host and choose the tier
    const binding = native.load();
    const helperPath = native.helperPath();
    const probe = native.probe(binding, helperPath);
    const { tier, source } = isolation.choose(opts.requested, probe);
    // 3. find the interpreter (spawns it once; see native.resolvePython)
    const python = native.resolvePython(opts.python);

    this[kState] = {
      opts, probe, tier, nextId: 0, closed: false, closing: null, python,
    };
    this[kNative] = new binding.NativeSandbox({
      helperPath,
      runnerDir: native.RUNNER_DIR,
      python: python.python,
      pythonPrefixes: python.pythonPrefixes,
      isolation: tier,
      concurrency: opts.concurrency,
      maxQueue: opts.maxQueue,
      onLog: (line) => this.emit('log', null, String(line)),
    }, PycageError);

    if (tier === 'bypass') {
      // Loud, but once per Sandbox. Deferred so listeners attached right
      // after construction still see it.
      const message = isolation.bypassWarning(source);
      process.emitWarning(message, { type: 'PycageWarning', code: 'PYCAGE_SANDBOX_BYPASS' });
      process.nextTick(() => this.emit('log', null, message));
    }
  }

  // The operator's ceiling (and the defaults of every run).
  get limits() {
    return this[kState].opts.ceiling;
  }

  get isolation() {
    return this[kState].tier;
  }

  async runPython(code, options) {
    const state = this[kState];
    if (state.closed) throw new PycageError('This Sandbox is closed', codes.ERR_CLOSED);
    // Captured before the native call so a rejection points at the caller.
    const caller = {};
    Error.captureStackTrace(caller, Sandbox.prototype.runPython);

    if (typeof code !== 'string') throw validate.expected('string', 'code', code);
    const codeBytes = Buffer.byteLength(code, 'utf8');
    if (codeBytes > MAX_CODE_BYTES) {
      throw invalidArgument(`Expected code of at most ${MAX_CODE_BYTES} bytes but received ${codeBytes} bytes`);
    }
    if (options === undefined) options = {};
    validate.object(options, 'options of sandbox.runPython()');
    validate.knownKeys(options, RUN_OPTIONS, 'sandbox.runPython()');
    if (options.session !== undefined) {
      throw invalidArgument('Option session of sandbox.runPython(): sessions are not available in this version');
    }
    if (options.bundle !== undefined && options.bundle !== null) {
      validate.string(options.bundle, 'bundle', { maxLength: MAX_KEY_LENGTH });
      throw new PycageError(
        `Bundle ${JSON.stringify(options.bundle)} is not ready (status 'none'): bundles are not available ` +
        'in this version; omit the bundle option to run with the standard library only',
        codes.ERR_BUNDLE_NOT_READY);
    }
    const inputsJson = serializeInputs(options.inputs);
    const limits = limitsOf.resolveRunLimits(options.limits, state.opts.ceiling);
    const signal = checkSignal(options.signal);

    if (signal && signal.aborted) return cancelledBeforeStart(state.tier);

    const id = ++state.nextId;
    const nativeSandbox = this[kNative];
    const onAbort = () => { nativeSandbox.cancel(id); };
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    try {
      const outcome = await nativeSandbox.run({ id, code, inputsJson, limits });
      return toRunResult(outcome, state.tier);
    } catch (err) {
      throw withCallerStack(err, caller);
    } finally {
      if (signal) signal.removeEventListener('abort', onAbort);
    }
  }

  capabilities() {
    const state = this[kState];
    if (state.closed) throw new PycageError('This Sandbox is closed', codes.ERR_CLOSED);
    return isolation.capabilities(state.probe, state.tier, process.env, state.opts.requested);
  }

  // Idempotent: every caller of close() waits for the same shutdown.
  close() {
    const state = this[kState];
    if (state.closing === null) {
      state.closed = true;
      state.closing = Promise.resolve().then(() => this[kNative].close());
    }
    return state.closing;
  }
}

module.exports = { Sandbox, kNative };
