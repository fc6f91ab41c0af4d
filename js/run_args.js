'use strict';

// The arguments of runPython(), checked the same way by Sandbox and
// RemoteSandbox: a bad call is refused on the caller's side, with the same
// PycageError codes, wherever the run would have gone.

const { invalidArgument } = require('./errors');
const validate = require('./validate');
const limitsOf = require('./limits');

const RUN_OPTIONS = Object.freeze(['bundle', 'inputs', 'limits', 'session', 'signal']);
const MAX_CODE_BYTES = 1024 * 1024;
const MAX_KEY_LENGTH = 200;

function checkSignal(signal) {
  if (signal === undefined) return undefined;
  const looksLikeSignal = signal !== null && typeof signal === 'object' &&
    typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function';
  if (!looksLikeSignal) throw validate.expected('AbortSignal', 'signal', signal);
  return signal;
}

// Python's keywords: a global of that name exists but no code can name it.
const PYTHON_KEYWORDS = new Set(['False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class',
  'continue', 'def', 'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is',
  'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield']);
// A Python identifier (PEP 3131, approximated by Unicode letters, digits and marks).
const PYTHON_IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;

function serializeInputs(inputs) {
  if (inputs === undefined || inputs === null) return '{}';
  validate.object(inputs, 'inputs');
  for (const key of Object.keys(inputs)) {
    if (!PYTHON_IDENTIFIER.test(key) || PYTHON_KEYWORDS.has(key)) {
      throw invalidArgument(`Expected a Python identifier for each inputs key but received ${JSON.stringify(key)}: ` +
        'each key becomes a global of the node\'s code, which could not name this one. Rename it ' +
        '(letters, digits and _, not starting with a digit, not a Python keyword), or pass it inside an object');
    }
  }
  try {
    return JSON.stringify(inputs);
  } catch (err) {
    throw invalidArgument(`Expected JSON-serialisable values in inputs but serialising them failed: ${err.message}`);
  }
}

// Returns { code, session, bundle, inputsJson, limits, signal } (session and
// bundle undefined when absent); `where` names the call in errors.
function checkRunArguments(code, options, ceiling, where) {
  if (typeof code !== 'string') throw validate.expected('string', 'code', code);
  const codeBytes = Buffer.byteLength(code, 'utf8');
  if (codeBytes > MAX_CODE_BYTES) {
    throw invalidArgument(`Expected code of at most ${MAX_CODE_BYTES} bytes but received ${codeBytes} bytes`);
  }
  if (options === undefined) options = {};
  validate.object(options, `options of ${where}`);
  validate.knownKeys(options, RUN_OPTIONS, where);
  const session = options.session === undefined || options.session === null
    ? undefined : validate.string(options.session, 'session', { maxLength: MAX_KEY_LENGTH });
  const bundle = options.bundle === undefined || options.bundle === null
    ? undefined : validate.string(options.bundle, 'bundle', { maxLength: MAX_KEY_LENGTH });
  const inputsJson = serializeInputs(options.inputs);
  const limits = limitsOf.resolveRunLimits(options.limits, ceiling);
  const signal = checkSignal(options.signal);
  return { code, session, bundle, inputsJson, limits, signal };
}

module.exports = { checkRunArguments, checkSignal, serializeInputs, RUN_OPTIONS, MAX_CODE_BYTES, MAX_KEY_LENGTH };
