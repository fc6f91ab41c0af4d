'use strict';

const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const { EventEmitter } = require('node:events');
const { PycageError, codes, invalidArgument, withCallerStack } = require('./errors');
const validate = require('./validate');
const limitsOf = require('./limits');
const isolation = require('./isolation');
const { profileOf } = require('./profiles');
const native = require('./native');
const { toRunResult, cancelledBeforeStart } = require('./result');
const { BundleStore } = require('./store');
const { BundleManager } = require('./bundles');
const { Pools } = require('./pools');
const { Sessions, DEFAULT_MAX_SESSIONS, DEFAULT_IDLE_MS } = require('./sessions');
const { checkRestrictions, restrictionsEnv } = require('./restrictions');
const trial = require('./trial');
const log = require('./log');
const { SandboxMetrics } = require('./metrics');
const { redactCredentials } = require('./redact');
const { checkRunArguments, MAX_KEY_LENGTH } = require('./run_args');
const { checkPreloadOptions } = require('./preload_learning');

// The native object and the private state hide behind Symbols so the public
// surface is exactly the README's API (better-sqlite3's habit).
const kNative = Symbol('pycage.native');
const kState = Symbol('pycage.state');

const CONSTRUCTOR_OPTIONS = Object.freeze(['dataDir', 'python', 'isolation', 'limits', 'index', 'concurrency', 'maxQueue',
  'installer', 'diskCapBytes', 'cgroupRoot', 'sessions', 'restrictions', 'preload']);
const SESSIONS_OPTIONS = Object.freeze(['max', 'idleMs']);
const MAX_SESSIONS = 10_000;
const INSTALLER_OPTIONS = Object.freeze(['tool', 'uvPath', 'timeoutMs']);
const DEFAULT_DISK_CAP_BYTES = 20 * 1024 ** 3;
const INDEX_OPTIONS = Object.freeze(['url', 'extraUrls', 'findLinks', 'trustedHosts', 'proxy', 'caBundle']);
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
  if (index.proxy !== undefined) {
    // The installer's only way out: the host's environment never reaches it.
    let scheme = null;
    try { scheme = new URL(validate.string(index.proxy, 'index.proxy')).protocol; } catch { /* refused below */ }
    if (scheme !== 'http:' && scheme !== 'https:') {
      throw validate.expected('an http:// or https:// proxy URL', 'index.proxy', redactCredentials(index.proxy));
    }
  }
  if (index.caBundle !== undefined) {
    const file = validate.string(index.caBundle, 'index.caBundle');
    let ok = path.isAbsolute(file);
    try { ok = ok && fs.statSync(file).isFile(); } catch { ok = false; }
    if (!ok) throw validate.expected('the absolute path of a readable PEM file', 'index.caBundle', file);
  }
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
  const installer = checkInstaller(options.installer);
  const diskCapBytes = options.diskCapBytes === undefined
    ? DEFAULT_DISK_CAP_BYTES : validate.positiveInteger(options.diskCapBytes, 'diskCapBytes');
  // A delegated cgroup v2 directory: opt-in, because only the operator knows
  // which subtree was delegated to this service (systemd Delegate=yes).
  const cgroupRoot = options.cgroupRoot !== undefined ? validate.string(options.cgroupRoot, 'cgroupRoot')
    : (process.env.PYCAGE_CGROUP_ROOT || undefined);
  if (cgroupRoot !== undefined && !path.isAbsolute(cgroupRoot)) throw validate.expected('absolute path', 'cgroupRoot', cgroupRoot);
  const sessions = checkSessions(options.sessions);
  const restrictions = checkRestrictions(options.restrictions);
  const preload = checkPreloadOptions(options.preload);
  return {
    dataDir: path.resolve(dataDir), python: options.python, requested, ceiling, index, concurrency, maxQueue,
    installer, diskCapBytes, cgroupRoot, sessions, restrictions, preload,
  };
}

// sessions: { max, idleMs }: the global cap (least recently used idle
// sessions are evicted beyond it) and the idle TTL.
function checkSessions(sessions) {
  if (sessions === undefined) return { max: DEFAULT_MAX_SESSIONS, idleMs: DEFAULT_IDLE_MS };
  validate.object(sessions, 'sessions');
  validate.knownKeys(sessions, SESSIONS_OPTIONS, 'sessions of new Sandbox()');
  const max = sessions.max === undefined
    ? DEFAULT_MAX_SESSIONS : validate.integerBetween(sessions.max, 'sessions.max', 1, MAX_SESSIONS);
  const idleMs = sessions.idleMs === undefined
    ? DEFAULT_IDLE_MS : validate.integerBetween(sessions.idleMs, 'sessions.idleMs', 1, 2 ** 31 - 1);
  return { max, idleMs };
}

// installer: { tool: 'auto' | 'pip' | 'uv', uvPath, timeoutMs }. 'auto' takes
// uv when it is on PATH (it is much faster), else pip.
function checkInstaller(installer) {
  if (installer === undefined) return { tool: 'auto' };
  validate.object(installer, 'installer');
  validate.knownKeys(installer, INSTALLER_OPTIONS, 'installer of new Sandbox()');
  const tool = installer.tool === undefined ? 'auto' : installer.tool;
  if (!['auto', 'pip', 'uv'].includes(tool)) throw validate.expected("'auto', 'pip' or 'uv'", 'installer.tool', tool);
  if (installer.uvPath !== undefined) {
    validate.string(installer.uvPath, 'installer.uvPath');
    if (!path.isAbsolute(installer.uvPath)) throw validate.expected('absolute path', 'installer.uvPath', installer.uvPath);
  }
  if (installer.timeoutMs !== undefined) validate.positiveInteger(installer.timeoutMs, 'installer.timeoutMs');
  return { tool, uvPath: installer.uvPath, timeoutMs: installer.timeoutMs };
}

function chooseInstallTool(installer) {
  const uvPath = installer.uvPath || native.findOnPath('uv', process.env);
  if (installer.tool === 'uv' && !uvPath) {
    throw invalidArgument("installer.tool is 'uv' but uv is not on PATH; install uv or pass installer.uvPath");
  }
  if (installer.tool === 'pip' || !uvPath) return { tool: 'pip', uvPath: null };
  return { tool: 'uv', uvPath };
}

const MAX_DRAIN_MS = 3_600_000;

function closeDrainMs(options) {
  if (options === undefined || options === null) return 0;
  validate.object(options, 'close options');
  for (const name of Object.keys(options)) {
    if (name !== 'drainMs') throw invalidArgument(`Unknown option '${name}' for close(); expected 'drainMs'`);
  }
  if (options.drainMs === undefined) return 0;
  const ms = options.drainMs;
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_DRAIN_MS) {
    throw validate.expected(`an integer number of milliseconds from 0 to ${MAX_DRAIN_MS}`, 'drainMs', ms);
  }
  return ms;
}

// Resolves once every run in flight has settled, or after ms.
function drain(running, ms) {
  let timer;
  const deadline = new Promise((resolve) => { timer = setTimeout(resolve, ms); });
  const settled = Promise.allSettled([...running]);
  return Promise.race([settled, deadline]).finally(() => clearTimeout(timer));
}

function checkOpen(sandbox) {
  if (sandbox[kState].closed) throw new PycageError('This Sandbox is closed', codes.ERR_CLOSED);
}

// One native run on a pool; the AbortSignal cancels it wherever it is.
async function runOnPool(pool, request, signal, state, poolKey) {
  if (signal && signal.aborted) return cancelledOutcome();
  const id = ++state.nextId;
  const nativeSandbox = pool.native;
  const onAbort = () => { nativeSandbox.cancel(id); };
  if (signal) signal.addEventListener('abort', onAbort, { once: true });
  pool.inFlight++;
  const running = nativeSandbox.run({ id, ...request });
  state.running.add(running);
  let outcome;
  try {
    outcome = await running;
    return outcome;
  } finally {
    state.running.delete(running);
    pool.inFlight--;
    if (signal) signal.removeEventListener('abort', onAbort);
    state.pools.finished(poolKey, pool, outcome);
  }
}

// A session call that waited behind earlier calls and was aborted meanwhile.
function cancelledOutcome() {
  const message = 'the run was cancelled by its AbortSignal before it started';
  return {
    status: 'error', resultJson: null, stdout: '', stderr: '', truncatedStdout: false, truncatedStderr: false,
    error: { type: 'Cancelled', message, traceback: `Cancelled: ${message}`, line: null },
    wallMs: 0, cpuMs: 0, peakMemoryKb: 0, sessionStarted: false,
  };
}

// Set by Sandbox.create() for the one constructor call it makes: what it
// learned off the JS thread, so the constructor need not block on it.
let prepared = null;

// The host-facing choices of a Sandbox for one tier: the native config
// every pool shares (each adds its binds and environment).
function planSandbox(opts, tier, source, probe, python, helperPath) {
  const profile = profileOf(tier);
  if (opts.cgroupRoot && profile.cgroupLimits && probe.cgroup2 && !probe.cgroup2.available) {
    throw new PycageError(`cgroupRoot ${opts.cgroupRoot} cannot be used: ${probe.cgroup2.reason}. ` +
      'Delegate a cgroup v2 subtree to this service (systemd: Delegate=yes) and pass its directory, or omit cgroupRoot',
    codes.ERR_ISOLATION_UNAVAILABLE);
  }
  const base = {
    helperPath,
    runnerDir: native.RUNNER_DIR,
    python: python.python,
    pythonPrefixes: python.pythonPrefixes,
    isolation: tier,
    concurrency: opts.concurrency,
    maxQueue: opts.maxQueue,
    maxSessions: opts.sessions.max,
    // The jail's cgroup holds every run slot and session (plus two spares
    // and the zygote): the per-run ceilings times the slots.
    ...(opts.cgroupRoot && profile.cgroupLimits ? {
      cgroupRoot: opts.cgroupRoot,
      cgroupPidsMax: (opts.concurrency + opts.sessions.max + 3) * opts.ceiling.processes + 64,
      cgroupMemoryMax: (opts.concurrency + opts.sessions.max + 3) * opts.ceiling.memoryBytes,
    } : {}),
  };
  // The stdlib pool's config: what the trial jail proves.
  const trialConfig = { ...base, extraBinds: [], extraEnv: restrictionsEnv(opts.restrictions, { unrestricted: false }) };
  return { tier, source, profile, base, trialConfig, needsTrial: profile.namespaces || profile.landlockFs };
}

// Settles the tier: each candidate, strongest first, is proven by a trial
// jail, and the first that starts wins. A generator, so the constructor
// (sync trials) and create()/capabilities() (async) share one sequence:
// it yields a trial config and is resumed with that trial's outcome.
// Returns { plan, trials } with each tier's outcome; throws when none starts.
function* settleTier(opts, probe, python, helperPath) {
  const { tiers, source } = isolation.candidates(opts.requested, probe);
  const trials = {};
  const failures = [];
  for (const tier of tiers) {
    const plan = planSandbox(opts, tier, source, probe, python, helperPath);
    if (!plan.needsTrial) return { plan, trials };
    const outcome = yield plan.trialConfig;
    trials[tier] = outcome;
    if (outcome.ok) return { plan, trials };
    failures.push({ tier, outcome });
  }
  const error = trial.trialError(opts.requested, failures);
  error.trials = trials;
  throw error;
}

function settleSync(opts, probe, python, helperPath, binding) {
  const steps = settleTier(opts, probe, python, helperPath);
  let next = steps.next();
  while (!next.done) next = steps.next(trial.runSync(binding, next.value));
  return next.value;
}

async function settleAsync(opts, probe, python, helperPath, binding) {
  const steps = settleTier(opts, probe, python, helperPath);
  let next = steps.next();
  while (!next.done) next = steps.next(await trial.runAsync(binding, next.value));
  return next.value;
}

function trialSummaries(trials) {
  return Object.fromEntries(Object.entries(trials || {}).map(([tier, outcome]) => [tier, trial.summary(outcome)]));
}

// The host probe and the interpreter query, off the JS thread.
async function lookAtHost(opts) {
  const binding = native.load();
  const helperPath = native.helperPath();
  const [probe, python] = await Promise.all([
    native.probeAsync(binding, helperPath, opts.cgroupRoot),
    native.resolvePythonAsync(opts.python),
  ]);
  return { binding, helperPath, probe, python };
}

class Sandbox extends EventEmitter {
  // The constructor spawns the jail helper's probe, the interpreter and a
  // trial jail once and waits for them on the JS thread (tens of ms; a trial
  // that succeeded is not repeated in this process). create() does all of
  // it off the JS thread, then constructs.
  static async create(options) {
    const opts = interpretOptions(options);
    const { binding, helperPath, probe, python } = await lookAtHost(opts);
    const settled = await settleAsync(opts, probe, python, helperPath, binding);
    prepared = { options, probe, python, settled };
    try {
      return new this(options);
    } finally {
      prepared = null;
    }
  }

  // What this host allows and which tier 'auto' (or options.isolation)
  // settles on, proven by trial jails, without constructing a Sandbox:
  // `selected` is null and `error` says why when no tier can run. Rejects
  // only on bad options or a broken install.
  static async capabilities(options) {
    const opts = interpretOptions(options);
    const { binding, helperPath, probe, python } = await lookAtHost(opts);
    let selected = null;
    let trials = {};
    let error = null;
    try {
      const settled = await settleAsync(opts, probe, python, helperPath, binding);
      selected = settled.plan.tier;
      trials = settled.trials;
    } catch (err) {
      if (!(err instanceof PycageError) || err.code !== codes.ERR_ISOLATION_UNAVAILABLE) throw err;
      trials = err.trials || {};
      error = { code: err.code, message: err.message, step: err.step || null };
    }
    return { ...isolation.capabilities(probe, selected, process.env, opts.requested, trialSummaries(trials)), error };
  }

  constructor(options) {
    super();
    const pre = prepared !== null && prepared.options === options ? prepared : null;
    prepared = null;
    // 1. validate and interpret options (pure)
    const opts = interpretOptions(options);
    // 2. look at the host
    const binding = native.load();
    const helperPath = native.helperPath();
    const probe = pre ? pre.probe : native.probe(binding, helperPath, opts.cgroupRoot);
    // 3. find the interpreter (spawns it once; see native.resolvePython)
    const python = pre ? pre.python : native.resolvePython(opts.python);
    // 4. choose the tier and prove it with a trial jail: a host that cannot
    // build it fails here, naming the step, never later as a run error with
    // a wrong cause.
    const settled = pre ? pre.settled : settleSync(opts, probe, python, helperPath, binding);
    const { tier, source, profile, base } = settled.plan;
    const trials = settled.trials;

    const { tool, uvPath } = chooseInstallTool(opts.installer);
    binding.setErrorClass(PycageError);

    this[kState] = {
      opts, probe, tier, nextId: 0, closed: false, closing: null, python, trials, running: new Set(),
      metrics: new SandboxMetrics(),
    };
    // One NativeSandbox (supervisor thread + zygote) per bundle; the stdlib
    // pool has no bundle directory.
    const createNative = (extra) => new binding.NativeSandbox({
      ...base,
      extraBinds: extra.binds,
      // Every zygote applies the restrictions before its warm-up.
      extraEnv: [...extra.env, ...restrictionsEnv(opts.restrictions, { unrestricted: extra.unrestricted })],
      onLog: (line) => {
        const installId = extra.dir ? path.basename(extra.dir) : null;
        if (extra.onZygoteLine && extra.onZygoteLine(line)) {
          this.emit('log', log.entry(null, { level: 'info', source: 'zygote', message: `${installId}: ${line}` }));
          return;
        }
        this.emit('log', log.entry(null, log.fromJail(line)));
      },
      onRestart: (reason) => {
        this[kState].metrics.recordRestart();
        this.emit('restart', { installId: extra.dir ? path.basename(extra.dir) : null, reason: String(reason) });
      },
    }, PycageError);
    const store = new BundleStore(opts.dataDir);
    const warmLimits = limitsOf.resolveRunLimits(undefined, opts.ceiling);
    const pools = new Pools(createNative, tier, {
      learning: { options: opts.preload, fileOf: (dir) => store.learnedFile(dir) },
      // A warm interpreter is up once a run went through it.
      warmUp: (nativeSandbox) => nativeSandbox.run({ id: ++this[kState].nextId, code: 'None', inputsJson: '{}', limits: warmLimits })
        .then((outcome) => outcome.status === 'ok', () => false),
    });
    this[kState].pools = pools;
    this[kState].sessions = new Sessions(opts.sessions);
    this[kNative] = pools.acquire('').native;
    this[kState].bundles = new BundleManager({
      store,
      pools,
      binding,
      python,
      tier,
      helperPath,
      runnerDir: native.RUNNER_DIR,
      index: opts.index,
      ceiling: opts.ceiling,
      diskCapBytes: opts.diskCapBytes,
      tool,
      uvPath,
      installTimeoutMs: opts.installer.timeoutMs,
      emitStatus: (key, status) => this.emit('status', key, status),
      emitLog: (key, record) => this.emit('log', log.entry(key, record)),
    });

    if (!profile.namespaces && !profile.seccomp) {
      // No jail at all (bypass). Loud, but once per Sandbox. Deferred so listeners attached right
      // after construction still see it.
      const message = isolation.bypassWarning(source);
      process.emitWarning(message, { type: 'PycageWarning', code: 'PYCAGE_SANDBOX_BYPASS' });
      process.nextTick(() => this.emit('log', log.entry(null, { level: 'warn', source: 'sandbox', message })));
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

    const { session, bundle, inputsJson, limits, signal } = checkRunArguments(code, options, state.opts.ceiling,
      'sandbox.runPython()');
    let pool;
    let poolKey = '';
    if (bundle !== undefined) {
      const ready = state.bundles.servingInstall(bundle);  // or ERR_BUNDLE_NOT_READY
      poolKey = ready.dir;
      pool = state.pools.acquire(ready.dir, path.join(ready.dir, 'site'), ready.preload);
    } else {
      pool = state.pools.acquire('');
    }

    if (signal && signal.aborted) return cancelledBeforeStart(state.tier);

    let result;
    try {
      if (session === undefined) {
        result = toRunResult(await runOnPool(pool, { code, inputsJson, limits }, signal, state, poolKey), state.tier);
      } else {
        const { outcome, restarted } = await state.sessions.call(session, poolKey, pool,
          (token, sessionPool) => runOnPool(sessionPool, { code, inputsJson, limits, session: token }, signal, state,
            poolKey));
        result = { ...toRunResult(outcome, state.tier), sessionRestarted: restarted };
      }
    } catch (err) {
      throw withCallerStack(err, caller);
    }
    const summary = {
      bundle: bundle ?? null, session: session ?? null, tier: state.tier, status: result.status,
      errorType: result.error ? result.error.type : null, ...result.usage,
    };
    state.metrics.recordRun(summary);
    // After the caller has its result; a throwing listener is the host's own error.
    process.nextTick(() => this.emit('run', summary));
    return result;
  }

  // Ends a session: its process and state go. Resolves true when it existed.
  async closeSession(id) {
    checkOpen(this);
    validate.string(id, 'id', { maxLength: MAX_KEY_LENGTH });
    return this[kState].sessions.close(id);
  }

  // Bundles (README "Bundles"); the work is in bundles.js.
  async install(key, requirementsText) {
    checkOpen(this);
    return this[kState].bundles.install(key, requirementsText);
  }

  async bundle(key, options) {
    checkOpen(this);
    return this[kState].bundles.bundle(key, options);
  }

  status(key) {
    checkOpen(this);
    return this[kState].bundles.status(key);
  }

  async exportBundle(key) {
    checkOpen(this);
    return this[kState].bundles.exportBundle(key);
  }

  async importBundle(buffer, options) {
    checkOpen(this);
    return this[kState].bundles.importBundle(buffer, options);
  }

  // Counters and histograms in prom-client's shape (js/metrics.js):
  // for (const m of sandbox.metrics()) register.registerMetric(m). Still
  // readable after close(), for a last scrape.
  metrics(options) {
    return this[kState].metrics.all(options === undefined ? {} : options);
  }

  capabilities() {
    const state = this[kState];
    if (state.closed) throw new PycageError('This Sandbox is closed', codes.ERR_CLOSED);
    return isolation.capabilities(state.probe, state.tier, process.env, state.opts.requested,
      trialSummaries(state.trials));
  }

  // Idempotent: every caller of close() waits for the same shutdown.
  // New calls reject with ERR_CLOSED at once; runs already in flight may
  // finish for up to drainMs (default 0), then every child is killed.
  close(options) {
    const state = this[kState];
    let drainMs;
    try {
      drainMs = closeDrainMs(options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (state.closing === null) {
      state.closed = true;
      const drained = drainMs > 0 && state.running.size > 0 ? drain(state.running, drainMs) : Promise.resolve();
      state.closing = drained
        .then(() => state.sessions.closeAll())
        .then(() => state.bundles.close())
        .then(() => state.pools.closeAll());
    }
    return state.closing;
  }
}

module.exports = { Sandbox, kNative };
