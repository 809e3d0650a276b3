// ServerMetrics: the counters are the sums of the recorded requests, and the
// exposition is well-formed Prometheus text (the serve test parses it with
// prometheus_client too).
#include "server/metrics.h"

#include <gtest/gtest.h>

namespace matspec::server {
namespace {

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(ServerMetricsTest, CountersSumTheRequests) {
  ServerMetrics m("tiny");
  RequestRecord a;
  a.stats.prompt_tokens = 4;
  a.stats.generated_tokens = 10;
  a.stats.drafted_tokens = 9;
  a.stats.accepted_tokens = 6;
  a.stats.per_position_drafted = {3, 3, 3};
  a.stats.per_position_accepted = {3, 2, 1};
  a.finished_reason = "length";
  a.e2e_seconds = 0.2;
  a.ttft_seconds = 0.004;
  a.inter_token_seconds = {0.001, 0.001};
  RequestRecord b;
  b.stats.prompt_tokens = 2;
  b.stats.generated_tokens = 5;
  b.finished_reason = "stop";
  b.e2e_seconds = 50;
  m.RecordRequest(a);
  m.RecordRequest(b);
  m.RecordError(503);
  const std::string t = m.Render(/*running=*/2, /*waiting=*/1);
  EXPECT_TRUE(Has(t, "matspec:num_requests_running{model_name=\"tiny\"} 2")) << t;
  EXPECT_TRUE(Has(t, "matspec:num_requests_waiting{model_name=\"tiny\"} 1"));
  EXPECT_TRUE(Has(t, "matspec:prompt_tokens_total{model_name=\"tiny\"} 6"));
  EXPECT_TRUE(Has(t, "matspec:generation_tokens_total{model_name=\"tiny\"} 15"));
  EXPECT_TRUE(Has(t, "matspec:spec_decode_num_drafts_total{model_name=\"tiny\"} 3"));
  EXPECT_TRUE(Has(t, "matspec:spec_decode_num_draft_tokens_total{model_name=\"tiny\"} 9"));
  EXPECT_TRUE(Has(t, "matspec:spec_decode_num_accepted_tokens_total{model_name=\"tiny\"} 6"));
  EXPECT_TRUE(Has(t, "matspec:spec_decode_num_accepted_tokens_per_pos_total{model_name=\"tiny\",position=\"2\"} 1"));
  EXPECT_TRUE(Has(t, "matspec:request_success_total{model_name=\"tiny\",finished_reason=\"stop\"} 1"));
  EXPECT_TRUE(Has(t, "matspec:request_success_total{model_name=\"tiny\",finished_reason=\"length\"} 1"));
  EXPECT_TRUE(Has(t, "matspec:request_errors_total{model_name=\"tiny\",status=\"503\"} 1"));
  EXPECT_TRUE(Has(t, "matspec:e2e_request_latency_seconds_count{model_name=\"tiny\"} 2"));
  EXPECT_TRUE(Has(t, "matspec:e2e_request_latency_seconds_bucket{model_name=\"tiny\",le=\"0.3\"} 1"))
      << t;
  EXPECT_TRUE(Has(t, "matspec:e2e_request_latency_seconds_bucket{model_name=\"tiny\",le=\"+Inf\"} 2"));
  EXPECT_TRUE(Has(t, "matspec:inter_token_latency_seconds_count{model_name=\"tiny\"} 2"));
  EXPECT_TRUE(Has(t, "matspec:time_to_first_token_seconds_count{model_name=\"tiny\"} 1"));
}

TEST(ServerMetricsTest, LabelValuesAreEscaped) {
  ServerMetrics m("a\"b\\c");
  EXPECT_NE(m.Render(0, 0).find("model_name=\"a\\\"b\\\\c\""), std::string::npos);
}

TEST(HistogramTest, BucketsAreCumulativeAndInclusive) {
  Histogram h({1.0, 2.0});
  h.Observe(1.0);
  h.Observe(1.5);
  h.Observe(9.0);
  const std::string t = h.Render("x", "l=\"v\"");
  EXPECT_TRUE(Has(t, "x_bucket{l=\"v\",le=\"1\"} 1")) << t;
  EXPECT_TRUE(Has(t, "x_bucket{l=\"v\",le=\"2\"} 2"));
  EXPECT_TRUE(Has(t, "x_bucket{l=\"v\",le=\"+Inf\"} 3"));
  EXPECT_TRUE(Has(t, "x_sum{l=\"v\"} 11.5"));
  EXPECT_TRUE(Has(t, "x_count{l=\"v\"} 3"));
}

}  // namespace
}  // namespace matspec::server
