'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { DEFAULT_LIMITS, resolveCeiling, resolveRunLimits } = require('../../js/limits');

describe('limits', () => {
  it('defaults to the ToolJet table', () => {
    assert.deepEqual({ ...DEFAULT_LIMITS }, {
      wallMs: 10_000, cpuMs: 5_000, memoryBytes: 512 * 2 ** 20, fileSizeBytes: 2 ** 20, processes: 5,
      stdoutBytes: 2 ** 20, stderrBytes: 2 ** 20, resultBytes: 16 * 2 ** 20, tmpBytes: 16 * 2 ** 20,
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
