#include "tests/testing/model_loading.h"

#include <numeric>

#include "engine/status_macros.h"

namespace matspec::testing {

absl::StatusOr<LoadedModel> LoadLlama(const std::string& dir, int threads) {
  LoadedModel m;
  ASSIGN_OR_RETURN(m.config, LoadModelConfig(dir + "/config.json"));
  ASSIGN_OR_RETURN(m.store, WeightStore::Open(dir));
  ASSIGN_OR_RETURN(m.model, LlamaModel::Create(m.config, *m.store));
  m.model->set_num_threads(threads);
  m.model->set_f32_activations(true);  // compared with HF and f64 references: exact f32 products
  return m;
}

std::vector<float> RunLogits(Model& model, const SliceView& slice, const std::vector<int32_t>& tokens,
                             bool all_logits, const std::vector<int64_t>& chunks_in) {
  const int64_t vocab = model.vocab_size();
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<int64_t> chunks = chunks_in.empty() ? std::vector<int64_t>{n} : chunks_in;
  auto cache = model.NewKvCache(slice, n + 1);
  std::vector<float> out;
  int64_t done = 0;
  for (int64_t c : chunks) {
    std::vector<float> logits((all_logits ? c : 1) * vocab);
    ForwardArgs args;
    args.slice = &slice;
    args.tokens = tokens.data() + done;
    args.t = c;
    args.kv = cache.get();
    args.logits = logits.data();
    args.all_logits = all_logits;
    absl::Status s = model.Forward(args);
    if (!s.ok()) return {};
    done += c;
    if (all_logits) {
      out.insert(out.end(), logits.begin(), logits.end());
    } else {
      out = logits;
    }
  }
  return out;
}

}  // namespace matspec::testing
