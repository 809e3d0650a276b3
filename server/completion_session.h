// One admitted completion request, from Engine::Submit to the last byte,
// independent of the HTTP library: the caller passes a `write` function for
// the bytes of a streamed answer, which returns false once the client is gone.
//
//   CompletionSession session(engine, request, header, metrics, live, arrival);
//   if (std::optional<ApiError> e = session.Start()) -> answer *e (nothing was sent)
//   streaming:  session.Stream(write)          (SSE chunks, [DONE])
//   otherwise:  session.Finish() -> body or error
//
// Start() waits for the request's first event, so an error that ends a request
// before it generates (a prompt longer than the context, an unknown slice)
// is still answered with its status and error object instead of a stream.
// A client that disconnects mid-stream cancels its request (Request::Cancel):
// its sequence leaves the batch before the next round. Stop strings are cut
// out of the text (StopStringFilter) and cancel the request once matched.
// Every session records its usage into the metrics once it ends, so the
// counters equal the sums of the answered usage objects. Usage counts every
// token the engine generated, those after a matched stop string in the same
// round included (the text stops at the stop string).
#ifndef MATSPEC_SERVER_COMPLETION_SESSION_H_
#define MATSPEC_SERVER_COMPLETION_SESSION_H_

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "matspec/matspec.h"
#include "server/api_error.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/stop_strings.h"

namespace matspec::server {

// The requests generating now, so that shutdown can cancel them. Thread-safe.
class LiveRequests {
 public:
  void Add(const std::shared_ptr<Request>& request);
  void Remove(const std::shared_ptr<Request>& request);
  void CancelAll();

 private:
  std::mutex mutex_;
  std::set<std::shared_ptr<Request>> requests_;
};

class CompletionSession {
 public:
  using Clock = std::chrono::steady_clock;

  CompletionSession(Engine& engine, CompletionRequest request, ResponseHeader header, ServerMetrics& metrics,
                    LiveRequests& live, Clock::time_point arrival);
  ~CompletionSession();
  CompletionSession(const CompletionSession&) = delete;
  CompletionSession& operator=(const CompletionSession&) = delete;

  // Submits the request and waits for its first event; an error to answer
  // instead (400 for the request's faults, 500 otherwise) if it ended first.
  std::optional<ApiError> Start();

  // Streams the answer as server-sent events through `write`: chunks of text,
  // the last with finish_reason, the usage chunk if asked, then [DONE]. An
  // error while generating becomes a final `data: {"error": ...}` event.
  // Returns false when `write` failed (the client left; the request was cancelled).
  bool Stream(const std::function<bool(std::string_view bytes)>& write);

  // Waits for the end: the completion object, or the error that ended it.
  std::variant<std::string, ApiError> Finish();

  // For a stream that never started (the client left before its first
  // byte): cancels the request and records it. Does nothing after Stream.
  void Abandon();

 private:
  // Reads every event, passing shown text to `on_text` (false = client gone);
  // then waits for the result and records the metrics.
  void Drain(const std::function<bool(const std::string& text)>& on_text);
  void TakeEvent(const RequestEvent& event, Clock::time_point now);

  Engine& engine_;
  const CompletionRequest request_;
  const ResponseHeader header_;
  ServerMetrics& metrics_;
  LiveRequests& live_;
  const Clock::time_point arrival_;
  std::shared_ptr<Request> handle_;
  std::optional<RequestEvent> first_event_;
  StopStringFilter stops_;
  std::string pending_text_;  // shown text not yet passed on
  bool client_gone_ = false;
  bool drained_ = false;
  // Timings for the metrics.
  std::optional<Clock::time_point> last_event_;
  RequestRecord record_;
  // The end.
  absl::StatusOr<GenerationResult> result_;
};

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_COMPLETION_SESSION_H_
