#!/usr/bin/env bash
# Installs what pycage needs on Debian 12 and builds the addon. Idempotent:
# packages already installed are not touched and apt-get update runs only
# when something is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libseccomp-dev libsimdjson-dev libuv1-dev
  googletest libgtest-dev libbenchmark-dev
  clang clang-tidy libclang-rt-14-dev
  bubblewrap procps
  python3 python3-pip python3-numpy python3-pandas python3-matplotlib
)
# Node is often installed from elsewhere (nodesource, nvm); only add Debian's
# when there is none at all.
if ! command -v node >/dev/null 2>&1; then
  # libnode-dev puts Node's own headers at /usr/include/node, where the
  # addon build looks first.
  PACKAGES+=(nodejs npm libnode-dev)
fi

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

# node-addon-api and cmake-js come from npm; installing the package runs the
# addon build (package.json "install"). Skip when the build is already current.
if [[ ! -d node_modules/node-addon-api || ! -d node_modules/typescript || ! -f build/Release/pycage.node ]]; then
  if [[ -f package-lock.json ]]; then npm ci; else npm install; fi
else
  echo "pycage setup: node_modules present, rebuilding the addon incrementally"
  npm run build --silent
fi
