'use strict';

// Bundles: statuses per key, content-addressed installs, single-flight builds,
// the smoke test, publish, GC, export and import (README "Bundles").
//
// A key's record moves none -> building -> ready | failed. While a key with a
// ready bundle rebuilds, the record keeps that bundle as `serving`, and runs
// keep using it until the new one is published.

const path = require('node:path');
const { redactCredentials } = require('./redact');
const { fromInstaller } = require('./log');
const owners = require('./owners');
const crypto = require('node:crypto');
const { PycageError, codes, invalidArgument } = require('./errors');
const validate = require('./validate');
const installer = require('./installer');

const MAX_KEY_LENGTH = 200;
const MAX_REQUIREMENTS_BYTES = 64 * 1024;
const IDENTITY_VERSION = 1;
const SMOKE_CODE = [
  'import importlib',
  'for name in modules:',
  '    importlib.import_module(name)',
  'result = len(modules)',
].join('\n');

function checkKey(key) {
  return validate.string(key, 'key', { maxLength: MAX_KEY_LENGTH });
}

function now() {
  return new Date().toISOString();
}

// What a smoke-test failure means for the workflow author.
function smokeFailure(dist, module, run, limits) {
  const type = run.error.type;
  if (type === 'MemoryLimitExceeded') {
    const mb = Math.round(limits.memoryBytes / (1024 * 1024));
    return `${dist} needs more than ${mb} MB of address space: importing ${module} failed under ` +
      `limits.memoryBytes = ${limits.memoryBytes}. Raise the operator's ceiling ` +
      `(new Sandbox({ limits: { memoryBytes } })) or remove ${dist} from the requirements`;
  }
  if (type === 'TimeoutError' || type === 'CpuLimitExceeded') {
    return `${dist} takes longer to import than the run limits allow (${type} importing ${module}, ` +
      `limits.wallMs = ${limits.wallMs}, limits.cpuMs = ${limits.cpuMs}). Raise the operator's ceiling ` +
      `or remove ${dist} from the requirements`;
  }
  return `${dist} does not import in the run jail: importing ${module} raised ${type}: ${run.error.message}`;
}

// The archive's meta is as untrusted as its files: it names the modules the
// zygote preloads, so it is checked field by field.
function checkImportedMeta(meta) {
  const refuse = (why) => invalidArgument(`The bundle archive's manifest meta is invalid: ${why}; export it again with sandbox.exportBundle()`);
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw refuse('not an object');
  if (typeof meta.installId !== 'string' || !/^[0-9a-f]{64}$/.test(meta.installId)) throw refuse('installId is not a sha256 hex string');
  if (typeof meta.requirements !== 'string' || meta.requirements.length > MAX_REQUIREMENTS_BYTES) throw refuse('requirements is not a string of at most 64 KiB');
  if (typeof meta.runtimeVersion !== 'string') throw refuse('runtimeVersion is missing');
  if (!Array.isArray(meta.preload) || !meta.preload.every((m) => typeof m === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,99}$/.test(m))) {
    throw refuse('preload must list top-level module names');
  }
  if (!Array.isArray(meta.packages) || !meta.packages.every((p) => p && typeof p.name === 'string' && typeof p.version === 'string')) {
    throw refuse('packages must list { name, version }');
  }
  return meta;
}

class BundleManager {
  constructor({ store, pools, binding, python, tier, helperPath, runnerDir, index, ceiling, diskCapBytes,
    tool, uvPath, installTimeoutMs, emitStatus, emitLog }) {
    Object.assign(this, { store, pools, binding, python, tier, helperPath, runnerDir, ceiling, diskCapBytes,
      tool, uvPath, installTimeoutMs, emitStatus, emitLog });
    this.children = new Set();     // installer processes in flight
    this.closed = false;
    this.index = index || {};
    this.runtimeVersion = `python ${python.version} ${python.abi}`;
    this.flights = new Map();      // installId -> Promise<{ dir, meta }>
    this.generations = new Map();  // key -> counter: only the newest request for a key may write its record
    this.lastUsed = new Map();     // published dir -> ms
    this.marked = new Set();       // dirs this process marked in use (store.markInUse)
    store.clearLeftovers();
    this.records = store.loadRecords();
    this.recoverInterrupted();
  }

  // A record that says 'building' was written by a process that died mid-build.
  // With a shared dataDir, another live process may be the builder: its
  // record is left as it is.
  recoverInterrupted() {
    for (const record of this.records.values()) {
      if (record.status !== 'building') continue;
      if (record.builder && record.builder !== owners.SELF &&
          owners.ownerAlive(record.builder, owners.mtimeOf(this.store.recordPath(record.key)), 24 * 3600 * 1000)) continue;
      if (record.serving) {
        Object.assign(record, record.serving, { status: 'ready', serving: null });
      } else {
        Object.assign(record, { status: 'failed', error: 'The build was interrupted (the host process stopped); ' +
          'call sandbox.bundle(key, { rebuild: true }) to build it again' });
      }
    }
  }

  identity(canonical) {
    return crypto.createHash('sha256').update(JSON.stringify({
      v: IDENTITY_VERSION,
      requirements: canonical,
      runtime: this.runtimeVersion,
      platform: `${process.platform}-${process.arch}`,
      index: {
        url: this.index.url || null,
        extraUrls: this.index.extraUrls || [],
        findLinks: this.index.findLinks || [],
        trustedHosts: this.index.trustedHosts || [],
      },
    })).digest('hex');
  }

  publicStatus(key) {
    const record = this.records.get(key);
    if (record === undefined) {
      return {
        key, status: 'none', requirements: null, packages: [], bundleSha: null, sizeBytes: 0,
        generationTimeMs: null, runtimeVersion: this.runtimeVersion, error: null, updatedAt: null,
      };
    }
    const shown = record.status === 'building' && record.serving ? record.serving : record;
    return {
      key,
      status: record.status,
      requirements: record.requirements,
      packages: (shown.packages || []).map(({ name, version }) => ({ name, version })),
      bundleSha: shown.bundleSha || null,
      sizeBytes: shown.sizeBytes || 0,
      generationTimeMs: shown.generationTimeMs ?? null,
      runtimeVersion: shown.runtimeVersion || this.runtimeVersion,
      error: record.error || null,
      updatedAt: record.updatedAt,
    };
  }

  status(key) {
    checkKey(key);
    this.refresh(key);
    return this.publicStatus(key);
  }

  // Another process on the same dataDir may have changed the key's record
  // since: take the newer one, unless this process is building it.
  refresh(key) {
    const mine = this.records.get(key);
    if (mine && mine.status === 'building' && mine.builder === owners.SELF) return;
    const onDisk = this.store.readRecord(key);
    if (onDisk === null) return;
    if (!mine || String(onDisk.updatedAt || '') > String(mine.updatedAt || '')) this.records.set(key, onDisk);
  }

  async setRecord(key, record) {
    // After close() a build's outcome is not recorded: the record keeps
    // 'building' and the next start recovers it (recoverInterrupted).
    if (this.closed) return;
    record.updatedAt = now();
    this.records.set(key, record);
    await this.store.saveRecord(record);
    this.emitStatus(key, this.publicStatus(key));
  }

  async install(key, requirementsText) {
    checkKey(key);
    if (typeof requirementsText !== 'string') throw validate.expected('string', 'requirementsText', requirementsText);
    if (Buffer.byteLength(requirementsText) > MAX_REQUIREMENTS_BYTES) {
      throw new PycageError(`requirementsText is ${Buffer.byteLength(requirementsText)} bytes, over the ` +
        `${MAX_REQUIREMENTS_BYTES}-byte limit; split the workflow's packages or remove unused ones`,
      codes.ERR_REQUIREMENTS_INVALID);
    }
    // Throws ERR_REQUIREMENTS_INVALID naming the line, before anything runs.
    const parsed = this.binding.parseRequirements(requirementsText);
    if (this.store.readOnly) throw this.store.refuseWrite(`install bundle ${JSON.stringify(key)}`);
    return this.build(key, requirementsText, parsed, false);
  }

  async bundle(key, options) {
    checkKey(key);
    if (options === undefined) options = {};
    validate.object(options, 'options of sandbox.bundle()');
    validate.knownKeys(options, ['rebuild'], 'sandbox.bundle()');
    if (options.rebuild !== undefined && typeof options.rebuild !== 'boolean') {
      throw validate.expected('boolean', 'options.rebuild', options.rebuild);
    }
    if (this.store.readOnly && (options.rebuild || this.status(key).status !== 'ready')) {
      throw this.store.refuseWrite(`build bundle ${JSON.stringify(key)}`);
    }
    const record = this.records.get(key);
    if (record === undefined || typeof record.requirements !== 'string') {
      throw invalidArgument(`Bundle key ${JSON.stringify(key)} has no stored requirements (status 'none'); ` +
        'call sandbox.install(key, requirementsText) first');
    }
    if (!options.rebuild && record.status === 'ready') return this.publicStatus(key);
    const parsed = this.binding.parseRequirements(record.requirements);
    return this.build(key, record.requirements, parsed, options.rebuild === true);
  }

  async build(key, requirementsText, parsed, rebuild) {
    const generation = (this.generations.get(key) || 0) + 1;
    this.generations.set(key, generation);
    const installId = this.identity(parsed.canonical);
    const dir = this.store.installDir(installId);
    const previous = this.records.get(key);
    const serving = previous && previous.status === 'ready' ? { ...this.readyPart(previous), requirements: previous.requirements }
      : previous && previous.status === 'building' ? previous.serving : null;

    let published = rebuild ? null : this.publishedInstall(dir);
    if (published === null) {
      await this.setRecord(key, {
        key, status: 'building', requirements: requirementsText, installId, serving, error: null, builder: owners.SELF,
      });
      try {
        published = await this.flight(installId, dir, parsed, rebuild, key);
      } catch (err) {
        if (this.generations.get(key) === generation) {
          await this.setRecord(key, {
            key, status: 'failed', requirements: requirementsText, installId, serving: null,
            error: redactCredentials(String(err && err.message ? err.message : err)),
          });
        }
        return this.publicStatus(key);
      }
    }
    if (this.generations.get(key) === generation) {
      await this.setRecord(key, {
        key, status: 'ready', installId, serving: null, error: null,
        ...this.readyPart({ dir: published.dir, ...published.meta }),
        requirements: requirementsText,
      });
      await this.collectGarbage();
    }
    return this.publicStatus(key);
  }

  readyPart(record) {
    const { dir, bundleSha, packages, sizeBytes, generationTimeMs, runtimeVersion, preload } = record;
    return { dir, bundleSha, packages, sizeBytes, generationTimeMs, runtimeVersion, preload };
  }

  publishedInstall(dir) {
    const meta = this.store.readInstallMeta(dir);
    return meta === null ? null : { dir, meta };
  }

  // Single flight: concurrent requests for one set share one build.
  // The installer's output goes to 'log' under the key that started the build.
  flight(installId, dir, parsed, rebuild, key) {
    let pending = this.flights.get(installId);
    if (pending === undefined) {
      pending = this.buildInstall(installId, dir, parsed, rebuild, key)
        .finally(() => this.flights.delete(installId));
      this.flights.set(installId, pending);
    }
    return pending;
  }

  async buildInstall(installId, dir, parsed, rebuild, key) {
    if (!rebuild) {
      const existing = this.publishedInstall(dir);
      if (existing) return existing;
    }
    // One build of a set across every process on this dataDir.
    return this.underDataDirLock(installId, {
      what: `building install ${installId}`,
      pollMs: 200,
      published: async () => (rebuild ? null : this.publishedInstall(dir)),
      work: () => this.buildUnderLock(installId, dir, parsed, key),
    });
  }

  // Runs work() holding the dataDir's cross-process lock `lock` (a file in
  // locksDir, taken over when its holder died). While another process holds
  // it, polls published() every pollMs and returns what it finds, and checks
  // once more on taking the lock, so work() runs only when nobody finished
  // it first. Builds and imports share it.
  async underDataDirLock(lock, { what, pollMs, published, work }) {
    const waitUntil = Date.now() + this.installTimeoutMs + 60_000;
    while (!this.store.tryLockBuild(lock)) {
      if (this.closed) {
        throw new PycageError(`The Sandbox was closed while another process was ${what}`, codes.ERR_CLOSED);
      }
      if (Date.now() > waitUntil) {
        throw new PycageError(`Another process has been ${what} for too long; remove ` +
          `${this.store.locksDir}/${lock} if no process is`, codes.ERR_INTERNAL);
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      const theirs = await published();
      if (theirs) return theirs;
    }
    try {
      const theirs = await published();  // finished by another process as we took the lock
      if (theirs) return theirs;
      return await work();
    } finally {
      this.store.unlockBuild(lock);
    }
  }

  async buildUnderLock(installId, dir, parsed, key) {
    const started = Date.now();
    const log = (line) => this.emitLog(key, fromInstaller(line));
    const built = await installer.build({
      store: this.store, tier: this.tier, helperPath: this.helperPath, python: this.python,
      runnerDir: this.runnerDir, canonicalText: parsed.canonical, index: this.index, tool: this.tool,
      uvPath: this.uvPath, parsePipReport: (text) => this.binding.parsePipReport(text), onLog: log,
      children: this.children, timeoutMs: this.installTimeoutMs,
    });
    try {
      const requested = new Set(parsed.requirements.map((r) => r.normalizedName));
      const distributions = built.result.distributions;
      const versions = new Map((built.resolved ? built.resolved.packages : distributions)
        .map((p) => [p.normalizedName, p.version]));
      const packages = distributions
        .map((d) => ({ name: d.name, normalizedName: d.normalizedName, version: versions.get(d.normalizedName) || d.version }))
        .sort((a, b) => (a.normalizedName < b.normalizedName ? -1 : a.normalizedName > b.normalizedName ? 1 : 0));
      const smoke = distributions.filter((d) => requested.has(d.normalizedName));
      await this.smokeTest(built.siteDir, smoke);
      const preload = [...new Set(smoke.flatMap((d) => d.topLevel))].sort();
      const meta = {
        installId,
        requirements: parsed.canonical,
        runtimeVersion: this.runtimeVersion,
        tool: this.tool,
        packages,
        preload,
        fontCache: built.result.fontCache === true,
      };
      const packed = await this.binding.packDirectory(built.siteDir, JSON.stringify(meta));
      const finalMeta = {
        ...meta,
        bundleSha: packed.bundleSha,
        sizeBytes: packed.contentBytes,
        generationTimeMs: Date.now() - started,
        createdAt: now(),
      };
      await this.store.writeInstallMeta(built.buildDir, finalMeta);
      await this.pools.drop(dir);  // a rebuild replaces the tree a zygote may hold
      await this.store.publish(built.buildDir, dir);
      return { dir, meta: finalMeta };
    } catch (err) {
      await this.store.remove(built.buildDir);
      throw err;
    }
  }

  // Imports every top-level module of each requested distribution in the real
  // run jail under the operator's limits, so "needs more memory" shows now.
  async smokeTest(siteDir, distributions) {
    if (distributions.length === 0) return;
    const native = this.pools.temporary(siteDir);
    try {
      let id = 0;
      for (const dist of distributions) {
        for (const module of dist.topLevel) {
          const run = await native.run({
            id: ++id, code: SMOKE_CODE, inputsJson: JSON.stringify({ modules: [module] }), limits: { ...this.ceiling },
          });
          if (run.status !== 'ok') throw new Error(smokeFailure(`${dist.name} ${dist.version}`, module, run, this.ceiling));
        }
      }
    } finally {
      await native.close();
    }
  }

  // The install a run against `key` uses, or ERR_BUNDLE_NOT_READY.
  servingInstall(key) {
    checkKey(key);
    const record = this.records.get(key);
    const ready = record && (record.status === 'ready' ? record : record.status === 'building' ? record.serving : null);
    if (!ready || !ready.dir) {
      const status = record ? record.status : 'none';
      const how = status === 'failed' ? `it failed: ${String(record.error).split('\n').slice(0, 3).join(' ')}; fix the requirements and call sandbox.install() again`
        : status === 'building' ? 'it is still building; await sandbox.install() or wait for its status event'
          : 'call sandbox.install(key, requirementsText) first';
      throw new PycageError(`Bundle ${JSON.stringify(key)} is not ready (status '${status}'): ${how}`,
        codes.ERR_BUNDLE_NOT_READY);
    }
    this.lastUsed.set(ready.dir, Date.now());
    if (!this.marked.has(ready.dir)) {
      this.marked.add(ready.dir);
      this.store.markInUse(ready.dir, true);  // so another process's GC keeps it
    }
    return ready;
  }

  referencedDirs() {
    const dirs = new Set();
    for (const record of this.records.values()) {
      if (record.dir && record.status === 'ready') dirs.add(record.dir);
      if (record.serving && record.serving.dir) dirs.add(record.serving.dir);
    }
    for (const [dir, pool] of this.pools.pools) if (pool.inFlight > 0) dirs.add(dir);
    return dirs;
  }

  async collectGarbage() {
    if (this.store.readOnly) return [];
    const referenced = this.referencedDirs();
    const { removed } = await this.store.collectGarbage(this.diskCapBytes, referenced, this.lastUsed);
    for (const dir of removed) {
      await this.pools.drop(dir);
      this.emitLog(null, { level: 'info', source: 'bundles', message: `pycage: garbage-collected unreferenced install ${path.basename(dir)}` });
    }
    return removed;
  }

  // Kills every installer in flight and waits for the builds to unwind.
  async close() {
    this.closed = true;
    for (const dir of this.marked) this.store.markInUse(dir, false);
    this.marked.clear();
    for (const child of this.children) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    await Promise.allSettled([...this.flights.values()]);
  }

  async exportBundle(key) {
    const ready = this.servingInstall(key);
    const meta = this.store.readInstallMeta(ready.dir);
    if (meta === null) throw new PycageError(`Bundle ${JSON.stringify(key)} lost its install directory ${ready.dir}; rebuild it with sandbox.bundle(key, { rebuild: true })`, codes.ERR_BUNDLE_NOT_READY);
    const exportMeta = {
      installId: meta.installId, requirements: meta.requirements, runtimeVersion: meta.runtimeVersion,
      tool: meta.tool, packages: meta.packages, preload: meta.preload, fontCache: meta.fontCache,
    };
    const packed = await this.binding.packDirectory(path.join(ready.dir, 'site'), JSON.stringify(exportMeta));
    return packed.bytes;
  }

  // importBundle(buffer, { key }) imports an archive. importBundle(read,
  // { key, bundleSha }) calls `read()` for the archive only if this dataDir
  // lacks bundleSha, and in one process at a time (a lock in the dataDir), so
  // processes sharing a dataDir fetch a bundle from a store once between them.
  async importBundle(source, options) {
    if (typeof source !== 'function') return this.importBytes(source, options, ['key']);
    validate.object(options, 'options of sandbox.importBundle(read, options)');
    validate.knownKeys(options, ['key', 'bundleSha'], 'sandbox.importBundle(read, options)');
    const { bundleSha } = options;
    if (typeof bundleSha !== 'string' || !/^[0-9a-f]{64}$/.test(bundleSha)) {
      throw validate.expected('the 64-digit hex bundleSha the archive read() returns must import as', 'bundleSha', bundleSha);
    }
    if (options.key !== undefined) checkKey(options.key);
    if (this.store.readOnly) throw this.store.refuseWrite('import a bundle');
    const key = options.key !== undefined ? options.key : bundleSha;
    const dir = this.store.importDir(bundleSha);
    const adopted = await this.adoptImport(dir, bundleSha, key);
    if (adopted) return adopted;
    return this.underDataDirLock(`import-${bundleSha}`, {
      what: `importing bundle ${bundleSha}`,
      pollMs: 100,
      published: () => this.adoptImport(dir, bundleSha, key),
      work: async () => this.importBytes(await source(), { key }, ['key'], bundleSha),
    });
  }

  // Points `key` at the import of bundleSha another process (or an earlier
  // call) published in this dataDir; null when there is none.
  async adoptImport(dir, bundleSha, key) {
    const published = this.publishedInstall(dir);
    if (published === null) return null;
    const { meta } = published;
    const result = { bundleSha, packages: (meta.packages || []).map(({ name, version }) => ({ name, version })) };
    this.refresh(key);
    const current = this.records.get(key);
    if (current && current.status === 'ready' && current.dir === dir) return result;
    this.generations.set(key, (this.generations.get(key) || 0) + 1);
    await this.setRecord(key, {
      key, status: 'ready', requirements: meta.requirements, installId: meta.installId, serving: null, error: null,
      ...this.readyPart({ dir, ...meta }),
    });
    return result;
  }

  async importBytes(buffer, options, allowed, expectedSha = null) {
    if (!Buffer.isBuffer(buffer) && !(buffer instanceof Uint8Array)) throw validate.expected('Buffer', 'buffer', buffer);
    if (options === undefined) options = {};
    validate.object(options, 'options of sandbox.importBundle()');
    validate.knownKeys(options, allowed, 'sandbox.importBundle()');
    if (options.key !== undefined) checkKey(options.key);
    if (this.store.readOnly) throw this.store.refuseWrite('import a bundle');
    const work = await this.store.makeTempDir('import');
    try {
      // Parsed, verified and extracted in C++ off the JS thread; refuses
      // traversal, escaping links, oversize and tampering.
      const imported = await this.binding.importArchive(buffer, path.join(work, 'site'));
      if (expectedSha !== null && imported.bundleSha !== expectedSha) {
        throw new PycageError(`The archive read for bundle ${expectedSha} imports as ${imported.bundleSha}: the store ` +
          'holds other bytes under that bundleSha. Publish the bundle again from a Sandbox that has it', codes.ERR_BUNDLE_CORRUPT);
      }
      const meta = checkImportedMeta(JSON.parse(imported.meta));
      if (meta.runtimeVersion !== this.runtimeVersion) {
        throw invalidArgument(`The bundle was built for ${meta.runtimeVersion} but this Sandbox runs ` +
          `${this.runtimeVersion}; rebuild it from its requirements on this host instead`);
      }
      const dir = this.store.importDir(imported.bundleSha);
      const finalMeta = { ...meta, bundleSha: imported.bundleSha, sizeBytes: imported.contentBytes,
        generationTimeMs: 0, createdAt: now(), imported: true };
      if (this.publishedInstall(dir) === null) {
        await this.store.writeInstallMeta(work, finalMeta);
        await this.store.publish(work, dir);
      }
      const key = options.key !== undefined ? options.key : imported.bundleSha;
      this.generations.set(key, (this.generations.get(key) || 0) + 1);
      await this.setRecord(key, {
        key, status: 'ready', requirements: meta.requirements, installId: meta.installId, serving: null, error: null,
        ...this.readyPart({ dir, ...this.store.readInstallMeta(dir) }),
      });
      return { bundleSha: imported.bundleSha, packages: (meta.packages || []).map(({ name, version }) => ({ name, version })) };
    } finally {
      await this.store.remove(work);
    }
  }
}

module.exports = { BundleManager, smokeFailure, MAX_KEY_LENGTH };
