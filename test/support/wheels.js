'use strict';
// Wheels for tests that install packages: synthetic ones built on every call
// (fast, deterministic, no network) and real ones from PyPI downloaded once
// into a persistent cache. See README.md in this directory.

const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PYTHON = process.env.PYCAGE_TEST_PYTHON || 'python3';
const REAL_PACKAGES = ['pydash', 'requests', 'numpy', 'pandas', 'matplotlib', 'scipy'];
// Wheels for CPython 3.11 on x86_64 glibc Linux, whatever interpreter runs pip.
const REAL_TARGET = [
  '--python-version', '3.11',
  '--implementation', 'cp',
  '--abi', 'cp311',
  '--platform', 'manylinux2014_x86_64',
  '--platform', 'manylinux_2_17_x86_64',
  '--platform', 'manylinux_2_28_x86_64',
];
const MARKER = '.pycage-complete';

function cacheRoot() {
  return process.env.PYCAGE_TEST_CACHE || path.join(os.homedir(), '.cache', 'pycage-test');
}

function run(file, args, options = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 64 << 20, ...options }, (error, stdout, stderr) => {
      if (error) {
        error.stdout = stdout;
        error.stderr = stderr;
        reject(error);
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

function tail(text, lines = 20) {
  return String(text || '').trimEnd().split('\n').slice(-lines).join('\n');
}

async function buildSynthetic() {
  const dir = path.join(cacheRoot(), 'wheels-synthetic');
  try {
    await run(PYTHON, [path.join(__dirname, 'make_wheels.py'), dir]);
  } catch (error) {
    throw new Error(`building the synthetic test wheels into ${dir} failed: ${error.message}\n${tail(error.stderr)}`);
  }
  return { dir };
}

async function downloadReal() {
  const dir = path.join(cacheRoot(), 'wheels-cp311');
  if (fs.existsSync(path.join(dir, MARKER))) return { dir };

  // Download into a private directory and rename it into place, so parallel
  // first calls cannot see (or make) a half-filled cache.
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const scratch = fs.mkdtempSync(`${dir}.tmp-`);
  const args = ['-m', 'pip', 'download', '--disable-pip-version-check', '--no-input', '--only-binary=:all:',
    ...REAL_TARGET, '--dest', scratch, ...REAL_PACKAGES];
  try {
    await run(PYTHON, args, { timeout: 30 * 60 * 1000 });
  } catch (error) {
    fs.rmSync(scratch, { recursive: true, force: true });
    throw new Error(`downloading the real test wheels (${REAL_PACKAGES.join(' ')}) from PyPI failed: ` +
      `${PYTHON} ${args.join(' ')}: ${error.message}\n${tail(error.stderr)}\n` +
      'These tests need network access to PyPI once; later runs use the cache in ' + dir);
  }
  const wheels = fs.readdirSync(scratch).filter((name) => name.endsWith('.whl')).sort();
  fs.writeFileSync(path.join(scratch, MARKER), JSON.stringify({
    packages: REAL_PACKAGES, target: REAL_TARGET, wheels, downloaded: new Date().toISOString(),
  }, null, 2) + '\n');
  try {
    fs.renameSync(scratch, dir);
  } catch (error) {
    // Someone else finished first (the directory exists and is not empty).
    fs.rmSync(scratch, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dir, MARKER))) {
      throw new Error(`cannot move the downloaded wheels into ${dir}: ${error.message}; remove that directory and retry`);
    }
  }
  return { dir };
}

/**
 * Returns a directory of wheels: the synthetic test packages (rebuilt on
 * every call), or with `real: true` the real PyPI wheels for CPython 3.11 on
 * x86_64 Linux (downloaded once, then read from the cache).
 */
async function ensureWheels({ real = false } = {}) {
  return real ? downloadReal() : buildSynthetic();
}

module.exports = { ensureWheels, cacheRoot, REAL_PACKAGES };
