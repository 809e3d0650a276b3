// EngineState: what Load() builds and every generation shares. Immutable
// after Load() except the GPU turn and the adaptive draft lengths' memories
// (each thread-safe); shared (std::shared_ptr) by the Engine and
// its running requests, so a request keeps the model alive.
#ifndef MATSPEC_DECODING_ENGINE_STATE_H_
#define MATSPEC_DECODING_ENGINE_STATE_H_

#include <memory>
#include <mutex>
#include <optional>

#include "draft/draft_length_memory.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "engine/tokenizer.h"
#include "engine/weight_store.h"
#include "matspec/matspec.h"

namespace matspec {

struct EngineState {
  LoadOptions options;
  const Backend* backend = nullptr;
  ModelConfig config;
  std::unique_ptr<WeightStore> store;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the directory has none
  std::optional<HugePageReport> weight_pages;  // LoadOptions::huge_pages, when asked
  // A backend whose model takes one sequence at a time (the GPU's: one stream,
  // one scratch) gets its generations in turn; the CPU's run at once. Timed,
  // so that a request waiting for its turn still notices a cancel.
  std::timed_mutex sequence_mutex;
  // What --draft-adaptive sequences learned, per draft configuration, for the
  // next ones (draft/draft_length_memory.h). Thread-safe, hence mutable: a
  // generation reads the state as const.
  mutable DraftLengthMemories draft_memories;
};

// Bytes of the store resident in RAM now (mincore over every tensor's pages).
int64_t ResidentWeightBytes(const WeightStore& store);

}  // namespace matspec

#endif  // MATSPEC_DECODING_ENGINE_STATE_H_
