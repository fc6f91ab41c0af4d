#!/usr/bin/env node
'use strict';

// Writes the seccomp profile for a container that runs pycage's full tier:
// Docker's default profile of your Docker release plus seccomp-additions.json
// (each addition says why). pycage does not ship Docker's profile itself:
// take the one that matches your engine, e.g. profiles/seccomp/default.json
// in the moby repository at your release's tag.
//
//   node deploy/docker/seccomp-profile.js docker-default.json > pycage-seccomp.json
//   docker run --security-opt seccomp=pycage-seccomp.json \
//              --security-opt apparmor=unconfined --security-opt systempaths=unconfined …

const fs = require('node:fs');
const path = require('node:path');

const ADDITIONS = path.join(__dirname, 'seccomp-additions.json');

// Returns a new profile: `base` with every addition appended to its syscall
// rules, unless the base already allows that name unconditionally.
function withAdditions(base, additions) {
  if (!base || typeof base !== 'object' || !Array.isArray(base.syscalls) || typeof base.defaultAction !== 'string') {
    throw new Error('the base profile must be a Docker seccomp profile: an object with defaultAction and syscalls[]');
  }
  const allowedPlain = new Set();
  for (const rule of base.syscalls) {
    const plain = rule.action === 'SCMP_ACT_ALLOW' && (!rule.args || rule.args.length === 0) && !rule.includes && !rule.excludes;
    if (plain) for (const name of rule.names || []) allowedPlain.add(name);
  }
  const added = [];
  for (const rule of additions.syscalls) {
    const names = rule.names.filter((name) => !allowedPlain.has(name));
    if (names.length > 0) added.push({ ...rule, names, comment: `pycage: ${rule.comment}` });
  }
  return { ...base, syscalls: [...base.syscalls, ...added] };
}

function main(argv) {
  if (argv.length !== 1 || argv[0] === '-h' || argv[0] === '--help') {
    process.stderr.write('usage: node seccomp-profile.js DOCKER_DEFAULT_PROFILE.json > pycage-seccomp.json\n');
    return 2;
  }
  let base;
  try {
    base = JSON.parse(fs.readFileSync(argv[0], 'utf8'));
  } catch (err) {
    process.stderr.write(`cannot read ${argv[0]} as JSON: ${err.message}\n`);
    return 1;
  }
  const additions = JSON.parse(fs.readFileSync(ADDITIONS, 'utf8'));
  try {
    process.stdout.write(`${JSON.stringify(withAdditions(base, additions), null, 2)}\n`);
  } catch (err) {
    process.stderr.write(`${argv[0]}: ${err.message}\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { withAdditions, ADDITIONS };
