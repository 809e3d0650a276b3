// The server's Prometheus metrics (GET /metrics, text format 0.0.4), with
// vLLM's names under a `matspec:` prefix so dashboards built for vLLM read
// them: token and request counters, the speculative-decoding counters
// (spec_decode_num_drafts, _num_draft_tokens, _num_accepted_tokens,
// _num_accepted_tokens_per_pos{position}), the running/waiting gauges, and
// latency histograms (time to first token, inter-token latency, end to end).
// Every sample carries model_name. Counters only grow; each finished request
// adds exactly what its `usage` reports, so the counters equal the sums of the
// responses' usage fields.
#ifndef MATSPEC_SERVER_METRICS_H_
#define MATSPEC_SERVER_METRICS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "matspec/matspec.h"

namespace matspec::server {

// A histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void Observe(double value);
  // The _bucket (cumulative), _sum and _count lines of `name`.
  std::string Render(const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0.0;
  int64_t count_ = 0;
};

// What one request contributes, recorded once when it ends.
struct RequestRecord {
  GenerationStats stats;              // prompt/generated/drafted/accepted tokens, per position
  std::string finished_reason;        // "stop", "length" or "abort" (cancelled, disconnected)
  double e2e_seconds = 0.0;           // from admission to the last byte
  std::optional<double> ttft_seconds; // to the first generated text event
  std::vector<double> inter_token_seconds;  // one per token after the first event
};

class ServerMetrics {
 public:
  explicit ServerMetrics(std::string model_name);

  void RecordRequest(const RequestRecord& record);
  // An answered error (400, 404, 413, 503, ...), counted by status.
  void RecordError(int http_status);

  // The whole exposition; `running`/`waiting` are the admission gate's now.
  std::string Render(int64_t running, int64_t waiting) const;

 private:
  const std::string labels_;  // model_name="..."
  mutable std::mutex mutex_;
  int64_t prompt_tokens_ = 0;
  int64_t generation_tokens_ = 0;
  std::map<std::string, int64_t> success_by_reason_;
  std::map<int, int64_t> errors_by_status_;
  int64_t num_drafts_ = 0;
  int64_t num_draft_tokens_ = 0;
  int64_t num_accepted_tokens_ = 0;
  std::vector<int64_t> accepted_per_position_;
  Histogram ttft_;
  Histogram inter_token_;
  Histogram e2e_;
};

// The number of speculation rounds that drafted at least one token (vLLM's
// num_drafts): the rounds that drafted a first position.
int64_t NumDrafts(const GenerationStats& stats);

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_METRICS_H_
