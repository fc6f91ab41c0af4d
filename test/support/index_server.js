'use strict';
// A PEP 503 "simple" package index over node:http on 127.0.0.1, serving the
// wheels (and source distributions, *.tar.gz) found in some directories. For tests: pip/uv get `url` as their
// index URL, and `requests` records every path asked for.
//
//   GET /simple/              one link per project (PEP 503 normalised names)
//   GET /simple/<project>/    one link per wheel: ../../files/<wheel>#sha256=<hex>
//   GET /files/<wheel>        the wheel's bytes
// Anything else is 404. A project name that is not normalised, or a project
// page without its trailing slash, is redirected to the canonical URL.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

/** PEP 503: lowercase, and runs of '-', '_' and '.' become one '-'. */
function normalizeName(name) {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sha256File(file) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

// project -> [{ filename, file, sha256 }]; a file name seen in an earlier
// directory wins.
async function scan(wheelDirs) {
  const projects = new Map();
  const files = new Map();
  for (const dir of wheelDirs) {
    for (const filename of fs.readdirSync(dir).sort()) {
      const sdist = filename.endsWith('.tar.gz');
      if ((!filename.endsWith('.whl') && !sdist) || files.has(filename)) continue;
      const file = path.join(dir, filename);
      if (!fs.statSync(file).isFile()) continue;
      const wheel = { filename, file, sha256: await sha256File(file) };
      files.set(filename, wheel);
      // A wheel's name has no "-"; an sdist's ends at its last "-" (name-version.tar.gz).
      const project = normalizeName(sdist ? filename.slice(0, filename.lastIndexOf('-')) : filename.split('-')[0]);
      if (!projects.has(project)) projects.set(project, []);
      projects.get(project).push(wheel);
    }
  }
  return { projects, files };
}

function page(title, links) {
  const body = links.map(({ href, text }) => `    <a href="${escapeHtml(href)}">${escapeHtml(text)}</a><br/>`);
  return `<!DOCTYPE html>\n<html>\n  <head><meta name="pypi:repository-version" content="1.0"><title>${escapeHtml(title)}</title></head>\n` +
    `  <body>\n${body.join('\n')}\n  </body>\n</html>\n`;
}

/**
 * Starts the index on an ephemeral port.
 * @param {string|string[]} wheelDirs directories holding *.whl files
 * @param {{delayMs?: number}} [options] delayMs: answer every request that much later
 * @returns {Promise<{url: string, requests: string[], hold: () => void, release: () => void,
 *   held: () => number, close: () => Promise<void>}>}
 *   hold(): requests wait unanswered (a build stays mid-download) until release().
 */
async function startIndex(wheelDirs, { delayMs = 0 } = {}) {
  const dirs = Array.isArray(wheelDirs) ? wheelDirs : [wheelDirs];
  const { projects, files } = await scan(dirs);
  const requests = [];
  let waiting = null;  // while held: the requests that wait

  const server = http.createServer((req, res) => {
    if (waiting !== null) {
      waiting.push([req, res]);
      return;
    }
    if (delayMs > 0 && !req.pycageDelayed) {
      // A slow index, so that concurrent installs overlap in tests.
      req.pycageDelayed = true;
      setTimeout(() => server.emit('request', req, res), delayMs);
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://index').pathname);
    } catch {
      pathname = req.url;
    }
    requests.push(pathname);

    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const notFound = () => send(404, 'text/plain; charset=utf-8', `not found: ${pathname}\n`);
    const redirect = (location) => send(301, 'text/plain; charset=utf-8', `see ${location}\n`, { Location: location });

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    if (pathname === '/simple/' || pathname === '/simple') {
      if (pathname === '/simple') return redirect('/simple/');
      const links = [...projects.keys()].sort().map((name) => ({ href: `${name}/`, text: name }));
      return send(200, 'text/html; charset=utf-8', page('Simple index', links));
    }
    let match = /^\/simple\/([^/]+)(\/?)$/.exec(pathname);
    if (match) {
      const project = normalizeName(match[1]);
      if (!projects.has(project)) return notFound();
      if (project !== match[1] || match[2] !== '/') return redirect(`/simple/${project}/`);
      const links = projects.get(project).map((wheel) => ({
        href: `../../files/${encodeURIComponent(wheel.filename)}#sha256=${wheel.sha256}`,
        text: wheel.filename,
      }));
      return send(200, 'text/html; charset=utf-8', page(`Links for ${project}`, links));
    }
    match = /^\/files\/([^/]+)$/.exec(pathname);
    const wheel = match && files.get(match[1]);
    if (!wheel) return notFound();
    fs.stat(wheel.file, (error, stat) => {
      if (error) return notFound();
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': stat.size });
      if (req.method === 'HEAD') return res.end();
      fs.createReadStream(wheel.file).on('error', () => res.destroy()).pipe(res);
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/simple/`,
    requests,
    hold() { if (waiting === null) waiting = []; },
    held() { return waiting === null ? 0 : waiting.length; },
    release() {
      const queued = waiting || [];
      waiting = null;
      for (const [req, res] of queued) if (!req.destroyed) server.emit('request', req, res);
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

module.exports = { startIndex, normalizeName };
