// GPU forward-pass benchmark (CUDA builds only; llama family or gemma3n): the
// costs that decide speculative speed-ups on the GPU, measured with CUDA events
// in one run.
//   - device-to-device copy bandwidth (the practical roofline) and the
//     nominal peak from the device attributes;
//   - a plain decode step (T = 1, full model, last-row logits): time, tokens/s,
//     weight bytes read per step and their bandwidth as % of both rooflines;
//   - verification of T = 2, 4, 8, 16 tokens (all logits) as a ratio to one
//     decode step;
//   - a draft step (T = 1) through each named slice as a ratio c to a full step,
//     and with --draft-vocab N also through each slice with a reduced head
//     (only ids < N scored);
//   - the decode step and each draft step replayed as a CUDA graph (the way
//     the engine replays draft steps).
// Every step runs after a prefill of --context tokens and is rolled back, so
// all repetitions see the same cache length.
//
//   build-cuda/bin/gpu_forward -m /tmp/llama-3b-random \
//       --matformer-config-path /tmp/llama-3b-random/slices.csv --slices half,quarter [--context 256] [--reps 50]
//       [--draft-vocab 32768]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "draft/slice_spec.h"
#include "engine/cuda/create_cuda_model.h"
#include "engine/model_config.h"
#include "engine/weight_store.h"

namespace {

using matspec::CudaKvCache;
using matspec::CudaModel;
using matspec::SliceView;

struct Args {
  std::string model, table;
  std::vector<std::string> slices;
  int64_t context = 256;
  int reps = 50;
  int64_t draft_vocab = 0;
};

bool Parse(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "-m") a->model = v;
    else if (k == "--matformer-config-path") a->table = v;
    else if (k == "--slices") a->slices = absl::StrSplit(v, ',');
    else if (k == "--context") { if (!absl::SimpleAtoi(v, &a->context)) return false; }
    else if (k == "--reps") { if (!absl::SimpleAtoi(v, &a->reps)) return false; }
    else if (k == "--draft-vocab") { if (!absl::SimpleAtoi(v, &a->draft_vocab)) return false; }
    else return false;
  }
  return !a->model.empty() && a->context >= 1 && a->reps >= 1;
}

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << what << ": " << s.message() << "\n";
    std::exit(1);
  }
}
void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::cerr << what << ": " << cudaGetErrorString(e) << "\n";
    std::exit(1);
  }
}

// Seconds per D2D copy of `bytes` (median of 10).
double CopySeconds(size_t bytes, cudaStream_t s) {
  void *a = nullptr, *b = nullptr;
  Check(cudaMalloc(&a, bytes), "cudaMalloc");
  Check(cudaMalloc(&b, bytes), "cudaMalloc");
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<float> ms;
  for (int i = 0; i < 12; ++i) {
    cudaEventRecord(e0, s);
    cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s);
    cudaEventRecord(e1, s);
    Check(cudaEventSynchronize(e1), "copy");
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    if (i >= 2) ms.push_back(t);
  }
  cudaFree(a);
  cudaFree(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2] * 1e-3;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) {
    std::cerr << "usage: gpu_forward -m DIR [--matformer-config-path CSV --slices a,b] [--context N] [--reps R] "
                 "[--draft-vocab N]\n";
    return 2;
  }
  auto store = matspec::WeightStore::Open(args.model);
  Check(store.status(), "weights");
  auto model_or = matspec::CreateCudaModel(args.model, **store);  // llama family or gemma3n
  Check(model_or.status(), "upload");
  CudaModel& model = **model_or;
  const matspec::ModelConfig* config = &model.config();
  cudaStream_t s = model.context().stream();
  const int64_t vocab = config->vocab_size;

  int dev = 0, mem_khz = 0, bus_bits = 0;
  cudaDeviceProp prop{};
  cudaGetDevice(&dev);
  cudaGetDeviceProperties(&prop, dev);
  cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev);
  const double nominal = 2.0 * mem_khz * 1e3 * bus_bits / 8;  // DDR: two transfers per clock
  const size_t copy_bytes = size_t{2} << 30;
  const double copy_bw = 2.0 * copy_bytes / CopySeconds(copy_bytes, s);  // read + write

  std::vector<SliceView> drafts;
  if (!args.table.empty()) {
    auto table = matspec::LoadSliceTable(args.table);
    Check(table.status(), "slice table");
    for (const std::string& name : args.slices) {
      auto spec = matspec::FindSlice(*table, name, args.table);
      Check(spec.status(), "slice");
      auto view = matspec::ValidateSlice(*spec, *config, model.ReservedLayers());
      Check(view.status(), "slice");
      drafts.push_back(*view);
    }
  }
  if (args.draft_vocab > 0 && args.draft_vocab < vocab) {
    const size_t n = drafts.size();
    for (size_t i = 0; i < n; ++i) {
      SliceView reduced = drafts[i];
      reduced.head_rows = args.draft_vocab;
      reduced.name = absl::StrCat(reduced.name, " + head ", args.draft_vocab);
      drafts.push_back(reduced);
    }
  }

  const int64_t max_t = 16;
  Check(model.EnsureCapacity(std::max(args.context, max_t)), "scratch");
  const SliceView full = model.FullSlice();
  std::vector<int32_t> host_tokens(std::max(args.context, max_t));
  for (size_t i = 0; i < host_tokens.size(); ++i) host_tokens[i] = static_cast<int32_t>((i * 7919 + 13) % vocab);
  int32_t* tokens = nullptr;
  float* logits = nullptr;
  Check(cudaMalloc(reinterpret_cast<void**>(&tokens), host_tokens.size() * sizeof(int32_t)), "cudaMalloc");
  Check(cudaMalloc(reinterpret_cast<void**>(&logits), max_t * vocab * sizeof(float)), "cudaMalloc");
  Check(cudaMemcpy(tokens, host_tokens.data(), host_tokens.size() * sizeof(int32_t), cudaMemcpyHostToDevice), "copy");
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);

  // Seconds per forward of t tokens through `slice` after a prefill of
  // args.context (GPU time between events), and the host time spent queueing it.
  double enqueue_s = 0.0;
  auto time_step = [&](const SliceView& slice, int64_t t) {
    auto kv_base = model.NewKvCache(slice, args.context + max_t + 1);
    auto* kv = static_cast<CudaKvCache*>(kv_base.get());
    Check(kv->status(), "KV cache");
    Check(model.ForwardDevice(slice, tokens, args.context, *kv, nullptr, false), "prefill");
    std::vector<float> ms;
    std::vector<double> host;
    for (int r = 0; r < args.reps + 3; ++r) {
      cudaEventRecord(e0, s);
      const auto h0 = std::chrono::steady_clock::now();
      Check(model.ForwardDevice(slice, tokens, t, *kv, logits, t > 1), "forward");
      host.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - h0).count());
      cudaEventRecord(e1, s);
      Check(cudaEventSynchronize(e1), "forward");
      float x = 0;
      cudaEventElapsedTime(&x, e0, e1);
      if (r >= 3) ms.push_back(x);
      Check(kv->Truncate(args.context), "rollback");
    }
    std::sort(ms.begin(), ms.end());
    std::sort(host.begin(), host.end());
    enqueue_s = host[host.size() / 2];
    return ms[ms.size() / 2] * 1e-3;
  };

  const double step = time_step(full, 1);
  const double step_enqueue = enqueue_s;
  const double bytes = static_cast<double>(model.WeightBytesRead(full));
  std::cout << absl::StrFormat("device %s (%d SMs); D2D copy %.0f GB/s (read+write), nominal peak %.0f GB/s\n",
                               prop.name, prop.multiProcessorCount, copy_bw / 1e9, nominal / 1e9);
  std::cout << absl::StrFormat("model %s: %.2f G params, %.2f GB of weights read per decode step; context %d, "
                               "median of %d reps\n\n",
                               args.model, model.ParameterCount(full) / 1e9, bytes / 1e9, args.context, args.reps);
  std::cout << "| measurement | time (ms) | tokens/s | weight GB/s | % of D2D copy | % of nominal peak | ratio to decode step |\n";
  std::cout << "|---|---|---|---|---|---|---|\n";
  std::cout << absl::StrFormat("| plain decode step (T=1) | %.3f | %.1f | %.0f | %.1f%% | %.1f%% | 1.00 |\n",
                               step * 1e3, 1.0 / step, bytes / step / 1e9, 100 * bytes / step / copy_bw,
                               100 * bytes / step / nominal);
  std::cout << absl::StrFormat("\nhost time to queue one decode step: %.3f ms (the GPU is launch-bound when this "
                               "approaches the step time)\n", step_enqueue * 1e3);
  // One T=1 step of `slice` captured once as a CUDA graph (ForwardDeviceLength:
  // the cache length lives in device memory) and replayed at advancing
  // positions after a prefill of args.context tokens: the step as the engine's
  // draft replays it, without per-kernel launch gaps. Median seconds.
  auto time_graph = [&](const SliceView& slice) {
    auto kv_base = model.NewKvCache(slice, args.context + args.reps + 8);
    auto* kv = static_cast<CudaKvCache*>(kv_base.get());
    Check(kv->status(), "KV cache");
    Check(model.ForwardDevice(slice, tokens, args.context, *kv, nullptr, false), "prefill");
    Check(kv->UploadLength(s), "device length");
    Check(cudaStreamSynchronize(s), "prefill");
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    Check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture");
    const absl::Status captured = model.ForwardDeviceLength(slice, tokens, 1, *kv, logits, false);
    Check(cudaStreamEndCapture(s, &graph), "capture");
    Check(captured, "capture");
    Check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
    std::vector<float> ms;
    for (int r = 0; r < args.reps + 3; ++r) {
      cudaEventRecord(e0, s);
      Check(cudaGraphLaunch(exec, s), "graph launch");
      cudaEventRecord(e1, s);
      Check(cudaEventSynchronize(e1), "graph");
      float x = 0;
      cudaEventElapsedTime(&x, e0, e1);
      if (r >= 3) ms.push_back(x);
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2] * 1e-3;
  };
  if (model.supports_device_length()) {
    const double graph_step = time_graph(full);
    std::cout << absl::StrFormat("decode step replayed as a CUDA graph (as the engine replays rounds): %.3f ms, "
                                 "%.1f tokens/s, %.0f GB/s = %.1f%% of D2D copy, %.1f%% of nominal peak\n\n",
                                 graph_step * 1e3, 1.0 / graph_step, bytes / graph_step / 1e9,
                                 100 * bytes / graph_step / copy_bw, 100 * bytes / graph_step / nominal);
    for (const SliceView& d : drafts) {
      const double v = time_graph(d);
      std::cout << absl::StrFormat("draft step \"%s\" as a CUDA graph: %.3f ms, c = %.3f of the graph decode step\n",
                                   d.name, v * 1e3, v / graph_step);
    }
  } else {
    std::cout << "(this architecture has no device-length forward: no CUDA-graph rows)\n";
  }
  std::cout << "\n";
  std::cout << "| measurement | time (ms) | tokens/s | weight GB/s | % of D2D copy | % of nominal peak | ratio to decode step |\n";
  std::cout << "|---|---|---|---|---|---|---|\n";
  for (int64_t t : {2, 4, 8, 16}) {
    const double v = time_step(full, t);
    std::cout << absl::StrFormat("| verify T=%d (all logits) | %.3f | - | - | - | - | %.3f |\n", t, v * 1e3, v / step);
  }
  for (const SliceView& d : drafts) {
    const double v = time_step(d, 1);
    const double db = static_cast<double>(model.WeightBytesRead(d));
    std::cout << absl::StrFormat("| draft step \"%s\" (T=1, %.2f GB) | %.3f | %.1f | %.0f | %.1f%% | %.1f%% | c = %.3f |\n",
                                 d.name, db / 1e9, v * 1e3, 1.0 / v, db / v / 1e9, 100 * db / v / copy_bw,
                                 100 * db / v / nominal, v / step);
  }
  cudaFree(tokens);
  cudaFree(logits);
  return 0;
}
