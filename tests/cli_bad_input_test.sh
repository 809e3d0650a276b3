#!/usr/bin/env bash
# The CLI's bad-input contract, one case per line: each bad input must end
# with a non-zero exit (not a crash or a timeout) and a message on stderr that
# names the file, tensor, slice or flag at fault. Usage: cli_bad_input_test.sh MATSPEC
set -u
bin=$1
model=models/matlm-tiny
table=matformer_configs/matlm-tiny.csv
if [ ! -f $model/model.safetensors ]; then echo "missing bundled model $model"; exit 1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect NAME SUBSTRING -- ARGS...
expect() {
  local name=$1 want=$2; shift 3
  local out err rc
  out=$(timeout 120 "$bin" "$@" 2>"$tmp/err"); rc=$?
  err=$(cat "$tmp/err")
  if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; fails=$((fails+1)); return; fi
  if [ $rc -ge 124 ]; then echo "FAIL $name: crashed or hung (exit $rc): $err"; fails=$((fails+1)); return; fi
  if [[ "$err" != *"$want"* ]]; then echo "FAIL $name: stderr lacks '$want': $err"; fails=$((fails+1)); return; fi
  if [ -n "$(printf '%s' "$out" | tr -d '[:space:]')" ]; then echo "FAIL $name: printed to stdout: $out"; fails=$((fails+1)); return; fi
  echo "ok   $name: $err" | head -c 300; echo
}

# A copy of the model to break, one way per directory.
copy() { mkdir -p "$tmp/$1"; cp $model/* "$tmp/$1/"; echo "$tmp/$1"; }

d=$(copy truncated); head -c $(( $(stat -c %s $d/model.safetensors) / 2 )) $model/model.safetensors > $d/model.safetensors
expect truncated-safetensors "model.safetensors" -- generate -m $d -p hi -n 4
d=$(copy hdrlen); printf '\xff\xff\xff\x00\x00\x00\x00\x00{}' > $d/model.safetensors
expect header-length-past-end "model.safetensors" -- generate -m $d -p hi -n 4
d=$(copy badjson); printf '\x05\x00\x00\x00\x00\x00\x00\x00{"a":' > $d/model.safetensors
expect malformed-header-json "model.safetensors" -- generate -m $d -p hi -n 4
d=$(copy missing); perl -pi -e 's/"model\.norm\.weight"/"model.nrom.weight"/' $d/model.safetensors
expect missing-tensor "model.norm.weight" -- generate -m $d -p hi -n 4
d=$(copy dtype); perl -pi -e 's/"dtype":"BF16"/"dtype":"F32" /' $d/model.safetensors
expect dtype-disagrees-with-bytes "model.safetensors" -- generate -m $d -p hi -n 4
d=$(copy config); echo '{ "model_type": "llama", ' > $d/config.json
expect malformed-config "config.json" -- generate -m $d -p hi -n 4
d=$(copy config_type); sed -i 's/"hidden_size": *[0-9]*/"hidden_size": "wide"/' $d/config.json
expect config-field-type "hidden_size" -- generate -m $d -p hi -n 4
expect missing-model-dir "/no/such/model" -- generate -m /no/such/model -p hi
expect unknown-slice "no-such-slice" -- generate -m $model --matformer-config-path $table --matformer-slice-name no-such-slice -p hi
expect ffn-too-wide "99999" -- generate -m $model --draft-ffn 99999 -p hi
expect ffn-list-length "--draft-ffn" -- generate -m $model --draft-ffn 8,8 -p hi
expect skip-out-of-range "99" -- generate -m $model --draft-skip 99 -p hi
printf 'name,# Layers,# Effective Params (B),FFN Hidden Dims,Layers Skipped\n"broken,1,1,"[8]",\n' > $tmp/broken.csv
expect broken-csv-quoting "broken.csv" -- generate -m $model --matformer-config-path $tmp/broken.csv --matformer-slice-name x -p hi
expect prompt-longer-than-context "context" -- generate -m $model --ctx-size 4 -p "a prompt that is longer than four tokens for sure"
expect draft-max-zero "--draft-max" -- generate -m $model --draft-max 0 -p hi
expect draft-max-negative "--draft-max" -- generate -m $model --draft-max -3 -p hi
expect draft-vocab-negative "--draft-vocab" -- generate -m $model --draft-vocab -1 -p hi
expect draft-vocab-too-large "exceeds the model's vocabulary" -- generate -m $model --draft-vocab 99999999 -p hi
expect draft-vocab-file-missing "no-such-list.txt" -- generate -m $model --draft-vocab-file $tmp/no-such-list.txt -p hi
printf '1 2 two\n' > $tmp/bad_list.txt
expect draft-vocab-file-bad-id "bad_list.txt:1" -- generate -m $model --draft-vocab-file $tmp/bad_list.txt -p hi
expect n-negative "-n" -- generate -m $model -n -5 -p hi
expect top-p-range "--top-p" -- generate -m $model --top-p 2 -p hi
expect temp-negative "--temp" -- generate -m $model --temp -1 -p hi
expect seed-negative "--seed" -- generate -m $model --seed -3 -p hi
expect not-a-number "--top-k" -- generate -m $model --top-k many -p hi
expect unknown-flag "--bogus" -- generate -m $model --bogus -p hi
expect missing-value "-n" -- generate -m $model -p hi -n
expect no-prompt "prompt" -- generate -m $model
expect prompt-file-missing "/no/such/prompt.txt" -- generate -m $model -f /no/such/prompt.txt
expect preset-missing "/no/such/preset.toml" -- generate --config /no/such/preset.toml -p hi
printf 'draft-maxx = 3\n' > $tmp/bad.toml
expect preset-unknown-key "draft-maxx" -- generate --config $tmp/bad.toml -m $model -p hi
expect device-unknown "--device" -- generate -m $model --device tpu -p hi
# Only where there is no GPU: with one (and a CUDA build) this generates.
if ! nvidia-smi -L >/dev/null 2>&1; then
  expect device-cuda-unavailable "--device cuda" -- generate -m $model --device cuda -p hi
fi
expect flag-overrides-preset "--draft-max" -- generate --config configs/matlm-tiny.toml --draft-max 0 -p hi
expect unknown-command "frobnicate" -- frobnicate
expect slices-needs-table "--matformer-config-path" -- slices -m $model

# And the good path: --json prints one object with the statistics' names; the preset's slice drafts.
json=$(timeout 120 "$bin" generate --config configs/matlm-tiny.toml -p "In the beginning" -n 12 --json 2>/dev/null)
for key in '"text"' '"tokens"' '"drafted_tokens"' '"accepted_tokens"' '"acceptance_rate"' '"mean_acceptance_length"' \
           '"per_position_acceptance"' '"rounds"' '"generated_tokens":12' '"tokens_per_second"' '"draft_seconds"' \
           '"verify_seconds"' '"draft_slice":"quarter"'; do
  if [[ "$json" != *$key* ]]; then echo "FAIL json: missing $key in $json"; fails=$((fails+1)); fi
done

if [ $fails -ne 0 ]; then echo "$fails case(s) failed"; exit 1; fi
echo "all bad-input cases passed"
