#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/admission_gate.h"
#include "server/completion_session.h"
#include "server/metrics.h"
#include "server/openai_response.h"

namespace matspec::server {
namespace {

using Clock = std::chrono::steady_clock;

// Handler threads beyond the admitted requests: health checks, metrics, and
// answering 503 while the queue is full.
constexpr int64_t kSpareHandlerThreads = 8;
// After the grace period, how long cancelled requests get to stop.
constexpr auto kCancelWait = std::chrono::seconds(10);

int64_t UnixSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

// Compares without an early exit, so the time taken does not tell how much of a key matched.
bool SameKey(const std::string& given, const std::string& key) {
  if (given.size() != key.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i]);
  return diff == 0;
}

}  // namespace

absl::Status ServerOptions::Validate() const {
  if (port < 0 || port > 65535) return absl::InvalidArgumentError(absl::StrCat("--port ", port, " is not in [0, 65535]"));
  if (max_sequences < 1 || max_sequences > 4096) {
    return absl::InvalidArgumentError(absl::StrCat("--max-sequences ", max_sequences, " is not in [1, 4096]"));
  }
  if (max_queue < 0 || max_queue > 4096) {
    return absl::InvalidArgumentError(absl::StrCat("--max-queue ", max_queue, " is not in [0, 4096]"));
  }
  if (max_body_bytes < 1024 || max_body_bytes > (int64_t{64} << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("--max-body-bytes ", max_body_bytes, " is not in [1024, 64 MiB]"));
  }
  if (!(shutdown_grace_seconds >= 0 && shutdown_grace_seconds <= 3600)) {
    return absl::InvalidArgumentError("--shutdown-grace must be in [0, 3600] seconds");
  }
  return absl::OkStatus();
}

struct HttpServer::Impl {
  Impl(Engine& e, ServingDefaults d, ServerOptions o)
      : engine(e),
        defaults(std::move(d)),
        options(std::move(o)),
        metrics(defaults.model_name),
        gate(options.max_sequences, options.max_queue),
        started(UnixSeconds()) {}

  void Answer(httplib::Response& res, const ApiError& error) {
    metrics.RecordError(error.http_status);
    res.status = error.http_status;
    res.set_content(ErrorJson(error), "application/json");
  }

  bool Authorized(const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (absl::StartsWith(header, prefix) && SameKey(header.substr(prefix.size()), options.api_key)) return true;
    Answer(res, ApiError{.http_status = 401,
                         .message = "missing or wrong API key (send \"Authorization: Bearer KEY\")",
                         .type = "authentication_error",
                         .param = "",
                         .code = "invalid_api_key"});
    return false;
  }

  void Complete(const httplib::Request& req, const std::string& body, httplib::Response& res, Endpoint endpoint);

  ApiError BodyTooLarge() const {
    ApiError e = BadRequest(absl::StrCat("the body exceeds ", options.max_body_bytes, " bytes (--max-body-bytes)"), "",
                            "body_too_large");
    e.http_status = 413;
    return e;
  }
  void Install();

  Engine& engine;
  const ServingDefaults defaults;
  const ServerOptions options;
  ServerMetrics metrics;
  AdmissionGate gate;
  LiveRequests live;
  const int64_t started;
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> draining{false};
  httplib::Server http;
};

void HttpServer::Impl::Complete(const httplib::Request& req, const std::string& body, httplib::Response& res,
                                Endpoint endpoint) {
  const Clock::time_point arrival = Clock::now();
  if (!Authorized(req, res)) return;
  const ApiError shutting_down = ServerError(503, "the server is shutting down", "shutting_down");
  if (draining) return Answer(res, shutting_down);
  CompletionRequest request;
  if (std::optional<ApiError> e = ParseCompletionRequest(body, endpoint, defaults, &request)) return Answer(res, *e);

  auto slot = std::make_shared<AdmissionGate::Slot>();
  switch (gate.Enter(slot.get())) {
    case AdmissionGate::Outcome::kAdmitted:
      break;
    case AdmissionGate::Outcome::kQueueFull:
      return Answer(res, ServerError(503,
                                     absl::StrCat("the server is full: ", options.max_sequences,
                                                  " requests running and ", options.max_queue,
                                                  " waiting (--max-sequences, --max-queue); retry later"),
                                     "queue_full"));
    case AdmissionGate::Outcome::kClosed:
      return Answer(res, shutting_down);
  }
  const bool chat = endpoint == Endpoint::kChatCompletions;
  ResponseHeader header{.endpoint = endpoint,
                        .id = absl::StrCat(chat ? "chatcmpl-" : "cmpl-", next_id.fetch_add(1)),
                        .created = UnixSeconds(),
                        .model = defaults.model_name};
  const bool stream = request.stream;
  auto session = std::make_shared<CompletionSession>(engine, std::move(request), std::move(header), metrics, live,
                                                     arrival);
  if (std::optional<ApiError> e = session->Start()) return Answer(res, *e);
  if (!stream) {
    std::variant<std::string, ApiError> answer = session->Finish();
    slot->Release();
    if (const ApiError* e = std::get_if<ApiError>(&answer)) return Answer(res, *e);
    res.set_content(std::get<std::string>(answer), "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [session, slot](size_t /*offset*/, httplib::DataSink& sink) {
        const bool stayed = session->Stream([&sink](std::string_view bytes) { return sink.write(bytes.data(), bytes.size()); });
        slot->Release();
        if (stayed) sink.done();
        return stayed;
      },
      // Runs when the response goes away, also when the provider never ran.
      [session, slot](bool /*success*/) {
        session->Abandon();
        slot->Release();
      });
}

void HttpServer::Impl::Install() {
  http.new_task_queue = [n = options.max_sequences + options.max_queue + kSpareHandlerThreads] {
    return new httplib::ThreadPool(static_cast<size_t>(n));
  };
  http.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  http.set_tcp_nodelay(true);

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.status = draining ? 503 : 200;
    res.set_content(draining ? R"({"status":"shutting_down"})" : R"({"status":"ok"})", "application/json");
  });
  http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    res.set_content(ModelsJson(defaults.model_name, started), "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    res.set_content(metrics.Render(gate.running(), gate.waiting()), "text/plain; version=0.0.4; charset=utf-8");
  });
  // The bodies are read here rather than by httplib, which caps bodies sent
  // as application/x-www-form-urlencoded (curl -d's default) at 8 KiB.
  for (const auto& [path, endpoint] : {std::pair{"/v1/completions", Endpoint::kCompletions},
                                       std::pair{"/v1/chat/completions", Endpoint::kChatCompletions}}) {
    http.Post(path, [this, endpoint = endpoint](const httplib::Request& req, httplib::Response& res,
                                                const httplib::ContentReader& read) {
      std::string body;
      bool too_large = false;
      const bool complete = read([&](const char* data, size_t n) {
        too_large = body.size() + n > static_cast<size_t>(options.max_body_bytes);
        if (!too_large) body.append(data, n);
        return !too_large;
      });
      if (too_large || (!complete && req.get_header_value<uint64_t>("Content-Length") >
                                         static_cast<uint64_t>(options.max_body_bytes))) {
        return Answer(res, BodyTooLarge());
      }
      if (!complete) return Answer(res, BadRequest("the body could not be read (shorter than its Content-Length?)"));
      Complete(req, body, res, endpoint);
    });
  }
  // Errors httplib answers itself (unknown route, oversized or unreadable
  // body) get OpenAI's error object too; handlers' own errors already have one.
  http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                     httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e = BadRequest(absl::StrCat("HTTP ", res.status));
    e.http_status = res.status;
    if (res.status == 404) {
      e.message = absl::StrCat("no route ", req.method, " ", req.path);
      e.code = "not_found";
    } else if (res.status == 405) {
      e.message = absl::StrCat("method ", req.method, " is not allowed on ", req.path);
    } else if (res.status == 413) {
      e = BodyTooLarge();
    } else if (res.status >= 500) {
      e.type = "server_error";
    }
    metrics.RecordError(e.http_status);
    res.set_content(ErrorJson(e), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    Answer(res, ServerError(500, "internal error"));
  });
}

HttpServer::HttpServer(Engine& engine, ServingDefaults defaults, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(defaults), std::move(options))) {
  impl_->Install();
}

HttpServer::~HttpServer() = default;

absl::StatusOr<int> HttpServer::Bind() {
  const ServerOptions& o = impl_->options;
  if (o.port == 0) {
    const int port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) return absl::UnavailableError(absl::StrCat("--host ", o.host, ": cannot bind a port"));
    return port;
  }
  if (!impl_->http.bind_to_port(o.host, o.port)) {
    return absl::UnavailableError(absl::StrCat("--host ", o.host, " --port ", o.port,
                                               ": cannot bind (in use, or not an address of this machine)"));
  }
  return o.port;
}

absl::Status HttpServer::Serve() {
  if (!impl_->http.listen_after_bind() && !impl_->draining) {
    return absl::UnavailableError("the server stopped listening unexpectedly");
  }
  return absl::OkStatus();
}

void HttpServer::Shutdown() {
  Impl& s = *impl_;
  if (s.draining.exchange(true)) return;
  s.gate.Close(/*release_waiting=*/false);
  const auto grace = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(s.options.shutdown_grace_seconds));
  if (!s.gate.WaitIdle(Clock::now() + grace)) {
    s.gate.Close(/*release_waiting=*/true);
    const Clock::time_point give_up = Clock::now() + kCancelWait;
    do {
      s.live.CancelAll();
    } while (!s.gate.WaitIdle(std::min(give_up, Clock::now() + std::chrono::milliseconds(50))) &&
             Clock::now() < give_up);
  }
  s.http.stop();
}

}  // namespace matspec::server
