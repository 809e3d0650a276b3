#!/usr/bin/env bash
# ./test.sh: install what is missing, build, and run every test: the CPU suite
# (release build), the installed package from a clean prefix (find_package,
# pkg-config, the C ABI from C and from Python), the same unit tests under AddressSanitizer +
# UndefinedBehaviorSanitizer, the concurrency test under ThreadSanitizer, and,
# when nvcc is present, the CUDA build (its GPU tests skip cleanly on a machine
# without a GPU), and, when clang with libFuzzer is present, a few seconds of
# each fuzzing harness over its seed corpus (scripts/fuzz.sh runs them longer).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== release build (CUDA: AUTO) =="
bash scripts/build.sh build
# Tests run two at a time on two cores: OpenMP threads must sleep, not spin, while they wait.
OMP_WAIT_POLICY=passive ctest --test-dir build --output-on-failure -j "$jobs" -LE package

echo "== package: cmake --install into a clean prefix, consumers via find_package and pkg-config, C and Python =="
OMP_WAIT_POLICY=passive ctest --test-dir build --output-on-failure -L package

echo "== AddressSanitizer + UndefinedBehaviorSanitizer =="
# -g1 (line tables only): sanitizer reports keep file:line; the build takes ~20 % less (932 s against ~1180 s
# cold on 2 cores, bench/RESULTS.md §12), mostly in writing and linking full debug info of ~70 test binaries.
bash scripts/build.sh build-asan -DMATSPEC_CUDA=OFF -DMATSPEC_SANITIZE=ON -DMATSPEC_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
OMP_WAIT_POLICY=passive ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE slow

echo "== ThreadSanitizer: one Engine shared by many threads; requests, cancellation; the kernels' thread pool =="
# Only the concurrency tests: many threads share one model; every kernel runs
# single-threaded inside each (OpenMP's runtime is not instrumented).
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMATSPEC_CUDA=OFF -DMATSPEC_SANITIZE_THREAD=ON \
  -DMATSPEC_BUILD_BENCH=OFF $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) >/dev/null
cmake --build build-tsan -j "$jobs" --target engine_concurrency_test request_test batch_scheduler_test draft_length_memory_test \
  cpu_thread_pool_test
OMP_WAIT_POLICY=passive TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
  ctest --test-dir build-tsan --output-on-failure -R '^(engine_concurrency_test|request_test|batch_scheduler_test|draft_length_memory_test)$'
# The kernels' thread pool from many callers (its test against OpenMP teams stays out: libgomp is not instrumented).
TSAN_OPTIONS=halt_on_error=1:exitcode=66 build-tsan/tests/cpu_thread_pool_test --gtest_filter='-*OpenMp*'

echo "== fuzzing harnesses: 4 s each over the seed corpus (skipped without clang) =="
MATSPEC_FUZZ_SEED=1 bash scripts/fuzz.sh 4
