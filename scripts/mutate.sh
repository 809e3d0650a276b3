#!/usr/bin/env bash
# scripts/mutate.sh: mutation testing. Applies each mutation of a list
# (scripts/mutations.txt: file, a unique original snippet, its mutant, why)
# one at a time to a clean copy of the repository -- a detached git worktree
# of REF, never the caller's tree -- builds it incrementally (ccache), runs the
# tests, records the outcome and restores the file:
#   killed        the build succeeded and at least one test failed
#   survived      the build succeeded and every test that ran passed (skips are
#                 counted and reported as skips, never as passes)
#   timeout       a test (or the whole run) hit its time limit and nothing else failed
#   build-failed  the mutant does not compile (not counted in the score)
#   not-found     the snippet is not (exactly once) in the file: the list is stale
# Score = (killed + timeout) / (killed + timeout + survived), equivalent
# mutants (an "equivalent = reason" line in the list) left out.
#
# Usage: scripts/mutate.sh [options]
#   --full            run the whole suite (default: the fast subset, ctest -LE slow,
#                     i.e. every test but the *_slow_test end-to-end suites)
#   --only a,b,c      only these mutation ids
#   --list FILE       mutation list (default scripts/mutations.txt)
#   --ref REV         commit to mutate (default HEAD of the caller's repository)
#   --dir DIR         where the worktree and its build live (default build-mutate/;
#                     keep it under the same parent depth as a normal build so
#                     ccache's base_dir finds the same relative paths)
#   --jobs N          build and test parallelism (default: nproc)
#   --test-timeout S  per-test limit in seconds (default 300)
#   --check           only verify that every snippet occurs exactly once; no build
# Results: a table on stdout and one TSV line per mutant appended to
# DIR/results.tsv as it finishes (so a run cut short by `timeout` keeps them).
set -euo pipefail

root=$(git rev-parse --show-toplevel)
list=$root/scripts/mutations.txt
ref=HEAD
dir=$root/build-mutate
jobs=$(nproc 2>/dev/null || echo 2)
test_timeout=300
full=0
only=""
check=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --full) full=1 ;;
    --only) only=$2; shift ;;
    --list) list=$2; shift ;;
    --ref) ref=$2; shift ;;
    --dir) dir=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --test-timeout) test_timeout=$2; shift ;;
    --check) check=1 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "mutate.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
list=$(realpath "$list")

# mutations.py-like helper: parse the list, apply or check one mutation.
py_helper=$(cat <<'PY'
import sys

def parse(path):
    blocks, cur = [], None
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = {"id": line[1:-1], "line": n}
            blocks.append(cur)
            continue
        key, sep, value = line.partition(" = ")
        if cur is None or not sep or key not in ("file", "from", "to", "why", "equivalent"):
            sys.exit(f"{path}:{n}: expected '[id]' or 'key = value' (file/from/to/why/equivalent)")
        cur[key] = value
    ids = set()
    for b in blocks:
        for k in ("file", "from", "to", "why"):
            if k not in b:
                sys.exit(f"{path}:{b['line']}: [{b['id']}] has no '{k} = ...'")
        if b["id"] in ids:
            sys.exit(f"{path}:{b['line']}: id {b['id']} is used twice")
        ids.add(b["id"])
    return blocks

cmd, path = sys.argv[1], sys.argv[2]
blocks = parse(path)
if cmd == "ids":
    for b in blocks:
        print(b["id"])
elif cmd in ("apply", "check"):
    tree, wanted = sys.argv[3], sys.argv[4:]
    bad = 0
    for b in blocks:
        if wanted and b["id"] not in wanted:
            continue
        text = open(f"{tree}/{b['file']}", encoding="utf-8").read() if __import__("os").path.exists(f"{tree}/{b['file']}") else ""
        n = text.count(b["from"])
        if n != 1:
            print(f"{b['id']}: '{b['from']}' occurs {n} times in {b['file']}", file=sys.stderr)
            bad += 1
            continue
        if cmd == "apply":
            open(f"{tree}/{b['file']}", "w", encoding="utf-8").write(text.replace(b["from"], b["to"]))
            print(b["file"])
    sys.exit(1 if bad else 0)
elif cmd == "field":
    want_id, key = sys.argv[3], sys.argv[4]
    for b in blocks:
        if b["id"] == want_id:
            print(b.get(key, ""))
PY
)
helper() { python3 -c "$py_helper" "$@"; }

if [[ $check -eq 1 ]]; then
  n=$(helper ids "$list" | wc -l)
  if helper check "$list" "$root" ${only//,/ }; then
    echo "mutate.sh: all $n mutations apply to $root"
  else
    exit 1
  fi
  exit 0
fi

tree=$dir/tree
build=$tree/build
mkdir -p "$dir"
dir=$(realpath "$dir")
tree=$dir/tree
build=$tree/build
results=$dir/results.tsv
commit=$(git -C "$root" rev-parse "$ref")
if [[ -e $tree/.git ]]; then
  git -C "$tree" checkout --quiet --detach "$commit"
  git -C "$tree" reset --quiet --hard "$commit"
  git -C "$tree" clean --quiet -fdx -e build
else
  git -C "$root" worktree add --quiet --detach "$tree" "$commit"
fi

label_args=(-LE slow)
suite="fast subset (ctest -LE slow)"
if [[ $full -eq 1 ]]; then label_args=(); suite="whole suite"; fi

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$tree" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMATSPEC_CUDA=OFF -DMATSPEC_BUILD_BENCH=OFF \
  "${launcher[@]}" >/dev/null

run_tests() {  # $1: log file. Prints "pass|fail|timeout <skipped> <failed tests>"
  local log=$1 rc=0
  OMP_WAIT_POLICY=passive ctest --test-dir "$build" -j "$jobs" "${label_args[@]}" --timeout "$test_timeout" \
    --stop-on-failure >"$log" 2>&1 || rc=$?
  local skipped failed timed
  skipped=$(grep -cE '\*\*\*Skipped|Not Run|Skipped +[0-9.]+ sec' "$log" || true)
  failed=$(grep -E '\*\*\*Failed|\(Failed\)|Exception|\(SEGFAULT\)|\(Subprocess aborted\)' "$log" \
    | sed -E 's/.*Test +#[0-9]+: ([^ ]+).*/\1/; s/^[[:space:]]*[0-9]+ - ([^ ]+) .*/\1/' | sort -u | paste -sd, - || true)
  timed=$(grep -cE '\*\*\*Timeout|\(Timeout\)' "$log" || true)
  if [[ $rc -eq 0 ]]; then
    echo "pass $skipped -"
  elif [[ -z $failed && $timed -gt 0 ]]; then
    echo "timeout $skipped -"
  else
    echo "fail $skipped ${failed:--}"
  fi
}

echo "== mutate.sh: $(date -u +%FT%TZ), commit ${commit:0:10}, $suite, list $list =="
echo "== baseline build =="
if ! cmake --build "$build" -j "$jobs" >"$dir/baseline-build.log" 2>&1; then
  echo "mutate.sh: the unmutated tree does not build (see $dir/baseline-build.log)" >&2
  exit 1
fi
read -r base_status base_skipped _ < <(run_tests "$dir/baseline-tests.log")
if [[ $base_status != pass ]]; then
  echo "mutate.sh: the unmutated suite does not pass (see $dir/baseline-tests.log)" >&2
  exit 1
fi
echo "baseline: pass ($base_skipped skipped)"

mapfile -t ids < <(helper ids "$list")
if [[ -n $only ]]; then IFS=, read -r -a ids <<<"$only"; fi
[[ -f $results ]] || printf 'date\tcommit\tsuite\tid\tstatus\tskipped\tkilled_by\tseconds\n' >"$results"
declare -A count=()
rows=()
for id in "${ids[@]}"; do
  start=$(date +%s)
  file=$(helper field "$list" "$id" file)
  status="" skipped=0 killers="-"
  if ! helper apply "$list" "$tree" "$id" >/dev/null 2>"$dir/apply.log"; then
    status=not-found
  else
    touch "$tree/$file"
    if ! cmake --build "$build" -j "$jobs" >"$dir/build-$id.log" 2>&1; then
      status=build-failed
    else
      rm -f "$dir/build-$id.log"
      read -r outcome skipped killers < <(run_tests "$dir/tests-$id.log")
      case $outcome in
        pass) status=survived ;;
        fail) status=killed ;;
        timeout) status=timeout ;;
      esac
      [[ $status == survived ]] || rm -f "$dir/tests-$id.log"
    fi
    git -C "$tree" checkout --quiet -- "$file"
    touch "$tree/$file"  # newer than the mutant's object: the next build recompiles it
  fi
  [[ -n $(helper field "$list" "$id" equivalent) && $status == survived ]] && status=equivalent
  secs=$(( $(date +%s) - start ))
  count[$status]=$(( ${count[$status]:-0} + 1 ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "${commit:0:10}" "$suite" "$id" "$status" \
    "$skipped" "$killers" "$secs" >>"$results"
  rows+=("$(printf '%-34s %-13s %7s  %s' "$id" "$status" "$skipped" "$killers")")
  echo "${rows[-1]}   (${secs}s)"
done
# Leave the worktree clean (and its build matching the unmutated tree on the next run).
git -C "$tree" checkout --quiet -- .

echo
printf '%-34s %-13s %7s  %s\n' "mutation" "status" "skipped" "killed by"
printf '%s\n' "${rows[@]}"
k=${count[killed]:-0}; t=${count[timeout]:-0}; s=${count[survived]:-0}
echo
echo "killed $k, timeout $t, survived $s, equivalent ${count[equivalent]:-0}," \
  "build-failed ${count[build-failed]:-0}, not-found ${count[not-found]:-0}"
if (( k + t + s > 0 )); then
  awk -v d=$((k + t)) -v n=$((k + t + s)) 'BEGIN { printf "score: %d / %d = %.1f %% of the non-equivalent mutants that built\n", d, n, 100 * d / n }'
fi
echo "results appended to $results"
