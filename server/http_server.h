// `matspec serve`: an OpenAI-compatible HTTP server over one loaded Engine
// (cpp-httplib; the HTTP library stays inside http_server.cc).
//
//   GET  /health                 200 {"status": "ok"} while serving, 503 while shutting down (no key needed)
//   GET  /v1/models              the one served model
//   GET  /metrics                Prometheus text (server/metrics.h)
//   POST /v1/completions         } OpenAI bodies (server/openai_request.h); "stream": true answers with
//   POST /v1/chat/completions    } server-sent events ending "data: [DONE]"
// Any other route is 404; every error is OpenAI's error object
// (server/api_error.h). With an API key, every route but /health needs
// "Authorization: Bearer KEY" (401 otherwise). Bodies above max_body_bytes
// get 413.
//
// Admission: at most max_sequences requests generate at once (the engine's
// batch) and at most max_queue wait; more get 503 at once (AdmissionGate).
// The server keeps no state between requests, so replicas behind any HTTP
// load balancer scale it out; /health is the readiness probe.
//
// Shutdown() (the CLI calls it on SIGTERM): /health turns 503 and new requests
// get 503; requests running or waiting may finish within the grace period;
// then the rest are cancelled (their streams end with finish_reason "abort"
// never sent: the connection closes) and Serve() returns.
#ifndef MATSPEC_SERVER_HTTP_SERVER_H_
#define MATSPEC_SERVER_HTTP_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "matspec/matspec.h"
#include "server/openai_request.h"

namespace matspec::server {

struct ServerOptions {
  std::string host = "127.0.0.1";     // loopback unless asked otherwise (--host)
  int port = 8080;                    // 0: any free port (Bind() says which)
  int64_t max_sequences = 16;         // requests generating at once (--max-sequences)
  int64_t max_queue = 64;             // requests waiting for a slot (--max-queue)
  std::string api_key;                // "" = no authentication (--api-key)
  int64_t max_body_bytes = 1 << 20;   // larger bodies get 413 (--max-body-bytes)
  double shutdown_grace_seconds = 30; // how long running requests may finish after SIGTERM

  // InvalidArgument naming the flag.
  absl::Status Validate() const;
};

class HttpServer {
 public:
  // `engine` must outlive the server.
  HttpServer(Engine& engine, ServingDefaults defaults, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port (the chosen one for port 0).
  absl::StatusOr<int> Bind();
  // Serves until Shutdown() has drained the requests; OK on a clean stop.
  absl::Status Serve();
  // Thread-safe, returns once Serve() is stopping (see the header comment).
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_HTTP_SERVER_H_
