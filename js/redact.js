'use strict';

// Credentials in URLs (an index URL such as https://user:token@host/simple/)
// never reach a log line, a status, an error or an event: the user-info part
// of every URL in a text becomes "***".

const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;

function redactCredentials(text) {
  return String(text).replace(URL_USERINFO, '$1***@');
}

module.exports = { redactCredentials };
