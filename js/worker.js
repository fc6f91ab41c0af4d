'use strict';

// require('pycage/worker'): Python runs on other machines, through the host's
// own BullMQ queue on Redis (README "Scaling out"). A web tier that cannot
// jail makes a RemoteSandbox; machines that can run createWorker() over a
// local Sandbox. The host's `bullmq` package is used (pycage does not bundle
// it), with the host's ioredis connection options.
//
// What travels: a run job carries the code, the inputs as JSON, the resolved
// limits, the bundle key and its bundleSha (never the bytes: a worker that
// lacks the bundle imports it from the bundle store), the session id and a
// deadline. The reply is the RunResult. Redis keys of our own, beside
// BullMQ's, under "pycage:<queue>:": alive:<worker> (a heartbeat), session:<id>
// (which worker holds a session) and the cancel channel.

const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');
const { PycageError, codes, invalidArgument } = require('./errors');
const validate = require('./validate');
const limitsOf = require('./limits');
const { checkRunArguments, MAX_KEY_LENGTH } = require('./run_args');
const { cancelledBeforeStart } = require('./result');

const HEARTBEAT_MS = 2000;
const ALIVE_TTL_MS = 6000;
const DEFAULT_SESSION_TTL_MS = 5 * 60 * 1000;
// A result needs a moment to travel back after the run's own wall limit.
const REPLY_GRACE_MS = 3000;

function loadBullmq() {
  try {
    return require('bullmq');
  } catch (err) {
    throw new PycageError(`pycage/worker needs the 'bullmq' package (${err.code || err.message}): npm install bullmq`,
      codes.ERR_INVALID_ARGUMENT);
  }
}

function keys(queue) {
  const base = `pycage:${queue}:`;
  return {
    shared: queue,
    // BullMQ refuses ':' in queue names.
    workerQueue: (id) => `${queue}-worker-${id}`,
    alive: (id) => `${base}alive:${id}`,
    session: (id) => `${base}session:${id}`,
    cancel: `${base}cancel`,
  };
}

function checkCommon(options, where, allowed) {
  validate.object(options, `options of ${where}`);
  validate.knownKeys(options, allowed, where);
  if (options.connection === null || typeof options.connection !== 'object') {
    throw validate.expected('ioredis connection options or an ioredis client', 'connection', options.connection);
  }
  validate.string(options.queue, 'queue', { maxLength: 100 });
  if (!/^[A-Za-z0-9_.-]+$/.test(options.queue)) {
    throw validate.expected('a queue name of letters, digits, _ . and -', 'queue', options.queue);
  }
  const store = options.bundleStore;
  if (store !== undefined && (store === null || typeof store.getStatus !== 'function' || typeof store.fetch !== 'function')) {
    throw validate.expected("a bundle store (require('pycage/postgres').createPostgresBundleStore)", 'bundleStore', store);
  }
}

// A PycageError thrown on the worker travels as data and is thrown again here.
function rethrow(reply) {
  if (reply && reply.pycageError) throw new PycageError(reply.pycageError.message, reply.pycageError.code);
  return reply;
}

// ---------------------------------------------------------------- worker side

async function createWorker(options) {
  checkCommon(options, 'createWorker()', ['connection', 'queue', 'sandbox', 'bundleStore', 'concurrency', 'retries',
    'sessionTtlMs']);
  const { connection, queue, sandbox, bundleStore } = options;
  if (!sandbox || typeof sandbox.runPython !== 'function' || typeof sandbox.importBundle !== 'function') {
    throw validate.expected('a Sandbox', 'sandbox', sandbox);
  }
  const concurrency = options.concurrency === undefined ? 4 : validate.positiveInteger(options.concurrency, 'concurrency');
  if (options.retries !== undefined && typeof options.retries !== 'boolean') throw validate.expected('boolean', 'retries', options.retries);
  const retries = options.retries === true;
  const sessionTtlMs = options.sessionTtlMs === undefined ? DEFAULT_SESSION_TTL_MS
    : validate.positiveInteger(options.sessionTtlMs, 'sessionTtlMs');
  const { Worker } = loadBullmq();
  const k = keys(queue);
  const id = crypto.randomUUID();
  const events = new EventEmitter();
  const running = new Map();   // job id -> AbortController
  const fetching = new Map();  // bundleSha -> Promise: concurrent first runs fetch a bundle once

  async function ensureBundle(key, bundleSha) {
    const local = await sandbox.status(key);
    if (local.status === 'ready' && local.bundleSha === bundleSha) return;
    if (!bundleStore) {
      throw new PycageError(`This worker has no bundle ${bundleSha} for ${JSON.stringify(key)} and no bundleStore to fetch it from`,
        codes.ERR_BUNDLE_NOT_READY);
    }
    let flight = fetching.get(bundleSha);
    if (flight === undefined) {
      events.emit('fetch', { key, bundleSha });
      flight = bundleStore.fetch(sandbox, key).finally(() => fetching.delete(bundleSha));
      fetching.set(bundleSha, flight);
    }
    const status = await flight;
    if (status.bundleSha !== bundleSha) {
      throw new PycageError(`The bundle store serves ${status.bundleSha} for ${JSON.stringify(key)}, not the ${bundleSha} ` +
        'this run asked for (a rebuild happened meanwhile); run it again', codes.ERR_BUNDLE_NOT_READY);
    }
  }

  let redis = null;
  async function run(job) {
    const d = job.data;
    try {
      if (d.kind === 'install') {
        const status = d.rebuild !== undefined ? await sandbox.bundle(d.key, { rebuild: d.rebuild })
          : await sandbox.install(d.key, d.requirements);
        if (bundleStore && status.status === 'ready') await bundleStore.publish(sandbox, d.key);
        else if (bundleStore) await bundleStore.setStatus(d.key, { status: status.status, error: status.error ? String(status.error.message || status.error) : null });
        return status;
      }
      // The caller stopped waiting: a run it no longer wants is not run.
      const left = d.deadline - Date.now();
      if (left <= 0) return { skipped: 'the caller\'s wall-time limit passed while the run waited in the queue' };
      if (d.bundle !== undefined) await ensureBundle(d.bundle, d.bundleSha);
      if (d.session !== undefined) await redis.set(k.session(d.session), id, 'PX', sessionTtlMs);
      const controller = new AbortController();
      running.set(job.id, controller);
      try {
        const limits = { ...d.limits, wallMs: Math.max(1, Math.min(d.limits.wallMs, left)) };
        events.emit('run', { jobId: job.id, session: d.session ?? null });
        return await sandbox.runPython(d.code, {
          inputs: JSON.parse(d.inputsJson), limits, bundle: d.bundle, session: d.session, signal: controller.signal,
        });
      } finally {
        running.delete(job.id);
      }
    } catch (err) {
      if (err instanceof PycageError) return { pycageError: { code: err.code, message: err.message } };
      throw err;
    }
  }

  const workerOptions = {
    connection, concurrency,
    // A job whose worker died is failed, not run again, unless the operator
    // opted into retries: a node's code runs at most once by default.
    // A dead worker's job is noticed within about lockDuration + stalledInterval.
    maxStalledCount: retries ? 1 : 0, stalledInterval: 1500, lockDuration: 4000,
  };
  const shared = new Worker(k.shared, run, workerOptions);
  // Calls of sessions this worker holds come to it by name.
  const own = new Worker(k.workerQueue(id), run, workerOptions);
  for (const w of [shared, own]) w.on('error', (err) => events.emit('error', err));
  redis = await shared.client;
  const subscriber = redis.duplicate();
  await subscriber.subscribe(k.cancel);
  subscriber.on('message', (_channel, jobId) => {
    const controller = running.get(jobId);
    if (controller) controller.abort();
  });
  const beat = async () => { try { await redis.set(k.alive(id), '1', 'PX', ALIVE_TTL_MS); } catch { /* Redis away: next beat */ } };
  await beat();
  const heartbeat = setInterval(beat, HEARTBEAT_MS);
  heartbeat.unref();
  await Promise.all([shared.waitUntilReady(), own.waitUntilReady()]);

  let closing = null;
  return Object.assign(events, {
    id,
    async close() {
      if (closing === null) {
        closing = (async () => {
          clearInterval(heartbeat);
          await Promise.all([shared.close(), own.close()]);
          await redis.del(k.alive(id)).catch(() => {});
          subscriber.disconnect();
        })();
      }
      return closing;
    },
  });
}

// ---------------------------------------------------------------- caller side

class RemoteSandbox {
  constructor(options) {
    checkCommon(options, 'new RemoteSandbox()', ['connection', 'queue', 'bundleStore', 'limits', 'maxQueue']);
    const { Queue, QueueEvents } = loadBullmq();
    this.connection = options.connection;
    this.keys = keys(options.queue);
    this.bundleStore = options.bundleStore;
    this.ceiling = limitsOf.resolveCeiling(options.limits);
    this.maxQueue = options.maxQueue === undefined ? 1000 : validate.positiveInteger(options.maxQueue, 'maxQueue');
    this.Queue = Queue;
    this.QueueEvents = QueueEvents;
    this.queues = new Map();  // name -> { queue, events }
    this.closed = false;
    this.tier = null;  // the tier of the last run a worker answered
  }

  get limits() {
    return this.ceiling;
  }

  get isolation() {
    return this.tier;
  }

  async channel(name) {
    let entry = this.queues.get(name);
    if (entry === undefined) {
      entry = { queue: new this.Queue(name, { connection: this.connection }),
        events: new this.QueueEvents(name, { connection: this.connection }) };
      // BullMQ adds a listener per call in flight; many concurrent callers are normal here.
      entry.queue.setMaxListeners(0);
      entry.events.setMaxListeners(0);
      this.queues.set(name, entry);
      await entry.events.waitUntilReady();
    }
    return entry;
  }

  checkOpen() {
    if (this.closed) throw new PycageError('This RemoteSandbox is closed', codes.ERR_CLOSED);
  }

  async status(key) {
    this.checkOpen();
    validate.string(key, 'key', { maxLength: MAX_KEY_LENGTH });
    if (!this.bundleStore) throw invalidArgument('status() of a RemoteSandbox needs its bundleStore option');
    return this.bundleStore.getStatus(key);
  }

  // Installs run on a worker, which publishes the bundle to the store.
  async install(key, requirementsText) {
    validate.string(key, 'key', { maxLength: MAX_KEY_LENGTH });
    validate.string(requirementsText, 'requirementsText', { nonEmpty: false });
    return this.submitInstall({ kind: 'install', key, requirements: requirementsText });
  }

  async bundle(key, { rebuild = false } = {}) {
    validate.string(key, 'key', { maxLength: MAX_KEY_LENGTH });
    return this.submitInstall({ kind: 'install', key, rebuild: Boolean(rebuild) });
  }

  async submitInstall(data) {
    this.checkOpen();
    const { queue, events } = await this.channel(this.keys.shared);
    const job = await queue.add('install', data, { removeOnComplete: { age: 300 }, removeOnFail: { age: 300 } });
    return rethrow(await job.waitUntilFinished(events));
  }

  async runPython(code, options) {
    this.checkOpen();
    const args = checkRunArguments(code, options, this.ceiling, 'remoteSandbox.runPython()');
    if (args.signal && args.signal.aborted) return cancelledBeforeStart(this.tier);
    let bundleSha;
    if (args.bundle !== undefined) {
      if (!this.bundleStore) throw invalidArgument('A RemoteSandbox needs its bundleStore option to run against a bundle');
      const stored = await this.bundleStore.getStatus(args.bundle);
      if (stored.status !== 'ready' || !stored.bundleSha) {
        const why = stored.status === 'failed' ? `its build failed: ${stored.error}` : `it is ${stored.status} in the bundle store`;
        throw new PycageError(`Bundle ${JSON.stringify(args.bundle)} is not ready: ${why}`, codes.ERR_BUNDLE_NOT_READY);
      }
      bundleSha = stored.bundleSha;
    }
    // The wall-time limit and the signal bound the whole call from here,
    // submission included: with Redis away, ioredis waits for it to return.
    let onAbort = null;
    const aborted = new Promise((resolve) => {
      if (!args.signal) return;
      onAbort = () => resolve('aborted');
      args.signal.addEventListener('abort', onAbort, { once: true });
    });
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), args.limits.wallMs + REPLY_GRACE_MS); });
    const deadline = Date.now() + args.limits.wallMs;
    const submitted = this.submitRun(args, bundleSha, deadline);
    const gaveUp = (why) => {
      // A job queued after its caller stopped waiting is removed; a worker
      // would skip it anyway, past its deadline.
      submitted.then(({ job }) => job.remove(), () => {}).catch(() => {});
      return why === 'aborted' ? cancelled(this.tier) : timedOut(this.tier, args.limits.wallMs);
    };
    try {
      const sent = await Promise.race([submitted, aborted, timeout]);
      if (sent === 'aborted' || sent === 'timeout') return gaveUp(sent);
      const { job, events, redis, sessionLost } = sent;
      const cancel = async () => {
        // Waiting: it never runs. Running: its worker aborts it.
        try { await job.remove(); } catch { await redis.publish(this.keys.cancel, job.id).catch(() => {}); }
      };
      const reply = await Promise.race([job.waitUntilFinished(events).then((value) => ({ value }), (error) => ({ error })),
        aborted, timeout]);
      if (reply === 'aborted' || reply === 'timeout') {
        await cancel();
        return reply === 'aborted' ? cancelled(this.tier) : timedOut(this.tier, args.limits.wallMs);
      }
      if (reply.error) {
        return remoteFailure(this.tier, 'Crashed',
          `the worker running this node stopped before it replied (${reply.error.message}); the node may have run ` +
          'in part. It was not run again (createWorker({ retries: true }) opts into that)');
      }
      const result = rethrow(reply.value);
      if (result && result.skipped) return remoteFailure(this.tier, 'TimeoutError', result.skipped);
      this.tier = result.isolation;
      if (args.session !== undefined) result.sessionRestarted = Boolean(result.sessionRestarted) || sessionLost;
      return result;
    } finally {
      clearTimeout(timer);
      if (onAbort) args.signal.removeEventListener('abort', onAbort);
    }
  }

  // Queues the run job: { job, events, redis, sessionLost }. Redis failing
  // under it rejects with ERR_OVERLOADED (retry later), not ioredis's error.
  async submitRun(args, bundleSha, deadline) {
    try {
      const shared = await this.channel(this.keys.shared);
      const redis = await shared.queue.client;
      // A session's calls go to the worker that holds it, while it lives.
      let target = this.keys.shared;
      let sessionLost = false;
      if (args.session !== undefined) {
        const owner = await redis.get(this.keys.session(args.session));
        if (owner !== null && await redis.exists(this.keys.alive(owner))) target = this.keys.workerQueue(owner);
        else sessionLost = owner !== null;
      }
      const { queue, events } = await this.channel(target);
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed');
      if (counts.waiting + counts.prioritized + counts.delayed >= this.maxQueue) {
        throw new PycageError(`The run queue ${target} is full (${this.maxQueue} runs waiting); retry later, add workers, ` +
          'or raise maxQueue in new RemoteSandbox()', codes.ERR_OVERLOADED);
      }
      const job = await queue.add('run', {
        kind: 'run', code: args.code, inputsJson: args.inputsJson, limits: args.limits, bundle: args.bundle, bundleSha,
        session: args.session, deadline,
      }, { removeOnComplete: { age: 60 }, removeOnFail: { age: 300 } });
      return { job, events, redis, sessionLost };
    } catch (err) {
      if (err instanceof PycageError) throw err;
      throw new PycageError(`The run could not be queued on Redis (${err.message}); the node did not run. Retry ` +
        'later, and check that Redis is reachable with the connection options given to new RemoteSandbox()',
      codes.ERR_OVERLOADED);
    }
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.queues.values()].map(async ({ queue, events }) => {
      await events.close();
      await queue.close();
    }));
  }
}

function cancelled(isolation) {
  return remoteFailure(isolation, 'Cancelled', 'the run was cancelled by its AbortSignal: a waiting run never ' +
    'started, a running one was killed on its worker');
}

function timedOut(isolation, wallMs) {
  return remoteFailure(isolation, 'TimeoutError',
    `the run did not finish within its wall-time limit of ${wallMs} ms, time in the queue included; ` +
    'raise limits.wallMs, add workers, or make the node do less work');
}

function remoteFailure(isolation, type, message) {
  return {
    status: 'error', result: null, stdout: '', stderr: '', figures: [],
    error: { type, message, traceback: `${type}: ${message}`, line: null },
    truncated: { stdout: false, stderr: false, figures: false }, audit: [],
    usage: { wallMs: 0, cpuMs: 0, peakMemoryKb: 0, queueMs: 0, coldStart: false }, isolation,
  };
}

module.exports = { createWorker, RemoteSandbox };
