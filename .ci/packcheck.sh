#!/usr/bin/env bash
# The packed-install check: `npm pack` this checkout, then, under each Node
# line of the matrix, install the tarball into a fresh host project with
# --ignore-scripts and no compiler or cmake on PATH, and use it through the
# public API (test/pack/host_check.*) and a strict TypeScript check of the
# shipped .d.ts. Prints the install time and the tarball's size.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
source .ci/node.sh

WORK=$(mktemp -d /tmp/pycage-pack.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# `npm pack` runs "prepack", which builds the Release binaries into prebuilds/.
npm pack --silent --pack-destination "$WORK" >"$WORK/pack.out"
TARBALL="$WORK/$(tail -n1 "$WORK/pack.out")"
printf 'tarball: %s, %s bytes packed, %s bytes unpacked, %s files\n' "$(basename "$TARBALL")" \
  "$(stat -c %s "$TARBALL")" "$(tar -xzOf "$TARBALL" | wc -c)" "$(tar -tzf "$TARBALL" | wc -l)"
tar -tzf "$TARBALL" >"$WORK/listing"
if grep -E '^package/(test|bench|\.ci|native/runner/tests)/' "$WORK/listing"; then
  echo "packcheck: the tarball ships test, bench or CI files" >&2; exit 1
fi
for must in LICENSE README.md SECURITY.md prebuilds/linux-x64/pycage.node prebuilds/linux-x64/pycage-jail prebuilds/linux-x64/pycage-confine.so; do
  grep -qx "package/$must" "$WORK/listing" || { echo "packcheck: the tarball lacks $must" >&2; exit 1; }
done

NPM_CLI=$(node -e 'process.stdout.write(require("fs").realpathSync(process.argv[1]))' "$(command -v npm)")

for line in "${PYCAGE_NODE_LINES[@]}"; do
  nodedir=$(pycage_node_dir "$line")
  # A PATH with Node and npm only: no cc, c++, gcc, clang, make or cmake.
  bin="$WORK/bin-$line"
  mkdir -p "$bin"
  ln -sf "$nodedir/bin/node" "$bin/node"
  printf '#!%s\nrequire(%s);\n' "$nodedir/bin/node" "'$NPM_CLI'" >"$bin/npm"
  chmod +x "$bin/npm"
  for tool in cc c++ gcc g++ clang make cmake; do
    if PATH="$bin" command -v "$tool" >/dev/null; then echo "packcheck: $tool is on the restricted PATH" >&2; exit 1; fi
  done

  host="$WORK/host-$line"
  mkdir -p "$host"
  printf '{ "name": "pycage-host-%s", "version": "1.0.0", "private": true }\n' "$line" >"$host/package.json"
  start=$(date +%s%N)
  (cd "$host" && PATH="$bin" npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$TARBALL")
  end=$(date +%s%N)
  printf 'Node %s: npm install --ignore-scripts took %d ms, node_modules holds %s\n' "$("$bin/node" --version)" \
    $(((end - start) / 1000000)) "$(du -sh "$host/node_modules" | cut -f1)"

  # The binaries as shipped (stripped, from the tarball), not the build tree's:
  # nothing at run time beyond glibc's own libraries.
  for so in pycage.node pycage-jail pycage-confine.so; do
    shipped="$host/node_modules/pycage/prebuilds/linux-x64/$so"
    deps=$(ldd "$shipped")
    printf 'ldd %s (shipped):\n%s\n' "$so" "$deps"
    if grep -vE '^\s*(linux-vdso\.so\.1|libc\.so\.6|/lib64/ld-linux-x86-64\.so\.2|statically linked)' <<<"$deps" | grep -q .; then
      echo "packcheck: the shipped $so needs more than glibc at run time" >&2; exit 1
    fi
  done
  cp test/pack/host_check.cjs test/pack/host_check.mjs "$host/"
  (cd "$host" && PATH="$bin" PYCAGE_SUPPORT_DIR="$ROOT/test/support" PYCAGE_TEST_PYTHON="${PYCAGE_PYTHON:-/usr/bin/python3}" node host_check.cjs)
  (cd "$host" && PATH="$bin" node host_check.mjs)

  # The shipped .d.ts under strict TypeScript, resolved from the installed package.
  cp test/types/usage.ts "$host/usage.ts"
  cat >"$host/tsconfig.json" <<JSON
{ "compilerOptions": { "strict": true, "noEmit": true, "target": "ES2022", "module": "Node16",
    "moduleResolution": "Node16", "types": ["node"], "typeRoots": ["$ROOT/node_modules/@types"] },
  "files": ["usage.ts"] }
JSON
  (cd "$host" && PATH="$bin" node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.json)
  echo "Node $line: typescript strict check of the shipped .d.ts passed"
done
# pnpm with its default settings, under the default Node line.
pnpm_cli=$(pycage_pnpm_cli)
bin="$WORK/bin-$PYCAGE_NODE_DEFAULT"
host="$WORK/host-pnpm"
mkdir -p "$host"
printf '{ "name": "pycage-host-pnpm", "version": "1.0.0", "private": true }\n' >"$host/package.json"
(cd "$host" && PATH="$bin" node "$pnpm_cli" add --reporter=silent "$TARBALL")
cp test/pack/host_check.cjs "$host/"
(cd "$host" && PATH="$bin" PYCAGE_SUPPORT_DIR="$ROOT/test/support" PYCAGE_TEST_PYTHON="${PYCAGE_PYTHON:-/usr/bin/python3}" node host_check.cjs)
echo "pnpm $PYCAGE_PNPM_VERSION (default settings): installed and passed the host check"
# A host where the prebuilt binary cannot load: the shipped sources build with
# `npx pycage build` (full PATH: this host has the compiler and -dev packages).
host="$WORK/host-source"
mkdir -p "$host"
printf '{ "name": "pycage-host-source", "version": "1.0.0", "private": true }\n' >"$host/package.json"
(cd "$host" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$TARBALL")
printf 'not an ELF file' >"$host/node_modules/pycage/prebuilds/linux-x64/pycage.node"
(cd "$host" && npx pycage build >"$WORK/source-build.log" 2>&1) || { tail -40 "$WORK/source-build.log"; exit 1; }
cp test/pack/host_check.cjs "$host/"
(cd "$host" && PYCAGE_EXPECT_BUILD=source PYCAGE_SUPPORT_DIR="$ROOT/test/support" PYCAGE_TEST_PYTHON="${PYCAGE_PYTHON:-/usr/bin/python3}" node host_check.cjs)
echo "source build of the packed sources (npx pycage build): built and passed the host check"
echo "packcheck: passed under Node ${PYCAGE_NODE_LINES[*]}, npm --ignore-scripts, pnpm, and a source build"
