'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { execFile, spawnSync } = require('node:child_process');
const { PycageError, codes } = require('./errors');

const ROOT = path.resolve(__dirname, '..');
const RUNNER_DIR = path.join(ROOT, 'native', 'runner');
// Where the native binaries may be, in the order they are tried: a build from
// source (a checkout, or `npx pycage build` on a host without a prebuilt
// binary), then the prebuilt ones the package ships. Each directory holds the
// addon and the pycage-jail helper side by side.
const SOURCE_BUILD_DIR = path.join(ROOT, 'build', 'Release');
const PREBUILD_DIR = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`);
// The prebuilt binaries are linked on Debian 12: they need glibc 2.36 or newer
// (test/js/01.addon.binary.test.js checks every versioned symbol against it).
const GLIBC_FLOOR = '2.36';
const BUILD_FIX = [
  '- Build from source: npx pycage build (it names any Debian package the build lacks)',
  `- Or run on Linux x64 with glibc ${GLIBC_FLOOR} or newer, where the package carries prebuilt binaries`,
];

// The C library this process runs on: prebuilt binaries are for glibc only.
function glibcVersion() {
  if (process.platform !== 'linux') return null;
  const header = process.report && typeof process.report.getReport === 'function'
    ? process.report.getReport().header : {};
  return header.glibcVersionRuntime || null;
}

function nativeDirs() {
  const dirs = [];
  if (fs.existsSync(path.join(SOURCE_BUILD_DIR, 'pycage.node'))) dirs.push({ dir: SOURCE_BUILD_DIR, kind: 'source build' });
  if (fs.existsSync(path.join(PREBUILD_DIR, 'pycage.node'))) dirs.push({ dir: PREBUILD_DIR, kind: 'prebuilt' });
  return dirs;
}

// The addon that load() takes (or would take), or null when there is none.
const ADDON_PATH = (() => {
  const first = nativeDirs()[0];
  return first ? path.join(first.dir, 'pycage.node') : null;
})();

let binding = null;
let bindingDir = null;

// Loaded on first use, not at require time, so argument errors and the
// TypeScript definitions work before the addon has been built.
function load() {
  if (binding !== null) return binding;
  const attempts = [];
  for (const { dir, kind } of nativeDirs()) {
    if (kind === 'prebuilt' && glibcVersion() === null) {
      attempts.push(`${kind} ${dir}: skipped, this host's C library is not glibc`);
      continue;
    }
    try {
      binding = require(path.join(dir, 'pycage.node'));
      bindingDir = dir;
      return binding;
    } catch (err) {
      attempts.push(`${kind} ${path.join(dir, 'pycage.node')}: ${String(err.message).split('\n')[0]}`);
    }
  }
  if (attempts.length === 0) {
    attempts.push(`no binary for ${process.platform}-${process.arch} in ${PREBUILD_DIR} and no build in ${SOURCE_BUILD_DIR}`);
  }
  throw new PycageError([
    'Could not load the pycage native addon:',
    ...attempts.map((line) => `  ${line}`),
    'Possible solutions:',
    ...BUILD_FIX,
  ].join('\n'), codes.ERR_INTERNAL);
}

// The jail helper sits next to the addon that was loaded, so one directory
// holds everything a Sandbox execs.
function helperPath() {
  load();
  const helper = path.join(bindingDir, 'pycage-jail');
  try {
    fs.accessSync(helper, fs.constants.X_OK);
  } catch (err) {
    throw new PycageError([
      `The jail helper ${helper} is missing or not executable (${err.code || err.message})`,
      'Possible solutions:',
      '- Reinstall the package (its prebuilt helper must keep its executable bit)',
      ...BUILD_FIX,
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
    throw probeFailed(helper, err);
  }
}

function probeFailed(helper, err) {
  if (err instanceof PycageError && err.code !== codes.ERR_INTERNAL) return err;
  return new PycageError([
    `Could not probe this host with ${helper} --probe: ${err && err.message}`,
    'Possible solutions:',
    ...BUILD_FIX,
  ].join('\n'), codes.ERR_INTERNAL);
}

// The same off the JS thread: the helper is spawned and waited for on a
// thread of the addon's own (Sandbox.create).
async function probeAsync(binding, helper, cgroupRoot) {
  try {
    return await (cgroupRoot ? binding.probeAsync(helper, cgroupRoot) : binding.probeAsync(helper));
  } catch (err) {
    throw probeFailed(helper, err);
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
  const where = locatePython(requested, env);
  const out = spawnSync(where.real, ['-I', '-S', '-c', INTERPRETER_QUERY], {
    encoding: 'utf8', env, timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return describePython(where, out.error, out.status ?? out.signal, out.stdout, out.stderr);
}

// The same without blocking the JS thread on the interpreter (Sandbox.create).
function resolvePythonAsync(requested, env = process.env) {
  const where = locatePython(requested, env);
  return new Promise((resolve, reject) => {
    const child = execFile(where.real, ['-I', '-S', '-c', INTERPRETER_QUERY], {
      encoding: 'utf8', env, timeout: 30_000,
    }, (err, stdout, stderr) => {
      try {
        const spawnError = err && typeof err.code === 'string' ? err : null;
        const status = err ? (err.code ?? err.signal) : 0;
        resolve(describePython(where, spawnError, spawnError ? null : status, stdout, stderr));
      } catch (failure) {
        reject(failure);
      }
    });
    child.stdin.end();
  });
}

function locatePython(requested, env) {
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
  try {
    return { real: fs.realpathSync(located), fail };
  } catch (err) {
    throw fail(`${located} does not exist (${err.code})`);
  }
}

// What the interpreter answered to INTERPRETER_QUERY, checked.
function describePython({ real, fail }, spawnError, status, stdout, stderr) {
  if (spawnError || status !== 0) {
    const why = spawnError ? spawnError.message : `it exited with ${status}: ${String(stderr).trim().slice(0, 500)}`;
    throw fail(why);
  }
  let prefix, basePrefix, version, executable, abi;
  try {
    [prefix, basePrefix, version, executable, abi] = JSON.parse(String(stdout).trim().split('\n').pop());
  } catch {
    throw fail(`unexpected output from the interpreter: ${String(stdout).slice(0, 200)}`);
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

module.exports = { ROOT, ADDON_PATH, GLIBC_FLOOR, RUNNER_DIR, SOURCE_BUILD_DIR, PREBUILD_DIR, load, helperPath, probe, probeAsync, resolvePython, resolvePythonAsync, findOnPath };
