'use strict';

const { invalidArgument } = require('./errors');
const validate = require('./validate');

// The one table of run limits (README "Limits"): name, default, unit, scope
// and how each is enforced. C++ expands the same file (cmake/limits_table.cmake).
const TABLE = Object.freeze(require('../native/limits.json').limits.map((entry) => Object.freeze({ ...entry })));
const DEFAULT_LIMITS = Object.freeze(Object.fromEntries(TABLE.map((entry) => [entry.name, entry.default])));

const LIMIT_NAMES = Object.freeze(Object.keys(DEFAULT_LIMITS));

function checkShape(limits, context) {
  validate.object(limits, 'limits');
  validate.knownKeys(limits, LIMIT_NAMES, `limits of ${context}`, 'limit');
  for (const name of LIMIT_NAMES) {
    if (limits[name] !== undefined) validate.positiveInteger(limits[name], `limits.${name}`);
  }
}

// The constructor's limits are both the defaults of every run and the
// operator's ceiling: only the operator (who constructs the Sandbox) can
// raise a limit above ToolJet's default.
function resolveCeiling(limits) {
  if (limits === undefined) return DEFAULT_LIMITS;
  checkShape(limits, 'new Sandbox()');
  const ceiling = { ...DEFAULT_LIMITS };
  for (const name of LIMIT_NAMES) {
    if (limits[name] !== undefined) ceiling[name] = limits[name];
  }
  return Object.freeze(ceiling);
}

// A run's code comes from workflow authors, not the operator, so a per-run
// override may only lower a limit.
function resolveRunLimits(limits, ceiling) {
  if (limits === undefined) return { ...ceiling };
  checkShape(limits, 'sandbox.runPython()');
  const run = { ...ceiling };
  for (const name of LIMIT_NAMES) {
    const value = limits[name];
    if (value === undefined) continue;
    if (value > ceiling[name]) {
      throw invalidArgument(
        `limits.${name} of ${value} exceeds this Sandbox's ceiling of ${ceiling[name]}; ` +
        `a run may only lower its limits. To raise the ceiling, construct the Sandbox with ` +
        `new Sandbox({ limits: { ${name}: ${value} } })`);
    }
    run[name] = value;
  }
  return run;
}

module.exports = { TABLE, DEFAULT_LIMITS, LIMIT_NAMES, resolveCeiling, resolveRunLimits };
