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
  bash scripts/setup.sh
}

stage_native() {
  cmake -S "$ROOT" -B "$ROOT/build-native" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYCAGE_BUILD_TESTS=ON
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

stage_npm_test() {
  npm test
}

# Later stages (ASan+UBSan build, clang-tidy, fuzzing) are appended here as
# their own functions and entries.
STAGES=(
  "setup|stage_setup"
  "native build + ctest|stage_native"
  "runner python unittest|stage_runner_python"
  "npm test (node:test, security)|stage_npm_test"
)

# Debian's interpreter, which setup.sh installs: the same one on every host.
if [[ -z "${PYCAGE_PYTHON:-}" && -x /usr/bin/python3 ]]; then export PYCAGE_PYTHON=/usr/bin/python3; fi

for entry in "${STAGES[@]}"; do
  banner "${entry%%|*}"
  "${entry##*|}"
done
CURRENT_STAGE=""
printf '\n==================== all stages passed ====================\n'
