'use strict';

// uv for the benchmarks and the uv tests: installed once from PyPI into the
// test cache (pip --target), never onto the host's PATH. Returns the path of
// the uv binary, or null when it cannot be installed (no network).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

function cacheRoot() {
  return process.env.PYCAGE_TEST_CACHE || path.join(os.homedir(), '.cache', 'pycage-test');
}

async function ensureUv() {
  const dir = path.join(cacheRoot(), 'uv');
  const binary = path.join(dir, 'bin', 'uv');
  if (fs.existsSync(binary)) return binary;
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const staging = fs.mkdtempSync(path.join(cacheRoot(), 'uv-staging-'));
  const python = process.env.PYCAGE_PYTHON || 'python3';
  const done = spawnSync(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input',
    '--only-binary=:all:', '--target', staging, 'uv'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 300_000 });
  if (done.status !== 0 || !fs.existsSync(path.join(staging, 'bin', 'uv'))) {
    fs.rmSync(staging, { recursive: true, force: true });
    return null;
  }
  try {
    fs.renameSync(staging, dir);
  } catch {
    fs.rmSync(staging, { recursive: true, force: true });  // another process won the race
  }
  return binary;
}

module.exports = { ensureUv };
