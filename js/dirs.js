'use strict';

const fs = require('node:fs');
const path = require('node:path');

// mkdir -p, one level at a time: Node's recursive mkdirSync spins forever
// below some pseudo filesystems (/proc/x), where this fails at once. Safe
// when several processes create the same tree at once.
function makeDirs(dir, { mode = 0o755, fsys = fs } = {}) {
  const missing = [];
  let at = dir;
  while (!fsys.existsSync(at)) {
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const level of missing) {
    try {
      fsys.mkdirSync(level, { mode });
    } catch (err) {
      // Another process sharing the directory made it first.
      if (err.code !== 'EEXIST' || !fsys.statSync(level).isDirectory()) throw err;
    }
  }
}

module.exports = { makeDirs };
