'use strict';

// Shared by the security suites (not a test file itself). Every suite asks
// for isolation 'full' explicitly: on a host that cannot jail, the suites
// must fail, not quietly test the bypass tier.

const fs = require('node:fs');
const { Sandbox } = require('../..');
const native = require('../../js/native');
require('../js/common');  // scratch PYCAGE_DATA_DIR for Sandboxes made without a dataDir

const addonBuilt = native.ADDON_PATH !== null && fs.existsSync(native.ADDON_PATH);
// CI sets PYCAGE_REQUIRE_ADDON=1: there a missing addon is a failure, never a skip.
if (!addonBuilt && process.env.PYCAGE_REQUIRE_ADDON === '1') {
  throw new Error('PYCAGE_REQUIRE_ADDON=1 but no addon is built or prebuilt (npm run build)');
}
const skipWithoutAddon = addonBuilt ? false : 'the addon is not built (npm run build)';

function fullSandbox(options = {}) {
  return new Sandbox({ isolation: 'full', ...options });
}


// Every pid whose command line contains marker, found from the host's /proc.
function pidsWithMarker(marker) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (cmdline.includes(marker)) found.push(Number(entry));
    } catch { /* the process exited meanwhile */ }
  }
  return found;
}

module.exports = { skipWithoutAddon, fullSandbox, pidsWithMarker };
