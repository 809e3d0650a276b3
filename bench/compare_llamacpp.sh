#!/usr/bin/env bash
# bench/compare_llamacpp.sh: matspec against llama.cpp on this CPU, side by side.
#
# Builds llama.cpp (the clean tree in the PyPI sdist of llama-cpp-python, see
# /work/shared/design/ENVIRONMENT.md), a Python venv for its converter, the models
# and their GGUF files, and matspec; then runs interleaved pairs (one llama.cpp
# run, then one matspec run of the same case) and prints a Markdown table of the
# medians of the per-pair ratios (matspec / llama.cpp, each tool's own tokens/s).
# Every step whose output exists is skipped, so a second run only measures.
#
# Cases (CASES, comma-separated; default all):
#   decode   410 M random llama, plain decode of N_DECODE tokens from an empty context
#            (llama-bench -p 0 -n 128; matspec generate --prompt-ids 1 -n 128 --ignore-eos)
#   prefill  the same model, a N_PREFILL-token prompt (llama-bench -p 512 -n 0; matspec a
#            513-id prompt with -n 0: its prefill puts 512 tokens in the cache)
#   q8, q4   the 410 M model as in "decode", llama.cpp's Q8_0 / Q4_0 GGUF against matspec
#            --quantize q8 / q4 (the GGUFs are written by llama-quantize from the bf16 one)
#   tiny     the bundled models/matlm-tiny, plain decode as in "decode"
#   wall     whole-process wall time of a 128-token generation with the bundled model,
#            prompt text included (llama-completion vs matspec generate --no-speculative)
#   spec     the bundled model inflated x INFLATE_M (tools/inflate_matformer.py): a
#            sweep of matspec drafts (SPEC_SLICES x SPEC_K) picks the fastest, then pairs
#            of llama.cpp plain, matspec plain and matspec speculative
#
# Environment (defaults in brackets):
#   PAIRS [5]  THREADS ["1 2"]  CASES [decode,prefill,tiny,wall,spec; also q8,q4]  N_DECODE [128]
#   N_PREFILL [512]  INFLATE_M [8]  SPEC_SLICES [half,quarter,eighth]  SPEC_K [3,4,6]
#   MATSPEC_BIN   an existing matspec binary (e.g. another worktree's build); unset: this tree is built
#                 CPU-only with scripts/build.sh MATSPEC_BUILD -DMATSPEC_CUDA=OFF -DMATSPEC_BUILD_BENCH=ON
#   MATSPEC_BUILD [WORK/matspec-build]
#   WORK [REPO/build-llamacpp]  llama.cpp sdist, source, build, logs and results (git-ignored)
#   VENV [~/.cache/matspec-llamacpp-venv]   MODELS [~/.cache/matspec-llamacpp-models]
#   QUANTIZE [1]  also write Q8_0 GGUFs with llama-quantize (measured by the q8 case; q4 writes Q4_0)
#   JOBS [2]  build parallelism
#   HUGE_PAGE_CACHE [1]  before measuring, put every model file both engines read into the page cache in
#                 2 MiB folios (bench/llamacpp/huge_page_cache.py): llama.cpp's decode speed otherwise
#                 follows how its GGUF happened to enter the cache (21.0 vs 25.9 tok/s, RESULTS §5.7);
#                 the report lists the outcome per file. 0: leave the cache as it is.
# Output: the report on stdout (also saved as WORK/results/report-DATE.md); progress
# on stderr; each command's log under WORK/results/logs-DATE/. Exits non-zero with a
# message naming the failed step and its log.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LLAMA_CPP_PYTHON_VERSION=0.3.36
WORK=${WORK:-$REPO/build-llamacpp}
VENV=${VENV:-$HOME/.cache/matspec-llamacpp-venv}
MODELS=${MODELS:-$HOME/.cache/matspec-llamacpp-models}
PAIRS=${PAIRS:-5}
THREADS=${THREADS:-1 2}
THREADS=${THREADS//,/ }
CASES=${CASES:-decode,prefill,tiny,wall,spec}
N_DECODE=${N_DECODE:-128}
N_PREFILL=${N_PREFILL:-512}
INFLATE_M=${INFLATE_M:-8}
SPEC_SLICES=${SPEC_SLICES:-half,quarter,eighth}
SPEC_K=${SPEC_K:-3,4,6}
QUANTIZE=${QUANTIZE:-1}
JOBS=${JOBS:-2}
HUGE_PAGE_CACHE=${HUGE_PAGE_CACHE:-1}
MATSPEC_BUILD=${MATSPEC_BUILD:-$WORK/matspec-build}
PROMPT_TEXT="And God said unto Moses,"
TINY=$REPO/models/matlm-tiny
TINY_TABLE=$REPO/matformer_configs/matlm-tiny.csv
RESULTS_PY=$REPO/bench/llamacpp/results.py

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUTDIR=$WORK/results
LOGS=$OUTDIR/logs-$STAMP
mkdir -p "$LOGS"
TSV=$LOGS/pairs.tsv
: >"$TSV"

die() { echo "compare_llamacpp: error: $*" >&2; exit 1; }
log() { echo "compare_llamacpp: $*" >&2; }
has_case() { [[ ",$CASES," == *",$1,"* ]]; }

[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || die "PAIRS=$PAIRS: must be a positive integer"
for t in $THREADS; do [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "THREADS: '$t' is not a positive integer"; done
for c in ${CASES//,/ }; do
  case $c in decode | prefill | tiny | wall | spec | q8 | q4) ;; *) die "CASES: unknown case '$c' (decode,prefill,tiny,wall,spec,q8,q4)" ;; esac
done
command -v python3 >/dev/null || die "python3 not found"

# step NAME CMD...: runs CMD with its output in LOGS/NAME.log; on failure names the step and shows the log's end.
step() {
  local name=$1; shift
  if ! "$@" >"$LOGS/$name.log" 2>&1; then
    echo "compare_llamacpp: error: step '$name' failed: $*" >&2
    tail -n 25 "$LOGS/$name.log" | sed 's/^/    /' >&2
    die "full log: $LOGS/$name.log"
  fi
}

# num FILE KEY...: validated numbers from a JSON result (dies on anything else).
num() { python3 "$RESULTS_PY" field "$@" || die "bad result in $1 (log: ${1%.json}.err)"; }

# ---------------------------------------------------------------- 1. llama.cpp

SDIST=$WORK/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz
LL=$WORK/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp
LLB=$WORK/llama.cpp-build
LLAMA_BENCH=$LLB/bin/llama-bench
LLAMA_COMPLETION=$LLB/bin/llama-completion
LLAMA_QUANTIZE=$LLB/bin/llama-quantize

build_llamacpp() {
  if [ ! -f "$SDIST" ]; then
    log "downloading the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist"
    mkdir -p "$WORK/sdist"
    step pip-download python3 -m pip download --no-deps --no-binary :all: \
      "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$WORK/sdist"
    [ -f "$SDIST" ] || die "pip download did not write $SDIST"
  fi
  if [ ! -f "$LL/CMakeLists.txt" ]; then
    log "unpacking $SDIST"
    mkdir -p "$WORK/src"
    step unpack tar -xzf "$SDIST" -C "$WORK/src"
    [ -f "$LL/CMakeLists.txt" ] || die "$SDIST has no vendor/llama.cpp"
  fi
  if [ -x "$LLAMA_BENCH" ] && [ -x "$LLAMA_COMPLETION" ] && [ -x "$LLAMA_QUANTIZE" ]; then return; fi
  log "building llama.cpp (llama-bench llama-completion llama-quantize, -j$JOBS; several minutes)"
  step llama-configure cmake -S "$LL" -B "$LLB" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_CUDA=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF
  step llama-build cmake --build "$LLB" -j "$JOBS" --target llama-bench llama-completion llama-quantize
}

# ---------------------------------------------------------------- 2. converter venv

PY=$VENV/bin/python
venv_ok() { [ -x "$PY" ] && "$PY" -c "import torch, transformers, sentencepiece, numpy, safetensors, google.protobuf, yaml, tqdm, requests" 2>/dev/null; }

setup_venv() {
  if venv_ok; then return; fi
  log "creating the converter venv $VENV (torch CPU, transformers, sentencepiece; large download)"
  [ -x "$PY" ] || step venv python3 -m venv "$VENV"
  if ! "$PY" -c "import torch" 2>/dev/null; then
    # The CPU-only index is much smaller; where it cannot be reached, PyPI's default wheel works on a CPU too.
    if ! timeout 1800 "$PY" -m pip install --progress-bar off torch --index-url https://download.pytorch.org/whl/cpu \
      >"$LOGS/venv-torch-cpu.log" 2>&1; then
      log "download.pytorch.org unreachable (see $LOGS/venv-torch-cpu.log); installing torch from PyPI"
      step venv-torch timeout 3600 "$PY" -m pip install --progress-bar off torch
    fi
  fi
  step venv-deps "$PY" -m pip install --progress-bar off "transformers==4.57.6" numpy sentencepiece safetensors \
    "protobuf>=4.21,<5" pyyaml tqdm requests
  venv_ok || die "the venv $VENV lacks a converter dependency after installing (see $LOGS/venv-*.log)"
}

install_gguf_py() {
  # convert_hf_to_gguf.py puts the tree's gguf-py first on sys.path; installing it too keeps the two equal.
  local want
  want=$(sed -n 's/^version = "\(.*\)"/\1/p' "$LL/gguf-py/pyproject.toml" | head -n 1)
  if [ "$("$PY" -c 'import importlib.metadata as m; print(m.version("gguf"))' 2>/dev/null)" != "$want" ]; then
    step venv-gguf "$PY" -m pip install --progress-bar off --no-deps "$LL/gguf-py"
  fi
}

# ---------------------------------------------------------------- 3. models

RANDOM_MODEL=$MODELS/llama-410m-random
INFLATED=$MODELS/matlm-tiny-x$INFLATE_M

# gguf HF_DIR NAME: NAME-bf16.gguf (and NAME-q8_0.gguf) under MODELS.
gguf() {
  local src=$1 name=$2 out=$MODELS/$2-bf16.gguf
  if [ ! -s "$out" ]; then
    log "converting $src -> $out"
    step "convert-$name" "$PY" "$LL/convert_hf_to_gguf.py" "$src" --outtype bf16 --outfile "$MODELS/$name-bf16.partial.gguf"
    mv "$MODELS/$name-bf16.partial.gguf" "$out"
  fi
  if [ "$QUANTIZE" = 1 ] && [ ! -s "$MODELS/$name-q8_0.gguf" ]; then
    step "quantize-$name" "$LLAMA_QUANTIZE" "$out" "$MODELS/$name-q8_0.partial.gguf" Q8_0
    mv "$MODELS/$name-q8_0.partial.gguf" "$MODELS/$name-q8_0.gguf"
  fi
  if has_case q4 && [ ! -s "$MODELS/$name-q4_0.gguf" ]; then
    step "quantize-q4-$name" "$LLAMA_QUANTIZE" "$out" "$MODELS/$name-q4_0.partial.gguf" Q4_0
    mv "$MODELS/$name-q4_0.partial.gguf" "$MODELS/$name-q4_0.gguf"
  fi
}

write_models() {
  mkdir -p "$MODELS"
  if has_case decode || has_case prefill || has_case q8 || has_case q4; then
    if [ ! -f "$RANDOM_MODEL/config.json" ]; then
      # 410.3 M parameters: hidden 1024, 24 layers, FFN 4096, 16 query / 8 KV heads of 64, vocabulary 32000, tied.
      log "writing the 410 M random llama to $RANDOM_MODEL"
      step make-random "$PY" "$REPO/tools/make_random_llama.py" --out "$RANDOM_MODEL" --hidden 1024 --layers 24 \
        --ffn 4096 --heads 16 --kv-heads 8 --head-dim 64 --vocab 32000
    fi
    # The random checkpoint has no tokenizer; the converter needs one. The bundled model's SentencePiece
    # tokenizer (4096 pieces, BOS 1, EOS 2, as in the random config) goes beside a view of the checkpoint,
    # and convert_hf_to_gguf.py pads ids 4096..31999 with unused [PADn] tokens. The benchmarks feed ids.
    local view=$MODELS/llama-410m-random.convert
    mkdir -p "$view"
    for f in "$RANDOM_MODEL"/*; do ln -sfn "$f" "$view/$(basename "$f")"; done
    cp "$TINY/tokenizer.model" "$view/tokenizer.model"
    gguf "$view" llama-410m-random
  fi
  if has_case tiny || has_case wall; then gguf "$TINY" matlm-tiny; fi
  if has_case spec; then
    if [ ! -f "$INFLATED/slices.csv" ]; then
      log "inflating the bundled model x$INFLATE_M -> $INFLATED"
      step inflate "$PY" "$REPO/tools/inflate_matformer.py" --model "$TINY" --table "$TINY_TABLE" \
        --out "$INFLATED" --m "$INFLATE_M"
    fi
    gguf "$INFLATED" "matlm-tiny-x$INFLATE_M"
  fi
}

# ---------------------------------------------------------------- 4. matspec

build_matspec() {
  if [ -n "${MATSPEC_BIN:-}" ]; then
    [ -x "$MATSPEC_BIN" ] || die "MATSPEC_BIN=$MATSPEC_BIN is not an executable"
  else
    # CPU only, like the llama.cpp build: a binary linked against cudart pays ~70 ms and ~200 MiB at every
    # start (ENVIRONMENT.md), which would distort the whole-process case.
    log "building matspec (scripts/build.sh $MATSPEC_BUILD -DMATSPEC_CUDA=OFF -DMATSPEC_BUILD_BENCH=ON)"
    (cd "$REPO" && step build-matspec bash scripts/build.sh "$MATSPEC_BUILD" -DMATSPEC_CUDA=OFF -DMATSPEC_BUILD_BENCH=ON)
    MATSPEC_BIN=$MATSPEC_BUILD/bin/matspec
  fi
  MATSPEC_BIN=$(cd "$(dirname "$MATSPEC_BIN")" && pwd)/$(basename "$MATSPEC_BIN")
}

# ---------------------------------------------------------------- 5. measurements
# Each sets VAL (and for matspec runs the JSON file in LAST); a failed run ends the script.

run_id=0
next() { run_id=$((run_id + 1)); RUN=$LOGS/$(printf %03d $run_id)-$1; }

llama_bench() {  # llama_bench GGUF THREADS N_PROMPT N_GEN
  next llama-bench
  if ! "$LLAMA_BENCH" -m "$1" -t "$2" -p "$3" -n "$4" -r 1 -o json >"$RUN.json" 2>"$RUN.err"; then
    die "llama-bench -m $1 -t $2 -p $3 -n $4 failed (log: $RUN.err)"
  fi
  VAL=$(num "$RUN.json" avg_ts)
}

matspec() {  # matspec MODEL_DIR THREADS ARGS...: one generate --json run into RUN.json
  local dir=$1 t=$2; shift 2
  next matspec
  if ! "$MATSPEC_BIN" generate -m "$dir" --threads "$t" --json "$@" >"$RUN.json" 2>"$RUN.err"; then
    die "matspec generate -m $dir --threads $t $* failed (log: $RUN.err)"
  fi
  LAST=$RUN.json
}

matspec_decode() {  # matspec_decode DIR THREADS N [ARGS...] -> VAL tok/s (checks N tokens came out)
  local dir=$1 t=$2 n=$3; shift 3
  matspec "$dir" "$t" -n "$n" --ignore-eos "$@"
  local got
  got=$(num "$LAST" generated_tokens)
  [ "$got" = "$n" ] || die "matspec generated $got tokens, not $n ($LAST)"
  VAL=$(num "$LAST" tokens_per_second)
}

matspec_prefill() {  # matspec_prefill DIR THREADS -> VAL prompt tok/s over the N_PREFILL cached tokens
  matspec "$1" "$2" --no-speculative -n 0 --prompt-ids "$PREFILL_IDS"
  local vals p s
  vals=$(num "$LAST" prompt_tokens prefill_seconds)
  read -r p s <<<"$vals"
  VAL=$(python3 -c "print(($p - 1) / $s)")
}

# wall COMMAND...: VAL = seconds for the whole process (output discarded, log kept).
wall() {
  local name=$1; shift
  next "$name"
  local t0 t1
  t0=$(date +%s.%N)
  if ! "$@" >"$RUN.out" 2>"$RUN.err"; then die "$* failed (log: $RUN.err)"; fi
  t1=$(date +%s.%N)
  VAL=$(python3 -c "print($t1 - $t0)")
}

record() {  # record CASE THREADS PAIR UNIT BASE_TOOL BASE_VALUE NEW_TOOL NEW_VALUE
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"
  log "  $1 t=$2 pair $3: $5 $6 $4, $7 $8 $4"
}

case_decode() {  # case_decode LABEL GGUF DIR [MATSPEC ARGS...]
  local label=$1 model_gguf=$2 dir=$3 t i base
  shift 3
  for t in $THREADS; do
    llama_bench "$model_gguf" "$t" 0 16  # warm-up, not recorded
    matspec_decode "$dir" "$t" 16 --no-speculative --prompt-ids 1 "$@"
    for ((i = 1; i <= PAIRS; i++)); do
      llama_bench "$model_gguf" "$t" 0 "$N_DECODE"; base=$VAL
      matspec_decode "$dir" "$t" "$N_DECODE" --no-speculative --prompt-ids 1 "$@"
      record "$label" "$t" "$i" tok/s "llama-bench tg$N_DECODE" "$base" "plain" "$VAL"
    done
  done
}

case_prefill() {
  local t i base
  PREFILL_IDS=$(python3 "$RESULTS_PY" prompt-ids $((N_PREFILL + 1)))
  for t in $THREADS; do
    llama_bench "$MODELS/llama-410m-random-bf16.gguf" "$t" 64 0  # warm-up
    for ((i = 1; i <= PAIRS; i++)); do
      llama_bench "$MODELS/llama-410m-random-bf16.gguf" "$t" "$N_PREFILL" 0; base=$VAL
      matspec_prefill "$RANDOM_MODEL" "$t"
      record "410M random, prefill $N_PREFILL" "$t" "$i" tok/s "llama-bench pp$N_PREFILL" "$base" "prefill" "$VAL"
    done
  done
}

case_wall() {
  local t i base
  for t in $THREADS; do
    for ((i = 1; i <= PAIRS; i++)); do
      wall llama-completion "$LLAMA_COMPLETION" -m "$MODELS/matlm-tiny-bf16.gguf" -p "$PROMPT_TEXT" -n "$N_DECODE" \
        -t "$t" -c 1024 --temp 0 --ignore-eos -no-cnv --no-display-prompt </dev/null; base=$VAL
      wall matspec-wall "$MATSPEC_BIN" generate -m "$TINY" -p "$PROMPT_TEXT" -n "$N_DECODE" --threads "$t" \
        --ctx-size 1024 --ignore-eos --no-speculative
      record "bundled, whole process -n $N_DECODE" "$t" "$i" s "llama-completion" "$base" "plain" "$VAL"
    done
  done
}

SWEEP_MD=""
case_spec() {
  local t i s k base plain plain_tokens best best_tps best_s best_k acc same
  local gguf_file=$MODELS/matlm-tiny-x$INFLATE_M-bf16.gguf table=$INFLATED/slices.csv
  local prompt=(-p "$PROMPT_TEXT")
  for t in $THREADS; do
    # Sweep (one run each, after a plain reference): the fastest draft goes into the pairs.
    matspec_decode "$INFLATED" "$t" "$N_DECODE" --no-speculative "${prompt[@]}"; plain=$VAL
    plain_tokens=$(python3 "$RESULTS_PY" tokens "$LAST")
    SWEEP_MD+=$'\n'"| $t | (plain) | - | $(printf %.1f "$plain") | - | - |"
    best_tps=0
    for s in ${SPEC_SLICES//,/ }; do
      for k in ${SPEC_K//,/ }; do
        matspec_decode "$INFLATED" "$t" "$N_DECODE" "${prompt[@]}" --matformer-config-path "$table" \
          --matformer-slice-name "$s" --draft-max "$k"
        acc=$(num "$LAST" acceptance_rate --allow-zero)
        same=no; [ "$(python3 "$RESULTS_PY" tokens "$LAST")" = "$plain_tokens" ] && same=yes
        [ $same = yes ] || die "speculative $s k=$k emitted other tokens than plain decoding ($LAST)"
        SWEEP_MD+=$'\n'"| $t | $s | $k | $(printf %.1f "$VAL") | $(printf %.3f "$acc") | $same |"
        if python3 -c "import sys; sys.exit(0 if $VAL > $best_tps else 1)"; then best_tps=$VAL; best_s=$s; best_k=$k; fi
      done
    done
    log "  spec t=$t: best draft $best_s k=$best_k ($best_tps tok/s in the sweep)"
    for ((i = 1; i <= PAIRS; i++)); do
      llama_bench "$gguf_file" "$t" 0 "$N_DECODE"; base=$VAL
      matspec_decode "$INFLATED" "$t" "$N_DECODE" --no-speculative "${prompt[@]}"; plain=$VAL
      matspec_decode "$INFLATED" "$t" "$N_DECODE" "${prompt[@]}" --matformer-config-path "$table" \
        --matformer-slice-name "$best_s" --draft-max "$best_k"
      record "x$INFLATE_M inflated, decode $N_DECODE" "$t" "$i" tok/s "llama-bench tg$N_DECODE" "$base" "plain" "$plain"
      record "x$INFLATE_M inflated, decode $N_DECODE" "$t" "$i" tok/s "llama-bench tg$N_DECODE" "$base" \
        "speculative $best_s k=$best_k" "$VAL"
      record "x$INFLATE_M inflated, speculative vs plain" "$t" "$i" tok/s "matspec plain" "$plain" \
        "speculative $best_s k=$best_k" "$VAL"
    done
  done
}

# ---------------------------------------------------------------- run

machine_info() {
  local flags
  flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|f16c|avx512f|avx512bw|avx512_vnni|avx512_bf16|avx_vnni|amx_bf16' | tr '\n' ' ')
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs; flags: ${flags:-none of avx2/avx512}"
  echo "- memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}'); L3: $(lscpu | sed -n 's/^L3 cache: *//p' | head -n 1)"
}

busy() { ps -eo pcpu,comm --sort=-pcpu --no-headers | awk '$1 >= 5 {printf "%s (%s%% CPU) ", $2, $1}' | head -c 300; }

LOAD_BEFORE=$(uptime | sed 's/.*load average: //')
BUSY_BEFORE=$(busy)
build_llamacpp
setup_venv
install_gguf_py
write_models
build_matspec
LLAMA_COMMIT=$(git -C "$LL" rev-parse --short HEAD 2>/dev/null || echo unknown)
MATSPEC_COMMIT=$(git -C "$(dirname "$MATSPEC_BIN")" rev-parse --short HEAD 2>/dev/null || echo unknown)
if git -C "$(dirname "$MATSPEC_BIN")" rev-parse 2>/dev/null; then
  git -C "$(dirname "$MATSPEC_BIN")" diff --quiet HEAD -- 2>/dev/null || MATSPEC_COMMIT+=" (uncommitted changes)"
fi

PAGE_CACHE="left as it was (HUGE_PAGE_CACHE=0)"
if [ "$HUGE_PAGE_CACHE" = 1 ]; then
  log "putting the model files into the page cache in 2 MiB folios"
  files=()
  for f in "$MODELS"/*.gguf "$RANDOM_MODEL"/*.safetensors "$INFLATED"/*.safetensors "$TINY"/*.safetensors; do
    [ -f "$f" ] && files+=("$f")
  done
  PAGE_CACHE=$(python3 "$REPO/bench/llamacpp/huge_page_cache.py" "${files[@]}" | sed "s|$HOME|~|" | paste -sd ';' -) \
    || die "bench/llamacpp/huge_page_cache.py failed"
fi

log "measuring: CASES=$CASES THREADS='$THREADS' PAIRS=$PAIRS (logs: $LOGS)"
if has_case decode; then case_decode "410M random, decode $N_DECODE" "$MODELS/llama-410m-random-bf16.gguf" "$RANDOM_MODEL"; fi
if has_case q8; then
  case_decode "410M random, decode $N_DECODE, llama.cpp Q8_0 vs matspec --quantize q8" \
    "$MODELS/llama-410m-random-q8_0.gguf" "$RANDOM_MODEL" --quantize q8
fi
if has_case q4; then
  case_decode "410M random, decode $N_DECODE, llama.cpp Q4_0 vs matspec --quantize q4" \
    "$MODELS/llama-410m-random-q4_0.gguf" "$RANDOM_MODEL" --quantize q4
fi
if has_case prefill; then case_prefill; fi
if has_case tiny; then case_decode "bundled, decode $N_DECODE" "$MODELS/matlm-tiny-bf16.gguf" "$TINY"; fi
if has_case wall; then case_wall; fi
if has_case spec; then case_spec; fi
LOAD_AFTER=$(uptime | sed 's/.*load average: //')

REPORT=$OUTDIR/report-$STAMP.md
{
  echo "## matspec vs llama.cpp ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  machine_info
  echo "- llama.cpp $LLAMA_COMMIT (llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist, GGML_NATIVE=ON, CPU), bf16 GGUF"
  echo "- matspec $MATSPEC_COMMIT ($MATSPEC_BIN; $(ldd "$MATSPEC_BIN" 2>/dev/null | grep -q libcudart && echo "linked against CUDA" || echo "CPU-only build")), bf16 safetensors"
  echo "- load average before: $LOAD_BEFORE; after: $LOAD_AFTER; busy before: ${BUSY_BEFORE:-nothing >= 5% CPU}"
  echo "- OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}; PAIRS=$PAIRS, THREADS='$THREADS', CASES=$CASES"
  echo "- page cache before measuring: $PAGE_CACHE"
  echo
  echo "Each pair: one llama.cpp run, then one matspec run of the same case. Ratio = matspec / baseline speed"
  echo "(tok/s; for wall time, baseline seconds / matspec seconds): > 1 means matspec is faster."
  echo
  python3 "$RESULTS_PY" summary "$TSV" || die "could not summarise $TSV"
  if [ -n "$SWEEP_MD" ]; then
    echo
    echo "Draft sweep on the x$INFLATE_M inflated model (one run each, $N_DECODE tokens, prompt \"$PROMPT_TEXT\"):"
    echo
    echo "| threads | draft | k | tok/s | acceptance rate | same tokens as plain |"
    echo "|---|---|---|---|---|---|"
    echo "${SWEEP_MD#$'\n'}"
  fi
} >"$REPORT"
cat "$REPORT"
log "report saved to $REPORT"
