#include "server/completion_session.h"

#include "absl/strings/match.h"

namespace matspec::server {
namespace {

// The body field an engine error is about: the draft's flags belong to "speculative".
std::string ParamOf(const absl::Status& status, const CompletionRequest& request) {
  const Endpoint endpoint = request.endpoint;
  const std::string message(status.message());
  if (absl::StrContains(message, "slice") || absl::StrContains(message, "--draft")) return "speculative";
  if (absl::StrContains(message, "max_new_tokens")) return request.max_tokens_field;
  if (absl::StrContains(message, "prompt")) return endpoint == Endpoint::kChatCompletions ? "messages" : "prompt";
  return "";
}

}  // namespace

void LiveRequests::Add(const std::shared_ptr<Request>& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  requests_.insert(request);
}

void LiveRequests::Remove(const std::shared_ptr<Request>& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  requests_.erase(request);
}

void LiveRequests::CancelAll() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::shared_ptr<Request>& r : requests_) r->Cancel();
}

CompletionSession::CompletionSession(Engine& engine, CompletionRequest request, ResponseHeader header,
                                     ServerMetrics& metrics, LiveRequests& live, Clock::time_point arrival)
    : engine_(engine),
      request_(std::move(request)),
      header_(std::move(header)),
      metrics_(metrics),
      live_(live),
      arrival_(arrival),
      stops_(request_.stop),
      result_(absl::UnknownError("not started")) {}

CompletionSession::~CompletionSession() {
  if (handle_ != nullptr) {
    handle_->Cancel();  // no-op once ended
    live_.Remove(handle_);
  }
}

std::optional<ApiError> CompletionSession::Start() {
  absl::StatusOr<std::shared_ptr<Request>> submitted =
      request_.has_prompt_ids ? engine_.SubmitTokens(request_.prompt_ids, request_.options)
                              : engine_.Submit(request_.prompt, request_.options);
  if (!submitted.ok()) return FromStatus(submitted.status(), ParamOf(submitted.status(), request_));
  handle_ = *std::move(submitted);
  live_.Add(handle_);
  first_event_ = handle_->Next();
  if (first_event_) {
    TakeEvent(*first_event_, Clock::now());
    return std::nullopt;
  }
  result_ = handle_->Wait();
  if (!result_.ok()) {
    live_.Remove(handle_);
    return FromStatus(result_.status(), ParamOf(result_.status(), request_));
  }
  return std::nullopt;
}

void CompletionSession::TakeEvent(const RequestEvent& event, Clock::time_point now) {
  if (event.tokens.empty()) return;
  if (!last_event_) {
    record_.ttft_seconds = std::chrono::duration<double>(now - arrival_).count();
  } else {
    const double gap = std::chrono::duration<double>(now - *last_event_).count();
    for (size_t i = 0; i < event.tokens.size(); ++i) {
      record_.inter_token_seconds.push_back(gap / static_cast<double>(event.tokens.size()));
    }
  }
  last_event_ = now;
}

void CompletionSession::Drain(const std::function<bool(const std::string& text)>& on_text) {
  if (drained_) return;
  drained_ = true;
  auto emit = [&](const std::string& text) {
    if (text.empty() || client_gone_) return;
    if (!on_text(text)) {
      client_gone_ = true;
      handle_->Cancel();
    }
  };
  auto process = [&](const RequestEvent& event) {
    if (stops_.stopped() || client_gone_) return;  // the rest is read only to reach the end
    const std::string shown = stops_.Push(event.text);
    if (stops_.stopped()) handle_->Cancel();
    emit(shown);
  };
  if (first_event_) {
    process(*first_event_);
    first_event_.reset();
    while (std::optional<RequestEvent> event = handle_->Next()) {
      TakeEvent(*event, Clock::now());
      process(*event);
    }
    result_ = handle_->Wait();
  }
  live_.Remove(handle_);
  if (!result_.ok()) return;
  emit(stops_.Flush());
  record_.stats = result_->stats;
  record_.finished_reason =
      client_gone_ ? "abort" : FinishReason(result_->stats.stop_reason, stops_.stopped());
  record_.e2e_seconds = std::chrono::duration<double>(Clock::now() - arrival_).count();
  metrics_.RecordRequest(record_);
}

bool CompletionSession::Stream(const std::function<bool(std::string_view bytes)>& write) {
  const bool chat = header_.endpoint == Endpoint::kChatCompletions;
  if (chat && !write(SseEvent(ChunkJson(header_, "", "", /*first=*/true)))) {
    client_gone_ = true;
    handle_->Cancel();
  }
  Drain([&](const std::string& text) { return write(SseEvent(ChunkJson(header_, text, "", /*first=*/false))); });
  if (client_gone_) return false;
  if (!result_.ok()) {
    return write(SseEvent(ErrorJson(FromStatus(result_.status(), ParamOf(result_.status(), request_))))) && write(kSseDone);
  }
  const std::string finish = FinishReason(result_->stats.stop_reason, stops_.stopped());
  bool ok = write(SseEvent(ChunkJson(header_, "", finish, /*first=*/false)));
  if (ok && request_.include_usage) ok = write(SseEvent(UsageChunkJson(header_, result_->stats)));
  return ok && write(kSseDone);
}

void CompletionSession::Abandon() {
  if (drained_ || handle_ == nullptr) return;
  client_gone_ = true;
  handle_->Cancel();
  Drain([](const std::string&) { return false; });
}

std::variant<std::string, ApiError> CompletionSession::Finish() {
  std::string text;
  Drain([&text](const std::string& piece) {
    text += piece;
    return true;
  });
  if (!result_.ok()) return FromStatus(result_.status(), ParamOf(result_.status(), request_));
  return CompletionJson(header_, text, FinishReason(result_->stats.stop_reason, stops_.stopped()), result_->stats);
}

}  // namespace matspec::server
