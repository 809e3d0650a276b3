#!/usr/bin/env bash
# SIGINT during `matspec generate` cancels the generation within one round and
# still reports it: the stats line says "stop: cancelled", --json prints the
# object with "stop_reason":"cancelled" and the partial tokens, and the exit
# code is 130. Run with a real signal on the bundled model given a long
# context (so that -n 16000 would take a minute), with a tokenizer (text
# streams) and without one (--prompt-ids, --json). Each run is bounded: killed
# (and failed) if it has not ended 60 s after the signal.
# Usage: cli_sigint_test.sh path/to/matspec (from the repository root)
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# A long-context copy of the bundled model: tok/ with its tokenizer, ids/ without.
mkdir "$tmp/tok" "$tmp/ids"
for d in tok ids; do
  ln -s "$PWD/models/matlm-tiny/model.safetensors" "$tmp/$d/model.safetensors"
  sed 's/"max_position_embeddings": 1024/"max_position_embeddings": 16384/' models/matlm-tiny/config.json \
    > "$tmp/$d/config.json"
done
ln -s "$PWD/models/matlm-tiny/tokenizer.model" "$tmp/tok/tokenizer.model"
grep -q '"max_position_embeddings": 16384' "$tmp/tok/config.json" || fail "could not lengthen the context"

# Waits until `pid` shows the request running (its watcher and worker threads
# exist, so the SIGINT handler is installed), at most 60 s.
wait_running() {
  local pid=$1
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || return 1
    local threads
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [[ ${threads:-0} -ge 3 ]] && { sleep 0.3; return 0; }
    sleep 0.1
  done
  return 1
}

# interrupt NAME ARGS...: runs matspec generate ARGS, sends SIGINT once it runs,
# leaves NAME.out, NAME.err and NAME.rc in $tmp.
interrupt() {
  local name=$1; shift
  "$bin" generate "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" &
  local pid=$!
  wait_running "$pid" || { cat "$tmp/$name.err" >&2; fail "$name: generation did not start"; }
  kill -INT "$pid"
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "$name: still running 60 s after SIGINT"
  fi
  local rc=0
  wait "$pid" || rc=$?
  echo "$rc" > "$tmp/$name.rc"
}

common=(-n 16000 --ctx-size 16384 --ignore-eos --threads 1)

# 1. Text streaming with a tokenizer: the stats line on stderr.
interrupt text -m "$tmp/tok" -p "Once upon a time" "${common[@]}"
[[ $(cat "$tmp/text.rc") == 130 ]] || { cat "$tmp/text.err" >&2; fail "text: exit code $(cat "$tmp/text.rc"), want 130"; }
grep -q "stop: cancelled" "$tmp/text.err" || { cat "$tmp/text.err" >&2; fail "text: no 'stop: cancelled' stats line"; }
grep -q "mean acceptance length" "$tmp/text.err" || fail "text: no speculation statistics"
[[ -s "$tmp/text.out" ]] || fail "text: no text streamed"

# 2. --json without a tokenizer (token ids in, token ids out).
interrupt json -m "$tmp/ids" --prompt-ids 1,17,42,99 --json --draft-ffn 192 "${common[@]}"
[[ $(cat "$tmp/json.rc") == 130 ]] || { cat "$tmp/json.err" >&2; fail "json: exit code $(cat "$tmp/json.rc"), want 130"; }
out=$(cat "$tmp/json.out")
[[ $out == *'"stop_reason":"cancelled"'* ]] || fail "json: no \"stop_reason\":\"cancelled\" in: ${out:0:400}"
generated=$(sed -n 's/.*"generated_tokens":\([0-9]*\).*/\1/p' <<< "$out")
[[ -n $generated && $generated -gt 0 && $generated -lt 16000 ]] || fail "json: generated_tokens '$generated' not partial"
[[ $out == *'"tokens":['[0-9]* ]] || fail "json: no partial tokens"
grep -q "stop: cancelled" "$tmp/json.err" || fail "json: no stats line on stderr"

echo "cli_sigint_test: OK (text: $(grep -o '^matspec: [0-9]* tokens' "$tmp/text.err"); json: $generated tokens)"
