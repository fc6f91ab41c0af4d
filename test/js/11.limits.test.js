'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { TABLE, DEFAULT_LIMITS, resolveCeiling, resolveRunLimits } = require('../../js/limits');

const ROOT = path.resolve(__dirname, '../..');

describe('limits', () => {
  it('defaults to the ToolJet table', () => {
    assert.deepEqual({ ...DEFAULT_LIMITS }, {
      wallMs: 10_000, cpuMs: 5_000, memoryBytes: 512 * 2 ** 20, fileSizeBytes: 2 ** 20, processes: 5,
      stdoutBytes: 2 ** 20, stderrBytes: 2 ** 20, resultBytes: 16 * 2 ** 20, tmpBytes: 16 * 2 ** 20, openFiles: 256,
    });
    assert.ok(Object.isFrozen(DEFAULT_LIMITS));
  });

  it('lets a run lower any limit', () => {
    const run = resolveRunLimits({ wallMs: 100, processes: 1 }, DEFAULT_LIMITS);
    assert.equal(run.wallMs, 100);
    assert.equal(run.processes, 1);
    assert.equal(run.cpuMs, 5000);
  });

  it('rejects raising a limit above the ceiling with ERR_INVALID_ARGUMENT naming both numbers and the fix', () => {
    assert.throws(() => resolveRunLimits({ cpuMs: 20000 }, DEFAULT_LIMITS), {
      code: 'ERR_INVALID_ARGUMENT',
      message: "limits.cpuMs of 20000 exceeds this Sandbox's ceiling of 5000; a run may only lower its limits. " +
        'To raise the ceiling, construct the Sandbox with new Sandbox({ limits: { cpuMs: 20000 } })',
    });
  });

  it('accepts a run limit up to a raised ceiling', () => {
    const ceiling = resolveCeiling({ cpuMs: 30000 });
    assert.equal(resolveRunLimits({ cpuMs: 20000 }, ceiling).cpuMs, 20000);
    assert.equal(resolveRunLimits(undefined, ceiling).cpuMs, 30000);
  });

  it('rejects an operator ceiling below 1 with ERR_INVALID_ARGUMENT', () => {
    assert.throws(() => resolveCeiling({ processes: 0 }), {
      code: 'ERR_INVALID_ARGUMENT',
      message: 'Expected positive integer for limits.processes but received 0 of type number',
    });
  });
});

describe('the limits table (native/limits.json)', () => {
  it('gives every limit a name, a positive default, a unit, a scope and how it is enforced', () => {
    assert.ok(TABLE.length >= 10);
    for (const entry of TABLE) {
      assert.match(entry.name, /^[a-z][A-Za-z]+$/);
      assert.match(entry.cpp, /^[a-z_]+$/);
      assert.ok(Number.isSafeInteger(entry.default) && entry.default > 0, entry.name);
      assert.ok(['ms', 'bytes', 'count'].includes(entry.unit), entry.name);
      assert.ok(['child', 'supervisor'].includes(entry.scope), entry.name);
      assert.ok(entry.enforcedBy.length > 0, entry.name);
    }
  });

  it('is what index.d.ts declares as Limits, field for field', () => {
    const dts = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8');
    const body = /export interface Limits \{([\s\S]*?)\n\}/.exec(dts)[1];
    const declared = [...body.matchAll(/^\s+(\w+): number;/gm)].map((m) => m[1]).sort();
    assert.deepEqual(declared, TABLE.map((e) => e.name).sort());
  });

  it('has a row in the README\'s Limits table for every limit', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Limits'), readme.indexOf('### Errors'));
    for (const { name } of TABLE) assert.match(section, new RegExp(`\\| [^|\\n]*\`${name}\``), name);
  });

  it('is what the C++ build expands: the generated header lists every limit with its default', { skip: !fs.existsSync(path.join(ROOT, 'build', 'generated', 'common', 'limits_table.h')) && 'no source build' }, () => {
    const header = fs.readFileSync(path.join(ROOT, 'build', 'generated', 'common', 'limits_table.h'), 'utf8');
    for (const { cpp, name, default: fallback } of TABLE) assert.ok(header.includes(`X(${cpp}, "${name}", ${fallback}ULL)`), name);
  });
});
