'use strict';

// Socket families beyond TCP/UDP: a host abstract unix listener, IPv6
// loopback, and the kernel's other families (netlink, packet, vsock, alg).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const crypto = require('node:crypto');
const { skipWithoutAddon, fullSandbox, TIER } = require('./common');

const EAFNOSUPPORT = 97;
const EPERM = 1;
const ECONNREFUSED = 111;

describe('security: abstract unix sockets and other socket families', { skip: skipWithoutAddon }, () => {
  let sandbox;
  let abstract;
  let tcp6;
  let connections = 0;
  const name = `pycage-test-${crypto.randomBytes(6).toString('hex')}`;
  before(async () => {
    // Warn mode lets `import socket` through the restrictions layer, so the
    // jail itself is what these cases test.
    sandbox = fullSandbox({ restrictions: { mode: 'warn' } });
    abstract = net.createServer((sock) => { connections++; sock.destroy(); });
    await new Promise((resolve) => abstract.listen(`\0${name}`, resolve));
    tcp6 = net.createServer((sock) => { connections++; sock.destroy(); });
    await new Promise((resolve, reject) => { tcp6.once('error', reject); tcp6.listen(0, '::1', resolve); })
      .catch(() => { tcp6 = null; });
  });
  after(async () => {
    abstract.close();
    if (tcp6) tcp6.close();
    if (sandbox) await sandbox.close();
  });

  it("cannot connect to an abstract unix socket the host listens on (it lives in the host's network namespace)", async () => {
    // Sanity: the listener answers from the host.
    await new Promise((resolve, reject) => {
      const c = net.connect(`\0${name}`, () => { c.destroy(); resolve(); });
      c.on('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = connections;
    const run = await sandbox.runPython([
      'import socket',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
      'try:',
      `    s.connect("\\0${name}")`,
      '    result = "CONNECTED"',
      'except OSError as e:',
      '    result = e.errno',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    // full: the jail's own network namespace has no such name; reduced: the
    // host's has, and Landlock's abstract socket scope refuses it.
    assert.equal(run.result, TIER === 'full' ? ECONNREFUSED : EPERM);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(connections, before, 'the host listener saw a connection from the run');
  });

  it('refuses every socket family but AF_UNIX with EAFNOSUPPORT, before the kernel sees it', async () => {
    const families = {
      AF_INET: [2, 1, 0], AF_INET6: [10, 2, 0], AF_NETLINK_ROUTE: [16, 3, 0], AF_NETLINK_AUDIT: [16, 3, 9],
      AF_PACKET: [17, 3, 0x0300], AF_VSOCK: [40, 1, 0], AF_ALG: [38, 5, 0], AF_BLUETOOTH: [31, 3, 0],
      AF_INET_RAW: [2, 3, 1], AF_KEY: [15, 3, 2], AF_UNIX_HIGH_BITS: ['0x100000001', 1, 0],
    };
    const run = await sandbox.runPython([
      'import ctypes',
      'libc = ctypes.CDLL(None, use_errno=True)',
      `families = ${JSON.stringify(families)}`,
      'out = {}',
      'for name, (family, kind, proto) in families.items():',
      '    family = int(family, 16) if isinstance(family, str) else family',
      '    fd = libc.syscall(41, ctypes.c_ulong(family), ctypes.c_ulong(kind), ctypes.c_ulong(proto))',
      '    out[name] = "OPENED" if fd >= 0 else ctypes.get_errno()',
      'import socket',
      'a, b = socket.socketpair()',
      'a.send(b"ping")',
      'out["socketpair"] = b.recv(4).decode()',
      'result = out',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    const expected = Object.fromEntries(Object.keys(families).map((k) => [k, EAFNOSUPPORT]));
    assert.deepEqual(run.result, { ...expected, socketpair: 'ping' });
  });

  it("cannot reach a TCP server on the host's ::1", async (t) => {
    if (!tcp6) { t.skip('no IPv6 loopback on this host'); return; }
    const before = connections;
    const run = await sandbox.runPython([
      'import socket',
      'try:',
      `    socket.create_connection(("::1", ${tcp6.address().port}), timeout=2)`,
      '    result = "CONNECTED"',
      'except OSError as e:',
      '    result = e.errno',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result, EAFNOSUPPORT);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(connections, before);
  });
  // Every run of a pool shares the jail's network namespace, so abstract
  // names are shared too: each run's Landlock scope (or, on kernels without
  // it, a filter that refuses AF_UNIX sockets) keeps them apart.
  const LISTEN = (label) => [
    'import socket',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    `s.bind("\\0${name}-${label}")`,
    's.listen(4)',
    's.settimeout(0.05)',
    'def accepted():',
    '    try:',
    '        c, _ = s.accept()',
    '        return c.recv(100).decode()',
    '    except OSError:',
    '        return None',
    'result = "listening"',
  ].join('\n');
  const CONNECT = (label) => [
    'import socket, errno',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    'try:',
    `    s.connect("\\0${name}-${label}")`,
    '    s.sendall(b"hello from a neighbour")',
    '    result = "CONNECTED"',
    'except OSError as e:',
    '    result = errno.errorcode.get(e.errno, e.errno)',
  ].join('\n');

  it('a session listening on an abstract name hears from no plain run and no other session', async () => {
    const listener = await sandbox.runPython(LISTEN('session'), { session: 'listener' });
    assert.equal(listener.result, 'listening', JSON.stringify(listener.error));
    const fromRun = await sandbox.runPython(CONNECT('session'));
    assert.equal(fromRun.status, 'ok', JSON.stringify(fromRun.error));
    assert.notEqual(fromRun.result, 'CONNECTED');
    const fromSession = await sandbox.runPython(CONNECT('session'), { session: 'other' });
    assert.notEqual(fromSession.result, 'CONNECTED');
    const heard = await sandbox.runPython('accepted()', { session: 'listener' });
    assert.equal(heard.result, null, 'the listening session received a message from a neighbour');
    await sandbox.closeSession('listener');
    await sandbox.closeSession('other');
  });

  it('a plain run listening on an abstract name hears from no concurrent run', async () => {
    const listening = sandbox.runPython(`${LISTEN('run')}\nimport time\ntime.sleep(0.6)\nresult = accepted()`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const neighbour = await sandbox.runPython(CONNECT('run'));
    assert.notEqual(neighbour.result, 'CONNECTED');
    const listener = await listening;
    assert.equal(listener.status, 'ok', JSON.stringify(listener.error));
    assert.equal(listener.result, null);
  });

  it('a run still talks to itself over an abstract socket and over socketpair', async () => {
    const run = await sandbox.runPython([
      'import socket, os',
      `name = "\\0${name}-self-%d" % os.getpid()`,
      'try:',
      '    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
      '    srv.bind(name); srv.listen(1)',
      '    cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
      '    cli.connect(name); cli.sendall(b"ok")',
      '    own = srv.accept()[0].recv(2).decode()',
      'except OSError as e:',
      '    own = "refused: %s" % e',  // kernels without Landlock scopes refuse AF_UNIX sockets
      'a, b = socket.socketpair()',
      'a.sendall(b"pair")',
      'result = [own, b.recv(4).decode()]',
    ].join('\n'));
    assert.equal(run.status, 'ok', JSON.stringify(run.error));
    assert.equal(run.result[1], 'pair');
    assert.ok(run.result[0] === 'ok' || run.result[0].startsWith('refused: [Errno 97]'), run.result[0]);
  });
});
