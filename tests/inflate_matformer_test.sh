#!/usr/bin/env bash
# tools/inflate_matformer.py preserves the function: the bundled model inflated
# m-fold must emit the original's greedy tokens, and a MatFormer slice of its
# scaled table must draft what the original slice drafts (same drafted and
# accepted counts); for m = 2 the tool's own --verify compares logits too.
# m = 2 always; m = 8 (a 440 MB model) when INFLATE_TEST_M8=1. Exits 77
# (ctest: skipped) when numpy is missing.
# Usage: inflate_matformer_test.sh MATSPEC   (run from the repository root)
set -u
bin=$1
model=models/matlm-tiny
table=matformer_configs/matlm-tiny.csv
prompt="And God said unto Moses,"
n=32
if [ ! -f $model/model.safetensors ]; then echo "missing bundled model $model"; exit 1; fi

py=""
for c in python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null && "$c" -c "import numpy" 2>/dev/null; then py=$c; break; fi
done
if [ -z "$py" ]; then
  echo "SKIP: no python3 with numpy (apt-get install python3-numpy, or scripts/setup.sh)"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
fails=0

# tokens DIR ARGS...: the generated token ids, one line
tokens() { run "$@" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["tokens"])' || echo ERROR; }
# drafts DIR ARGS...: tokens, drafted and accepted counts. Speculative output equals plain output whatever the
# draft, so only these counts show that a slice of the inflated model drafts exactly what the original slice does.
drafts() {
  run "$@" | "$py" -c 'import json, sys; j = json.load(sys.stdin); s = j["stats"]
print(j["tokens"], "drafted", s["drafted_tokens"], "accepted", s["accepted_tokens"])' || echo ERROR
}
run() {
  local dir=$1; shift
  timeout 120 "$bin" generate -m "$dir" -p "$prompt" -n $n --ignore-eos --threads 1 --json "$@" 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; echo "generate failed" >&2; }
}

check() {  # check NAME GOT WANT
  if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: got $2, want $3"; fails=$((fails+1)); fi
}

want=$(tokens $model --no-speculative)
if [[ "$want" == *ERROR* ]]; then echo "FAIL: the original model did not generate: $want"; exit 1; fi
echo "original: $want"
want_quarter=$(drafts $model --matformer-config-path $table --matformer-slice-name quarter --draft-max 3)
want_eighth=$(drafts $model --draft-ffn 96 --draft-max 4)
echo "original, quarter k=3: $want_quarter"
if [[ "$want_quarter $want_eighth" == *ERROR* ]]; then echo "FAIL: the original model did not draft"; exit 1; fi

factors=(2)
if [ "${INFLATE_TEST_M8:-0}" = 1 ]; then factors+=(8); fi
for m in "${factors[@]}"; do
  out=$tmp/x$m
  verify=(); if [ $m -le 2 ]; then verify=(--verify 16); fi  # numpy logits, full width and a slice
  if ! "$py" tools/inflate_matformer.py --model $model --table $table --out $out --m $m "${verify[@]}"; then
    echo "FAIL x$m: inflate_matformer.py exited non-zero"; fails=$((fails+1)); continue
  fi
  check "x$m config" "$("$py" -c "import json; c = json.load(open('$out/config.json')); \
print(c['hidden_size'], c['intermediate_size'], c['num_attention_heads'], c['num_key_value_heads'])")" \
    "$((192 * m)) $((768 * m)) $((6 * m)) $((2 * m))"
  check "x$m plain" "$(tokens $out --no-speculative)" "$want"
  check "x$m speculative quarter k=3 (tokens, drafted, accepted)" \
    "$(drafts $out --matformer-config-path $out/slices.csv --matformer-slice-name quarter --draft-max 3)" "$want_quarter"
  check "x$m speculative --draft-ffn $((96 * m)) k=4 (tokens, drafted, accepted)" \
    "$(drafts $out --draft-ffn $((96 * m)) --draft-max 4)" "$want_eighth"
done

# Bad input names what is wrong and writes nothing.
if "$py" tools/inflate_matformer.py --model $model --out $tmp/bad --m 0 2>"$tmp/err"; then
  echo "FAIL --m 0 accepted"; fails=$((fails+1))
elif ! grep -q -- "--m 0" "$tmp/err"; then
  echo "FAIL --m 0: message lacks the flag: $(cat "$tmp/err")"; fails=$((fails+1))
else
  echo "ok   --m 0 refused"
fi

if [ $fails -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all checks passed"
