#!/usr/bin/env bash
# The installed package, from a clean prefix: `cmake --install BUILD --prefix P`
# lays out the library, headers, CMake package, pkg-config file and CLI; then
# three programs outside the tree are built against P alone and run on the
# bundled model: examples/consumer with find_package(matspec), the same source
# with pkg-config, and the C ABI test (tests/c_api_test.c) compiled as C with
# pkg-config. Usage: package_consumer_test.sh BUILD_DIR (from the repository root)
set -euo pipefail
build=$(cd "$1" && pwd)
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" || { cat "$tmp/install.log" >&2; fail "cmake --install"; }
for f in lib/libmatspec.so include/matspec/matspec.h include/matspec/matspec_c.h include/matspec/json.h \
         include/matspec/run_config.h lib/cmake/matspec/matspecConfig.cmake \
         lib/cmake/matspec/matspecConfigVersion.cmake lib/cmake/matspec/matspecTargets.cmake \
         lib/pkgconfig/matspec.pc bin/matspec; do
  [[ -e $prefix/$f ]] || fail "the install has no $f"
done
# Only public headers: nothing that includes the source tree's internals.
if grep -rhoE '#include "(engine|draft|verify|kernels|decoding)/' "$prefix/include"; then
  fail "an installed header includes an internal one"
fi

launcher=()
if command -v ccache > /dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

# 1. find_package(matspec), C++17 (the headers promise no more).
cmake -S "$root/examples/consumer" -B "$tmp/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=17 "${launcher[@]}" > "$tmp/configure.log" \
  || { cat "$tmp/configure.log" >&2; fail "find_package consumer: configure"; }
cmake --build "$tmp/cmake-consumer" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; fail "find_package consumer: build"; }
"$tmp/cmake-consumer/matspec_consumer" models/matlm-tiny > "$tmp/cmake.out" || fail "find_package consumer: run"
grep -q '"stop_reason":"cancelled"' "$tmp/cmake.out" || fail "find_package consumer: no cancelled request"

# 2. pkg-config: C++ and C.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[[ $(pkg-config --modversion matspec) == 0.1.0 ]] || fail "pkg-config --modversion matspec"
# shellcheck disable=SC2046
c++ -std=c++17 -O1 "$root/examples/consumer/main.cc" -o "$tmp/pc-consumer" $(pkg-config --cflags --libs matspec) \
  || fail "pkg-config consumer: build"
LD_LIBRARY_PATH=$prefix/lib "$tmp/pc-consumer" models/matlm-tiny > "$tmp/pc.out" || fail "pkg-config consumer: run"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$root/tests/c_api_test.c" -o "$tmp/c-consumer" $(pkg-config --cflags --libs matspec) \
  || fail "C consumer: build"
LD_LIBRARY_PATH=$prefix/lib "$tmp/c-consumer" models/matlm-tiny || fail "C consumer: run"

# 3. The installed CLI.
"$prefix/bin/matspec" generate -m models/matlm-tiny -p "Once" -n 4 --json > "$tmp/cli.out" 2>/dev/null \
  || fail "installed bin/matspec"
grep -q '"generated_tokens":4' "$tmp/cli.out" || fail "installed bin/matspec: wrong output"
echo "package_consumer_test: OK"
