'use strict';

// The README's quick start runs exactly as written: each snippet of its
// "## Quick start" section is written to a file inside the package (so
// `require('pycage')` and `import 'pycage'` resolve to this checkout, as they
// would to an installed copy) and run in a fresh Node process.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { skipWithoutAddon } = require('./common');

const ROOT = path.resolve(__dirname, '../..');

function quickStartSnippets() {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Quick start\n');
  assert.ok(start >= 0, 'README.md has no "## Quick start" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```(js|mjs)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], code: m[2] }));
}

function runNode(file, env) {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('README quick start', { skip: skipWithoutAddon }, () => {
  const scratch = fs.mkdtempSync(path.join(ROOT, '.readme-snippets-'));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-readme-'));
  after(() => {
    fs.rmSync(scratch, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const snippets = quickStartSnippets();
  it('has one CommonJS and one ES module snippet', () => {
    assert.deepEqual(snippets.map((s) => s.lang), ['js', 'mjs']);
  });

  for (const [i, { lang, code }] of snippets.entries()) {
    it(`runs the ${lang === 'js' ? 'CommonJS' : 'ESM'} snippet as written and prints what its comment says`, async () => {
      const file = path.join(scratch, `quickstart-${i}.${lang === 'js' ? 'cjs' : 'mjs'}`);
      fs.writeFileSync(file, code);
      const { code: exitCode, stdout, stderr } = await runNode(file, { ...process.env, PYCAGE_DATA_DIR: dataDir });
      assert.equal(exitCode, 0, stderr);
      // The snippet's console.log line ends with `// <expected output>`.
      const expected = /console\.log\([^\n]*\/\/ (.+)$/m.exec(code);
      assert.ok(expected, 'the snippet has no console.log with its expected output in a comment');
      assert.equal(stdout.trim(), expected[1].trim());
    });
  }
});
