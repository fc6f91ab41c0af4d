'use strict';

// The error class is defined here and handed to the native side at
// construction, so errors thrown from C++ are the same class with the same
// `code` field as errors thrown from JS (better-sqlite3's SqliteError habit).

const codes = Object.freeze({
  ERR_INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  ERR_REQUIREMENTS_INVALID: 'ERR_REQUIREMENTS_INVALID',
  ERR_BUNDLE_NOT_READY: 'ERR_BUNDLE_NOT_READY',
  ERR_BUNDLE_CORRUPT: 'ERR_BUNDLE_CORRUPT',
  ERR_ISOLATION_UNAVAILABLE: 'ERR_ISOLATION_UNAVAILABLE',
  ERR_CLOSED: 'ERR_CLOSED',
  ERR_OVERLOADED: 'ERR_OVERLOADED',
  ERR_INTERNAL: 'ERR_INTERNAL',
});

class PycageError extends Error {
  // `code` is optional so the native side may construct the error with the
  // message alone and set `.code` afterwards.
  constructor(message, code) {
    super(message);
    this.code = code === undefined ? codes.ERR_INTERNAL : code;
  }
}
Object.defineProperty(PycageError.prototype, 'name', {
  value: 'PycageError', writable: true, configurable: true, enumerable: false,
});

function invalidArgument(message) {
  return new PycageError(message, codes.ERR_INVALID_ARGUMENT);
}

// Native rejections carry a C++-side stack only; append the JS stack captured
// when the call was made so the caller can see where the run came from
// (sharp does the same for its async work).
function withCallerStack(err, holder) {
  if (err && typeof err === 'object' && typeof holder.stack === 'string') {
    const callerFrames = holder.stack.split('\n').slice(1).join('\n');
    if (callerFrames && typeof err.stack === 'string' && !err.stack.includes(callerFrames)) {
      err.stack = `${err.stack.split('\n')[0]}\n${callerFrames}`;
    }
  }
  return err;
}

module.exports = { PycageError, codes, invalidArgument, withCallerStack };
