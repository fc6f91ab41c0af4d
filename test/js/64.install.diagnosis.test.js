'use strict';

// Why pip found no version: the index is asked which of its five causes it
// was (js/install_diagnosis.js). Each cause alone with a scripted index, then
// the real installer against local indexes on loopback.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { diagnose, unsatisfied, wheelFits, versionOf } = require('../../js/install_diagnosis');
const { Sandbox } = require('../..');
const { skipWithoutAddon } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

const PIP_NONE = 'ERROR: Could not find a version that satisfies the requirement docopt==0.6.2 (from versions: none)\n' +
  'ERROR: No matching distribution found for docopt==0.6.2';
const ABI = 'cpython-311-x86_64-linux-gnu';

// A fetch that answers from a table of URL -> { status, body } (or an error).
function scripted(table) {
  return async (url) => {
    const entry = table[url];
    if (entry === undefined) return { status: 404, text: async () => '' };
    if (entry instanceof Error) throw entry;
    return { status: entry.status, text: async () => entry.body || '' };
  };
}
const links = (...files) => files.map((f) => `<a href="../../files/${f}#sha256=00">${f}</a><br/>`).join('\n');

describe('install diagnosis, one cause at a time', () => {
  const base = 'http://idx.test/simple/';

  it('reads the requirement from pip and leaves other failures alone', async () => {
    assert.deepEqual(unsatisfied(PIP_NONE), { text: 'docopt==0.6.2', name: 'docopt', version: '0.6.2' });
    assert.equal(unsatisfied('ERROR: some other failure'), null);
    assert.equal(await diagnose({ pipOutput: 'ERROR: disk full', index: { url: base }, fetchFn: scripted({}) }), null);
  });

  it('says the index is unreachable, with the cause', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const why = await diagnose({ pipOutput: PIP_NONE, index: { url: 'http://u:secret@idx.test/simple/' },
      fetchFn: scripted({ 'http://idx.test/simple/docopt/': refused }) });
    assert.equal(why, 'the index at http://idx.test/simple/ is unreachable: connection refused (ECONNREFUSED)');
  });

  it('asks through the operator\'s proxy, and names it (without its credentials) when that is what fails', async () => {
    // Port 9 (discard) on loopback: nothing listens, so the proxy refuses.
    const why = await diagnose({ pipOutput: PIP_NONE,
      index: { url: 'http://pycage-index.invalid/simple/', proxy: 'http://u:proxy-secret@127.0.0.1:9' } });
    assert.equal(why, 'the index at http://pycage-index.invalid/simple/ is unreachable through the proxy ' +
      'http://127.0.0.1:9: connection refused (ECONNREFUSED)');
  });

  it('tells a refused login, a URL that is no index and a missing project apart', async () => {
    assert.match(await diagnose({ pipOutput: PIP_NONE, index: { url: base },
      fetchFn: scripted({ [`${base}docopt/`]: { status: 401 } }) }), /refused access \(HTTP 401\): check the credentials/);
    assert.match(await diagnose({ pipOutput: PIP_NONE, index: { url: base }, fetchFn: scripted({}) }),
      /answered 404: point index\.url at a PEP 503 simple index/);
    assert.equal(await diagnose({ pipOutput: PIP_NONE, index: { url: base }, fetchFn: scripted({ [base]: { status: 200 } }) }),
      "there is no package named 'docopt' on the index at http://idx.test/simple/");
  });

  it('says a package publishes no wheel, or none for this platform, or not that version', async () => {
    const sdistOnly = await diagnose({ pipOutput: PIP_NONE, index: { url: base }, abi: ABI,
      fetchFn: scripted({ [`${base}docopt/`]: { status: 200, body: links('docopt-0.6.2.tar.gz') } }) });
    assert.match(sdistOnly, /^docopt 0\.6\.2 publishes no wheel, only a source distribution; pycage installs prebuilt wheels only/);
    const windows = await diagnose({ pipOutput: PIP_NONE, index: { url: base }, abi: ABI, pythonVersion: '3.11.2',
      fetchFn: scripted({ [`${base}docopt/`]: { status: 200, body: links('docopt-0.6.2-cp311-cp311-win_amd64.whl') } }) });
    assert.match(windows, /^docopt 0\.6\.2 publishes no wheel for this platform \(CPython 3\.11\.2 on Linux x86_64\); its wheels are for: cp311-cp311-win_amd64/);
    const otherVersion = await diagnose({ pipOutput: PIP_NONE, index: { url: base }, abi: ABI,
      fetchFn: scripted({ [`${base}docopt/`]: { status: 200, body: links('docopt-0.7.0-py3-none-any.whl') } }) });
    assert.match(otherVersion, /^docopt has no version 0\.6\.2 on the index at .* \(it has 0\.7\.0\)/);
  });

  it('matches wheel tags to CPython on Linux', () => {
    assert.equal(wheelFits('a-1.0-py3-none-any.whl', ABI), true);
    assert.equal(wheelFits('a-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', ABI), true);
    assert.equal(wheelFits('a-1.0-cp38-abi3-manylinux2014_x86_64.whl', ABI), true);
    assert.equal(wheelFits('a-1.0-cp312-cp312-manylinux2014_x86_64.whl', ABI), false);
    assert.equal(wheelFits('a-1.0-cp311-cp311-manylinux2014_aarch64.whl', ABI), false);
    assert.equal(wheelFits('a-1.0-cp311-cp311-macosx_11_0_arm64.whl', ABI), false);
    assert.equal(versionOf('python-dateutil-2.8.2.tar.gz'), '2.8.2');
    assert.equal(versionOf('numpy-1.26.4-cp311-cp311-manylinux2014_x86_64.whl'), '1.26.4');
  });
});

describe('install failures through the real installer', { skip: skipWithoutAddon }, () => {
  let index;
  let extras;
  let sandboxes = [];
  let refusing;
  before(async () => {
    const { dir } = await ensureWheels();
    extras = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-diag-'));
    fs.writeFileSync(path.join(extras, 'pycage_sdistonly-1.0.tar.gz'), 'not a real sdist');
    fs.writeFileSync(path.join(extras, 'pycage_winonly-1.0-cp311-cp311-win_amd64.whl'), 'not a real wheel');
    index = await startIndex([dir, extras]);
    refusing = http.createServer((req, res) => { res.statusCode = 401; res.end(); });
    await new Promise((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  });
  const dataDirs = [];
  after(async () => {
    await Promise.all(sandboxes.map((s) => s.close()));
    await index.close();
    await new Promise((resolve) => refusing.close(resolve));
    for (const dir of [extras, ...dataDirs]) fs.rmSync(dir, { recursive: true, force: true });
  });
  const open = (url) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-diag-data-'));
    dataDirs.push(dataDir);
    const sandbox = new Sandbox({ dataDir, index: { url }, installer: { tool: 'pip' } });
    sandboxes.push(sandbox);
    return sandbox;
  };

  it('names each cause in status.error, with what pip reported', async () => {
    const sandbox = open(index.url);
    const cases = [
      ['pycage-sdistonly==1.0\n', /^pycage-sdistonly 1\.0 publishes no wheel, only a source distribution; pycage installs prebuilt wheels only/],
      ['pycage-winonly==1.0\n', /^pycage-winonly 1\.0 publishes no wheel for this platform \(CPython 3\.\d+\.\d+ on Linux x86_64\)/],
      ['pycage-no-such-package\n', /^there is no package named 'pycage-no-such-package' on the index at http:\/\/127\.0\.0\.1:\d+\/simple\//],
    ];
    for (const [requirements, pattern] of cases) {
      const status = await sandbox.install(`wf-${cases.findIndex((c) => c[0] === requirements)}`, requirements);
      assert.equal(status.status, 'failed');
      assert.match(status.error, pattern);
      assert.match(status.error, /pip failed \(exit status 1\):\nERROR: Could not find a version/);
    }
  });

  it('tells an unreachable index from one that refuses the login or is no index', async () => {
    const closed = http.createServer();
    await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = closed.address().port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await open(`http://127.0.0.1:${port}/simple/`).install('wf-u', 'pycage-hello\n');
    assert.match(unreachable.error, new RegExp(`^the index at http://127\\.0\\.0\\.1:${port}/simple/ is unreachable: connection refused`));
    assert.match(unreachable.error, /Connection refused/, 'what pip reported is kept');
    const login = await open(`http://127.0.0.1:${refusing.address().port}/simple/`).install('wf-l', 'pycage-hello\n');
    assert.match(login.error, /refused access \(HTTP 401\): check the credentials/);
    const notIndex = await open(`${index.url.replace(/simple\/$/, '')}nothing/`).install('wf-n', 'pycage-hello\n');
    assert.match(notIndex.error, /answered 404: point index\.url at a PEP 503 simple index/);
  });
});
