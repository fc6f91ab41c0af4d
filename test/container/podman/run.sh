#!/usr/bin/env bash
# The security suites inside real podman containers, never --privileged:
#  - the reduced tier's, with Docker's own default seccomp profile (moby's,
#    test/container/docker_default.json) and default capabilities, once as
#    root and once as --user 1000:1000;
#  - the full tier's, as root, with pycage's shipped profile (Docker's
#    default plus deploy/docker/seccomp-additions.json) and /proc unmasked,
#    as deploy/ tells operators to start it.
# (See README.md beside this file.)
#
#   sudo test/container/podman/run.sh
#
# Installs podman (and mmdebstrap, and runc where crun cannot run) from
# Debian's packages when missing, builds a minimal Debian 12 image without
# any registry (mmdebstrap + podman import) once and reuses it, and uses the
# checkout's existing build (build/Release or prebuilds/): nothing is
# compiled. Exit status: 0 if both suites pass, 1 if a suite or a check
# fails, 2 if no container can be started at all.
#
# Environment: PYCAGE_PODMAN_KEEP_LOGS=DIR keeps the full test logs in DIR;
# PYCAGE_PODMAN_BENCH=1 also prints bench/js/tiers.js's figures per container;
# PYCAGE_PODMAN_NETWORK=MODE passes --network MODE (default: podman's own
# default, a bridge network); PYCAGE_TEST_CACHE is the host's wheel cache
# that is copied into each container's HOME (default ~/.cache/pycage-test).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$here/../../.." && pwd)
IMAGE_PACKAGES=python3,python3-pip,python3-venv,ca-certificates,procps,bubblewrap
IMAGE_MIRRORS=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)
# One image per package list and mirror set, rebuilt when either changes.
IMAGE_KEY=$(printf '%s\n' "$IMAGE_PACKAGES" "${IMAGE_MIRRORS[@]}" | sha256sum | cut -c1-12)
IMAGE=localhost/pycage-podman-test:$IMAGE_KEY
TAG=pycage-podman-$$

die() { echo "podman/run.sh: $*" >&2; exit "${2:-1}"; }
step_start() { step_name=$1; step_t0=$SECONDS; echo "=== $step_name"; }
step_end() { echo "=== $step_name: $((SECONDS - step_t0)) s"; }

[[ $(id -u) -eq 0 ]] || die "run as root (rootful podman)"
[[ $(uname -m) == x86_64 ]] || die "x86_64 only (the image and the binaries are amd64)"

apt_install() {
  if [[ -z ${apt_updated:-} ]]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- 1. podman -------------------------------------------------------------
step_start "podman"
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if ((${#missing[@]})); then echo "installing ${missing[*]}"; apt_install "${missing[@]}"; fi
podman --version
podman info --format 'storage {{.Store.GraphDriverName}}, cgroups {{.Host.CgroupsVersion}} ({{.Host.CgroupManager}}), runtime {{.Host.OCIRuntime.Name}}, seccomp profile {{.Host.Security.SECCOMPProfilePath}}' ||
  die "podman info failed" 2
step_end

# --- 2. the image ----------------------------------------------------------
step_start "image $IMAGE"
if podman image exists "$IMAGE"; then
  echo "reusing it"
else
  tarball=$(mktemp --suffix=.tar /var/tmp/pycage-podman-rootfs.XXXXXX)
  trap 'rm -f "$tarball"' EXIT
  mmdebstrap --quiet --variant=minbase --include="$IMAGE_PACKAGES" bookworm "$tarball" "${IMAGE_MIRRORS[@]}" ||
    die "mmdebstrap failed"
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$IMAGE" >/dev/null || die "podman import failed"
  rm -f "$tarball"
  trap - EXIT
fi
step_end

# --- the inputs: Node, the checkout, a HOME per user -----------------------
step_start "staging"
# shellcheck source=../../../.ci/node.sh
source "$ROOT/.ci/node.sh"
pycage_use_node "$PYCAGE_NODE_DEFAULT" >/dev/null
NODE=$(command -v node)
stage=$(mktemp -d /tmp/pycage-podman.XXXXXX)
chmod 755 "$stage"
cleanup() {
  local name
  for name in "$TAG-probe" "$TAG-root" "$TAG-user" "$TAG-full"; do
    podman rm -f --ignore "$name" >/dev/null 2>&1 || true
  done
  rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Node's cache sits below /root, which uid 1000 cannot search: a copy.
mkdir -m 755 "$stage/bin"
install -m 0755 "$NODE" "$stage/bin/node"
# The checkout is mounted read-only (the suites must not write into it);
# uid 1000 must be able to read all of it, else it gets a copy. (It is
# mounted at the same path; the host's parent directories do not matter.)
repo=$ROOT
unreadable=$(find "$ROOT" \( -path "$ROOT/.git" -o -path "$ROOT/build-*" \) -prune -o \
  \( ! -perm -o+r -o \( -type d ! -perm -o+x \) \) -print -quit)
if [[ -n $unreadable ]]; then
  echo "$unreadable is not readable by others: the container gets a copy of the checkout"
  repo=$stage/repo
  mkdir -m 755 "$repo"
  tar -C "$ROOT" --exclude=./.git --exclude='./build-*' -cf - . | tar -C "$repo" -xf -
  chmod -R o+rX "$repo"
fi
# The wheel cache (test/support), writable by the user that runs the suite.
cache=${PYCAGE_TEST_CACHE:-$HOME/.cache/pycage-test}
for who in root user full; do
  mkdir -p "$stage/home-$who/.cache"
  if [[ -d $cache ]]; then cp -a "$cache" "$stage/home-$who/.cache/pycage-test"; fi
done
chown -R 1000:1000 "$stage/home-user"
echo "node $("$NODE" --version), checkout $repo (read-only), HOME copies in $stage"
step_end

# --- 1b. can a container start here, and with what -------------------------
# Two limits of some hosts, worked around without touching isolation:
# - podman (4.3) gives a rootful container RLIMIT_NOFILE and RLIMIT_NPROC of
#   1048576; where the host's root lacks CAP_SYS_RESOURCE and has lower hard
#   limits the runtime's setrlimit fails (EPERM). Then the container gets the
#   hard limits podman itself runs with: the shell's RLIMIT_NOFILE, and
#   RLIMIT_NPROC capped at 32768 (podman lowers its own to that).
# - crun refuses a cgroup v1/v2 hybrid layout whose v2 hierarchy holds any
#   controller ("cgroups in hybrid mode not supported"); runc runs there.
global_opts=()
run_opts=()
if [[ -n ${PYCAGE_PODMAN_NETWORK:-} ]]; then run_opts+=(--network "$PYCAGE_PODMAN_NETWORK"); fi
step_start "probe"
started=
for _attempt in 1 2 3; do
  if out=$(podman "${global_opts[@]}" run --rm --name "$TAG-probe" "${run_opts[@]}" "$IMAGE" true 2>&1); then
    started=1; break
  fi
  echo "podman run failed: $out"
  podman rm -f --ignore "$TAG-probe" >/dev/null 2>&1 || true
  if [[ $out == *rlimit* && " ${run_opts[*]} " != *" --ulimit "* ]]; then
    nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
    nofile=$(ulimit -Hn); [[ $nofile == unlimited ]] && nofile=1048576
    echo "-> retrying with --ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc"
    run_opts+=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
  elif [[ $out == *"hybrid mode not supported"* && ${#global_opts[@]} -eq 0 ]]; then
    command -v runc >/dev/null || { echo "installing runc"; apt_install runc; }
    echo "-> retrying with --runtime runc"
    global_opts+=(--runtime runc)
  else
    break
  fi
done
[[ -n $started ]] || die "no container can be started on this host (see the error above)" 2
echo "podman ${global_opts[*]} run ${run_opts[*]} ..."
step_end

# pycage's shipped profile, generated the way deploy/ documents it.
"$NODE" "$ROOT/deploy/docker/seccomp-profile.js" "$ROOT/test/container/docker_default.json" >"$stage/pycage-seccomp.json"

run_in() {  # run_in root|user|full NAME -- command...: one container, its output on stdout
  local who=$1 name=$2; shift 3
  local tier=reduced profile=$ROOT/test/container/docker_default.json
  if [[ $who == full ]]; then tier=full profile=$stage/pycage-seccomp.json; fi
  local opts=(--rm --name "$name" "${run_opts[@]}" --security-opt "seccomp=$profile"
    -v "$repo:$repo:ro" -v "$stage/bin:/opt/pycage-node/bin:ro"
    -e PATH=/opt/pycage-node/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    -e PYCAGE_PYTHON=/usr/bin/python3 -e PYCAGE_REQUIRE_ADDON=1 -e "PYCAGE_TEST_TIER=$tier"
    -w "$repo")
  if [[ $who == user ]]; then
    opts+=(--user 1000:1000 -v "$stage/home-user:/home/pycage" -e HOME=/home/pycage)
  else
    opts+=(-v "$stage/home-$who:/root" -e HOME=/root)
  fi
  # The full tier mounts each run's own /proc, which the kernel allows only
  # under a fully visible /proc (deploy/: systempaths=unconfined).
  if [[ $who == full ]]; then opts+=(--security-opt unmask=ALL); fi
  podman "${global_opts[@]}" run "${opts[@]}" "$IMAGE" "$@"
}

status=0
logs=${PYCAGE_PODMAN_KEEP_LOGS:-$stage/logs}
mkdir -p "$logs"

# --- 3. the checks: reduced as root and as uid 1000, full with the profile ---
smoke='const { Sandbox } = require(process.cwd()); const s = new Sandbox(); console.log(s.isolation);
s.runPython("1+1").then((r) => { console.log(r.status, r.result); return s.close(); })'
for who in root user full; do
  expected=reduced; [[ $who == full ]] && expected=full
  step_start "smoke as $who"
  out=$(run_in "$who" "$TAG-$who" -- sh -c '
    id; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; node -e "$0"' "$smoke" 2>&1) || true
  echo "$out"
  # Seccomp mode 2 (a filter), no CAP_SYS_ADMIN (bit 21) in the bounding set.
  bnd=$(sed -n 's/^CapBnd:\s*//p' <<<"$out")
  if ! grep -q '^Seccomp:\s*2$' <<<"$out" || [[ -z $bnd ]] || (( 16#$bnd & (1 << 21) )); then
    echo "FAIL: the container is not confined as a default podman container"; status=1
  fi
  # What `auto` picked here: the tier this container is for.
  if [[ $(tail -n 2 <<<"$out") != "$expected"$'\nok 2' ]]; then
    echo "FAIL: expected '$expected' then 'ok 2'"; status=1
  fi
  step_end

  step_start "security suite, $expected tier, as $who"
  log=$logs/security-$who.log
  if run_in "$who" "$TAG-$who" -- sh -c 'exec node --test --test-concurrency=1 test/security/*.test.js' >"$log" 2>&1; then
    rc=0
  else
    rc=$?; status=1
  fi
  grep -E '^ℹ (tests|pass|fail|cancelled|skipped|duration_ms) ' "$log" || echo "(no summary: see $log)"
  if ((rc != 0)); then
    echo "FAIL: exit $rc"
    if grep -q '^✖ failing tests:' "$log"; then sed -n '/^✖ failing tests:/,$p' "$log" | head -150; else tail -40 "$log"; fi
  fi
  step_end
  if [[ -n ${PYCAGE_PODMAN_BENCH:-} ]]; then
    # Figures only, never a verdict: each tier's warm p50 against cold
    # starts, in this container (bench/js/tiers.js).
    step_start "bench:tiers as $who"
    run_in "$who" "$TAG-$who" -- node bench/js/tiers.js --rounds 3 2>&1 | tail -n 6 || true
    step_end
  fi
done

if [[ -n ${PYCAGE_PODMAN_KEEP_LOGS:-} ]]; then echo "logs in $logs"; fi
if ((status == 0)); then
  echo "podman: reduced tier passed as root and as uid 1000 (Docker's default profile), full tier with pycage's profile"
else
  echo "podman: FAILED"
fi
exit "$status"
