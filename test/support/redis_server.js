'use strict';

// A real redis-server (Debian's package) for the tests, on loopback, in a
// temp directory, with append-only persistence so a restart keeps the
// queue. restart() stops it (SIGKILL, as a crash would) and starts it again
// on the same port.

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./free_port');
const { spawn, spawnSync } = require('node:child_process');

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')); });
    socket.once('error', () => resolve(false));
  });
}

async function startRedis() {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('redis-server is not installed: apt-get install redis-server (.ci/setup.sh does)');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-redis-'));
  const port = await freePort();
  let server = null;
  const launch = async () => {
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'yes'], { stdio: 'ignore' });
    const deadline = Date.now() + 20000;
    while (!(await ping(port))) {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error('redis-server did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const halt = async (signal) => {
    if (server === null || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill(signal);
    await exited;
  };
  await launch();
  return {
    port,
    connection: { host: '127.0.0.1', port, maxRetriesPerRequest: null },
    async restart() {
      await halt('SIGKILL');
      await launch();
    },
    async stop() {
      await halt('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startRedis };
