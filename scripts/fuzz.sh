#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [HARNESS...]: build the libFuzzer harnesses of
# tests/fuzz/ (clang, -DMATSPEC_FUZZ=ON, into build-fuzz/) and run each for
# SECONDS (default 60) on one core, seeded with its committed corpus
# tests/fuzz/corpus/<harness>/. New inputs go to build-fuzz/corpus/<harness>/,
# crashes to build-fuzz/artifacts/. Prints one summary line per harness
# (executions, coverage, seconds) and exits non-zero if any harness failed.
# Without clang and libFuzzer it says so and exits 0 (the stage is skipped).
# MATSPEC_FUZZ_SEED=N fixes libFuzzer's seed (./test.sh sets it, so a CI run
# explores the same inputs each time, up to machine speed).
# MATSPEC_FUZZ_CLOCK=cpu counts SECONDS as CPU time of the fuzzer process
# instead of wall time (for long runs on a machine that other work shares: a
# harness runs until it has had SECONDS of one core); the summary gives both.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
bash scripts/setup.sh fuzz || true
probe=$(mktemp -d)
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cc"
if ! command -v clang++ >/dev/null || ! clang++ -fsanitize=fuzzer,address "$probe/p.cc" -o "$probe/p" 2>/dev/null; then
  echo "fuzz: clang++ with libFuzzer is not available; skipping the fuzz stage"
  rm -rf "$probe"
  exit 0
fi
rm -rf "$probe"

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# -O1 -g without NDEBUG: library assertions (toml++'s included) stay live while fuzzing.
cmake -S . -B build-fuzz -DMATSPEC_FUZZ=ON -DMATSPEC_CUDA=OFF -DMATSPEC_BUILD_BENCH=OFF \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  "${launcher[@]}" >/dev/null || exit 1
cmake --build build-fuzz -j "$(nproc 2>/dev/null || echo 2)" || exit 1

harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
  for d in tests/fuzz/corpus/*/; do harnesses+=("$(basename "$d")"); done
fi
mkdir -p build-fuzz/artifacts build-fuzz/logs
failed=0
seed_arg=()
if [ -n "${MATSPEC_FUZZ_SEED:-}" ]; then seed_arg=(-seed="$MATSPEC_FUZZ_SEED"); fi
for h in "${harnesses[@]}"; do
  mkdir -p "build-fuzz/corpus/$h"
  log=build-fuzz/logs/$h.log
  # One core; 10 s per input is a hang; an allocation above 2 GiB is a finding.
  wall_limit=$seconds
  if [ "${MATSPEC_FUZZ_CLOCK:-wall}" = cpu ]; then wall_limit=$((seconds * 50)); fi
  start=$(date +%s)
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
    "build-fuzz/fuzz/$h" -max_total_time="$wall_limit" -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=2048 \
    -print_final_stats=1 "${seed_arg[@]}" -artifact_prefix="build-fuzz/artifacts/$h-" \
    "build-fuzz/corpus/$h" "tests/fuzz/corpus/$h" >"$log" 2>&1 &
  pid=$!
  cpu=0
  if [ "${MATSPEC_FUZZ_CLOCK:-wall}" = cpu ]; then
    # utime + stime (fields 14, 15 of /proc/PID/stat) in clock ticks; SIGINT
    # makes libFuzzer print its final statistics and exit 72.
    tck=$(getconf CLK_TCK)
    while kill -0 "$pid" 2>/dev/null; do
      ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
      cpu=$((ticks / tck))
      if [ "$cpu" -ge "$seconds" ]; then kill -INT "$pid"; break; fi
      sleep 5
    done
  fi
  wait "$pid"
  rc=$?
  if [ "${MATSPEC_FUZZ_CLOCK:-wall}" = cpu ] && [ $rc -eq 72 ] && [ "$cpu" -ge "$seconds" ]; then rc=0; fi
  wall=$(($(date +%s) - start))
  cpu_note=""
  if [ "${MATSPEC_FUZZ_CLOCK:-wall}" = cpu ]; then cpu_note=", ${cpu} s cpu"; fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  secs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  if [ $rc -eq 0 ]; then
    echo "fuzz $h: ok, ${execs:-?} executions, cov ${cov:-?}, ${wall} s wall${cpu_note} (${secs:-?} exec/s)"
  else
    echo "fuzz $h: FAILED (exit $rc), see $log and build-fuzz/artifacts/$h-*"
    grep -m5 -E 'ERROR|SUMMARY|error does not name' "$log" | sed 's/^/  /'
    failed=1
  fi
done
exit $failed
