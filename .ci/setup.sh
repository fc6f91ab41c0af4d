#!/usr/bin/env bash
# Installs what pycage needs on Debian 12 and builds the addon. Idempotent:
# packages already installed are not touched and apt-get update runs only
# when something is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config curl ca-certificates
  libseccomp-dev libuv1-dev
  googletest libgtest-dev libbenchmark-dev
  clang clang-tidy libclang-rt-14-dev
  bubblewrap procps
  postgresql redis-server
  python3 python3-pip python3-numpy python3-pandas python3-matplotlib
)
# simdjson and libuv are built from Debian's own source tarballs (cmake
# downloads and checks them once): Debian ships no PIC static archive of them,
# and the addon must not link a shared copy (see cmake/third_party.cmake).
# Node does not come from Debian (bookworm has Node 18, which upstream no
# longer supports): .ci/node.sh fetches the pinned lines from the npm registry.

missing=()
for pkg in "${PACKAGES[@]}"; do
  # dpkg -s also knows removed packages whose config files remain: check the status.
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "pycage setup: installing missing Debian packages: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "pycage setup: run as root (or install them yourself): apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "pycage setup: all Debian packages present"
fi

# Node 24 (and npm, when the host has none) from the npm registry, first on PATH.
source .ci/node.sh
pycage_use_node "$PYCAGE_NODE_DEFAULT"
echo "pycage setup: using Node $(node --version) from $(dirname "$(command -v node)")"

# node-addon-api, typescript, pg and bullmq (the tests' clients for the real
# PostgreSQL and Redis servers) come from npm; the addon and pycage-jail are
# built from source with scripts/build.js (incremental when current).
if [[ ! -d node_modules/node-addon-api || ! -d node_modules/typescript || ! -d node_modules/pg || ! -d node_modules/bullmq ]]; then
  npm ci --no-audit --no-fund
fi
node scripts/build.js
