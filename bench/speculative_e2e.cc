// End-to-end speed and acceptance: plain decoding vs speculative decoding with
// every slice of a table (or a chosen subset) and several draft lengths, on the
// same model in one run. Prints a Markdown table; speed-ups are ratios measured
// in this run (tokens/s speculative / tokens/s plain), with greedy decoding so
// that every configuration produces the very same tokens (checked).
//
//   build/bin/speculative_e2e -m models/matlm-tiny --matformer-config-path matformer_configs/matlm-tiny.csv \
//       --prompts bench/prompts.txt -n 128 --k 1,2,4,8 [--slices half,quarter] [--threads 2] [--repeat 3]
//       [--draft-vocab 0,1024,512 [--draft-vocab-file F]] [--device cuda] [--cuda-graphs 0] [--quantize q8|q4]
// --draft-vocab adds rows with a reduced-vocabulary draft head (0 = the whole
// vocabulary): ids below N, or the first N ids of --draft-vocab-file;
// --cuda-graphs 0 queues every kernel instead of replaying CUDA graphs (to
// measure what the graphs buy).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "matspec/matspec.h"

namespace {

struct Args {
  std::string model, table, prompts_file;
  std::vector<std::string> slices;
  std::vector<int64_t> ks = {1, 2, 4, 8};
  std::vector<int64_t> vocabs = {0};
  std::string vocab_file;
  bool graphs = true;
  int64_t n = 128;
  int threads = 0;
  int repeat = 1;
  std::string device = "cpu";
  std::string quantize;  // LoadOptions::quantize
};

bool ParseList(const std::string& v, std::vector<int64_t>* out) {
  out->clear();
  for (absl::string_view s : absl::StrSplit(v, ',')) {
    int64_t x;
    if (!absl::SimpleAtoi(s, &x)) return false;
    out->push_back(x);
  }
  return !out->empty();
}

bool Parse(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "-m") a->model = v;
    else if (k == "--matformer-config-path") a->table = v;
    else if (k == "--prompts") a->prompts_file = v;
    else if (k == "--device") a->device = v;
    else if (k == "--quantize") a->quantize = v;
    else if (k == "--slices") a->slices = absl::StrSplit(v, ',');
    else if (k == "-n") { if (!absl::SimpleAtoi(v, &a->n)) return false; }
    else if (k == "--threads") { if (!absl::SimpleAtoi(v, &a->threads)) return false; }
    else if (k == "--repeat") { if (!absl::SimpleAtoi(v, &a->repeat)) return false; }
    else if (k == "--cuda-graphs") { if (!absl::SimpleAtob(v, &a->graphs)) return false; }
    else if (k == "--k") { if (!ParseList(v, &a->ks)) return false; }
    else if (k == "--draft-vocab") { if (!ParseList(v, &a->vocabs)) return false; }
    else if (k == "--draft-vocab-file") a->vocab_file = v;
    else {
      return false;
    }
  }
  return !a->model.empty() && !a->prompts_file.empty();
}

std::vector<int32_t> ByteIds(const std::string& text, int64_t vocab) {
  std::vector<int32_t> ids = {1};
  for (unsigned char ch : text) ids.push_back(static_cast<int32_t>((ch * 2654435761u) % vocab));
  return ids;
}

struct Totals {
  int64_t tokens = 0, drafted = 0, accepted = 0, rounds = 0;
  double seconds = 0, draft_s = 0, verify_s = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) {
    std::cerr << "usage: speculative_e2e -m DIR --prompts FILE [--matformer-config-path CSV] [--slices a,b] "
                 "[--k 1,2,4] [-n N] [--threads T] [--repeat R] [--device cpu|cuda] [--draft-vocab 0,1024] "
                 "[--draft-vocab-file F] [--cuda-graphs 0|1] [--quantize q8|q4]\n";
    return 2;
  }
  std::vector<std::string> prompts;
  {
    std::ifstream in(args.prompts_file);
    if (!in) {
      std::cerr << "cannot open " << args.prompts_file << "\n";
      return 1;
    }
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) prompts.push_back(line);
    }
  }
  matspec::LoadOptions lo;
  lo.model_dir = args.model;
  lo.num_threads = args.threads;
  lo.device = args.device;
  lo.cuda_graphs = args.graphs;
  lo.quantize = args.quantize;
  auto engine = matspec::Engine::Load(lo);
  if (!engine.ok()) {
    std::cerr << engine.status().message() << "\n";
    return 1;
  }
  if (args.slices.empty() && !args.table.empty()) {
    auto described = (*engine)->DescribeSlices(args.table);
    if (!described.ok()) {
      std::cerr << described.status().message() << "\n";
      return 1;
    }
    for (const auto& s : *described) {
      if (s.valid) args.slices.push_back(s.name);
    }
  }

  const bool has_tokenizer = (*engine)->tokenizer() != nullptr;
  const int64_t vocab = (*engine)->Describe().vocab_size;
  auto run = [&](const matspec::GenerationOptions& opt, std::vector<std::vector<int32_t>>* outputs) -> Totals {
    Totals t;
    for (int r = 0; r < args.repeat; ++r) {
      for (size_t i = 0; i < prompts.size(); ++i) {
        // A checkpoint without a tokenizer (the random benchmark models) gets
        // the prompt's bytes as token ids.
        auto res = has_tokenizer ? (*engine)->Generate(prompts[i], opt)
                                 : (*engine)->GenerateTokens(ByteIds(prompts[i], vocab), opt);
        if (!res.ok()) {
          std::cerr << res.status().message() << "\n";
          std::exit(1);
        }
        if (r == 0 && outputs) outputs->push_back(res->tokens);
        t.tokens += res->stats.generated_tokens;
        t.seconds += res->stats.decode_seconds;
        t.drafted += res->stats.drafted_tokens;
        t.accepted += res->stats.accepted_tokens;
        t.rounds += res->stats.rounds;
        t.draft_s += res->stats.draft_seconds;
        t.verify_s += res->stats.verify_seconds;
      }
    }
    return t;
  };

  matspec::GenerationOptions base;
  base.max_new_tokens = args.n;
  base.stop_at_eos = false;  // equal lengths for every configuration
  base.speculative = false;
  std::vector<std::vector<int32_t>> reference;
  const Totals plain = run(base, &reference);
  const double plain_tps = plain.tokens / plain.seconds;
  const auto info = (*engine)->Describe();
  std::cout << absl::StrFormat("model %s: %d params, %s; %d prompts x %d tokens x %d repeats, greedy, device %s\n\n",
                               args.model, info.parameters, info.dtype, prompts.size(), args.n, args.repeat,
                               args.device);
  std::cout << "| draft | draft vocab | k | acceptance rate | mean acceptance length | tokens/s | speed-up vs plain | "
               "draft s | verify s | same tokens |\n";
  std::cout << "|---|---|---|---|---|---|---|---|---|---|\n";
  std::cout << absl::StrFormat("| (plain) | - | - | - | 1.00 | %.1f | 1.00x | - | %.2f | - |\n", plain_tps,
                               plain.seconds);
  for (const std::string& slice : args.slices) {
    for (int64_t vocab : args.vocabs) {
      for (int64_t k : args.ks) {
        matspec::GenerationOptions opt = base;
        opt.speculative = true;
        opt.draft.slice_table = args.table;
        opt.draft.slice_name = slice;
        opt.draft.draft_max = k;
        opt.draft.draft_vocab = vocab;
        if (vocab > 0) opt.draft.draft_vocab_file = args.vocab_file;
        std::vector<std::vector<int32_t>> outputs;
        const Totals t = run(opt, &outputs);
        const double tps = t.tokens / t.seconds;
        std::cout << absl::StrFormat("| %s | %s | %d | %.3f | %.2f | %.1f | %.2fx | %.2f | %.2f | %s |\n", slice,
                                     vocab == 0 ? std::string("all")
                                                : absl::StrCat(args.vocab_file.empty() ? "ids < " : "top ", vocab),
                                     k,
                                     t.drafted ? double(t.accepted) / t.drafted : 0.0,
                                     1.0 + double(t.accepted) / t.rounds, tps, tps / plain_tps, t.draft_s,
                                     t.verify_s, outputs == reference ? "yes" : "NO");
      }
    }
  }
  return 0;
}
