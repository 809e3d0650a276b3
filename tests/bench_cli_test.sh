#!/usr/bin/env bash
# `matspec bench` and `matspec tune` end to end on the bundled model: --help
# exits 0; a sweep without a draft, a bad JSONL line and an unknown slice are
# errors that name what is wrong; --out writes bench.{md,csv,json,svg}; the
# formats parse (CSV with Python's csv module, JSON with json); the SVG renders
# with rsvg-convert (librsvg2-bin, scripts/setup.sh) to a PNG that is not
# blank; tune writes a preset that `matspec generate --config` runs.
# Usage: bench_cli_test.sh MATSPEC
set -u
bin=$1
model=models/matlm-tiny
table=matformer_configs/matlm-tiny.csv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
export OMP_WAIT_POLICY=passive

printf '%s\n' '{"question_id": 1, "category": "a", "turns": ["In the beginning", "And then"]}' \
  '{"question_id": 2, "category": "b", "turns": ["A soft answer"]}' \
  '{"prompt": "The LORD is my shepherd", "category": "a"}' > "$tmp/p.jsonl"

# expect_error NAME SUBSTRING -- ARGS...
expect_error() {
  local name=$1 want=$2; shift 3
  local rc
  timeout 120 "$bin" "$@" > "$tmp/out" 2> "$tmp/err"; rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then fail "$name: exit $rc"; return; fi
  if ! grep -qF -- "$want" "$tmp/err"; then fail "$name: stderr lacks '$want': $(cat "$tmp/err")"; return; fi
  echo "ok   $name: $(head -c 200 "$tmp/err")"
}

"$bin" bench --help > "$tmp/help" 2>&1 && grep -q "matspec bench" "$tmp/help" && echo "ok   bench --help" \
  || fail "bench --help: $(head -3 "$tmp/help")"
"$bin" tune --help > /dev/null 2>&1 || fail "tune --help exits non-zero"
"$bin" --help | grep -q "bench" || fail "matspec --help does not list bench"

expect_error no-draft "no draft to sweep" -- bench -m $model --prompts "$tmp/p.jsonl" -n 4
printf '%s\n' '{"prompt": "ok"}' '{"prompt": "broken"' > "$tmp/bad.jsonl"
expect_error bad-jsonl-line "bad.jsonl:2: not valid JSON" -- bench -m $model --prompts "$tmp/bad.jsonl" \
  --matformer-config-path $table -n 4
expect_error unknown-slice 'no row "nope"' -- bench -m $model --prompts "$tmp/p.jsonl" \
  --matformer-config-path $table --slices nope -n 4
expect_error slices-without-table "--slices needs --matformer-config-path" -- bench -m $model \
  --prompts "$tmp/p.jsonl" --slices half -n 4
expect_error bad-format "--format" -- bench -m $model --prompts "$tmp/p.jsonl" --draft-ffn 192 --format xml
expect_error bad-k "--draft-max" -- bench -m $model --prompts "$tmp/p.jsonl" --draft-ffn 192 --draft-max 0,2
expect_error missing-prompts "--prompts" -- bench -m $model --prompts "$tmp/none.jsonl" --draft-ffn 192
expect_error no-category "present: a, b" -- bench -m $model --prompts "$tmp/p.jsonl" --draft-ffn 192 --category z

# A real sweep: two drafts (a table row and an FFN spec), k 1 and 2, adaptive, every turn.
out="$tmp/out-dir"
if ! timeout 300 "$bin" bench -m $model --matformer-config-path $table --slices quarter --draft-ffn 192 \
    --draft-max 1,2 --adaptive --prompts "$tmp/p.jsonl" --turns all -n 8 --repeat 2 --threads 1 \
    --format csv --out "$out" > "$tmp/stdout.csv" 2> "$tmp/err"; then
  fail "bench sweep: $(cat "$tmp/err")"
else
  for f in bench.md bench.csv bench.json bench.svg; do
    [ -s "$out/$f" ] || fail "--out: $f missing or empty"
  done
  cmp -s "$tmp/stdout.csv" "$out/bench.csv" || fail "--format csv on stdout differs from bench.csv"
  python3 - "$out" <<'PY' || fail "formats do not parse back"
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/bench.csv", newline="")))
overall = [r for r in rows if r["group"] == "all"]
assert len(overall) == 1 + 2 * 3, len(overall)          # plain + 2 drafts x (k 1, k 2, adaptive)
assert len(rows) == 3 * len(overall), len(rows)          # all, a, b
assert all(r["same_tokens"] == "yes" for r in overall[1:]), [r["same_tokens"] for r in overall]
j = json.load(open(d + "/bench.json"))
assert j["header"]["all_turns"] is True and j["header"]["prompts"] == 3
assert [r["config"]["label"] for r in j["rows"]][:4] == ["(plain)", "quarter k=1", "quarter k=2", "quarter k<=2 adaptive"]
assert abs(j["rows"][1]["overall"]["acceptance_rate"] - float(overall[1]["acceptance_rate"])) < 1e-6
md = open(d + "/bench.md").read()
assert "## Category a" in md and "| quarter | 2 |" in md
PY
  if ! command -v rsvg-convert > /dev/null; then
    fail "rsvg-convert not found: install librsvg2-bin (scripts/setup.sh does)"
  elif ! rsvg-convert --background-color=white "$out/bench.svg" -o "$tmp/plot.png" 2> "$tmp/err"; then
    fail "rsvg-convert refused bench.svg: $(cat "$tmp/err")"
  else
    python3 - "$tmp/plot.png" <<'PY' || fail "the rendered plot is blank"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, width = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and colour in (2, 6), (depth, colour)
        bpp = 3 if colour == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride, prev, dark = zlib.decompress(idat), width * bpp, bytearray(width * bpp), 0
for y in range(height):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pred = [0, a, b, (a + b) // 2, a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)][f]
        line[i] = (line[i] + pred) & 0xFF
    dark += sum(1 for x in range(0, stride, bpp) if min(line[x:x + 3]) < 200)
    prev = line
share = dark / (width * height)
print("plot: %dx%d, %.1f%% dark pixels" % (width, height, 100 * share))
assert 0.005 < share < 0.5, share
PY
  fi
  echo "ok   bench --out: $(ls "$out" | tr '\n' ' ')"
fi

# --round-log: one JSON line per round with the sweep's labels, and
# tools/draft_policy_bounds.py and tools/round_switch_costs.py read it.
cat > "$tmp/check_rounds.py" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
keys = ["draft", "k", "adaptive", "vocab", "temp", "prompt", "category", "turn", "pass", "round", "position",
        "drafted", "accepted", "draft_seconds", "verify_seconds", "round_seconds", "draft_top_p",
        "draft_logit_gap"]
assert lines and all(list(l) == keys for l in lines), list(lines[0]) if lines else "empty"
assert {l["draft"] for l in lines} == {"(plain)", "quarter"}
assert all(len(l["draft_top_p"]) == len(l["draft_logit_gap"]) == l["drafted"] and l["accepted"] <= l["drafted"] <= l["k"] for l in lines)
assert any(l["drafted"] == 2 for l in lines)
PY
if ! timeout 300 "$bin" bench -m $model --matformer-config-path $table --slices quarter --draft-max 1,2 \
    --prompts "$tmp/p.jsonl" -n 12 --threads 1 --repeat 1 --round-log "$tmp/rounds.jsonl" > /dev/null 2> "$tmp/err"; then
  fail "bench --round-log: $(cat "$tmp/err")"
elif ! python3 "$tmp/check_rounds.py" "$tmp/rounds.jsonl" 2> "$tmp/err"; then
  fail "round log: $(cat "$tmp/err") $(head -c 300 "$tmp/rounds.jsonl")"
elif ! python3 tools/draft_policy_bounds.py "$tmp/rounds.jsonl" > "$tmp/bounds" 2> "$tmp/err" \
    || ! grep -q "| oracle | " "$tmp/bounds"; then
  fail "draft_policy_bounds.py: $(cat "$tmp/err" "$tmp/bounds")"
elif ! python3 tools/round_switch_costs.py --min-rounds 1 "$tmp/rounds.jsonl" > "$tmp/switch" 2> "$tmp/err" \
    || ! grep -q "| quarter k=2 fixed | drafted 2 | after drafting | " "$tmp/switch"; then
  fail "round_switch_costs.py: $(cat "$tmp/err" "$tmp/switch")"
else
  echo "ok   bench --round-log + draft_policy_bounds.py + round_switch_costs.py: $(grep -c . "$tmp/rounds.jsonl") rounds"
fi
expect_error round-log-bad-path "--round-log: cannot create" -- bench -m $model --matformer-config-path $table \
  --slices quarter --draft-max 1 --prompts "$tmp/p.jsonl" -n 2 --round-log "$tmp/no/such/dir/r.jsonl"

# tune: a preset that generate runs.
if ! timeout 300 "$bin" tune -m $model --matformer-config-path $table --slices quarter,half --draft-max 1,2 \
    --prompts "$tmp/p.jsonl" -n 8 --threads 1 --preset-out "$tmp/tuned.toml" > /dev/null 2> "$tmp/err"; then
  fail "tune: $(cat "$tmp/err")"
elif ! grep -q "matspec tune: fastest: " "$tmp/err"; then
  fail "tune does not say why: $(cat "$tmp/err")"
elif ! timeout 120 "$bin" generate --config "$tmp/tuned.toml" -p "In the beginning" -n 8 > /dev/null 2> "$tmp/err"; then
  fail "generate --config tuned.toml: $(cat "$tmp/err") $(cat "$tmp/tuned.toml")"
else
  echo "ok   tune: $(grep '^# fastest' "$tmp/tuned.toml" | head -c 200)"
fi

if [ $fails -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all bench CLI checks passed"
