'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const dgram = require('node:dgram');
const { skipWithoutAddon, fullSandbox } = require('./common');

describe('security: network', { skip: skipWithoutAddon }, () => {
  let sandbox;
  let tcp;
  let udp;
  let tcpConnections = 0;
  let udpDatagrams = 0;
  before(async () => {
    // Warn mode lets `import socket` through the restrictions layer, so these
    // cases reach the jail, which is what they test.
    sandbox = fullSandbox({ restrictions: { mode: 'warn' } });
    tcp = net.createServer((sock) => { tcpConnections++; sock.destroy(); });
    await new Promise((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    udp = dgram.createSocket('udp4');
    udp.on('message', () => { udpDatagrams++; });
    await new Promise((resolve) => udp.bind(0, '127.0.0.1', resolve));
  });
  after(async () => {
    tcp.close();
    udp.close();
    if (sandbox) await sandbox.close();
  });

  it("cannot connect to a TCP server on the host's 127.0.0.1", async () => {
    const port = tcp.address().port;
    const run = await sandbox.runPython([
      'import socket',
      'try:',
      `    s = socket.create_connection(("127.0.0.1", ${port}), timeout=2)`,
      '    result = "CONNECTED"',
      'except BaseException as e:',
      '    result = type(e).__name__ + ": " + str(e)',
    ].join('\n'));
    // The run filter refuses socket(AF_INET) itself (EAFNOSUPPORT).
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.match(String(run.result), /^OSError: \[Errno 97\]/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(tcpConnections, 0);
  });

  it("cannot send UDP to the host's 127.0.0.1", async () => {
    const port = udp.address().port;
    const run = await sandbox.runPython([
      'import socket',
      'try:',
      '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      `    s.sendto(b"leak", ("127.0.0.1", ${port}))`,
      '    result = "SENT"',
      'except BaseException as e:',
      '    result = type(e).__name__ + ": " + str(e)',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.match(String(run.result), /^OSError: \[Errno 97\]/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(udpDatagrams, 0);
  });

  it('has no network interface but (at most) a down loopback', async () => {
    const run = await sandbox.runPython([
      'import os',
      'try:',
      '    result = sorted(os.listdir("/sys/class/net"))',
      'except OSError:',
      '    with open("/proc/net/dev") as f: result = [l.split(":")[0].strip() for l in f.readlines()[2:]]',
    ].join('\n'));
    if (run.status === 'ok') {
      for (const iface of run.result) assert.equal(iface, 'lo', `interface ${iface} is visible`);
    }
  });
});
