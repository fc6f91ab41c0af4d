'use strict';

const fs = require('node:fs');
const path = require('node:path');

// mkdir -p, one level at a time: Node's recursive mkdirSync spins forever
// below some pseudo filesystems (/proc/x), where this fails at once.
function makeDirs(dir, { mode = 0o755, fsys = fs } = {}) {
  const missing = [];
  let at = dir;
  while (!fsys.existsSync(at)) {
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const level of missing) fsys.mkdirSync(level, { mode });
}

module.exports = { makeDirs };
