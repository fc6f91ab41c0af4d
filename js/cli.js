#!/usr/bin/env node
'use strict';

// `npx pycage <command>`. Commands:
//   build   build the native addon and pycage-jail from source (hosts without
//           a prebuilt binary); names any missing Debian package first.
//   doctor  what this host lacks for each isolation tier, and the fix
//           (js/doctor.js); --json for machines.

const path = require('node:path');
const { spawnSync } = require('node:child_process');

const USAGE = 'usage: pycage build | pycage doctor [--json] [--python PATH] [--data-dir DIR] [--cgroup-root DIR] [--index URL]';

async function main(argv) {
  const [command, ...rest] = argv;
  switch (command) {
    case 'doctor': {
      try {
        return await require('./doctor').main(rest);
      } catch (err) {
        process.stderr.write(`pycage doctor: ${err.message}\n`);
        return 2;
      }
    }
    case 'build': {
      const res = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'build.js'), ...rest], { stdio: 'inherit' });
      return res.status === null ? 1 : res.status;
    }
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`pycage: unknown command '${command}'\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
