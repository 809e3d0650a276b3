// Loading a Gemma 3n fixture written by tools/fixtures/make_gemma3n_fixtures.py
// (tests/fixtures/gemma3n_<name>/): the store, the model, the prompt, the
// fixture's slices as engine SliceViews and HF's expected logits. Header-only,
// shared by the tests/gemma3n_*_test.cc files.
#ifndef MATSPEC_TESTS_TESTING_GEMMA3N_FIXTURE_H_
#define MATSPEC_TESTS_TESTING_GEMMA3N_FIXTURE_H_

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/gemma3n_model.h"
#include "engine/safetensors.h"
#include "engine/slice_view.h"
#include "engine/status_macros.h"
#include "engine/weight_store.h"

namespace matspec::testing {

struct Gemma3nFixture {
  std::string dir;
  std::unique_ptr<WeightStore> store;
  std::unique_ptr<Gemma3nModel> model;
  std::vector<int32_t> tokens;
  std::vector<SliceView> slices;  // slices[0] is the full model ("full")
  std::unique_ptr<SafetensorsFile> expected;

  // "logits.<slice>" as [T, vocab] f32, or empty when missing.
  std::vector<float> Expected(const std::string& slice) const {
    auto it = expected->tensors().find("logits." + slice);
    if (it == expected->tensors().end() || it->second.dtype != DType::kF32) return {};
    const float* p = static_cast<const float*>(it->second.data);
    return std::vector<float>(p, p + it->second.nbytes / 4);
  }
};

// A SliceView of a model with `num_layers` layers from skipped indices and
// one width per kept layer.
inline SliceView MakeGemmaSlice(const std::string& name, int64_t num_layers, const std::vector<int64_t>& skipped,
                                const std::vector<int64_t>& widths, const std::vector<int64_t>& full_widths) {
  SliceView v;
  v.name = name;
  v.ffn_widths.assign(num_layers, 0);
  size_t k = 0;
  for (int64_t l = 0; l < num_layers; ++l) {
    if (std::find(skipped.begin(), skipped.end(), l) != skipped.end()) continue;
    v.layers.push_back(l);
    v.ffn_widths[l] = k < widths.size() ? widths[k] : 0;
    ++k;
  }
  return v;
}

inline absl::StatusOr<Gemma3nFixture> LoadGemma3nFixture(const std::string& name, int threads = 1) {
  Gemma3nFixture f;
  f.dir = "tests/fixtures/gemma3n_" + name;
  ASSIGN_OR_RETURN(f.store, WeightStore::Open(f.dir));
  ASSIGN_OR_RETURN(Gemma3nConfig config, LoadGemma3nConfig(f.dir + "/config.json"));
  ASSIGN_OR_RETURN(f.model, Gemma3nModel::Create(config, *f.store));
  f.model->set_num_threads(threads);
  f.model->set_f32_activations(true);  // compared with HF: exact f32 products
  std::ifstream in(f.dir + "/fixture.json");
  if (!in) return absl::NotFoundError(f.dir + "/fixture.json");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError(f.dir + "/fixture.json: bad JSON");
  f.tokens = j["tokens"].get<std::vector<int32_t>>();
  for (const auto& s : j["slices"]) {
    f.slices.push_back(MakeGemmaSlice(s["name"].get<std::string>(), config.base.num_layers,
                                      s["skipped"].get<std::vector<int64_t>>(),
                                      s["widths"].get<std::vector<int64_t>>(), config.base.ffn_widths));
  }
  ASSIGN_OR_RETURN(f.expected, SafetensorsFile::Open(f.dir + "/expected.safetensors"));
  return f;
}

}  // namespace matspec::testing

#endif  // MATSPEC_TESTS_TESTING_GEMMA3N_FIXTURE_H_
