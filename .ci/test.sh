#!/usr/bin/env bash
# The whole test suite, as a list of named stages ("banner|function"). Each stage prints a banner;
# the first failure stops the run (set -e) and names its stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)

CURRENT_STAGE=""
banner() {
  CURRENT_STAGE=$1
  printf '\n==================== %s ====================\n' "$1"
}
trap 'rc=$?; if ((rc != 0)); then printf "\n!!! stage \"%s\" failed (exit %d)\n" "$CURRENT_STAGE" "$rc" >&2; fi' EXIT

stage_setup() {
  bash .ci/setup.sh
  # The pinned Node lines (.ci/node.sh, fetched by setup.sh); the default one
  # runs npm and the builds of every later stage.
  source .ci/node.sh
  pycage_use_node "$PYCAGE_NODE_DEFAULT"
}

stage_native() {
  cmake -S "$ROOT" -B "$ROOT/build-native" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYCAGE_BUILD_TESTS=ON -DPYCAGE_BUILD_BENCH=ON
  cmake --build "$ROOT/build-native" -j "$JOBS"
  ctest --test-dir "$ROOT/build-native" --output-on-failure -j "$JOBS"
}

stage_runner_python() {
  if [[ -f native/runner/tests/run_all.sh ]]; then
    bash native/runner/tests/run_all.sh
  else
    echo "native/runner/tests/run_all.sh not present: skipped"
  fi
}

# The whole JS suite (node:test, security included) under one Node line of
# the matrix. The addon is Node-API, so the one build serves every line.
npm_test_under() {
  (
    pycage_use_node "$1"
    echo "Node $(node --version)"
    npm test
  )
}
stage_npm_test_24() { npm_test_under 24; }
stage_npm_test_22() { npm_test_under 22; }

# The security suites again, in the reduced tier (seccomp + Landlock, no
# namespaces) on this host.
stage_security_reduced() {
  (
    pycage_use_node "$PYCAGE_NODE_DEFAULT"
    PYCAGE_TEST_TIER=reduced node --test --test-concurrency=1 test/security/*.test.js
  )
}

stage_container() {
  bash .ci/container.sh
}

stage_packcheck() {
  bash .ci/packcheck.sh
}

stage_sanitizers() {
  cmake -S "$ROOT" -B "$ROOT/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPYCAGE_BUILD_TESTS=ON -DPYCAGE_SANITIZE=ON
  cmake --build "$ROOT/build-asan" -j "$JOBS"
  # The seccomp policy tests install the run filter in an ASan-instrumented
  # try-syscall child; the filter (rightly) kills the sanitizer runtime's own
  # syscalls there, so those two groups run in the plain build only.
  ctest --test-dir "$ROOT/build-asan" --output-on-failure -j "$JOBS" --timeout 120 -E 'RunFilter|ZygoteFilter'
}

stage_clang_tidy() {
  # Uses the compile database of the addon build (it covers native/ and addon/).
  local findings
  findings=$(find native addon -name '*.cc' -print0 |
    xargs -0 -P "$JOBS" -n 4 clang-tidy -p "$ROOT/build" --quiet --extra-arg=-Wno-unknown-warning-option 2>&1 | grep -E '(warning|error):' | sort -u || true)
  if [[ -n "$findings" ]]; then
    printf '%s\n' "$findings"
    return 1
  fi
  echo "clang-tidy: no findings"
}

stage_fuzz() {
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$ROOT/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYCAGE_BUILD_FUZZ=ON
  cmake --build "$ROOT/build-fuzz" -j "$JOBS" --target fuzz_frames fuzz_requirements fuzz_pip_report fuzz_archive
  # A short run per target on a scratch copy of its corpus, so the repo's
  # corpus only grows by a deliberate commit.
  local target scratch
  for target in frames requirements pip_report archive; do
    scratch=$(mktemp -d)
    cp "$ROOT/test/fuzz/corpus/$target/"* "$scratch/"
    "$ROOT/build-fuzz/test/fuzz/fuzz_$target" -max_total_time="${PYCAGE_FUZZ_SECONDS:-30}" -print_final_stats=1 "$scratch"
    rm -rf "$scratch"
  done
}

STAGES=(
  "setup|stage_setup"
  "native build + ctest|stage_native"
  "native ASan+UBSan build + ctest|stage_sanitizers"
  "runner python unittest|stage_runner_python"
  "npm test under Node 24 (node:test, security)|stage_npm_test_24"
  "npm test under Node 22 (node:test, security)|stage_npm_test_22"
  "security suite in the reduced tier (Node 24)|stage_security_reduced"
  "containers: podman and an emulated default Docker (reduced tier with Docker's profile, root and uid 1000), full tier with the shipped profile|stage_container"
  "packed install: npm pack, install --ignore-scripts without a compiler, under Node 24 and 22|stage_packcheck"
  "clang-tidy (native/, addon/)|stage_clang_tidy"
  "libFuzzer short runs|stage_fuzz"
)

# Debian's interpreter, which setup.sh installs: the same one on every host.
if [[ -z "${PYCAGE_PYTHON:-}" && -x /usr/bin/python3 ]]; then export PYCAGE_PYTHON=/usr/bin/python3; fi
# Here a missing addon fails the JS suites instead of skipping their tests.
export PYCAGE_REQUIRE_ADDON=1

for entry in "${STAGES[@]}"; do
  banner "${entry%%|*}"
  "${entry##*|}"
done
CURRENT_STAGE=""
printf '\n==================== all stages passed ====================\n'
