'use strict';

// `log` events: { level, source, key, message }. The level says what an
// operator should do with it: `error` and `warn` need a look, `info` is a
// fact worth keeping, `debug` is the installer's own chatter.

const LEVELS = Object.freeze(['debug', 'info', 'warn', 'error']);

// A line the zygote or the jail helper wrote to stderr (one per event).
function fromJail(line) {
  const message = String(line);
  if (/^pycage-jail: /.test(message) || /^pycage-zygote: fatal/.test(message)) return { level: 'error', source: 'jail', message };
  return { level: 'warn', source: 'zygote', message };
}

// A line of pip's or uv's output, or of pycage's installer script.
function fromInstaller(line) {
  const message = String(line);
  let level = 'debug';
  if (/^\s*(ERROR|error)\b|^\s*×/.test(message) || /^pycage-install: failed/.test(message)) level = 'error';
  else if (/^\s*WARNING\b|^\s*warning\b|^pycage-install: WARNING\b/.test(message)) level = 'warn';
  else if (/^pycage-install: /.test(message)) level = 'info';
  return { level, source: 'installer', message };
}

function entry(key, { level, source, message }) {
  return { level, source, key: key === undefined ? null : key, message };
}

module.exports = { LEVELS, fromJail, fromInstaller, entry };
