'use strict';

// The `restrictions` option of new Sandbox() (README "Restrictions"): a
// usability layer the runner applies to the node's own imports, on top of the
// jail and never instead of it. Validated here, then handed to every zygote
// as PYCAGE_RESTRICTIONS (native/runner/restrictions.py reads it).

const validate = require('./validate');

const KEYS = Object.freeze(['deniedModules', 'deniedMembers', 'passthroughModules', 'mode']);
const MODES = Object.freeze(['enforce', 'warn']);
const ENV = 'PYCAGE_RESTRICTIONS';
// Each list stays well inside one execve argument (128 KiB) once encoded.
const MAX_NAMES = 200;
const MAX_NAME_LENGTH = 128;
const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

function checkNames(list, field, { member = false } = {}) {
  if (list === undefined) return [];
  const example = member ? "'os.system'" : "'subprocess'";
  if (!Array.isArray(list) || list.length > MAX_NAMES) {
    throw validate.expected(`array of at most ${MAX_NAMES} dotted Python names (like ${example})`, field, list);
  }
  list.forEach((name, i) => {
    const ok = typeof name === 'string' && name.length <= MAX_NAME_LENGTH && DOTTED.test(name) &&
      (!member || name.includes('.'));
    if (!ok) {
      const what = member
        ? `'module.member' name of at most ${MAX_NAME_LENGTH} characters (like 'os.system' or 'datetime.date.today')`
        : `dotted Python module name of at most ${MAX_NAME_LENGTH} characters (like 'subprocess' or 'xml.dom')`;
      throw validate.expected(what, `${field}[${i}]`, name);
    }
  });
  return [...new Set(list)];
}

// undefined (the runner's defaults: network modules denied, enforce) or a
// frozen, normalised copy.
function checkRestrictions(restrictions) {
  if (restrictions === undefined) return undefined;
  validate.object(restrictions, 'restrictions');
  validate.knownKeys(restrictions, KEYS, 'restrictions of new Sandbox()');
  const mode = restrictions.mode === undefined ? 'enforce' : restrictions.mode;
  if (!MODES.includes(mode)) throw validate.expected("'enforce' or 'warn'", 'restrictions.mode', mode);
  return Object.freeze({
    deniedModules: Object.freeze(checkNames(restrictions.deniedModules, 'restrictions.deniedModules')),
    deniedMembers: Object.freeze(checkNames(restrictions.deniedMembers, 'restrictions.deniedMembers', { member: true })),
    passthroughModules: Object.freeze(checkNames(restrictions.passthroughModules, 'restrictions.passthroughModules')),
    mode,
  });
}

// The zygote environment entries for checked restrictions. `unrestricted`
// (the bundle smoke test, which imports every top-level module on purpose)
// turns the layer off, defaults included.
function restrictionsEnv(restrictions, { unrestricted = false } = {}) {
  if (unrestricted) return [`${ENV}=${JSON.stringify({ defaults: false })}`];
  if (restrictions === undefined) return [];
  return [`${ENV}=${JSON.stringify(restrictions)}`];
}

module.exports = { checkRestrictions, restrictionsEnv, MAX_NAMES, MAX_NAME_LENGTH };
