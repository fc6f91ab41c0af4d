'use strict';

// An index URL as fetch() needs it: fetch refuses credentials in a URL, so
// they move into a Basic Authorization header (as pip sends them), and
// `shown` is the URL without them, for messages.

function requestFor(url) {
  const parsed = new URL(url);
  const headers = {};
  if (parsed.username || parsed.password) {
    const user = decodeURIComponent(parsed.username);
    const pass = decodeURIComponent(parsed.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    parsed.username = '';
    parsed.password = '';
  }
  return { href: parsed.href, headers, shown: `${parsed.protocol}//${parsed.host}${parsed.pathname}` };
}

module.exports = { requestFor };
