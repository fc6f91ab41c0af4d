'use strict';

const { inspect } = require('node:util');
const { invalidArgument } = require('./errors');

// Messages follow one pattern so callers can fix the call without reading the
// source: "Expected <what> for <name> but received <value> of type <type>".
function describe(value) {
  if (value === null) return 'null of type null';
  const shown = inspect(value, { depth: 0, breakLength: Infinity, maxStringLength: 60, maxArrayLength: 5 });
  const type = Array.isArray(value) ? 'array' : typeof value;
  return `${shown} of type ${type}`;
}

function expected(what, name, value) {
  return invalidArgument(`Expected ${what} for ${name} but received ${describe(value)}`);
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isPositiveInteger(value) {
  return Number.isSafeInteger(value) && value > 0;
}

function string(value, name, { maxLength = Infinity, nonEmpty = true } = {}) {
  if (typeof value !== 'string' || (nonEmpty && value.length === 0) || value.length > maxLength) {
    const what = maxLength === Infinity ? 'non-empty string' : `non-empty string of at most ${maxLength} characters`;
    throw expected(what, name, value);
  }
  return value;
}

function object(value, name) {
  if (!isPlainObject(value)) throw expected('plain object', name, value);
  return value;
}

function integerBetween(value, name, min, max) {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw expected(`integer between ${min} and ${max}`, name, value);
  }
  return value;
}

function positiveInteger(value, name) {
  if (!isPositiveInteger(value)) throw expected('positive integer', name, value);
  return value;
}

// Damerau-free Levenshtein distance: enough to catch 'limit' for 'limits' and
// 'cpu_ms' for 'cpuMs' without pulling a dependency.
function distance(a, b) {
  a = a.toLowerCase(); b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

function suggest(key, allowed) {
  const norm = (s) => s.toLowerCase().replace(/[_-]/g, '');
  let best = null;
  let bestScore = Infinity;
  for (const candidate of allowed) {
    const score = norm(candidate) === norm(key) ? 0 : distance(key, candidate);
    if (score < bestScore) { best = candidate; bestScore = score; }
  }
  const tolerance = Math.max(2, Math.floor(key.length / 3));
  if (best !== null && (bestScore <= tolerance || norm(best).startsWith(norm(key)) || norm(key).startsWith(norm(best)))) {
    return best;
  }
  return null;
}

// A misspelled option would otherwise be ignored silently and the default
// (for example an unlimited-looking ceiling) would apply instead.
function knownKeys(obj, allowed, context, noun = 'option') {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const guess = suggest(key, allowed);
    const hint = guess !== null
      ? `did you mean '${guess}'?`
      : `expected one of ${allowed.map((k) => `'${k}'`).join(', ')}`;
    throw invalidArgument(`Unknown ${noun} '${key}' for ${context}; ${hint}`);
  }
}

module.exports = {
  describe, expected, isPlainObject, isPositiveInteger,
  string, object, positiveInteger, integerBetween, knownKeys, suggest,
};
