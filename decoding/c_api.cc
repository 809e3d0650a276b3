// The C ABI (matspec/matspec_c.h) over the C++ request API. Every entry point
// catches whatever C++ might throw and turns a Status into a code plus a
// caller-owned message; handles are plain structs holding the C++ objects.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "matspec/json.h"
#include "matspec/matspec.h"
#include "matspec/matspec_c.h"
#include "matspec/run_config.h"

struct matspec_engine {
  std::unique_ptr<matspec::Engine> engine;
};

struct matspec_request {
  std::shared_ptr<matspec::Request> request;
  std::mutex mu;
  bool cancelled = false;     // guarded by mu: matspec_request_cancel was called
  bool result_taken = false;  // guarded by mu: matspec_request_wait handed the result over
};

namespace {

using matspec::RunConfig;

char* CopyString(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

matspec_status Fail(const absl::Status& status, char** error) {
  if (error != nullptr) *error = CopyString(std::string(status.message()));
  return static_cast<matspec_status>(status.code());
}

matspec_status Ok(char** error) {
  if (error != nullptr) *error = nullptr;
  return MATSPEC_OK;
}

// Runs `body` (which returns a Status) so that no exception leaves the ABI.
template <typename Body>
matspec_status Guard(char** error, Body body) {
  try {
    absl::Status status = body();
    return status.ok() ? Ok(error) : Fail(status, error);
  } catch (const std::exception& e) {
    return Fail(absl::InternalError(absl::StrCat("matspec: unexpected C++ exception: ", e.what())), error);
  } catch (...) {
    return Fail(absl::InternalError("matspec: unexpected C++ exception"), error);
  }
}

// The options matspec_engine_load takes; every other generation key belongs to a request.
constexpr std::array<std::string_view, 15> kLoadKeys = {
    "model",         "threads",   "device",        "thread-pool",  "no-thread-pool", "f32-activations",
    "no-cuda-graphs", "no-batching", "gpu-batching", "max-sequences", "max-queue", "no-batch-draft-cap",
    "prefill-chunk", "quantize", "no-huge-pages"};
// Keys of the CLI that are arguments (or the output format) in the ABI.
constexpr std::array<std::string_view, 5> kCliOnlyKeys = {"prompt", "file", "prompt-ids", "json", "round-log"};

bool IsOneOf(std::string_view name, const auto& list) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

absl::Status AcceptLoadKey(std::string_view name) {
  if (IsOneOf(name, kLoadKeys)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "a generation option: pass it to matspec_submit, not matspec_engine_load");
}

absl::Status AcceptGenerationKey(std::string_view name) {
  if (IsOneOf(name, kLoadKeys)) {
    return absl::InvalidArgumentError("an engine option: pass it to matspec_engine_load, not matspec_submit");
  }
  if (name == "round-log") {
    return absl::InvalidArgumentError("a CLI flag: through the ABI, no round log is written (C++: GenerationOptions::on_round)");
  }
  if (IsOneOf(name, kCliOnlyKeys)) {
    return absl::InvalidArgumentError(
        "not an option of a request (the prompt is an argument of matspec_submit; results are always JSON)");
  }
  return absl::OkStatus();
}

absl::Status ParseOptions(const char* json, std::string_view origin, RunConfig* config,
                          absl::Status (*accept)(std::string_view)) {
  if (json == nullptr || *json == '\0') return absl::OkStatus();
  return matspec::ApplyOptionsJson(json, origin, config, accept);
}

matspec::RequestCallback ToRequestCallback(matspec_stream_callback callback, void* user_data) {
  if (callback == nullptr) return nullptr;
  return [callback, user_data](const matspec::RequestEvent& e) {
    return callback(e.text.c_str(), e.text.size(), e.tokens.data(), e.tokens.size(), user_data) == 0;
  };
}

absl::Status NullArgument(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is NULL"));
}

// Submits (text when ids == nullptr) and wraps the handle.
absl::Status Submit(matspec_engine* engine, const char* prompt, const int32_t* ids, size_t num_ids,
                    const char* options_json, matspec_stream_callback callback, void* user_data,
                    matspec_request** out) {
  if (out == nullptr) return NullArgument("the request out-pointer");
  *out = nullptr;
  if (engine == nullptr) return NullArgument("the engine");
  RunConfig config;
  if (absl::Status s = ParseOptions(options_json, "options JSON", &config, AcceptGenerationKey); !s.ok())
    return s;
  absl::StatusOr<std::shared_ptr<matspec::Request>> request;
  if (ids == nullptr) {
    if (prompt == nullptr) return NullArgument("the prompt");
    request = engine->engine->Submit(prompt, config.generation, ToRequestCallback(callback, user_data));
  } else {
    request = engine->engine->SubmitTokens(std::vector<int32_t>(ids, ids + num_ids), config.generation,
                                           ToRequestCallback(callback, user_data));
  }
  if (!request.ok()) return request.status();
  auto handle = std::make_unique<matspec_request>();
  handle->request = std::move(*request);
  *out = handle.release();
  return absl::OkStatus();
}

absl::Status AfterResult(const matspec_request& r) {
  return absl::FailedPreconditionError(absl::StrCat(
      "request ", r.request->id(), " has ended and its result was taken by matspec_request_wait"));
}

}  // namespace

extern "C" {

const char* matspec_version(void) { return "0.1.0"; }

void matspec_string_free(char* s) { std::free(s); }

matspec_status matspec_engine_load(const char* options_json, matspec_engine** engine, char** error) {
  return Guard(error, [&]() -> absl::Status {
    if (engine == nullptr) return NullArgument("the engine out-pointer");
    *engine = nullptr;
    RunConfig config;
    if (absl::Status s = ParseOptions(options_json, "engine options JSON", &config, AcceptLoadKey); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::unique_ptr<matspec::Engine>> loaded = matspec::Engine::Load(config.load);
    if (!loaded.ok()) return loaded.status();
    auto handle = std::make_unique<matspec_engine>();
    handle->engine = std::move(*loaded);
    *engine = handle.release();
    return absl::OkStatus();
  });
}

void matspec_engine_destroy(matspec_engine* engine) {
  try {
    delete engine;
  } catch (...) {
  }
}

matspec_status matspec_submit(matspec_engine* engine, const char* prompt, const char* options_json,
                              matspec_stream_callback callback, void* user_data, matspec_request** request,
                              char** error) {
  return Guard(
      error, [&] { return Submit(engine, prompt, nullptr, 0, options_json, callback, user_data, request); });
}

matspec_status matspec_submit_tokens(matspec_engine* engine, const int32_t* prompt_ids, size_t num_ids,
                                     const char* options_json, matspec_stream_callback callback,
                                     void* user_data, matspec_request** request, char** error) {
  return Guard(error, [&]() -> absl::Status {
    if (prompt_ids == nullptr && num_ids > 0) return NullArgument("prompt_ids");
    static const int32_t kNone = 0;
    return Submit(engine, nullptr, prompt_ids ? prompt_ids : &kNone, num_ids, options_json, callback,
                  user_data, request);
  });
}

matspec_status matspec_request_next(matspec_request* request, char** event_json, char** error) {
  return Guard(error, [&]() -> absl::Status {
    if (event_json == nullptr) return NullArgument("the event out-pointer");
    *event_json = nullptr;
    if (request == nullptr) return NullArgument("the request");
    {
      std::lock_guard<std::mutex> lock(request->mu);
      if (request->result_taken) return AfterResult(*request);
    }
    std::optional<matspec::RequestEvent> event = request->request->Next();
    if (event) *event_json = CopyString(matspec::RequestEventJson(*event));
    return absl::OkStatus();
  });
}

matspec_status matspec_request_cancel(matspec_request* request, char** error) {
  return Guard(error, [&]() -> absl::Status {
    if (request == nullptr) return NullArgument("the request");
    std::lock_guard<std::mutex> lock(request->mu);
    if (request->result_taken) return AfterResult(*request);
    if (request->cancelled) {
      return absl::FailedPreconditionError(
          absl::StrCat("request ", request->request->id(), " was already cancelled"));
    }
    request->cancelled = true;
    request->request->Cancel();
    return absl::OkStatus();
  });
}

matspec_status matspec_request_wait(matspec_request* request, char** result_json, char** error) {
  return Guard(error, [&]() -> absl::Status {
    if (result_json == nullptr) return NullArgument("the result out-pointer");
    *result_json = nullptr;
    if (request == nullptr) return NullArgument("the request");
    {
      std::lock_guard<std::mutex> lock(request->mu);
      if (request->result_taken) return AfterResult(*request);
    }
    absl::StatusOr<matspec::GenerationResult> result = request->request->Wait();
    std::lock_guard<std::mutex> lock(request->mu);
    if (request->result_taken) return AfterResult(*request);  // another thread waited too and won
    request->result_taken = true;
    if (!result.ok()) return result.status();
    *result_json = CopyString(matspec::GenerationResultJson(*result));
    return absl::OkStatus();
  });
}

matspec_status matspec_request_stats(matspec_request* request, char** stats_json, char** error) {
  return Guard(error, [&]() -> absl::Status {
    if (stats_json == nullptr) return NullArgument("the stats out-pointer");
    *stats_json = nullptr;
    if (request == nullptr) return NullArgument("the request");
    {
      std::lock_guard<std::mutex> lock(request->mu);
      if (request->result_taken) return AfterResult(*request);
    }
    *stats_json = CopyString(matspec::GenerationStatsJson(request->request->Stats()));
    return absl::OkStatus();
  });
}

void matspec_request_destroy(matspec_request* request) {
  try {
    delete request;  // ~Request cancels and joins
  } catch (...) {
  }
}

matspec_status matspec_generate(matspec_engine* engine, const char* prompt, const char* options_json,
                                matspec_stream_callback callback, void* user_data, char** result_json,
                                char** error) {
  if (result_json != nullptr) *result_json = nullptr;
  matspec_request* request = nullptr;
  if (matspec_status s = matspec_submit(engine, prompt, options_json, callback, user_data, &request, error);
      s != MATSPEC_OK) {
    return s;
  }
  const matspec_status s = matspec_request_wait(request, result_json, error);
  matspec_request_destroy(request);
  return s;
}

}  // extern "C"
