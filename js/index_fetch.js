'use strict';

// A GET to the package index the way the installer reaches it: through the
// operator's proxy (index.proxy; CONNECT for https, as pip does), trusting
// the operator's CA bundle (index.caBundle) and skipping certificate checks
// only for index.trustedHosts. Node's fetch() takes neither a proxy nor a CA,
// so the install diagnosis would ask a different route than pip took.
//
// fetch-shaped, for the little the diagnosis needs: resolves with
// { status, text() }, rejects with an Error whose `cause` has the socket's
// `code` (ECONNREFUSED, ENOTFOUND, a TLS code), or with the signal's reason.

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const tls = require('node:tls');

const MAX_REDIRECTS = 5;
const MAX_BODY_BYTES = 64 * 1024 * 1024;  // a large project's page (every file of every release)

function basicAuth(url) {
  if (!url.username && !url.password) return null;
  return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
}

function failed(err, what) {
  return Object.assign(new Error(`${what}: ${err.message}`), { cause: err });
}

// A TLS socket to `target` through the proxy's CONNECT tunnel.
function tunnel(proxy, target, tlsOptions, signal) {
  return new Promise((resolve, reject) => {
    const port = target.port || 443;
    const auth = basicAuth(proxy);
    const req = (proxy.protocol === 'https:' ? https : http).request({
      host: proxy.hostname, port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80), method: 'CONNECT',
      path: `${target.hostname}:${port}`, headers: { host: `${target.hostname}:${port}`, ...(auth ? { 'proxy-authorization': auth } : {}) },
      signal,
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(Object.assign(new Error(`the proxy answered CONNECT with HTTP ${res.statusCode}`),
          { cause: { code: `proxy HTTP ${res.statusCode}` } }));
        return;
      }
      const secure = tls.connect({ socket, servername: target.hostname, ...tlsOptions });
      secure.once('secureConnect', () => resolve(secure));
      secure.once('error', (err) => reject(failed(err, 'TLS through the proxy')));
    });
    req.once('error', (err) => reject(err.name === 'AbortError' && signal && signal.reason ? signal.reason : failed(err, 'proxy')));
    req.end();
  });
}

function indexFetch(index = {}) {
  const proxy = index.proxy ? new URL(index.proxy) : null;
  const ca = index.caBundle ? fs.readFileSync(index.caBundle) : undefined;
  const trusted = new Set(index.trustedHosts || []);

  async function once(href, headers, signal) {
    const target = new URL(href);
    const secure = target.protocol === 'https:';
    const tlsOptions = {
      ...(ca ? { ca: [...tls.rootCertificates, ca] } : {}),
      rejectUnauthorized: !(trusted.has(target.hostname) || trusted.has(target.host)),
    };
    const options = { method: 'GET', headers: { ...headers, host: target.host }, signal };
    let request;
    let tunnelled = null;
    if (proxy && secure) {
      tunnelled = await tunnel(proxy, target, tlsOptions, signal);
      const socket = tunnelled;
      request = http.request({ ...options, path: `${target.pathname}${target.search}`, createConnection: () => socket });
    } else if (proxy) {
      // A plain http URL goes to the proxy whole.
      const auth = basicAuth(proxy);
      request = (proxy.protocol === 'https:' ? https : http).request({
        ...options, ...(proxy.protocol === 'https:' ? tlsOptions : {}), host: proxy.hostname,
        port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80), path: target.href,
        headers: { ...options.headers, ...(auth ? { 'proxy-authorization': auth } : {}) },
      });
    } else {
      request = (secure ? https : http).request(target, { ...options, ...(secure ? tlsOptions : {}) });
    }
    // One request per tunnel: closing it also ends the proxy's side.
    const done = new Promise((resolve, reject) => {
      request.once('error', (err) => reject(err.name === 'AbortError' && signal && signal.reason ? signal.reason : failed(err, 'request')));
      request.once('response', (res) => {
        const chunks = [];
        let size = 0;
        res.on('data', (chunk) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) res.destroy(new Error('the index page is too large'));
          else chunks.push(chunk);
        });
        res.once('error', (err) => reject(failed(err, 'response')));
        res.once('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode, location: res.headers.location, text: async () => body });
        });
      });
      request.end();
    });
    try {
      return await done;
    } finally {
      if (tunnelled) tunnelled.destroy();
    }
  }

  return async function get(href, { headers = {}, signal } = {}) {
    let current = href;
    let sent = { ...headers };
    for (let hop = 0; ; hop++) {
      const res = await once(current, sent, signal);
      if (![301, 302, 303, 307, 308].includes(res.status) || !res.location || hop === MAX_REDIRECTS) return res;
      const next = new URL(res.location, current);
      // As fetch does: credentials stay with their origin.
      if (next.origin !== new URL(current).origin) {
        sent = Object.fromEntries(Object.entries(sent).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      current = next.href;
    }
  };
}

module.exports = { indexFetch };
