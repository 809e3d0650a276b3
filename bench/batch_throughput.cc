// batch_throughput: what continuous batching pays. Loads a model once, then for
// each batch size B submits B requests at once (distinct prompts, N new tokens
// each, greedy, EOS ignored) and measures the aggregate generated tokens per
// second from the first submission to the last token. Plain and speculative
// runs alternate (R pairs per batch size; the medians are reported), so their
// ratio at each batch size is robust to a machine whose load drifts; each
// mode is also given as a ratio to its own batch 1. With --compare-unbatched
// the same pairs also run on an engine with --no-batching (a thread per
// request) for reference. --backend cuda runs the batched engine on the GPU
// (--device cuda --gpu-batching: CudaModel::ForwardBatch); its unbatched
// reference is the GPU's default, one request at a time on its round runner
// with each round replayed as a CUDA graph.
//
//   batch_throughput -m DIR [--backend cpu|cuda] [-t THREADS] [-n TOKENS] [--batches 1,2,4,8,16]
//               [--repeats R] [--matformer-config-path CSV --matformer-slice-name NAME | --draft-ffn W]
//               [--draft-max K] [--no-batch-draft-cap] [--compare-unbatched]
//
// Prints one Markdown table. Timings, not tests: read the ratios.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "matspec/matspec.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  matspec::LoadOptions load;
  int64_t tokens = 64;
  std::vector<int64_t> batches = {1, 2, 4, 8, 16};
  matspec::DraftOptions draft;
  bool compare_unbatched = false;
  int repeats = 3;
};

constexpr const char* kUsage =
    "usage: batch_throughput -m DIR [--backend cpu|cuda] [-t THREADS] [-n TOKENS]\n"
    "  [--batches 1,2,4,8,16] [--repeats R]\n"
    "  [--matformer-config-path CSV --matformer-slice-name NAME | --draft-ffn W] [--draft-max K]\n"
    "  [--no-batch-draft-cap] [--compare-unbatched]\n";

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "batch_throughput: %s\n%s", why, kUsage);
  std::exit(2);
}

int64_t Int(const char* flag, const char* v) {
  int64_t n = 0;
  if (v == nullptr || !absl::SimpleAtoi(v, &n)) Usage((std::string(flag) + " needs an integer").c_str());
  return n;
}

Args Parse(int argc, char** argv) {
  Args a;
  a.load.num_threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    auto take = [&] {
      if (v == nullptr) Usage((f + " needs a value").c_str());
      ++i;
      return std::string(v);
    };
    if (f == "-h" || f == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (f == "-m") a.load.model_dir = take();
    else if (f == "--backend") a.load.device = take();
    else if (f == "-t") a.load.num_threads = static_cast<int>(Int("-t", take().c_str()));
    else if (f == "-n") a.tokens = Int("-n", take().c_str());
    else if (f == "--batches") {
      a.batches.clear();
      for (const auto& s : absl::StrSplit(take(), ',')) a.batches.push_back(Int("--batches", std::string(s).c_str()));
    } else if (f == "--matformer-config-path") a.draft.slice_table = take();
    else if (f == "--matformer-slice-name") a.draft.slice_name = take();
    else if (f == "--draft-ffn") a.draft.ffn = take();
    else if (f == "--draft-max") a.draft.draft_max = Int("--draft-max", take().c_str());
    else if (f == "--no-batch-draft-cap") a.load.batch_aware_draft = false;
    else if (f == "--compare-unbatched") a.compare_unbatched = true;
    else if (f == "--repeats") a.repeats = static_cast<int>(Int("--repeats", take().c_str()));
    else Usage(("unknown flag " + f).c_str());
  }
  if (a.load.model_dir.empty()) Usage("-m DIR is required");
  if (a.load.device != "cpu" && a.load.device != "cuda") Usage("--backend is cpu or cuda");
  a.load.gpu_batching = a.load.device == "cuda";
  for (int64_t b : a.batches) {
    if (b < 1) Usage("--batches needs sizes >= 1");
  }
  if (a.repeats < 1) Usage("--repeats needs a count >= 1");
  return a;
}

struct Measured {
  double tokens_per_second = 0.0;
  double acceptance = 0.0;
};

// B requests at once; aggregate tokens/s over the wall time of the whole batch.
Measured RunBatch(matspec::Engine& engine, const Args& a, int64_t batch, bool speculative) {
  const int64_t vocab = engine.Describe().vocab_size;
  matspec::GenerationOptions o;
  o.max_new_tokens = a.tokens;
  o.stop_at_eos = false;
  o.speculative = speculative;
  o.draft = a.draft;
  std::vector<std::shared_ptr<matspec::Request>> requests;
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < batch; ++i) {
    std::vector<int32_t> prompt;
    for (int j = 0; j < 8; ++j) prompt.push_back(static_cast<int32_t>((i * 977 + j * 131 + 7) % vocab));
    auto r = engine.SubmitTokens(prompt, o);
    if (!r.ok()) {
      std::fprintf(stderr, "batch_throughput: %s\n", std::string(r.status().message()).c_str());
      std::exit(1);
    }
    requests.push_back(*r);
  }
  int64_t generated = 0, drafted = 0, accepted = 0;
  for (auto& r : requests) {
    auto result = r->Wait();
    if (!result.ok()) {
      std::fprintf(stderr, "batch_throughput: %s\n", std::string(result.status().message()).c_str());
      std::exit(1);
    }
    generated += result->stats.generated_tokens;
    drafted += result->stats.drafted_tokens;
    accepted += result->stats.accepted_tokens;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return {generated / seconds, drafted > 0 ? static_cast<double>(accepted) / drafted : 0.0};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Table(matspec::Engine& engine, const Args& a, const char* label) {
  double plain_base = 0.0, spec_base = 0.0;
  for (int64_t b : a.batches) {
    std::vector<double> plain, spec, acceptance;
    for (int r = 0; r < a.repeats; ++r) {
      plain.push_back(RunBatch(engine, a, b, false).tokens_per_second);
      const Measured m = RunBatch(engine, a, b, true);
      spec.push_back(m.tokens_per_second);
      acceptance.push_back(m.acceptance);
    }
    const double p = Median(plain), s = Median(spec);
    if (plain_base == 0.0) plain_base = p, spec_base = s;
    std::printf("| %s | %lld | %.1f | %.2fx | %.1f | %.2fx | %.0f %% | **%.2fx** |\n", label, static_cast<long long>(b), p,
                p / plain_base, s, s / spec_base, Median(acceptance) * 100, s / p);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a = Parse(argc, argv);
  auto engine = matspec::Engine::Load(a.load);
  if (!engine.ok()) {
    std::fprintf(stderr, "batch_throughput: %s\n", std::string(engine.status().message()).c_str());
    return 1;
  }
  RunBatch(**engine, a, 1, false);  // warm up: pages in the weights
  std::printf(
      "| engine | batch | plain tok/s | plain vs batch 1 | speculative tok/s | speculative vs batch 1 | acceptance | "
      "speculative / plain |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  const bool gpu = a.load.device == "cuda";
  const std::string label = std::string(gpu ? "batched, cuda" : "batched") + (a.load.batch_aware_draft ? "" : ", no k cap");
  Table(**engine, a, label.c_str());
  if (a.compare_unbatched) {
    matspec::LoadOptions lo = a.load;
    lo.batching = false;
    lo.gpu_batching = false;
    auto unbatched = matspec::Engine::Load(lo);
    if (!unbatched.ok()) return 1;
    Table(**unbatched, a, gpu ? "cuda, one at a time (CUDA graphs)" : "thread per request");
  }
  return 0;
}
