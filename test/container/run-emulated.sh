#!/usr/bin/env bash
# Run a command as if inside a default `docker run` container (see README.md):
#
#   sudo test/container/run-emulated.sh [--user UID[:GID]] [--profile PATH] \
#        [--preserve-fds N] [--verbose] -- command args...
#
# Builds emulate_docker.cc on first use (and whenever the source changes)
# into $EMULATE_DOCKER_BUILD_DIR (default: ${TMPDIR:-/tmp}/emulate-docker.UID),
# then execs it with Docker's default seccomp profile (docker_default.json
# next to this script) unless --profile is given. Exit status: the command's,
# or 125 for an error of the launcher, 126/127 if the command cannot be run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/emulate_docker.cc"
profile="$here/docker_default.json"
cxx=${CXX:-g++}
cxxflags=(-std=c++20 -O2 -Wall -Wextra -Werror)
libs=(-lseccomp)

die() { echo "run-emulated.sh: $*" >&2; exit 125; }

build_dir=${EMULATE_DOCKER_BUILD_DIR:-${TMPDIR:-/tmp}/emulate-docker.$(id -u)}
# The binary is run as root: refuse a build directory someone else could
# have planted or could write to.
mkdir -p -m 0700 "$build_dir" || die "cannot create $build_dir"
[ -O "$build_dir" ] || die "$build_dir is not owned by $(id -un)"
if [ -n "$(find "$build_dir" -maxdepth 0 -perm /022)" ]; then
  die "$build_dir is group- or world-writable"
fi

# One binary per (source, compiler, flags): a changed source or flag set
# gets a fresh build; concurrent runs never see a half-written binary.
key=$( { cat "$src"; echo "$cxx ${cxxflags[*]} ${libs[*]}"; } | sha256sum | cut -c1-16)
bin="$build_dir/emulate_docker-$key"
if [ ! -x "$bin" ]; then
  command -v "$cxx" >/dev/null || die "compiler $cxx not found (need g++ with C++20 and libseccomp-dev)"
  tmp=$(mktemp "$build_dir/.emulate_docker.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  echo "run-emulated.sh: building $bin" >&2
  "$cxx" "${cxxflags[@]}" "$src" "${libs[@]}" -o "$tmp" || die "build of $src failed"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin"
  trap - EXIT
fi

# --profile given by the caller comes later on the command line and wins.
exec "$bin" --profile "$profile" "$@"
