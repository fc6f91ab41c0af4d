'use strict';

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const pycage = require('../..');
const { PycageError } = pycage;

describe('PycageError', () => {
  it('is exported with Sandbox from the package root', () => {
    assert.deepEqual(Object.keys(pycage).sort(), ['PycageError', 'Sandbox']);
  });

  it('carries a code and the name PycageError', () => {
    const err = new PycageError('boom', 'ERR_CLOSED');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'PycageError');
    assert.equal(err.code, 'ERR_CLOSED');
    assert.equal(err.message, 'boom');
    assert.match(String(err.stack), /^PycageError: boom/);
  });

  it('defaults the code to ERR_INTERNAL so the native side may set it afterwards', () => {
    const err = new PycageError('x');
    assert.equal(err.code, 'ERR_INTERNAL');
    err.code = 'ERR_OVERLOADED';
    assert.equal(err.code, 'ERR_OVERLOADED');
  });
});
