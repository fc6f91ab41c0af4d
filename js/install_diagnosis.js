'use strict';

// Why pip found no version of a requirement. pip says the same ("Could not
// find a version that satisfies the requirement … (from versions: none)")
// whether the index is unreachable, refuses the credentials, is not an index
// at all, has no such project, or has it only as a source distribution,
// which pycage never builds. This asks the index itself, from the host (the
// installer jail shares the host's network), by the installer's route (the
// operator's proxy and CA), and says which it was.

const { requestFor } = require('./index_url');
const { indexFetch } = require('./index_fetch');
const { redactCredentials } = require('./redact');

const TIMEOUT_MS = 10_000;
const DEFAULT_INDEX = 'https://pypi.org/simple/';

const NOT_FOUND = /Could not find a version that satisfies the requirement (\S+)|No matching distribution found for (\S+)/;

// The requirement pip could not satisfy, or null when pip failed otherwise.
function unsatisfied(pipOutput) {
  const m = NOT_FOUND.exec(String(pipOutput));
  if (!m) return null;
  const text = m[1] || m[2];
  const name = /^[A-Za-z0-9][A-Za-z0-9._-]*/.exec(text);
  if (!name) return null;
  const pinned = /==\s*([A-Za-z0-9.+!_-]+)/.exec(text.slice(name[0].length));
  return { text, name: name[0], version: pinned ? pinned[1] : null };
}

function normalizeName(name) {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

const CAUSES = {
  ECONNREFUSED: 'connection refused', ENOTFOUND: 'no such host', EAI_AGAIN: 'the name does not resolve now',
  ETIMEDOUT: 'timed out', ECONNRESET: 'connection reset', EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable', CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed', UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified',
};

function causeOf(err) {
  if (err && err.name === 'TimeoutError') return 'timed out';
  const code = err && err.cause && err.cause.code;
  if (code) return CAUSES[code] ? `${CAUSES[code]} (${code})` : code;
  return String((err && err.cause && err.cause.message) || (err && err.message) || err);
}

function proxyShown(proxy) {
  try {
    const url = new URL(proxy);
    return `${url.protocol}//${url.host}`;
  } catch {
    return redactCredentials(proxy);
  }
}

async function get(fetchFn, { href, headers }) {
  return fetchFn(href, { headers, redirect: 'follow', signal: AbortSignal.timeout(TIMEOUT_MS) });
}

// File names linked from a PEP 503 project page.
function linkedFiles(html) {
  const files = [];
  for (const m of html.matchAll(/<a\s[^>]*href="([^"]+)"[^>]*>([^<]*)<\/a>/gi)) {
    const text = m[2].trim() || decodeURIComponent(m[1].split('#')[0].split('/').pop());
    files.push(text);
  }
  return files;
}

// Whether a wheel's tags can install on this interpreter: CPython `abi`
// ("cpython-311-x86_64-linux-gnu") on Linux.
function wheelFits(filename, abi) {
  const parts = filename.replace(/\.whl$/, '').split('-');
  if (parts.length < 5) return false;
  const [pyTags, abiTags, platTags] = parts.slice(-3).map((t) => t.split('.'));
  const m = /^cpython-(\d)(\d+)-([a-z0-9_]+)-linux/.exec(abi || '');
  const [major, minor, arch] = m ? [m[1], m[2], m[3]] : ['3', '', process.arch === 'x64' ? 'x86_64' : process.arch];
  const pyOk = pyTags.some((t) => t === `py${major}` || t === 'py2.py3' || t === `cp${major}${minor}` ||
    (t.startsWith(`cp${major}`) && abiTags.includes('abi3') && Number(t.slice(3)) <= Number(minor)));
  const platOk = platTags.some((t) => t === 'any' || (/linux/.test(t) && t.endsWith(arch)));
  return pyOk && platOk;
}

// A wheel is name-version[-build]-py-abi-plat.whl (its name has no "-"); an
// sdist is name-version.tar.gz (older names may hold "-").
function versionOf(filename) {
  if (filename.endsWith('.whl')) return filename.split('-')[1] || null;
  const stem = filename.replace(/\.(tar\.gz|tar\.bz2|tgz|zip)$/, '');
  const i = stem.lastIndexOf('-');
  return i > 0 ? stem.slice(i + 1) : null;
}

/**
 * Says why `requirement` was not found on the index, or null when the index
 * answers and nothing explains it better than pip did.
 */
async function diagnose({ pipOutput, index, abi, pythonVersion, fetchFn }) {
  const req = unsatisfied(pipOutput);
  if (!req) return null;
  if (fetchFn === undefined) fetchFn = indexFetch(index || {});
  const base = (index && index.url) || DEFAULT_INDEX;
  let root;
  try {
    root = requestFor(base.endsWith('/') ? base : `${base}/`);
  } catch {
    return null;
  }
  const project = normalizeName(req.name);
  const page = { ...root, href: new URL(`${project}/`, root.href).href };
  const label = req.version ? `${req.name} ${req.version}` : req.name;
  let res;
  try {
    res = await get(fetchFn, page);
  } catch (err) {
    const via = index && index.proxy ? ` through the proxy ${proxyShown(index.proxy)}` : '';
    return `the index at ${root.shown} is unreachable${via}: ${causeOf(err)}`;
  }
  if (res.status === 401 || res.status === 403) {
    return `the index at ${root.shown} refused access (HTTP ${res.status}): check the credentials in the index URL`;
  }
  if (res.status === 404) {
    let rootStatus = 0;
    try {
      rootStatus = (await get(fetchFn, root)).status;
    } catch { /* answered the project page, so not unreachable */ }
    if (rootStatus === 404) {
      return `the index at ${root.shown} answered 404: point index.url at a PEP 503 simple index (it usually ends in /simple/)`;
    }
    return `there is no package named '${req.name}' on the index at ${root.shown}`;
  }
  if (res.status >= 400) return `the index at ${root.shown} answered HTTP ${res.status} for ${req.name}`;
  const files = linkedFiles(await res.text());
  const wheels = files.filter((f) => f.endsWith('.whl'));
  const ofVersion = (list) => (req.version ? list.filter((f) => versionOf(f) === req.version) : list);
  if (ofVersion(wheels).length === 0) {
    if (ofVersion(files).length > 0) {
      return `${label} publishes no wheel, only a source distribution; pycage installs prebuilt wheels only ` +
        '(building from source needs a compiler and runs the package\'s own code at install): pick a version ' +
        'that ships wheels, or a package that does';
    }
    if (req.version && files.length > 0) {
      const versions = [...new Set(files.map((f) => versionOf(f)).filter(Boolean))].slice(-10);
      return `${req.name} has no version ${req.version} on the index at ${root.shown} (it has ${versions.join(', ')})`;
    }
    return null;
  }
  if (!ofVersion(wheels).some((f) => wheelFits(f, abi))) {
    const platforms = [...new Set(ofVersion(wheels).map((f) => f.replace(/\.whl$/, '').split('-').slice(-3).join('-')))].slice(0, 6);
    return `${label} publishes no wheel for this platform (CPython ${pythonVersion || '3'} on Linux ` +
      `${process.arch === 'x64' ? 'x86_64' : process.arch}); its wheels are for: ${platforms.join(', ')}`;
  }
  return null;
}

module.exports = { diagnose, unsatisfied, wheelFits, linkedFiles, causeOf, versionOf };
