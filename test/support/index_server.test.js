'use strict';
// Self-test of the test package index and wheels: node --test test/support/
// (not part of `npm test`). The real-wheel test downloads from PyPI on its
// first run.

const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');

const { ensureWheels } = require('./wheels');
const { normalizeName, startIndex } = require('./index_server');

const PYTHON = process.env.PYCAGE_TEST_PYTHON || 'python3';
// pip must see this index only: no user or site pip configuration.
const PIP_ENV = { ...process.env, PIP_CONFIG_FILE: os.devnull, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };

function python(args, env = PIP_ENV) {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { env, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${PYTHON} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-index-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('normalizeName follows PEP 503', () => {
  assert.equal(normalizeName('Pycage_Hello'), 'pycage-hello');
  assert.equal(normalizeName('zope.interface'), 'zope-interface');
  assert.equal(normalizeName('a-_.-b'), 'a-b');
  assert.equal(normalizeName('NumPy'), 'numpy');
});

describe('the index on the synthetic wheels', () => {
  let wheels;
  let index;
  before(async () => {
    wheels = await ensureWheels();
    index = await startIndex([wheels.dir]);
  });
  after(() => index && index.close());

  test('the synthetic wheels are all there', () => {
    const names = fs.readdirSync(wheels.dir).filter((n) => n.endsWith('.whl')).sort();
    assert.deepEqual(names, [
      'pycage_broken-1.0-py3-none-any.whl',
      'pycage_hello-1.0-py3-none-any.whl',
      'pycage_hello-2.0-py3-none-any.whl',
      'pycage_hog-1.0-py3-none-any.whl',
      'pycage_lazy-1.0-py3-none-any.whl',
      'pycage_needs_hello-1.0-py3-none-any.whl',
      'pycage_preload_probe-2.0-py3-none-any.whl',
      'pycage_pth-1.0-py3-none-any.whl',
      'pycage_zipslip-1.0-py3-none-any.whl',
    ]);
  });

  test('serves the project list, project pages, files and 404s', async () => {
    const root = await (await fetch(index.url)).text();
    for (const project of ['pycage-broken', 'pycage-hello', 'pycage-hog', 'pycage-needs-hello', 'pycage-pth',
      'pycage-zipslip']) {
      assert.match(root, new RegExp(`<a href="${project}/">${project}</a>`));
    }
    const projectPage = await (await fetch(new URL('pycage-hello/', index.url))).text();
    const links = [...projectPage.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(links.length, 2);
    for (const link of links) {
      const [href, fragment] = link.split('#');
      assert.match(href, /^\.\.\/\.\.\/files\/pycage_hello-[12]\.0-py3-none-any\.whl$/);
      const response = await fetch(new URL(link, new URL('pycage-hello/', index.url)));
      assert.equal(response.status, 200);
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.equal(fragment, `sha256=${crypto.createHash('sha256').update(bytes).digest('hex')}`);
    }
    const redirected = await fetch(new URL('Pycage_Hello', index.url), { redirect: 'manual' });
    assert.equal(redirected.status, 301);
    assert.equal(redirected.headers.get('location'), '/simple/pycage-hello/');
    for (const missing of ['nope/', '../files/nope.whl', '/files/../wheels.js', '/etc/passwd', '/']) {
      const response = await fetch(new URL(missing, index.url));
      assert.equal(response.status, 404, missing);
    }
    assert.ok(index.requests.includes('/simple/pycage-hello/'));
  });

  test('pip downloads a pinned version from it', async (t) => {
    const dest = tmpdir(t);
    const before = index.requests.length;
    await python(['-m', 'pip', 'download', '--no-cache-dir', '--no-deps', '--only-binary=:all:',
      '--index-url', index.url, '--dest', dest, 'pycage-hello==2.0']);
    assert.deepEqual(fs.readdirSync(dest), ['pycage_hello-2.0-py3-none-any.whl']);
    const served = index.requests.slice(before);
    assert.ok(served.includes('/simple/pycage-hello/'), served.join(' '));
    assert.ok(served.includes('/files/pycage_hello-2.0-py3-none-any.whl'), served.join(' '));
    assert.ok(!served.includes('/files/pycage_hello-1.0-py3-none-any.whl'), served.join(' '));
  });

  test('pip installs a package and resolves its dependency from it', async (t) => {
    const target = tmpdir(t);
    await python(['-m', 'pip', 'install', '--no-cache-dir', '--only-binary=:all:', '--target', target,
      '--index-url', index.url, 'pycage-needs-hello']);
    assert.ok(fs.existsSync(path.join(target, 'pycage_needs_hello.py')));
    assert.ok(fs.existsSync(path.join(target, 'pycage_hello.py')));
    const out = await python(['-c', 'import pycage_needs_hello, pycage_hello; '
      + 'print(pycage_hello.VERSION, pycage_needs_hello.HELLO_VERSION, pycage_needs_hello.greet("cage"))'],
    { ...PIP_ENV, PYTHONPATH: target });
    assert.equal(out.trim(), '2.0 2.0 hello cage');
  });
});

describe('the real wheels', () => {
  test('are downloaded once and include numpy', { timeout: 30 * 60 * 1000 }, async (t) => {
    const { dir } = await ensureWheels({ real: true });
    const names = fs.readdirSync(dir);
    for (const project of ['pydash', 'requests', 'numpy', 'pandas', 'matplotlib', 'scipy']) {
      assert.ok(names.some((n) => n.endsWith('.whl') && normalizeName(n.split('-')[0]) === project),
        `${project} wheel missing in ${dir}`);
    }
    const numpy = names.find((n) => /^numpy-.*-cp311-cp311-.*manylinux.*x86_64.*\.whl$/.test(n));
    assert.ok(numpy, `no cp311 manylinux numpy wheel in ${dir}: ${names.join(' ')}`);
    // A second call is served from the cache.
    const started = Date.now();
    assert.equal((await ensureWheels({ real: true })).dir, dir);
    assert.ok(Date.now() - started < 2000);

    // And the index serves them to pip.
    const index = await startIndex([dir]);
    t.after(() => index.close());
    const dest = tmpdir(t);
    await python(['-m', 'pip', 'download', '--no-cache-dir', '--no-deps', '--only-binary=:all:',
      '--index-url', index.url, '--dest', dest, 'numpy']);
    assert.deepEqual(fs.readdirSync(dest), [numpy]);
  });
});
