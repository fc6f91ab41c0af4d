#!/usr/bin/env bash
# Sets the host up (idempotent), then runs a few Python workflow nodes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/setup.sh
# Debian's interpreter, which setup.sh installs: the same one on every host.
if [[ -z "${PYCAGE_PYTHON:-}" && -x /usr/bin/python3 ]]; then export PYCAGE_PYTHON=/usr/bin/python3; fi
# Node 24 from the npm registry, which setup.sh fetched (.ci/node.sh).
source .ci/node.sh
pycage_use_node "$PYCAGE_NODE_DEFAULT"
exec node js/demo.js
