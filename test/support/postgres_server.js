'use strict';

// A real PostgreSQL (Debian's package) for the tests: a fresh cluster in a
// temp directory, listening on loopback only, stopped and removed after.
// As root the server runs as the package's `postgres` user (initdb refuses
// root). Resolves { port, connectionString, stop() }; rejects saying what to
// install when the binaries are missing.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./free_port');
const { spawn, spawnSync, execFileSync } = require('node:child_process');

function binDir() {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return null;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => b - a);
  return versions.length ? path.join(root, versions[0], 'bin') : null;
}

// The uid/gid the server runs as: ours, or the postgres user's when we are root.
function serverIdentity() {
  if (process.getuid() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

async function startPostgres() {
  const bin = binDir();
  if (bin === null) throw new Error('PostgreSQL is not installed: apt-get install postgresql (.ci/setup.sh does)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-pg-'));
  const data = path.join(dir, 'data');
  const identity = serverIdentity();
  fs.chmodSync(dir, 0o755);
  if (identity.uid !== undefined) fs.chownSync(dir, identity.uid, identity.gid);
  const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'pycage', '--auth=trust', '-E', 'UTF8', '--no-sync'],
    { encoding: 'utf8', ...identity });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error}`);
  const port = await freePort();
  const server = spawn(path.join(bin, 'postgres'), ['-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', dir,
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
  { stdio: ['ignore', 'ignore', 'pipe'], ...identity });
  let log = '';
  server.stderr.on('data', (chunk) => { log += chunk; });
  const connectionString = `postgresql://pycage@127.0.0.1:${port}/postgres`;
  const { Client } = require('pg');
  const deadline = Date.now() + 30000;
  for (;;) {
    const client = new Client({ connectionString });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (err) {
      await client.end().catch(() => {});
      if (server.exitCode !== null || Date.now() > deadline) {
        server.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
        throw new Error(`PostgreSQL did not start: ${err.message}\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const stop = async () => {
    if (server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGINT');  // fast shutdown
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { port, connectionString, stop };
}

module.exports = { startPostgres };
