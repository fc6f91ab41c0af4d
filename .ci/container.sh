#!/usr/bin/env bash
# The tiers where they are meant to run: inside containers.
#  - Real podman containers (Debian's podman; an image built here with
#    mmdebstrap, no registry): the reduced tier's security suite as root and
#    as uid 1000, with Docker's default seccomp profile and podman's default
#    capabilities; the full tier's as root with pycage's shipped profile.
#  - Docker itself cannot run here (no daemon; test/container/README.md), so
#    test/container emulates a default `docker run` faithfully: moby's default
#    seccomp profile, Docker's default capability set, its masked and
#    read-only /proc and /sys paths. The reduced tier's suite runs there as
#    root and as uid 1000; then the full tier's, in a container started with
#    pycage's shipped profile (deploy/docker) and /proc unmasked.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
source .ci/node.sh
pycage_use_node "$PYCAGE_NODE_DEFAULT"
NODE=$(command -v node)
EMULATE="$ROOT/test/container/run-emulated.sh"

echo "--- real podman containers: reduced tier (root, uid 1000), full tier with the shipped profile"
rc=0
bash test/container/podman/run.sh || rc=$?
if ((rc == 2)); then
  echo "podman could not start any container on this host (see above): the emulated Docker runs below stand for it"
elif ((rc != 0)); then
  exit "$rc"
fi

echo "--- the emulation itself"
bash test/container/selftest.sh

echo "--- reduced tier: Docker's default profile and capabilities, as root"
"$EMULATE" -- env PYCAGE_TEST_TIER=reduced "$NODE" --test --test-concurrency=1 test/security/*.test.js

echo "--- reduced tier: Docker's default profile, as uid 1000 (no capability at all)"
# A copy the user can read: the checkout and Node's cache may sit below
# directories only root may search.
user_root=$(mktemp -d /tmp/pycage-container-user.XXXXXX)
trap 'rm -rf "$user_root"' EXIT
chmod 755 "$user_root"
tar -C "$ROOT" --exclude=./.git --exclude=./build-native --exclude=./build-asan --exclude=./build-fuzz -cf - . |
  tar -C "$user_root" -xf -
mkdir -p "$user_root/.home" "$user_root/.bin"
install -m 0755 "$NODE" "$user_root/.bin/node"
cache=${PYCAGE_TEST_CACHE:-$HOME/.cache/pycage-test}
if [[ -d "$cache" ]]; then cp -a "$cache" "$user_root/.home/test-cache"; fi
chown -R 1000:1000 "$user_root"
(cd "$user_root" && "$EMULATE" --user 1000:1000 -- env HOME="$user_root/.home" \
  PYCAGE_TEST_CACHE="$user_root/.home/test-cache" PYCAGE_TEST_TIER=reduced \
  "$user_root/.bin/node" --test --test-concurrency=1 test/security/*.test.js)

echo "--- full tier: pycage's shipped seccomp profile (Docker's default plus deploy/docker/seccomp-additions.json)"
profile="$user_root/pycage-seccomp.json"
"$NODE" deploy/docker/seccomp-profile.js test/container/docker_default.json > "$profile"
"$EMULATE" --profile "$profile" --systempaths-unconfined -- env PYCAGE_TEST_TIER=full \
  "$NODE" --test --test-concurrency=1 test/security/*.test.js
