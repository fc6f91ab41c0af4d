'use strict';

// One build of an install directory: pip (or uv) inside the installer jail,
// then the runner's install.py compiles .pyc, lists distributions and builds
// matplotlib's font cache. The smoke test and the publish happen in
// bundles.js; this file only turns canonical requirements into a directory.
//
// The child is spawned with child_process (uv_spawn on Node's loop: no fork of
// the Node process runs JS, and nothing blocks the threadpool). The helper is
// tied to this process with PR_SET_PDEATHSIG, so a killed Node kills the build.

const fsp = require('node:fs/promises');
const { redactCredentials } = require('./redact');
const { diagnose } = require('./install_diagnosis');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { profileOf } = require('./profiles');

const JAIL_BUILD = '/build';
const JAIL_CACHE = '/cache';
const JAIL_RUNNER = '/pycage/runner';
const JAIL_UV_DIR = '/pycage/uv';
const OUTPUT_TAIL_BYTES = 64 * 1024;
// As root, the installer jail's root is this host uid, never host root: a
// user namespace whose root is host root can still write global sysctls and
// other uid-checked files. Just below the range the run jails use (2^30 up).
const INSTALLER_UID = 2 ** 30 - 2;
const DEFAULT_TIMEOUT_MS = 15 * 60 * 1000;

// The message a failed build carries: the installer's own ERROR lines when it
// printed some, else the end of its output.
function failureMessage(tool, outputTail, exit) {
  const lines = outputTail.split('\n').map((line) => line.trimEnd()).filter(Boolean);
  const errors = lines.filter((line) => /^\s*(ERROR|error|cause|Caused by|hint)\b|^\s*×|^\s*╰─▶|^\s*Because\b/.test(line));
  // pip states the network cause only in its retry warnings: keep the last one.
  const retry = lines.filter((line) => /^\s*WARNING: Retrying\b/.test(line)).slice(-1);
  const body = (errors.length > 0 ? [...retry, ...errors] : lines.slice(-15)).join('\n');
  return `${tool} failed (${exit}):\n${body}`.slice(0, 8192);
}

const JAIL_LINKS = '/pycage/links';
const JAIL_CA_BUNDLE = '/pycage/ca-bundle.pem';

// Operator findLinks that are local directories are bound read-only at
// /pycage/links/N (the jail's own /tmp would hide a bind under /tmp), so the
// installer sees them and nothing else of the host.
function localDir(link) {
  const local = link.startsWith('file://') ? decodeURIComponent(new URL(link).pathname) : link;
  return path.isAbsolute(local) ? path.resolve(local) : null;
}

function localFindLinks(index) {
  return ((index && index.findLinks) || []).map(localDir).filter((dir) => dir !== null);
}

// The index configuration as the jail sees it.
function jailIndex(index) {
  if (!index) return {};
  let n = 0;
  const findLinks = (index.findLinks || []).map((link) => (localDir(link) === null ? link : `${JAIL_LINKS}/${n++}`));
  return { ...index, findLinks, ...(index.caBundle ? { caBundle: JAIL_CA_BUNDLE } : {}) };
}

function installerArgs({ tier, helperPath, python, runnerDir, buildDir, cacheDir, uvPath, index }) {
  const inJail = profileOf(tier).installerJail;
  const config = inJail ? `${JAIL_BUILD}/config.json` : path.join(buildDir, 'config.json');
  const script = inJail ? `${JAIL_RUNNER}/install.py` : path.join(runnerDir, 'install.py');
  if (!inJail) return { command: python.python, args: ['-I', script, config] };
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const args = ['--profile', 'installer', '--tier', tier,
    ...(asRoot ? ['--uid-base', String(INSTALLER_UID), '--uid-count', '1'] : []),
    '--bind', `${buildDir}:${JAIL_BUILD}`, '--bind', `${cacheDir}:${JAIL_CACHE}`,
    '--ro-bind', `${runnerDir}:${JAIL_RUNNER}`];
  for (const prefix of python.pythonPrefixes) {
    if (/^\/(usr|lib|lib64)(\/|$)/.test(prefix) || prefix === '/') continue;  // the helper binds those
    args.push('--ro-bind', prefix);
  }
  if (uvPath) args.push('--ro-bind', `${path.dirname(uvPath)}:${JAIL_UV_DIR}`);
  localFindLinks(index).forEach((dir, n) => args.push('--ro-bind', `${dir}:${JAIL_LINKS}/${n}`));
  if (index && index.caBundle) args.push('--ro-bind', `${index.caBundle}:${JAIL_CA_BUNDLE}`);
  // The installer unpacks wheels in TMPDIR: on the build directory's disk,
  // not the jail's small /tmp tmpfs.
  for (const variable of ['HOME=/tmp', 'LANG=C.UTF-8', 'PATH=/usr/local/bin:/usr/bin:/bin', `TMPDIR=${JAIL_BUILD}/tmp`]) {
    args.push('--setenv', variable);
  }
  args.push('--parent-pid', String(process.pid), '--', python.python, '-I', script, config);
  return { command: helperPath, args };
}

// The paths install.py sees (inside the jail, or the host's in bypass).
function configFor({ tier, buildDir, cacheDir, tool, uvPath, index }) {
  const inJail = profileOf(tier).installerJail;
  const at = (name) => (inJail ? `${JAIL_BUILD}/${name}` : path.join(buildDir, name));
  return {
    tool,
    uv: tool === 'uv' ? (inJail ? `${JAIL_UV_DIR}/${path.basename(uvPath)}` : uvPath) : null,
    target: at('site'),
    requirements: at('requirements.txt'),
    report: at('report.json'),
    result: at('install.json'),
    cache: inJail ? JAIL_CACHE : cacheDir,
    index: inJail ? jailIndex(index) : (index || {}),
  };
}

function runChild(command, args, { onLine, timeoutMs, env, children }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    children.add(child);
    let tail = '';
    let timedOut = false;
    const take = (chunk) => {
      // The index URL may carry credentials; pip masks only their password.
      const text = redactCredentials(chunk.toString('utf8'));
      tail = (tail + text).slice(-OUTPUT_TAIL_BYTES);
      for (const line of text.split('\n')) if (line.trim()) onLine(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: null, signal: null, tail: `${tail}\ncould not start ${command}: ${err.message}`, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, tail, timedOut });
    });
  });
}

// Builds into a fresh directory under the store's tmp/. Resolves with the
// directory and what was installed, or rejects with an Error whose message is
// the installer's own (the caller records it as status 'failed').
async function build({ store, tier, helperPath, python, runnerDir, canonicalText, index, tool, uvPath,
  parsePipReport, onLog, children, timeoutMs = DEFAULT_TIMEOUT_MS }) {
  const buildDir = await store.makeTempDir('build');
  try {
    // mkdtemp makes it 0700; the run jails of the smoke test read site/ in it.
    await fsp.chmod(buildDir, 0o755);
    const cacheDir = path.join(store.cacheDir, tool);
    await fsp.mkdir(cacheDir, { recursive: true });
    await fsp.mkdir(path.join(buildDir, 'site'));
    await fsp.mkdir(path.join(buildDir, 'tmp'));
    await fsp.writeFile(path.join(buildDir, 'requirements.txt'), canonicalText);
    const config = configFor({ tier, buildDir, cacheDir, tool, uvPath, index });
    await fsp.writeFile(path.join(buildDir, 'config.json'), JSON.stringify(config));
    const inJail = profileOf(tier).installerJail;
    if (inJail && process.getuid() === 0) {
      // The jail's root (INSTALLER_UID) writes only these.
      for (const dir of [buildDir, path.join(buildDir, 'site'), path.join(buildDir, 'tmp'), cacheDir]) {
        await fsp.chown(dir, INSTALLER_UID, INSTALLER_UID);
      }
    }
    const { command, args } = installerArgs({ tier, helperPath, python, runnerDir, buildDir, cacheDir, uvPath, index });
    // Bypass has no jail: at least the host's environment stays out.
    const env = inJail ? {} : {
      HOME: buildDir, LANG: 'C.UTF-8', PATH: '/usr/local/bin:/usr/bin:/bin', TMPDIR: path.join(buildDir, 'tmp'),
    };
    const started = Date.now();
    const exit = await runChild(command, args, { onLine: onLog, timeoutMs, env, children });
    if (exit.timedOut) {
      throw new Error(`${tool} did not finish within ${Math.round(timeoutMs / 1000)} s and was killed`);
    }
    if (exit.code !== 0) {
      const how = exit.code === null ? `killed by ${exit.signal}` : `exit status ${exit.code}`;
      // "no version found" hides five different causes: ask the index which.
      const why = await diagnose({ pipOutput: exit.tail, index, abi: python.abi, pythonVersion: python.version })
        .catch(() => null);
      const message = failureMessage(tool, exit.tail, how);
      throw new Error(why ? `${why}.\n${message}` : message);
    }
    await fsp.rm(path.join(buildDir, 'tmp'), { recursive: true, force: true });
    const result = JSON.parse(await fsp.readFile(path.join(buildDir, 'install.json'), 'utf8'));
    let resolved = null;
    if (tool === 'pip') {
      // pip's own account of what it resolved, parsed (and checked) in C++.
      resolved = parsePipReport(await fsp.readFile(path.join(buildDir, 'report.json'), 'utf8'));
    }
    return { buildDir, siteDir: path.join(buildDir, 'site'), result, resolved, installMs: Date.now() - started };
  } catch (err) {
    await fsp.rm(buildDir, { recursive: true, force: true });
    throw err;
  }
}

module.exports = { build, failureMessage, installerArgs, configFor };
