// Run by .ci/packcheck.sh inside the host project: the ESM entry point.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import pycageDefault, { Sandbox, PycageError } from 'pycage';

const require = createRequire(import.meta.url);
// One copy of the classes whichever way the package is loaded.
assert.equal(Sandbox, require('pycage').Sandbox);
assert.equal(PycageError, pycageDefault.PycageError);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-host-esm-'));
const sandbox = new Sandbox({ dataDir });
try {
  const run = await sandbox.runPython('sorted(words)[0]', { inputs: { words: ['pear', 'apple'] } });
  assert.equal(run.status, 'ok', JSON.stringify(run));
  assert.equal(run.result, 'apple');
  process.stdout.write(`host check (ESM) passed under Node ${process.version}\n`);
} finally {
  await sandbox.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
