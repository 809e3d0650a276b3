// Fidelity of the quantized formats on a model with a slice table: for the
// checkpoint's dtype and --quantize q8 / q4, every slice's held-out loss and
// perplexity, top-1 accuracy, and next-token agreement with the unquantized
// model (same slice). Windows come from tools/matlm/heldout_windows.py (one
// window of ids per line, "# bos ID" first; targets equal to BOS are not
// scored, as the model card does).
//
//   build/bin/quant_fidelity MODEL_DIR TABLE.csv WINDOWS.txt [threads]
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "draft/slice_spec.h"
#include "engine/model.h"
#include "matspec/matspec.h"
#include "tests/testing/model_loading.h"

namespace matspec {
namespace {

struct Score {
  double nll = 0.0;
  int64_t count = 0, correct = 0, agree = 0;
};

int Run(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: quant_fidelity MODEL_DIR TABLE.csv WINDOWS.txt [threads]\n");
    return 2;
  }
  const std::string model_dir = argv[1], table_path = argv[2];
  const int threads = argc > 4 ? std::atoi(argv[4]) : 1;
  if (threads < 1) {
    std::fprintf(stderr, "quant_fidelity: threads must be a positive integer, got '%s'\n", argv[4]);
    return 2;
  }
  std::ifstream in(argv[3]);
  if (!in) {
    std::fprintf(stderr, "quant_fidelity: cannot read the windows file %s\n", argv[3]);
    return 1;
  }
  std::string line;
  int32_t bos = -1;
  std::vector<std::vector<int32_t>> windows;
  while (std::getline(in, line)) {
    if (line.rfind("# bos ", 0) == 0) {
      bos = std::stoi(line.substr(6));
      continue;
    }
    std::istringstream ss(line);
    std::vector<int32_t> w;
    for (int32_t id; ss >> id;) w.push_back(id);
    if (!w.empty()) windows.push_back(std::move(w));
  }
  if (windows.empty()) {
    std::fprintf(stderr, "quant_fidelity: %s holds no token windows\n", argv[3]);
    return 1;
  }
  auto table = LoadSliceTable(table_path);
  if (!table.ok()) {
    std::fprintf(stderr, "%s\n", std::string(table.status().message()).c_str());
    return 1;
  }
  std::printf("| format | slice | loss | perplexity | top-1 | agreement with the unquantized slice |\n|---|---|---|---|---|---|\n");
  // argmax of the unquantized model per slice and position.
  std::vector<std::vector<int32_t>> reference(table->size());
  for (const std::string type : {"", "q8", "q4"}) {
    LoadOptions lo;
    lo.model_dir = model_dir;
    lo.num_threads = threads;
    lo.quantize = type;
    auto engine = Engine::Load(lo);
    if (!engine.ok()) {
      std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
      return 1;
    }
    Model& model = (*engine)->model();
    const int64_t vocab = model.vocab_size();
    for (size_t si = 0; si < table->size(); ++si) {
      auto view = ValidateSlice((*table)[si], model.config(), model.ReservedLayers());
      if (!view.ok()) {
        std::fprintf(stderr, "%s\n", std::string(view.status().message()).c_str());
        return 1;
      }
      Score s;
      int64_t position = 0;
      for (const std::vector<int32_t>& w : windows) {
        const std::vector<int32_t> inputs(w.begin(), w.end() - 1);
        const std::vector<float> logits = testing::RunLogits(model, *view, inputs, true);
        for (size_t i = 0; i < inputs.size(); ++i, ++position) {
          const int32_t target = w[i + 1];
          const float* row = &logits[i * vocab];
          int32_t best = 0;
          double mx = row[0];
          for (int64_t v = 1; v < vocab; ++v) {
            if (row[v] > row[best]) best = static_cast<int32_t>(v);
            mx = std::max<double>(mx, row[v]);
          }
          if (type.empty()) reference[si].push_back(best);
          if (target == bos) continue;
          double z = 0.0;
          for (int64_t v = 0; v < vocab; ++v) z += std::exp(row[v] - mx);
          s.nll += std::log(z) + mx - row[target];
          ++s.count;
          s.correct += best == target;
          s.agree += best == reference[si][position];
        }
      }
      const double loss = s.nll / s.count;
      std::printf("| %s | %s | %.4f | %.2f | %.1f%% | %.1f%% |\n", type.empty() ? "checkpoint" : type.c_str(),
                  (*table)[si].name.c_str(), loss, std::exp(loss), 100.0 * s.correct / s.count,
                  100.0 * s.agree / s.count);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace matspec

int main(int argc, char** argv) { return matspec::Run(argc, argv); }
