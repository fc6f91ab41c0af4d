'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { PycageError, codes } = require('./errors');

const ROOT = path.resolve(__dirname, '..');
const ADDON_PATH = path.join(ROOT, 'build', 'Release', 'pycage.node');
const RUNNER_DIR = path.join(ROOT, 'native', 'runner');

let binding = null;

// Loaded on first use, not at require time, so argument errors and the
// TypeScript definitions work before the addon has been built.
function load() {
  if (binding !== null) return binding;
  try {
    binding = require(ADDON_PATH);
  } catch (err) {
    throw new PycageError([
      `Could not load the pycage native addon from ${ADDON_PATH}: ${String(err.message).split('\n')[0]}`,
      'Possible solutions:',
      '- Build it: npm install (or npm run build) in the package directory',
      '- Install the build dependencies: bash .ci/setup.sh (as root on Debian 12)',
      '- Make sure the addon was built for this Node.js version (process.versions.modules = ' +
        `${process.versions.modules}) and platform (${process.platform}-${process.arch})`,
    ].join('\n'), codes.ERR_INTERNAL);
  }
  return binding;
}

// The jail helper is built next to the addon so one build directory holds
// everything a Sandbox execs.
function helperPath() {
  const helper = path.join(path.dirname(ADDON_PATH), 'pycage-jail');
  try {
    fs.accessSync(helper, fs.constants.X_OK);
  } catch (err) {
    throw new PycageError([
      `The jail helper ${helper} is missing or not executable (${err.code || err.message})`,
      'Possible solutions:',
      '- Rebuild the package: npm install (or npm run build)',
    ].join('\n'), codes.ERR_INTERNAL);
  }
  return helper;
}

// The probe runs `pycage-jail --probe`; a failure to run it is a broken
// install, reported as one of our errors rather than a bare Error.
function probe(binding, helper, cgroupRoot) {
  try {
    return cgroupRoot ? binding.probe(helper, cgroupRoot) : binding.probe(helper);
  } catch (err) {
    if (err instanceof PycageError) throw err;
    throw new PycageError([
      `Could not probe this host with ${helper} --probe: ${err && err.message}`,
      'Possible solutions:',
      '- Rebuild the package: npm install (or npm run build)',
    ].join('\n'), codes.ERR_INTERNAL);
  }
}

function findOnPath(name, env) {
  for (const dir of String(env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch { /* not here */ }
  }
  return null;
}

const INTERPRETER_QUERY =
  'import sys,json,importlib.machinery as m;' +
  'abi=[s.split(".")[1] for s in m.EXTENSION_SUFFIXES if s.count(".")==2 and s.endswith(".so")][:1] or [sys.implementation.cache_tag];' +
  'print(json.dumps([sys.prefix,sys.base_prefix,sys.version.split()[0],sys.executable,abi[0]]))';

// Resolves the interpreter once per Sandbox. This spawns the interpreter
// synchronously (a one-time constructor cost of a few tens of ms) because the
// jail must bind its prefixes read-only and the zygote must exec the real
// binary: PATH entries may be symlinks or launcher shims (pyenv), so the
// interpreter's own sys.executable is trusted over the PATH entry.
function resolvePython(requested, env = process.env) {
  const source = requested !== undefined ? 'the python option'
    : env.PYCAGE_PYTHON ? 'PYCAGE_PYTHON' : 'python3 on PATH';
  const wanted = requested !== undefined ? requested : (env.PYCAGE_PYTHON || 'python3');
  const located = wanted.includes('/') ? path.resolve(wanted) : findOnPath(wanted, env);
  const fail = (why, extra = []) => new PycageError([
    `Could not use the Python interpreter '${wanted}' (from ${source}): ${why}`,
    'Possible solutions:',
    '- Install Python 3: apt-get install python3',
    '- Point pycage at an interpreter: new Sandbox({ python: \'/usr/bin/python3\' }) or PYCAGE_PYTHON=/usr/bin/python3',
    ...extra,
  ].join('\n'), codes.ERR_INVALID_ARGUMENT);
  if (located === null) throw fail('not found on PATH');
  let real;
  try {
    real = fs.realpathSync(located);
  } catch (err) {
    throw fail(`${located} does not exist (${err.code})`);
  }
  const out = spawnSync(real, ['-I', '-S', '-c', INTERPRETER_QUERY], {
    encoding: 'utf8', env, timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (out.error || out.status !== 0) {
    const why = out.error ? out.error.message : `it exited with ${out.status ?? out.signal}: ${String(out.stderr).trim().slice(0, 500)}`;
    throw fail(why);
  }
  let prefix, basePrefix, version, executable, abi;
  try {
    [prefix, basePrefix, version, executable, abi] = JSON.parse(out.stdout.trim().split('\n').pop());
  } catch {
    throw fail(`unexpected output from the interpreter: ${out.stdout.slice(0, 200)}`);
  }
  if (!/^3\./.test(version)) throw fail(`it is Python ${version}; pycage needs Python 3`);
  const python = executable ? fs.realpathSync(executable) : real;
  const prefixes = [];
  for (const dir of [prefix, basePrefix, path.dirname(python)]) {
    if (!dir || !path.isAbsolute(dir)) continue;
    let resolved = dir;
    try { resolved = fs.realpathSync(dir); } catch { continue; }
    if (!prefixes.includes(resolved)) prefixes.push(resolved);
  }
  // A directory inside another bound one would only be a second mount of the same files.
  const within = (dir, parent) => dir !== parent && dir.startsWith(parent.endsWith('/') ? parent : `${parent}/`);
  const pythonPrefixes = prefixes.filter((dir) => !prefixes.some((other) => within(dir, other)));
  return { python, pythonPrefixes, version, abi };
}

module.exports = { ROOT, ADDON_PATH, RUNNER_DIR, load, helperPath, probe, resolvePython, findOnPath };
