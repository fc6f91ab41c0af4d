'use strict';

// require('pycage/postgres'): bundles kept in the host's own PostgreSQL, so a
// version built on one machine serves on another (README "Scaling out").
// The host hands in its `pg` Pool; pycage does not depend on `pg`.
//
// Schema (migrate() creates it, idempotently, under an advisory lock):
//   <prefix>bundles        one row per exported bundle archive: bundle_sha (the
//                          content hash import checks), archive_sha256 (of the
//                          bytes as stored), size_bytes, chunk_bytes, chunks,
//                          runtime_version, created_at
//   <prefix>bundle_chunks  the archive in chunk_bytes pieces (bytea), written a
//                          chunk and read a 48 KiB piece at a time, so the
//                          archive is held once, never as hex or per-chunk copies
//   <prefix>bundle_keys    one row per key (a ToolJet app version id): status
//                          (none | building | ready | failed), bundle_sha,
//                          requirements, error, updated_at

const crypto = require('node:crypto');
const { PycageError, codes, invalidArgument } = require('./errors');
const validate = require('./validate');

const SCHEMA_VERSION = 1;
const DEFAULT_CHUNK_BYTES = 1 << 20;
// Read in 48 KiB pieces: their base64 text (64 KiB) stays a young-generation string.
const READ_PIECE_BYTES = 48 * 1024;
const STATUSES = Object.freeze(['none', 'building', 'ready', 'failed']);
const SHA = /^[0-9a-f]{64}$/;
const MAX_KEY_LENGTH = 200;

function checkPrefix(prefix) {
  if (typeof prefix !== 'string' || !/^[a-z_][a-z0-9_]{0,30}$/.test(prefix)) {
    throw validate.expected('a lower-case SQL identifier prefix such as \'pycage_\'', 'tablePrefix', prefix);
  }
  return prefix;
}

function checkSha(value, name) {
  if (typeof value !== 'string' || !SHA.test(value)) throw validate.expected('a 64-digit lower-case hex bundleSha', name, value);
  return value;
}

function checkKey(key) {
  validate.string(key, 'key', { maxLength: MAX_KEY_LENGTH });
  return key;
}

function tables(prefix) {
  return { bundles: `${prefix}bundles`, chunks: `${prefix}bundle_chunks`, keys: `${prefix}bundle_keys`,
    schema: `${prefix}schema` };
}

// The migration, as a ToolJet migration would write it.
function migrationSql(t) {
  return [
    `CREATE TABLE IF NOT EXISTS ${t.schema} (version integer NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${t.bundles} (
      bundle_sha text PRIMARY KEY,
      archive_sha256 text NOT NULL,
      size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
      chunk_bytes integer NOT NULL CHECK (chunk_bytes > 0),
      chunks integer NOT NULL CHECK (chunks >= 0),
      runtime_version text,
      created_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE TABLE IF NOT EXISTS ${t.chunks} (
      bundle_sha text NOT NULL REFERENCES ${t.bundles} (bundle_sha) ON DELETE CASCADE,
      seq integer NOT NULL CHECK (seq >= 0),
      data bytea NOT NULL,
      PRIMARY KEY (bundle_sha, seq))`,
    `CREATE TABLE IF NOT EXISTS ${t.keys} (
      key text PRIMARY KEY,
      status text NOT NULL CHECK (status IN ('none', 'building', 'ready', 'failed')),
      bundle_sha text REFERENCES ${t.bundles} (bundle_sha),
      requirements text,
      error text,
      updated_at timestamptz NOT NULL DEFAULT now())`,
  ];
}

async function inTransaction(pool, work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

function corrupt(table, bundleSha, why) {
  return new PycageError(`Bundle ${bundleSha} in the PostgreSQL table ${table} is corrupt: ${why}. ` +
    'Publish it again from a Sandbox that has it (store.publish(sandbox, key)), or rebuild it', codes.ERR_BUNDLE_CORRUPT);
}

class PostgresBundleStore {
  constructor({ pool, tablePrefix = 'pycage_', chunkBytes = DEFAULT_CHUNK_BYTES }) {
    this.pool = pool;
    this.tables = tables(checkPrefix(tablePrefix));
    this.chunkBytes = chunkBytes;
  }

  // Creates the tables if they are missing; safe to call from every process
  // at startup (an advisory lock serialises concurrent callers).
  async migrate() {
    const t = this.tables;
    await inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [t.schema]);
      for (const sql of migrationSql(t)) await client.query(sql);
      const { rows } = await client.query(`SELECT version FROM ${t.schema}`);
      if (rows.length === 0) {
        await client.query(`INSERT INTO ${t.schema} (version) VALUES ($1)`, [SCHEMA_VERSION]);
      } else if (rows[0].version > SCHEMA_VERSION) {
        throw new PycageError(`The PostgreSQL tables ${t.bundles}… are at schema version ${rows[0].version}, ` +
          `newer than this pycage's ${SCHEMA_VERSION}; upgrade pycage`, codes.ERR_INVALID_ARGUMENT);
      }
    });
  }

  // Stores an exported archive (sandbox.exportBundle()) under its bundleSha.
  // Storing the same bundleSha twice keeps the first copy.
  async putBundle(bytes, { bundleSha, runtimeVersion = null } = {}) {
    if (!Buffer.isBuffer(bytes)) throw validate.expected('Buffer', 'bytes', bytes);
    checkSha(bundleSha, 'bundleSha');
    const t = this.tables;
    const chunks = Math.ceil(bytes.length / this.chunkBytes);
    const archiveSha = crypto.createHash('sha256').update(bytes).digest('hex');
    return inTransaction(this.pool, async (client) => {
      const inserted = await client.query(
        `INSERT INTO ${t.bundles} (bundle_sha, archive_sha256, size_bytes, chunk_bytes, chunks, runtime_version)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (bundle_sha) DO NOTHING RETURNING bundle_sha`,
        [bundleSha, archiveSha, bytes.length, this.chunkBytes, chunks, runtimeVersion]);
      if (inserted.rowCount === 0) return { bundleSha, stored: false };
      for (let seq = 0; seq < chunks; seq++) {
        // A view, not a copy: the archive is held once.
        const piece = bytes.subarray(seq * this.chunkBytes, (seq + 1) * this.chunkBytes);
        await client.query(`INSERT INTO ${t.chunks} (bundle_sha, seq, data) VALUES ($1, $2, $3)`, [bundleSha, seq, piece]);
      }
      return { bundleSha, stored: true };
    });
  }

  async hasBundle(bundleSha) {
    checkSha(bundleSha, 'bundleSha');
    const { rowCount } = await this.pool.query(`SELECT 1 FROM ${this.tables.bundles} WHERE bundle_sha = $1`, [bundleSha]);
    return rowCount > 0;
  }

  // The archive's bytes, read a piece at a time into one buffer and checked
  // against what was stored: size, chunk count and sha256.
  async readBundle(bundleSha) {
    checkSha(bundleSha, 'bundleSha');
    const t = this.tables;
    const head = await this.pool.query(
      `SELECT archive_sha256, size_bytes, chunk_bytes, chunks FROM ${t.bundles} WHERE bundle_sha = $1`, [bundleSha]);
    if (head.rowCount === 0) {
      throw new PycageError(`Bundle ${bundleSha} is not in the PostgreSQL table ${t.bundles}; publish it first ` +
        '(store.publish(sandbox, key) on a machine that built it)', codes.ERR_BUNDLE_NOT_READY);
    }
    const { archive_sha256: expected, chunks } = head.rows[0];
    const size = Number(head.rows[0].size_bytes);
    const out = Buffer.allocUnsafe(size);
    const hash = crypto.createHash('sha256');
    let offset = 0;
    for (let seq = 0; seq < chunks; seq++) {
      // Each chunk comes as base64 pieces decoded straight into `out`: no
      // Buffer per chunk, and pieces small enough for V8's young generation,
      // so what a chunk leaves behind is freed before the next arrives.
      const { rows } = await this.pool.query(
        `SELECT length(data) AS n, encode(substring(data FROM p FOR ${READ_PIECE_BYTES}), 'base64') AS piece
         FROM ${t.chunks}, generate_series(1, greatest(length(data), 1), ${READ_PIECE_BYTES}) AS p
         WHERE bundle_sha = $1 AND seq = $2 ORDER BY p`, [bundleSha, seq]);
      if (rows.length === 0) throw corrupt(t.chunks, bundleSha, `chunk ${seq} of ${chunks} is missing`);
      if (offset + rows[0].n > size) throw corrupt(t.chunks, bundleSha, `its chunks hold more than the ${size} bytes recorded`);
      for (const { piece } of rows) {
        const n = out.write(piece, offset, 'base64');
        hash.update(out.subarray(offset, offset + n));
        offset += n;
      }
    }
    if (offset !== size) throw corrupt(t.chunks, bundleSha, `its chunks hold ${offset} bytes, not the ${size} recorded`);
    const actual = hash.digest('hex');
    if (actual !== expected) throw corrupt(t.chunks, bundleSha, `its bytes hash to sha256 ${actual}, not the ${expected} recorded`);
    return out;
  }

  async setStatus(key, { status, bundleSha = null, requirements = null, error = null }) {
    checkKey(key);
    if (!STATUSES.includes(status)) throw validate.expected(`one of ${STATUSES.join(', ')}`, 'status', status);
    if (bundleSha !== null) checkSha(bundleSha, 'bundleSha');
    await this.pool.query(
      `INSERT INTO ${this.tables.keys} (key, status, bundle_sha, requirements, error, updated_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (key) DO UPDATE SET status = $2, bundle_sha = COALESCE($3, ${this.tables.keys}.bundle_sha),
         requirements = COALESCE($4, ${this.tables.keys}.requirements), error = $5, updated_at = now()`,
      [key, status, bundleSha, requirements, error]);
  }

  async getStatus(key) {
    checkKey(key);
    const { rows } = await this.pool.query(
      `SELECT key, status, bundle_sha, requirements, error, updated_at FROM ${this.tables.keys} WHERE key = $1`, [key]);
    if (rows.length === 0) return { key, status: 'none', bundleSha: null, requirements: null, error: null, updatedAt: null };
    const r = rows[0];
    return { key: r.key, status: r.status, bundleSha: r.bundle_sha, requirements: r.requirements, error: r.error,
      updatedAt: r.updated_at.toISOString() };
  }

  // Stores `key`'s ready bundle from `sandbox` and marks the key ready.
  async publish(sandbox, key) {
    checkKey(key);
    const status = await sandbox.status(key);
    if (status.status !== 'ready') {
      throw new PycageError(`Bundle ${JSON.stringify(key)} is ${status.status}, not ready; install it first`, codes.ERR_BUNDLE_NOT_READY);
    }
    if (!(await this.hasBundle(status.bundleSha))) {
      await this.putBundle(await sandbox.exportBundle(key), { bundleSha: status.bundleSha, runtimeVersion: status.runtimeVersion });
    }
    await this.setStatus(key, { status: 'ready', bundleSha: status.bundleSha, requirements: status.requirements });
    return this.getStatus(key);
  }

  // Makes `key` ready in `sandbox` from the store: imports its bundle unless
  // the sandbox already has that bundleSha. Returns the sandbox's status.
  async fetch(sandbox, key) {
    checkKey(key);
    const stored = await this.getStatus(key);
    if (stored.status !== 'ready' || stored.bundleSha === null) {
      const why = stored.status === 'failed' ? `its build failed: ${stored.error}` : `it is ${stored.status} in the store`;
      throw new PycageError(`Bundle ${JSON.stringify(key)} cannot be fetched: ${why}`, codes.ERR_BUNDLE_NOT_READY);
    }
    const local = await sandbox.status(key);
    if (local.status === 'ready' && local.bundleSha === stored.bundleSha) return local;
    // The archive is read only if the sandbox's dataDir lacks it, by one
    // process at a time: processes sharing a dataDir read it once.
    try {
      await sandbox.importBundle(() => this.readBundle(stored.bundleSha), { key, bundleSha: stored.bundleSha });
    } catch (err) {
      // Bytes that pass the archive's sha256 but are another bundle: name the table to repair.
      const other = err && err.code === codes.ERR_BUNDLE_CORRUPT && /imports as ([0-9a-f]{64})/.exec(err.message);
      if (other) throw corrupt(this.tables.chunks, stored.bundleSha, `it imports as ${other[1]}`);
      throw err;
    }
    return sandbox.status(key);
  }

  // Publishes every bundle of `sandbox` that becomes ready, and records its
  // building and failed states, from its 'status' events. Returns a function
  // that stops it. Errors go to onError (default: the sandbox's 'log').
  attach(sandbox, { onError } = {}) {
    const report = onError || ((err) => sandbox.emit('log', { level: 'error', source: 'bundle-store', key: null,
      message: `publishing to PostgreSQL failed: ${err.message}` }));
    const listener = (key, status) => {
      const work = status.status === 'ready' ? this.publish(sandbox, key)
        : this.setStatus(key, { status: status.status, requirements: status.requirements,
          error: status.error ? String(status.error.message || status.error) : null });
      work.catch(report);
    };
    sandbox.on('status', listener);
    return () => sandbox.off('status', listener);
  }
}

function createPostgresBundleStore(options) {
  validate.object(options, 'options of createPostgresBundleStore()');
  validate.knownKeys(options, ['pool', 'tablePrefix', 'chunkBytes'], 'createPostgresBundleStore()');
  const { pool } = options;
  if (!pool || typeof pool.query !== 'function' || typeof pool.connect !== 'function') {
    throw invalidArgument("Expected a pg Pool (new (require('pg').Pool)(…)) for pool of createPostgresBundleStore()");
  }
  if (options.chunkBytes !== undefined &&
    (!Number.isInteger(options.chunkBytes) || options.chunkBytes < 4096 || options.chunkBytes > (64 << 20))) {
    throw validate.expected('an integer from 4096 to 67108864', 'chunkBytes', options.chunkBytes);
  }
  return new PostgresBundleStore(options);
}

module.exports = { createPostgresBundleStore, PostgresBundleStore, SCHEMA_VERSION };
