// One generation over the per-sequence loop, in two steps: PrepareGeneration
// checks everything that can be checked before decoding (options, prompt ids,
// context, the draft slice) so that Engine::Submit can refuse a bad request at
// once; RunGeneration then decodes on the calling thread, publishing an event
// per round to the RequestCore and stopping between rounds once it is
// cancelled. Engine::Generate runs both inline; Engine::Submit runs the second
// on the request's own thread.
#ifndef MATSPEC_DECODING_GENERATION_H_
#define MATSPEC_DECODING_GENERATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "decoding/engine_state.h"
#include "decoding/request_core.h"
#include "decoding/speculative_decoder.h"
#include "engine/tokenizer.h"
#include "matspec/matspec.h"

namespace matspec {

struct PreparedGeneration {
  std::vector<int32_t> prompt;  // token ids, BOS included where wanted
  DecodeParams params;          // validated; the draft slice resolved
  int64_t draft_vocab = 0;      // rows of the draft's head (0: plain decoding)
};

// The prompt text as token ids: BOS (options.add_bos), the Gemma turn template
// (options.chat, which also adds <end_of_turn> to options->stop_token_ids).
// FailedPrecondition without a tokenizer.
absl::StatusOr<std::vector<int32_t>> EncodePrompt(const EngineState& state, const std::string& prompt,
                                                  GenerationOptions* options);

// InvalidArgument naming the flag for bad options, ids outside the vocabulary,
// a context beyond the model's; the slice table's errors for a bad draft.
absl::StatusOr<PreparedGeneration> PrepareGeneration(const EngineState& state, std::vector<int32_t> prompt,
                                                     const GenerationOptions& options);

// The start of a generation's result: the prompt and the statistics that do
// not come from decoding (device, draft, weight bytes).
GenerationResult NewResult(const EngineState& state, const PreparedGeneration& job);

// The event for tokens just committed: the tokens, and with a streamer the
// text they complete (stop tokens are not rendered).
RequestEvent TokensEvent(TextStreamer* streamer, const std::vector<int32_t>& stop_tokens,
                         const std::vector<int32_t>& fresh);

// The statistics of a running generation: `stats` summarised for
// `generated` tokens, `elapsed` seconds after its start, stop reason "".
GenerationStats StatsSoFar(const GenerationStats& stats, int64_t generated, double elapsed);

// Decodes to the end (or to a cancel: stop_reason "cancelled", the tokens and
// statistics so far). Does not call core.Finish(): the caller does.
absl::StatusOr<GenerationResult> RunGeneration(EngineState& state, PreparedGeneration job, RequestCore& core);

}  // namespace matspec

#endif  // MATSPEC_DECODING_GENERATION_H_
