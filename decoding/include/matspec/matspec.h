// matspec public C++ API: load a Hugging Face checkpoint once, then generate
// text with speculative decoding whose draft is a MatFormer slice of the same
// weights. The `matspec` CLI is a thin client of exactly this header; a
// program embedding matspec as its decoding backend uses it the same way.
//
//   ASSIGN_OR_RETURN(auto engine, matspec::Engine::Load({.model_dir = "models/matlm-tiny"}));
//   matspec::GenerationOptions opt;
//   opt.max_new_tokens = 64;
//   opt.draft.slice_table = "matformer_configs/matlm-tiny.csv";
//   opt.draft.slice_name = "half";
//   auto result = engine->Generate("Once upon a time", opt, [](std::string_view text) {
//     std::cout << text << std::flush; return true; });
//
// A service submits requests instead and keeps a handle to each:
//
//   ASSIGN_OR_RETURN(std::shared_ptr<matspec::Request> r, engine->Submit("Once upon a time", opt));
//   while (std::optional<matspec::RequestEvent> e = r->Next()) std::cout << e->text;  // or r->Cancel()
//   absl::StatusOr<matspec::GenerationResult> result = r->Wait();   // stop_reason "cancelled" if cancelled
//
// Output is exactly what the full model alone produces: token for token under
// greedy decoding, in distribution under sampling. The C ABI (matspec_c.h) and
// the JSON forms of options and results (json.h) sit on this same API.
#ifndef MATSPEC_MATSPEC_H_
#define MATSPEC_MATSPEC_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace matspec {

class Model;
class Tokenizer;
class WeightStore;
struct EngineState;  // what Load() builds (internal)

struct LoadOptions {
  std::string model_dir;     // config.json, model.safetensors[.index.json], tokenizer.model
  int num_threads = 0;       // CPU threads; 0 = all hardware threads
  std::string device = "cpu";  // "cpu" or "cuda" (llama-family models; one GPU, device 0)
  bool cuda_graphs = true;     // --device cuda: replay each round as a CUDA graph (--no-cuda-graphs)
  // CPU: products with bf16 weights keep f32 activations (--f32-activations).
  // By default, on CPUs with AVX512_BF16 they round activations to bf16 and
  // multiply with vdpbf16ps (f32 accumulation), as llama.cpp does: about 2x
  // the arithmetic rate. Either way decoding and verification share the same
  // arithmetic, so greedy speculative output equals plain output exactly.
  bool f32_activations = false;
  // CPU: each sequence runs its matrix products and attention on a thread pool
  // of its own, whose items are claimed dynamically and whose waits spin
  // briefly and then sleep (the default), instead of OpenMP teams
  // (--no-thread-pool). On a quiet machine both are as fast; beside a busy
  // process 2 OpenMP threads fall to about half the speed of 1 thread, the
  // pool to about 0.9x of it (bench/RESULTS.md §5.6).
  bool thread_pool = true;
  // Continuous batching (the CPU; the GPU with gpu_batching below).
  // Every request of the engine, Generate's included, advances on one
  // scheduler thread, round by round with every other active request: their
  // draft steps and their verifications each run as one forward, reading the
  // weights once for all of them (decoding/batch_scheduler.h). Each request
  // still gets exactly its own tokens. false (--no-batching): each request
  // runs on a thread of its own, as independent forwards.
  bool batching = true;
  // --device cuda: advance requests on that same scheduler,
  // each draft step and verification one batched forward on the GPU
  // (CudaModel::ForwardBatch: host logits, one sync per forward), instead of
  // one request at a time with each round replayed as a CUDA graph (one sync
  // per round). Pays with several concurrent requests (matspec serve); a lone
  // request is faster without it. InvalidArgument for a model without a
  // batched forward on the GPU (llama and Gemma 3n both have one). Ignored on
  // the CPU and with batching false (--gpu-batching).
  bool gpu_batching = false;
  int64_t max_sequences = 16;  // requests advanced together; more wait in a queue (--max-sequences)
  // Requests that may wait in that queue; Submit refuses more with
  // ResourceExhausted (--max-queue; 0 = no limit). Batching only.
  int64_t max_queue = 0;
  // Prompt tokens a new request feeds per round while the batch decodes
  // (chunked prefill: a long prompt does not stall the running requests;
  // --prefill-chunk). Batching only.
  int64_t prefill_chunk = 256;
  // Lower the draft length of greedy requests as the batch grows
  // (BatchDraftCap in decoding/batch_scheduler.h; measured in
  // bench/RESULTS.md §8): in a full batch extra verification rows cost more
  // than the weight reads they save. Greedy output does not depend on k, so
  // only the speed and the speculation counts change. Sampled requests keep
  // their k: a seed gives the same tokens batched or alone. --no-batch-draft-cap.
  bool batch_aware_draft = true;
  // CPU, llama family: "q8" or "q4" quantizes the layer matrices (and an
  // untied LM head) at load into one quantized store, blocks of 32 input
  // columns with an f16 scale (kernels/dtype.h); "" keeps the checkpoint's
  // dtype (--quantize). Draft slices are views of the quantized store; their
  // FFN widths must then be multiples of 32.
  std::string quantize = "";
  // CPU: the mapped checkpoint is faulted in at load and mapped through 2 MiB
  // pages where the kernel and file system can (engine/huge_pages.h): the
  // weights stream from DRAM every decode step, and the hardware prefetchers
  // stop at 4 KiB page boundaries (410 M bf16 llama: ~15 % faster decoding,
  // bench/RESULTS.md §5.7). Where the page cache holds the file in 4 KiB
  // pages, it is read from disk once more. false (--no-huge-pages): the
  // mapping is left to fault in on first use, as it comes.
  bool huge_pages = true;
};

// Which MatFormer slice drafts, and how much.
struct DraftOptions {
  std::string slice_table;   // CSV in the Gemma 3n table format ("" = none)
  std::string slice_name;    // exact row name in slice_table
  std::string ffn;           // or: "512" (uniform) / "512,256,..." (per kept layer)
  std::string skip;          // and: "3,4" layers to skip
  int64_t draft_max = 4;     // k, >= 1
  int64_t draft_min = 0;     // 0 <= draft_min <= draft_max
  double draft_p_min = 0.0;  // [0, 1): stop drafting below this top-1 probability
  // --draft-adaptive: choose k each round within [draft_min, draft_max] from
  // this sequence's acceptance by position and measured draft and verification
  // times (draft/adaptive_draft_length.h); k = 0 is a plain round, chosen when
  // drafting does not pay. A new sequence starts from what finished ones of
  // the same engine and draft learned (draft/draft_length_memory.h), so it
  // needs no probing rounds. Output is unchanged (lossless for any k).
  bool draft_adaptive = false;
  // --draft-own-kv: the draft computes the keys and values of every committed
  // token itself (it prefills the prompt, and after plain rounds it runs its
  // slice over the tokens it missed). By default (false) it copies the full
  // model's for those tokens from the verifier's cache instead: a draft that
  // did not see a token costs nothing to catch up, and its prompt costs no
  // prefill (DraftPolicy::adopt_verifier_kv; llama family on the CPU, else
  // ignored). Output is the same either way; acceptance may move a little.
  bool draft_own_kv = false;
  // Reduced-vocabulary draft head: the draft scores only token ids < draft_vocab,
  // or with draft_vocab_file the ids listed there (its first draft_vocab ids
  // when draft_vocab > 0); 0 / "" = the whole vocabulary.
  int64_t draft_vocab = 0;
  std::string draft_vocab_file;
};

// One speculation round (or plain step) of a generation, for round logs
// (GenerationOptions::on_round; `matspec generate|bench --round-log FILE`).
struct RoundRecord {
  int64_t round = 0;        // 0, 1, ... within the generation
  int64_t position = 0;     // committed tokens (prompt included) before the round
  int64_t drafted = 0;      // k of this round (0: a plain step)
  int64_t accepted = 0;     // drafted tokens the verifier kept; the round commits accepted + 1
  double draft_seconds = 0.0;
  double verify_seconds = 0.0;  // verification and acceptance
  // Wall time since the previous round ended (the first: since decoding
  // started): draft, verification and the bookkeeping between them. Batched
  // requests share rounds, so theirs include each other's work.
  double round_seconds = 0.0;
  // The draft's top-1 probability (softmax of its logits) per drafted token;
  // empty on --device cuda.
  std::vector<float> draft_top_p;
  // The draft's top-1 minus top-2 logit per drafted token (how sure it was;
  // what --draft-adaptive's confidence stop reads); empty on --device cuda.
  std::vector<float> draft_logit_gap;
};

struct GenerationOptions {
  int64_t max_new_tokens = 128;  // -n; >= 0
  double temperature = 0.0;      // 0 = greedy
  int64_t top_k = 0;             // 0 = off
  double top_p = 1.0;            // (0, 1]
  uint64_t seed = 0;
  bool speculative = true;       // false: plain decoding with the full model
  bool add_bos = true;           // prepend the tokenizer's BOS
  bool stop_at_eos = true;
  std::vector<int32_t> stop_token_ids;  // generation also ends after any of these
  bool chat = false;             // wrap the prompt in the Gemma turn template (Generate only)
  int64_t context_size = 0;      // 0 = the model's max_position_embeddings
  // true: Submit refuses (OutOfRange, naming both counts) a prompt that does
  // not leave room for all max_new_tokens in the context, as OpenAI's API
  // refuses prompt + max_tokens over the context window. false: generation
  // stops where the context ends (stop_reason "context"). The server sets it
  // when a request names max_tokens.
  bool reserve_max_new_tokens = false;
  DraftOptions draft;
  // Called after every round with what it drafted, kept and cost (C++ only).
  // It runs on the thread that decodes (the batch scheduler's, for a CPU
  // engine), between rounds: keep it short, and make what it touches safe
  // for that thread. Setting it also makes the drafter compute each draft
  // token's top-1 probability (a softmax per draft step). Output is unchanged.
  std::function<void(const RoundRecord&)> on_round;

  // InvalidArgument naming the option (as its CLI flag) when out of range.
  absl::Status Validate() const;
};

// Speculation statistics with vLLM's definitions.
struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t rounds = 0;               // verifier passes (plain decoding: one per token)
  int64_t drafted_tokens = 0;
  int64_t accepted_tokens = 0;
  double acceptance_rate = 0.0;         // accepted / drafted
  double mean_acceptance_length = 0.0;  // 1 + accepted / rounds (counts the bonus token)
  std::vector<double> per_position_acceptance;  // [i]: accepted at position i / drafted at position i
  std::vector<int64_t> per_position_drafted;
  std::vector<int64_t> per_position_accepted;
  double prefill_seconds = 0.0;
  double draft_seconds = 0.0;
  double verify_seconds = 0.0;
  double decode_seconds = 0.0;      // wall time after prefill
  double tokens_per_second = 0.0;   // generated_tokens / decode_seconds
  std::string draft_slice;          // slice name ("" when not speculative)
  int64_t draft_kv_bytes = 0;       // the draft's only memory: its cache
  int64_t draft_vocab = 0;          // tokens the draft's head scores (0 = not speculative)
  int64_t weight_bytes = 0;         // weights in the one store
  // Weight bytes one decode step reads, in the store's format (q8 / q4 when
  // quantized): the full model's, and the draft slice's (0 when not speculative).
  int64_t full_step_weight_bytes = 0;
  int64_t draft_step_weight_bytes = 0;
  int64_t resident_weight_bytes = 0;  // of those, pages resident in RAM now (mincore)
  int64_t gpu_weight_bytes = 0;     // --device cuda: weights held in GPU memory (each tensor once)
  std::string device;               // "cpu" or "cuda"
  int64_t cuda_graph_launches = 0;  // --device cuda: rounds replayed as a CUDA graph
  // Why generation ended: "eos" (a stop token), "length" (max_new_tokens),
  // "context" (the context is full), "callback" (a streaming callback returned
  // false), "cancelled" (Request::Cancel, or a dropped handle).
  std::string stop_reason;
};

struct GenerationResult {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;  // generated ids (an EOS that stopped generation included)
  std::string text;             // decoded generated text (EOS not rendered)
  GenerationStats stats;
};

// Receives text as tokens commit; return false to stop generating.
using TextCallback = std::function<bool(std::string_view text)>;

// What a request streams: the tokens committed by one round (a stop token
// included) and the text they complete. The text is "" without a tokenizer,
// and may be "" while a multi-byte character is incomplete; the last event of
// a request may carry only text (the decoder's remainder) and no tokens.
struct RequestEvent {
  std::vector<int32_t> tokens;
  std::string text;
};

// Receives each event on the thread that advances the request; return false
// to stop (stop_reason "callback"). It must not block for long: the request
// does not advance while it runs.
using RequestCallback = std::function<bool(const RequestEvent& event)>;

class RequestCore;     // the state a request shares with whoever advances it
class BatchScheduler;  // advances every request of an engine together

// A submitted generation (Engine::Submit). Every method is thread-safe.
//
// Lifetime: a running request keeps the loaded model alive, so the Engine may
// be destroyed while requests run; they continue to their end. Dropping the
// last handle of a request that is still running cancels it and waits for it
// to stop (at most one round); no request outlives its handle.
//
// On the CPU (and on the GPU with LoadOptions::gpu_batching) every request
// advances on the engine's batching scheduler, together with the other active
// ones (LoadOptions::batching); with --no-batching, or on the GPU without
// --gpu-batching, each advances on a thread of its own over the per-sequence
// loop (CUDA requests in turn).
class Request {
 public:
  ~Request();
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // Unique within the process, increasing in submission order.
  uint64_t id() const { return id_; }

  // The next event, waiting for it if needed; nullopt once the request has
  // ended and every event was read. Requests submitted with a callback queue
  // nothing: there Next() only waits for the end and returns nullopt.
  std::optional<RequestEvent> Next();

  // Asks the request to stop and returns at once. It stops before its next
  // round (or before prefill, or while waiting for its turn on the GPU), with
  // or without a tokenizer; Wait() then returns the tokens and statistics so
  // far with stop_reason "cancelled". Cancelling an ended request does nothing.
  void Cancel();

  // Waits for the end: the result (also when cancelled), or the error that
  // ended the request. May be called any number of times, from any thread.
  absl::StatusOr<GenerationResult> Wait();

  // True once the request has ended (Wait() would not block).
  bool Done() const;

  // The statistics so far (counts and rates of the rounds done; timings
  // approximate and stop_reason "" until the end), the final ones once Done().
  GenerationStats Stats() const;

 private:
  friend class Engine;
  Request(uint64_t id, std::shared_ptr<RequestCore> core);
  const uint64_t id_;
  std::shared_ptr<RequestCore> core_;
  std::thread worker_;  // advances the request (without batching); joined by the destructor
  std::shared_ptr<BatchScheduler> scheduler_;  // advances it (with batching); kept alive by the handle
};

// One slice table row, described against the loaded model.
struct SliceInfo {
  std::string name;
  int64_t layers = 0;                 // kept layers
  std::vector<int64_t> ffn_widths;    // per kept layer
  std::vector<int64_t> skipped_layers;
  std::string short_widths;           // run-length form
  int64_t parameters = 0;             // computed from the model (0 if invalid)
  int64_t step_weight_bytes = 0;      // weight bytes a decode step reads, store format (0 if invalid)
  double declared_params_b = 0.0;     // the table's column (0 if absent)
  bool valid = false;
  std::string error;                  // why not valid
};

struct ModelInfo {
  std::string model_dir;
  std::string architecture;  // model_type
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  std::vector<int64_t> ffn_widths;
  int64_t max_position_embeddings = 0;
  bool tied_embeddings = false;
  std::string dtype;          // of the projection weights ("BF16", ...)
  int64_t parameters = 0;
  int64_t weight_bytes = 0;
  int64_t num_tensors = 0;
  // How the mapped weights are paged (LoadOptions::huge_pages), e.g.
  // "782.6 MiB of 782.6 MiB in 2 MiB pages"; "not asked" when off or not on the CPU.
  std::string weight_pages;
};

// Thread safety: one Engine may be used from any number of threads at once.
// Destroying it while requests run is safe (they hold the model).
// Load() builds an immutable model (weights, config, tokenizer) shared by every
// call; each Generate / GenerateTokens call owns its own KV caches, forward
// scratch, RNG and statistics, so concurrent calls give exactly the tokens each
// would give alone. On the CPU they run in parallel; with --device cuda they
// take turns on the one GPU stream.
class Engine {
 public:
  // Loads config, weights (memory-mapped, validated) and tokenizer. Errors name
  // the file, tensor or field at fault.
  static absl::StatusOr<std::unique_ptr<Engine>> Load(const LoadOptions& options);
  ~Engine();

  // Starts a generation and returns its handle at once. Errors in the options
  // or the prompt (naming the flag, as Validate() does) and a full queue
  // (ResourceExhausted, LoadOptions::max_queue) are returned here;
  // errors while generating end the request and come back from Wait(). With
  // `on_event`, events go to the callback instead of the Next() queue.
  absl::StatusOr<std::shared_ptr<Request>> Submit(const std::string& prompt, const GenerationOptions& options,
                                                  RequestCallback on_event = nullptr);
  // From token ids (no BOS added; events carry text only with a tokenizer).
  absl::StatusOr<std::shared_ptr<Request>> SubmitTokens(const std::vector<int32_t>& prompt,
                                                        const GenerationOptions& options,
                                                        RequestCallback on_event = nullptr);

  // The one-call convenience: generates on the calling thread, as a request
  // that nobody can cancel but the callback. The callback (optional) streams
  // the text.
  absl::StatusOr<GenerationResult> Generate(const std::string& prompt, const GenerationOptions& options,
                                            const TextCallback& on_text = nullptr);
  // Generates from token ids (no BOS added, nothing decoded unless a tokenizer is loaded).
  absl::StatusOr<GenerationResult> GenerateTokens(const std::vector<int32_t>& prompt,
                                                  const GenerationOptions& options,
                                                  const TextCallback& on_text = nullptr);

  // Every row of a slice table, validated against this model.
  absl::StatusOr<std::vector<SliceInfo>> DescribeSlices(const std::string& table_path) const;
  ModelInfo Describe() const;

  // Bytes of the weight store currently resident in RAM (mincore over the mappings).
  int64_t ResidentWeightBytes() const;

  // The shared model, for tests and tools. Only its const members may be
  // used while generations run.
  Model& model();
  const Tokenizer* tokenizer() const;

 private:
  Engine();
  // Shared with running requests, which keep the model alive (see Request).
  std::shared_ptr<EngineState> state_;
  std::shared_ptr<BatchScheduler> scheduler_;  // null without batching
};

}  // namespace matspec

#endif  // MATSPEC_MATSPEC_H_
