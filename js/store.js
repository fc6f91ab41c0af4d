'use strict';

// The bundle store on local disk (the embedded default). Layout under dataDir:
//
//   bundles/keys/<sha256(key)>.json    one status record per workflow-version key
//   bundles/installs/<installId>/      published builds: site/ + pycage-install.json, immutable
//   bundles/imports/<bundleSha>/       imported archives, same shape, never reused by install()
//   bundles/tmp/                       builds and imports in progress; emptied at startup
//   bundles/cache/                     the installer's download cache
//   bundles/locks/<installId>/         a build in progress, by its owner (one per set, across processes)
//   bundles/in-use/<dir name>/<owner>  a process serving runs from that install or import
//   bundles/learned/<dir name>.json    what the adaptive preload learned for that install or import
//
// A key is the host's string and never a path component: it is hashed.
// Every file that must survive a crash is written to tmp/ first and renamed
// into place, so a crash leaves the old state or the new one.

const fs = require('node:fs');
const fsp = require('node:fs/promises');
const path = require('node:path');
const crypto = require('node:crypto');
const { makeDirs } = require('./dirs');
const owners = require('./owners');
const { PycageError, codes } = require('./errors');

const INSTALL_META = 'pycage-install.json';
const RECORD_VERSION = 1;
// How long a mark of an owner on another host counts as alive: longer than
// any install may take.
const FOREIGN_OWNER_MAX_AGE_MS = 24 * 3600 * 1000;

function writable(dir) {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

// Who may use the directory an error names (or, when that does not exist,
// the nearest one above it): what an operator needs to fix a permission.
function ownership(file) {
  for (let at = file; ; at = path.dirname(at)) {
    try {
      const st = fs.statSync(at);
      return `${at} is owned by uid ${st.uid}, gid ${st.gid}, mode ${(st.mode & 0o777).toString(8).padStart(3, '0')}`;
    } catch { /* absent or not searchable: look above */ }
    if (path.dirname(at) === at) return null;
  }
}

const FS_REASONS = { EACCES: 'permission denied', EPERM: 'operation not permitted', EROFS: 'read-only file system',
  ENOTDIR: 'a component of the path is not a directory', ENOSPC: 'no space left on the device' };

function unusableDataDir(dataDir, err) {
  const at = err.path || dataDir;
  const reason = FS_REASONS[err.code] ? `${err.code} (${FS_REASONS[err.code]})` : (err.code || err.message);
  const permission = err.code === 'EACCES' || err.code === 'EPERM';
  const who = permission ? ownership(at) : null;
  const uid = process.getuid();
  const example = permission ? ` (for example ${fs.existsSync(dataDir) ? '' : `mkdir -p ${dataDir} && `}chown -R ${uid} ${dataDir})` : '';
  return new PycageError([
    `dataDir ${dataDir} cannot be used: ${reason} on ${at}${who ? `; ${who}` : ''}.`,
    `Make it a directory that uid ${uid} can write${example},` +
      ' or pass another dataDir (or PYCAGE_DATA_DIR).',
    `A read-only dataDir works only when it already holds the bundles/ tree of a build (an image with bundles baked in), readable by uid ${uid}.`,
  ].join(' '), codes.ERR_INVALID_ARGUMENT);
}

function sha256Hex(text) {
  return crypto.createHash('sha256').update(text).digest('hex');
}

class BundleStore {
  constructor(dataDir) {
    this.root = path.join(dataDir, 'bundles');
    this.keysDir = path.join(this.root, 'keys');
    this.installsDir = path.join(this.root, 'installs');
    this.importsDir = path.join(this.root, 'imports');
    this.tmpDir = path.join(this.root, 'tmp');
    this.cacheDir = path.join(this.root, 'cache');
    this.locksDir = path.join(this.root, 'locks');
    this.inUseDir = path.join(this.root, 'in-use');
    this.learnedDir = path.join(this.root, 'learned');
    this.dataDir = dataDir;
    // A dataDir that already holds every directory but may not be written is
    // an image with bundles baked in: it serves runs, and refuses to build.
    const dirs = [this.keysDir, this.installsDir, this.importsDir, this.tmpDir, this.cacheDir, this.locksDir, this.inUseDir];
    this.readOnly = dirs.every((dir) => fs.existsSync(dir)) && !dirs.every(writable);
    try {
      if (this.readOnly) {
        // Served from, so it must at least be readable (else a raw EACCES
        // would surface at the first readdir).
        for (const dir of [...dirs, this.learnedDir].filter((d) => fs.existsSync(d))) {
          fs.accessSync(dir, fs.constants.R_OK | fs.constants.X_OK);
        }
      } else {
        for (const dir of dirs) makeDirs(dir);
        for (const dir of dirs) fs.accessSync(dir, fs.constants.W_OK);
      }
    } catch (err) {
      throw unusableDataDir(dataDir, err);
    }
    this.tmpSerial = 0;
  }

  // Why a read-only store refuses `what`.
  refuseWrite(what) {
    return new PycageError(`Cannot ${what}: dataDir ${this.dataDir} is read-only (it serves the bundles it holds). ` +
      'Build bundles with a writable dataDir, then ship that directory', codes.ERR_INVALID_ARGUMENT);
  }

  // Startup only (synchronous, like opening a database): what a crash left
  // in tmp/ is half a build or half an import, never anything published.
  // Another process's work in progress (a shared dataDir) is left alone.
  clearLeftovers() {
    if (this.readOnly) return;
    for (const entry of fs.readdirSync(this.tmpDir)) {
      const full = path.join(this.tmpDir, entry);
      const owner = owners.ownerOfName(entry);
      if (owner !== null && owners.ownerAlive(owner, owners.mtimeOf(full), FOREIGN_OWNER_MAX_AGE_MS)) continue;
      // Right after a host was SIGKILLed its installer may still be dying
      // and writing here (ENOTEMPTY mid-removal): retry a little, and what
      // still resists is left for the next startup rather than failing
      // this one. Nothing refers to a dead owner's entry.
      try {
        fs.rmSync(full, { recursive: true, force: true, maxRetries: 8, retryDelay: 50 });
      } catch { /* the next startup removes it */ }
    }
  }

  // The cross-process build lock of one install: true when this process now
  // holds it, false while a live owner does. A dead owner's lock is taken over.
  tryLockBuild(installId) {
    const lock = path.join(this.locksDir, installId);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.mkdirSync(lock);
        fs.writeFileSync(path.join(lock, 'owner'), owners.SELF);
        return true;
      } catch (err) {
        if (err.code !== 'EEXIST') throw err;
      }
      let owner = '';
      try { owner = fs.readFileSync(path.join(lock, 'owner'), 'utf8'); } catch { /* being written */ }
      if (owner === '' && Date.now() - owners.mtimeOf(lock) < 5000) return false;
      if (owner !== '' && owners.ownerAlive(owner, owners.mtimeOf(lock), FOREIGN_OWNER_MAX_AGE_MS)) return false;
      fs.rmSync(lock, { recursive: true, force: true });  // its owner died mid-build
    }
    return false;
  }

  unlockBuild(installId) {
    fs.rmSync(path.join(this.locksDir, installId), { recursive: true, force: true });
  }

  // Marks (or unmarks) an install or import directory as served by this process.
  markInUse(dir, inUse) {
    if (this.readOnly) return;
    const marker = path.join(this.inUseDir, path.basename(dir), owners.SELF);
    try {
      if (inUse) {
        fs.mkdirSync(path.dirname(marker), { recursive: true });
        fs.writeFileSync(marker, '');
      } else {
        fs.rmSync(marker, { force: true });
      }
    } catch { /* a marker is a courtesy to other processes' GC */ }
  }

  // Whether another live process serves runs from `dir`.
  servedElsewhere(dir) {
    let names = [];
    try { names = fs.readdirSync(path.join(this.inUseDir, path.basename(dir))); } catch { return false; }
    return names.some((owner) => owner !== owners.SELF &&
      owners.ownerAlive(owner, owners.mtimeOf(path.join(this.inUseDir, path.basename(dir), owner)), FOREIGN_OWNER_MAX_AGE_MS));
  }

  // A key's record as another process may have rewritten it, or null.
  readRecord(key) {
    try {
      const record = JSON.parse(fs.readFileSync(this.recordPath(key), 'utf8'));
      return record && record.version === RECORD_VERSION && record.key === key ? record : null;
    } catch {
      return null;
    }
  }

  // Startup only: every status record, by key.
  loadRecords() {
    const records = new Map();
    for (const entry of fs.readdirSync(this.keysDir)) {
      if (!entry.endsWith('.json')) continue;
      const file = path.join(this.keysDir, entry);
      try {
        const record = JSON.parse(fs.readFileSync(file, 'utf8'));
        if (record && record.version === RECORD_VERSION && typeof record.key === 'string' &&
            `${sha256Hex(record.key)}.json` === entry) {
          records.set(record.key, record);
        }
      } catch { /* unreadable: treated as unknown key (status 'none') */ }
    }
    return records;
  }

  recordPath(key) {
    return path.join(this.keysDir, `${sha256Hex(key)}.json`);
  }

  async saveRecord(record) {
    await this.writeAtomic(this.recordPath(record.key), JSON.stringify({ ...record, version: RECORD_VERSION }));
  }

  async writeAtomic(file, text) {
    const tmp = path.join(this.tmpDir, `write-${owners.SELF}-${++this.tmpSerial}_${path.basename(file)}`);
    const handle = await fsp.open(tmp, 'w', 0o644);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
  }

  async makeTempDir(prefix) {
    if (this.readOnly) throw this.refuseWrite('write to its tmp directory');
    // Named by its owner, so another process's startup leaves it alone.
    return fsp.mkdtemp(path.join(this.tmpDir, `${prefix}-${owners.SELF}-`));
  }

  installDir(installId) {
    return path.join(this.installsDir, installId);
  }

  importDir(bundleSha) {
    return path.join(this.importsDir, bundleSha);
  }

  // The published meta of an install directory, or null when it is absent
  // (never published, or collected).
  readInstallMeta(dir) {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, INSTALL_META), 'utf8'));
    } catch {
      return null;
    }
  }

  async writeInstallMeta(dir, meta) {
    const file = path.join(dir, INSTALL_META);
    await fsp.writeFile(file, JSON.stringify(meta));
    const handle = await fsp.open(file, 'r');
    try { await handle.sync(); } finally { await handle.close(); }
  }

  // Publishes a finished build directory with one rename. An existing
  // directory of the same name (a rebuild) is first moved aside into tmp/, so
  // the name always points at a whole install.
  async publish(builtDir, finalDir) {
    let retired = null;
    try {
      await fsp.rename(builtDir, finalDir);
    } catch (err) {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      retired = await this.makeTempDir('retired');
      await fsp.rename(finalDir, path.join(retired, 'old'));
      await fsp.rename(builtDir, finalDir);
    }
    if (retired) await fsp.rm(retired, { recursive: true, force: true });
  }

  // The adaptive preload's file of an install or import directory.
  learnedFile(dir) {
    return path.join(this.learnedDir, `${path.basename(path.dirname(dir))}-${path.basename(dir)}.json`);
  }

  async remove(dir) {
    await fsp.rm(this.learnedFile(dir), { force: true });
    const trash = await this.makeTempDir('trash');
    try {
      await fsp.rename(dir, path.join(trash, 'dir'));
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    await fsp.rm(trash, { recursive: true, force: true });
  }

  // Every published install and import with its meta (for GC).
  async listPublished() {
    const out = [];
    for (const base of [this.installsDir, this.importsDir]) {
      for (const name of await fsp.readdir(base)) {
        const dir = path.join(base, name);
        const meta = this.readInstallMeta(dir);
        if (meta === null) continue;
        out.push({ dir, meta, lastUsed: Date.parse(meta.createdAt) || 0 });
      }
    }
    return out;
  }

  // Unreferenced installs go, least recently published or used first, until
  // the total is under the cap. Referenced ones (some key's ready or serving
  // install, or a build in flight) are never touched.
  async collectGarbage(capBytes, referencedDirs, lastUsedByDir = new Map()) {
    const published = await this.listPublished();
    for (const entry of published) entry.lastUsed = Math.max(entry.lastUsed, lastUsedByDir.get(entry.dir) || 0);
    let total = published.reduce((sum, entry) => sum + (entry.meta.sizeBytes || 0), 0);
    const removed = [];
    // Installs another process references (its keys' records on disk) or
    // serves (an in-use marker of a live process) stay too.
    const onDisk = new Set();
    for (const record of this.loadRecords().values()) {
      for (const dir of [record.dir, record.serving && record.serving.dir]) if (dir) onDisk.add(dir);
    }
    const candidates = published
      .filter((entry) => !referencedDirs.has(entry.dir) && !onDisk.has(entry.dir) && !this.servedElsewhere(entry.dir))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of candidates) {
      if (total <= capBytes) break;
      await this.remove(entry.dir);
      total -= entry.meta.sizeBytes || 0;
      removed.push(entry.dir);
    }
    return { removed, totalBytes: total };
  }
}

// Bytes on disk of a tree (files and symlinks, not following them).
async function treeSize(dir) {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop();
    for (const entry of await fsp.readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        stack.push(full);
      } else {
        total += (await fsp.lstat(full)).size;
      }
    }
  }
  return total;
}

module.exports = { BundleStore, INSTALL_META, sha256Hex, treeSize };
