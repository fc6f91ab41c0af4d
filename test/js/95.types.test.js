'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

describe('index.d.ts and tooljet.d.ts', () => {
  it('type-check test/types/usage.ts with tsc --noEmit', () => {
    const root = path.resolve(__dirname, '../..');
    const tsc = require.resolve('typescript/bin/tsc');
    const out = spawnSync(process.execPath, [tsc, '--noEmit', '-p', path.join(root, 'test/types')], {
      cwd: root, encoding: 'utf8',
    });
    assert.equal(out.status, 0, `tsc failed:\n${out.stdout}${out.stderr}`);
  });
});
