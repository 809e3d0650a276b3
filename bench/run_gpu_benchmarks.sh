#!/usr/bin/env bash
# Every GPU figure of bench/RESULTS.md in one go, on a machine with an NVIDIA
# GPU and a CUDA build. Usage (from the repository root):
#   bench/run_gpu_benchmarks.sh [BIN_DIR] [OUT_DIR]
# BIN_DIR holds matspec, gpu_forward and batch_throughput (default build-cuda/bin);
# results go to OUT_DIR (default bench/gpu-results), one file per measurement.
# The 3.2 B random llama is written to /tmp/llama-3b-random if missing (numpy,
# about a minute, 6.4 GB), the E4B-shaped random Gemma 3n to /tmp/gemma3n-e4b-random.
set -euo pipefail
bin=${1:-build-cuda/bin}
out=${2:-bench/gpu-results}
mkdir -p "$out"
big=/tmp/llama-3b-random
if [ ! -f $big/model.safetensors.index.json ]; then
  python3 tools/make_random_llama.py --out $big > "$out/make_random_llama.log"
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.mem,clocks.max.sm --format=csv > "$out/gpu.txt"

# (a) (b) (c): decode step vs roofline, verification ratios, draft-step ratios
# (queued and replayed as CUDA graphs; with a 32k-token draft head too).
"$bin/gpu_forward" -m $big --matformer-config-path $big/slices.csv --slices half,quarter,eighth \
  --context 256 --reps 50 --draft-vocab 32768 | tee "$out/gpu_forward_3b.md"
"$bin/gpu_forward" -m models/matlm-tiny --matformer-config-path matformer_configs/matlm-tiny.csv \
  --slices half,quarter,eighth --context 64 --reps 200 | tee "$out/gpu_forward_tiny.md"

# Gemma 3n (issue 5): decode vs roofline and c for the E2B and E2.49B slices on the E4B-shaped random
# checkpoint (about 15 GB, written on demand).
gemma=/tmp/gemma3n-e4b-random
if [ ! -f $gemma/config.json ]; then
  python3 tools/make_random_gemma3n.py --out $gemma > "$out/make_random_gemma3n.log"
fi
"$bin/gpu_forward" -m $gemma --matformer-config-path matformer_configs/gemma3n.csv \
  --slices "Config for official E2B Model,Config for E2.49B (block-level)" --context 256 --reps 30 \
  | tee "$out/gpu_forward_gemma3n_e4b.md"

# (d): speculative vs plain, with acceptance, on the bundled model and the large one.
"$bin/matspec" bench -m models/matlm-tiny --matformer-config-path matformer_configs/matlm-tiny.csv \
  --prompts bench/prompts/mixed-88.jsonl -n 64 --draft-max 1,2,4,8 --adaptive --slices half,quarter,eighth \
  --repeat 3 --device cuda --out "$out/bench_tiny_cuda" | tee "$out/e2e_tiny_cuda.md"
"$bin/matspec" bench -m models/matlm-tiny --matformer-config-path matformer_configs/matlm-tiny.csv \
  --prompts bench/prompts.txt -n 64 --draft-max 4,8 --slices half,quarter --device cuda --no-cuda-graphs \
  | tee "$out/e2e_tiny_cuda_no_graphs.md"
head -3 bench/prompts.txt > "$out/prompts3.txt"
"$bin/matspec" bench -m $big --matformer-config-path $big/slices.csv --prompts "$out/prompts3.txt" \
  -n 64 --draft-max 2,4 --slices half,quarter --draft-vocab 0,32768 --device cuda --repeat 1 \
  | tee "$out/e2e_3b_cuda.md"

# (e): continuous batching on the GPU (--gpu-batching: CudaModel::ForwardBatch), aggregate tokens/s at
# batch 1..16, plain and speculative, against the default (one request at a time, CUDA-graph rounds).
"$bin/batch_throughput" -m models/matlm-tiny --backend cuda --matformer-config-path matformer_configs/matlm-tiny.csv \
  --matformer-slice-name quarter --draft-max 4 -n 64 --batches 1,2,4,8,16 --repeats 3 --compare-unbatched \
  | tee "$out/batch_throughput_tiny_cuda.md"
"$bin/batch_throughput" -m $big --backend cuda --matformer-config-path $big/slices.csv --matformer-slice-name quarter \
  --draft-max 4 -n 32 --batches 1,4,16 --repeats 1 --compare-unbatched | tee "$out/batch_throughput_3b_cuda.md"
