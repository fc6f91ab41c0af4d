'use strict';

// The installer's surroundings: the operator's proxy and CA bundle reach it;
// nothing of the host's environment or of the interpreter's site-packages
// does.

const { describe, it, before, after, afterEach, mock } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Sandbox } = require('../..');
const { skipWithoutAddon, fakeBinding } = require('./common');
const { ensureWheels } = require('../support/wheels');
const { startIndex } = require('../support/index_server');

// Forwards one request to the index, whatever host it names.
function forward(indexUrl, req, res, pathname) {
  const target = new URL(pathname, indexUrl);
  const upstream = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  upstream.on('error', () => { res.statusCode = 502; res.end(); });
  req.pipe(upstream);
}

// A forward proxy: plain http requests go to the index whatever host they
// name; CONNECT tunnels go to `tunnelPort` on loopback whatever host they name.
async function startProxy(indexUrl, tunnelPort) {
  const seen = [];
  const proxy = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    forward(indexUrl, req, res, new URL(req.url).pathname);
  });
  // A tunnelled socket leaves the server's own bookkeeping: close() would
  // wait for it forever.
  const tunnels = new Set();
  proxy.on('connect', (req, socket, head) => {
    seen.push(`CONNECT ${req.url}`);
    tunnels.add(socket);
    socket.on('close', () => tunnels.delete(socket));
    const upstream = net.connect(tunnelPort, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { seen, url: `http://127.0.0.1:${proxy.address().port}`, close: () => new Promise((resolve) => {
    for (const socket of tunnels) socket.destroy();
    proxy.close(resolve);
    proxy.closeAllConnections();
  }) };
}

// Every live process below `root`, from /proc.
function descendants(root) {
  const parent = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parent.set(Number(entry), Number(fs.readFileSync(`/proc/${entry}/stat`, 'latin1').split(') ')[1].split(' ')[1]));
    } catch { /* exited meanwhile */ }
  }
  const below = (pid) => { for (let p = parent.get(pid); p !== undefined; p = parent.get(p)) if (p === root) return true; return false; };
  return [...parent.keys()].filter(below);
}

describe('the operator\'s proxy and CA bundle', () => {
  afterEach(() => mock.restoreAll());
  it('refuses a proxy that is not an http(s) URL and a CA bundle that is not a readable file', () => {
    fakeBinding();
    assert.throws(() => new Sandbox({ index: { proxy: 'socks5://u:secret@p:1080' } }),
      (err) => err.code === 'ERR_INVALID_ARGUMENT' && /index\.proxy/.test(err.message) && !/secret/.test(err.message));
    assert.throws(() => new Sandbox({ index: { caBundle: 'relative.pem' } }), { code: 'ERR_INVALID_ARGUMENT', message: /index\.caBundle/ });
    assert.throws(() => new Sandbox({ index: { caBundle: '/nonexistent/ca.pem' } }), { code: 'ERR_INVALID_ARGUMENT', message: /readable PEM file/ });
  });
});

describe('installs through the operator\'s proxy and CA', { skip: skipWithoutAddon }, () => {
  let index;
  let work;
  const sandboxes = [];
  before(async () => {
    const { dir } = await ensureWheels();
    index = await startIndex([dir]);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pycage-net-'));
  });
  after(async () => {
    await Promise.all(sandboxes.map((s) => s.close()));
    await index.close();
    fs.rmSync(work, { recursive: true, force: true });
  });
  const open = (indexOptions) => {
    const sandbox = new Sandbox({ dataDir: fs.mkdtempSync(path.join(work, 'data-')), index: indexOptions, installer: { tool: 'pip' } });
    sandboxes.push(sandbox);
    return sandbox;
  };

  it('reaches an index that only the proxy can route, and ignores the host\'s proxy variables', async (t) => {
    const seen = [];
    const proxy = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      forward(index.url, req, res, new URL(req.url).pathname);
    });
    await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => proxy.close(resolve)));
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, HTTPS_PROXY: process.env.HTTPS_PROXY };
    process.env.HTTP_PROXY = 'http://127.0.0.1:9/';   // the host's own setting, which must not leak in
    process.env.HTTPS_PROXY = 'http://127.0.0.1:9/';
    t.after(() => {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    });
    const sandbox = open({ url: 'http://pycage-index.invalid/simple/', trustedHosts: ['pycage-index.invalid'],
      proxy: `http://u:proxy-secret@127.0.0.1:${proxy.address().port}` });
    const lines = [];
    sandbox.on('log', (entry) => lines.push(entry.message));
    const status = await sandbox.install('wf-proxy', 'pycage-hello\n');
    assert.equal(status.status, 'ready', `${status.error}\nproxy saw: ${seen.join(', ')}\n${lines.join('\n')}`);
    assert.ok(seen.some((r) => r.startsWith('GET http://pycage-index.invalid/simple/pycage-hello/')), seen.join('\n'));
    assert.ok(!lines.join('\n').includes('proxy-secret'));
  });

  it('lets no host environment variable reach the installer, whatever it is named', async (t) => {
    const held = await startIndex([(await ensureWheels()).dir]);
    t.after(() => held.close());
    const names = ['PYCAGE_TEST_SECRET', 'http_proxy', 'https_proxy', 'no_proxy', 'PIP_INDEX_URL', 'PYTHONPATH'];
    const saved = Object.fromEntries(names.map((k) => [k, process.env[k]]));
    Object.assign(process.env, { PYCAGE_TEST_SECRET: 'xyz-host-only', http_proxy: 'http://127.0.0.1:9/',
      https_proxy: 'http://127.0.0.1:9/', no_proxy: 'host-only.invalid', PIP_INDEX_URL: 'http://127.0.0.1:9/simple/',
      PYTHONPATH: '/host-only' });
    t.after(() => {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    });
    const sandbox = open({ url: held.url });
    // While pip waits on the index, read the environment of every process
    // this one started from /proc: the jail helper (which gets nothing to pass
    // on), install.py and pip.
    held.hold();
    const installing = sandbox.install('wf-env', 'pycage-hello\n');
    const deadline = Date.now() + 60000;
    while (held.held() === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const seen = descendants(process.pid).map((pid) => {
      try {
        return { cmd: fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '),
          env: fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean) };
      } catch { return null; }  // exited meanwhile
    }).filter(Boolean);
    held.release();
    assert.equal((await installing).status, 'ready');
    const pip = seen.find((p) => / install --target /.test(p.cmd));
    assert.ok(pip, `pip was not among this process's descendants:\n${seen.map((p) => p.cmd).join('\n')}`);
    assert.ok(pip.env.includes('PIP_CONFIG_FILE=/dev/null'), pip.env.join('\n'));  // the environment install.py gave it
    for (const { cmd, env } of seen) {
      const leaked = env.filter((entry) => names.includes(entry.split('=')[0]) || entry.includes('host-only'));
      assert.deepEqual(leaked, [], cmd);
    }
  });

  it('diagnoses a missing package through the operator\'s proxy, not as an unreachable index', async (t) => {
    const proxy = await startProxy(index.url, 9);
    t.after(() => proxy.close());
    const status = await open({ url: 'http://pycage-index.invalid/simple/', trustedHosts: ['pycage-index.invalid'],
      proxy: proxy.url }).install('wf-missing', 'pycage-no-such-package\n');
    assert.equal(status.status, 'failed');
    assert.match(status.error, /^there is no package named 'pycage-no-such-package' on the index at http:\/\/pycage-index\.invalid\/simple\/\./);
    assert.doesNotMatch(status.error, /unreachable/);
  });

  it("runs pip without the interpreter's site-packages: no module or .pth file of it reaches pip", async (t) => {
    // An interpreter installed under a prefix of its own (a copy of this one,
    // its standard library linked in), whose site-packages holds pip, a
    // module only the host has, and a .pth that reports each process whose
    // startup reads it. Not under /tmp: the jail's own /tmp would hide it.
    const host = process.env.PYCAGE_PYTHON || 'python3';
    const about = spawnSync(host, ['-I', '-c', 'import json, os, sys, sysconfig, pip; print(json.dumps([sys.executable, ' +
      'sysconfig.get_paths()["stdlib"], os.path.dirname(pip.__file__), "%d.%d" % sys.version_info[:2]]))'], { encoding: 'utf8' });
    if (about.status !== 0) return t.skip(`this interpreter has no pip: ${about.stderr.trim().split('\n').pop()}`);
    const [executable, stdlib, pipDir, version] = JSON.parse(about.stdout);
    const prefix = fs.mkdtempSync(path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.homedir(), 'pycage-prefix-'));
    t.after(() => fs.rmSync(prefix, { recursive: true, force: true }));
    fs.chmodSync(prefix, 0o755);  // the installer jail's uid reads it
    fs.mkdirSync(path.join(prefix, 'bin'));
    fs.mkdirSync(path.join(prefix, 'lib'));
    const python = path.join(prefix, 'bin', 'python3');
    fs.copyFileSync(fs.realpathSync(executable), python);
    fs.chmodSync(python, 0o755);
    fs.symlinkSync(stdlib, path.join(prefix, 'lib', `python${version}`));
    const site = JSON.parse(spawnSync(python, ['-I', '-c', 'import json, site; print(json.dumps(site.getsitepackages()))'],
      { encoding: 'utf8' }).stdout || '[]').find((dir) => dir.startsWith(`${prefix}/`) && !dir.startsWith(`${prefix}/lib/python${version}/`));
    if (site === undefined) return t.skip('this interpreter has no site-packages of its own under its prefix');
    fs.mkdirSync(site, { recursive: true });
    fs.symlinkSync(pipDir, path.join(site, 'pip'));
    fs.writeFileSync(path.join(site, 'pycage_host_only.py'), 'VALUE = 1\n');
    fs.writeFileSync(path.join(site, 'pycage_site_probe.pth'), 'import sys; sys.stderr.write("pycage-site-probe: ' +
      'read by %s, host-only module importable\\n" % " ".join(sys.orig_argv[1:3])) if __import__("pycage_host_only") else None\n');
    const sandbox = new Sandbox({ python, dataDir: fs.mkdtempSync(path.join(work, 'data-')), index: { url: index.url },
      installer: { tool: 'pip' } });
    sandboxes.push(sandbox);
    const lines = [];
    sandbox.on('log', (entry) => lines.push(entry.message));
    const status = await sandbox.install('wf-site', 'pycage-hello\n');
    assert.equal(status.status, 'ready', `${status.error}\n${lines.join('\n')}`);
    const probes = lines.filter((line) => line.includes('pycage-site-probe:'));
    // install.py reads it (that is where it finds pip): the probe works in the jail.
    assert.ok(probes.some((line) => /read by -I \S*install\.py/.test(line)), lines.join('\n'));
    assert.deepEqual(probes.filter((line) => !/read by -I \S*install\.py/.test(line)), [], 'pip read the site-packages');
    assert.ok(lines.some((line) => /running \S+ -I -S -m pip install .*\(sys\.path: the standard library and pip only\)/.test(line)),
      lines.join('\n'));
  });

  const noOpenssl = spawnSync('openssl', ['version']).status !== 0 ? 'openssl is not installed' : false;
  // A self-signed certificate for `name`, and an https server with it in front of the index.
  async function selfSignedIndex(t, file, name, altName) {
    const key = path.join(work, `${file}-key.pem`);
    const cert = path.join(work, `${file}-cert.pem`);
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${altName}`], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const tls = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) },
      (req, res) => forward(index.url, req, res, req.url));
    await new Promise((resolve) => tls.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => { tls.close(resolve); tls.closeAllConnections(); }));
    return { tls, cert };
  }

  it('trusts an index whose certificate only the operator\'s CA bundle vouches for', { skip: noOpenssl }, async (t) => {
    const { tls, cert } = await selfSignedIndex(t, 'ip', '127.0.0.1', 'IP:127.0.0.1');
    const url = `https://127.0.0.1:${tls.address().port}/simple/`;
    const untrusted = await open({ url }).install('wf-tls', 'pycage-hello\n');
    assert.equal(untrusted.status, 'failed');
    assert.match(untrusted.error, /CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLError/i);
    const trusted = await open({ url, caBundle: cert }).install('wf-tls', 'pycage-hello\n');
    assert.equal(trusted.status, 'ready', trusted.error);
  });

  it('diagnoses through a CONNECT tunnel to an https index that only the operator\'s CA vouches for', { skip: noOpenssl }, async (t) => {
    const { tls, cert } = await selfSignedIndex(t, 'named', 'pycage-index.invalid', 'DNS:pycage-index.invalid');
    const proxy = await startProxy(index.url, tls.address().port);
    t.after(() => proxy.close());
    const sandbox = open({ url: 'https://pycage-index.invalid/simple/', proxy: proxy.url, caBundle: cert });
    const status = await sandbox.install('wf-missing-tls', 'pycage-no-such-package\n');
    assert.equal(status.status, 'failed');
    assert.match(status.error, /^there is no package named 'pycage-no-such-package' on the index at https:\/\/pycage-index\.invalid\/simple\/\./);
    assert.ok(proxy.seen.filter((r) => r === 'CONNECT pycage-index.invalid:443').length >= 2, proxy.seen.join('\n'));
    // And a set that exists installs by the same route.
    assert.equal((await sandbox.install('wf-tls-proxy', 'pycage-hello\n')).status, 'ready');
  });
});
