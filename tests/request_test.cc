// The request API (Engine::Submit / Request): streamed events add up to the
// result and equal Engine::Generate; Cancel stops within one round with the
// partial tokens and statistics, with or without a tokenizer; a running
// request outlives its Engine; dropping a handle cancels and joins; many
// concurrent requests give their solo tokens; bad options fail at Submit.
#include <atomic>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "matspec/matspec.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/concurrent_generation.h"

namespace matspec {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Engine> LoadBundled() {
  auto engine = Engine::Load({.model_dir = "models/matlm-tiny", .num_threads = 1});
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

GenerationOptions Greedy(int64_t n) {
  GenerationOptions o;
  o.max_new_tokens = n;
  o.stop_at_eos = false;
  o.draft = testing::BundledQuarterDraft();
  return o;
}

struct Drained {
  std::vector<int32_t> tokens;
  std::string text;
  int events = 0;
};

Drained Drain(Request& request) {
  Drained d;
  while (std::optional<RequestEvent> e = request.Next()) {
    d.tokens.insert(d.tokens.end(), e->tokens.begin(), e->tokens.end());
    d.text += e->text;
    ++d.events;
  }
  return d;
}

TEST(RequestTest, StreamedEventsAddUpToTheResultAndEqualGenerate) {
  std::unique_ptr<Engine> engine = LoadBundled();
  ASSERT_NE(engine, nullptr);
  const GenerationOptions opt = Greedy(40);
  absl::StatusOr<GenerationResult> direct = engine->Generate("Once upon a time", opt);
  ASSERT_TRUE(direct.ok()) << direct.status();

  absl::StatusOr<std::shared_ptr<Request>> request = engine->Submit("Once upon a time", opt);
  ASSERT_TRUE(request.ok()) << request.status();
  const Drained streamed = Drain(**request);
  absl::StatusOr<GenerationResult> result = (*request)->Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE((*request)->Done());
  EXPECT_EQ(result->tokens, direct->tokens);
  EXPECT_EQ(streamed.tokens, result->tokens);
  EXPECT_EQ(streamed.text, result->text);
  EXPECT_EQ(result->stats.stop_reason, "length");
  EXPECT_EQ(result->stats.rounds, direct->stats.rounds);
  EXPECT_GE(streamed.events, result->stats.rounds);  // one per round (+ a text-only remainder)
  EXPECT_EQ((*request)->Stats().generated_tokens, 40);
  // Wait may be called again.
  absl::StatusOr<GenerationResult> again = (*request)->Wait();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tokens, result->tokens);
}

TEST(RequestTest, CancelStopsWithinOneRoundAndKeepsThePartialResult) {
  std::unique_ptr<Engine> engine = LoadBundled();
  ASSERT_NE(engine, nullptr);
  const GenerationOptions opt = Greedy(300);
  absl::StatusOr<GenerationResult> full = engine->Generate("In the beginning", opt);
  ASSERT_TRUE(full.ok()) << full.status();

  absl::StatusOr<std::shared_ptr<Request>> request = engine->Submit("In the beginning", opt);
  ASSERT_TRUE(request.ok()) << request.status();
  std::vector<int32_t> seen;
  for (int i = 0; i < 3; ++i) {
    std::optional<RequestEvent> e = (*request)->Next();
    ASSERT_TRUE(e.has_value());
    seen.insert(seen.end(), e->tokens.begin(), e->tokens.end());
  }
  const GenerationStats so_far = (*request)->Stats();
  EXPECT_GE(so_far.rounds, 3);
  EXPECT_GE(so_far.generated_tokens, static_cast<int64_t>(seen.size()));
  EXPECT_GT(so_far.drafted_tokens, 0);
  (*request)->Cancel();
  // Rounds done once the flag is set: at most the one in flight may follow.
  const int64_t rounds_at_cancel = (*request)->Stats().rounds;
  while (std::optional<RequestEvent> e = (*request)->Next()) seen.insert(seen.end(), e->tokens.begin(), e->tokens.end());
  absl::StatusOr<GenerationResult> result = (*request)->Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.stop_reason, "cancelled");
  EXPECT_LE(result->stats.rounds, rounds_at_cancel + 1);
  EXPECT_EQ(result->tokens, seen);
  ASSERT_LT(result->tokens.size(), full->tokens.size());
  EXPECT_EQ(result->stats.generated_tokens, static_cast<int64_t>(result->tokens.size()));
  EXPECT_GT(result->stats.rounds, 0);
  EXPECT_GT(result->stats.drafted_tokens, 0);
  // The partial output is the start of the uncancelled one (greedy).
  EXPECT_TRUE(std::equal(result->tokens.begin(), result->tokens.end(), full->tokens.begin()));
  (*request)->Cancel();  // after the end: nothing happens
  EXPECT_EQ((*request)->Wait()->stats.stop_reason, "cancelled");
}

TEST(RequestTest, CancelWorksWithoutATokenizer) {
  testing::ScopedTempDir dir;
  testing::TinyLlamaOptions tiny;
  tiny.max_pos = 512;
  ASSERT_TRUE(testing::WriteTinyLlama(dir.path(), tiny).ok());
  auto engine = Engine::Load({.model_dir = dir.path(), .num_threads = 1});
  ASSERT_TRUE(engine.ok()) << engine.status();
  GenerationOptions opt;
  opt.max_new_tokens = 400;
  opt.stop_at_eos = false;
  EXPECT_THAT((*engine)->Submit("text", opt).status().message(), HasSubstr("no tokenizer"));

  std::atomic<int> events{0};
  // The callback cancels its own request on the second round (the handle
  // reaches it through a future: the first rounds may run before Submit returns).
  std::promise<std::shared_ptr<Request>> handle;
  std::shared_future<std::shared_ptr<Request>> handle_ready = handle.get_future().share();
  absl::StatusOr<std::shared_ptr<Request>> submitted =
      (*engine)->SubmitTokens({1, 2, 3}, opt, [&](const RequestEvent& e) {
        EXPECT_TRUE(e.text.empty());
        if (++events == 2) handle_ready.get()->Cancel();
        return true;
      });
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  std::shared_ptr<Request> request = *submitted;
  handle.set_value(request);
  absl::StatusOr<GenerationResult> result = request->Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.stop_reason, "cancelled");
  EXPECT_LE(events.load(), 2);
  EXPECT_EQ(result->stats.rounds, events.load());
  EXPECT_GT(result->tokens.size(), 0u);
  EXPECT_LT(result->tokens.size(), 400u);
  EXPECT_TRUE(result->text.empty());
}

TEST(RequestTest, CallbackReturningFalseStops) {
  std::unique_ptr<Engine> engine = LoadBundled();
  ASSERT_NE(engine, nullptr);
  int events = 0;
  absl::StatusOr<std::shared_ptr<Request>> request =
      engine->Submit("Once", Greedy(200), [&](const RequestEvent&) { return ++events < 3; });
  ASSERT_TRUE(request.ok());
  EXPECT_FALSE((*request)->Next().has_value());  // with a callback nothing queues
  absl::StatusOr<GenerationResult> result = (*request)->Wait();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->stats.stop_reason, "callback");
  EXPECT_EQ(result->stats.rounds, 3);
}

TEST(RequestTest, ARunningRequestOutlivesItsEngine) {
  std::unique_ptr<Engine> engine = LoadBundled();
  ASSERT_NE(engine, nullptr);
  const GenerationOptions opt = Greedy(120);
  absl::StatusOr<GenerationResult> solo = engine->Generate("The king", opt);
  ASSERT_TRUE(solo.ok());
  absl::StatusOr<std::shared_ptr<Request>> request = engine->Submit("The king", opt);
  ASSERT_TRUE(request.ok());
  engine.reset();
  absl::StatusOr<GenerationResult> result = (*request)->Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->tokens, solo->tokens);
}

TEST(RequestTest, DroppingTheHandleCancelsAndJoins) {
  std::unique_ptr<Engine> engine = LoadBundled();
  ASSERT_NE(engine, nullptr);
  std::atomic<int> events{0};
  absl::StatusOr<std::shared_ptr<Request>> request =
      engine->Submit("The king", Greedy(900), [&](const RequestEvent&) {
        ++events;
        return true;
      });
  ASSERT_TRUE(request.ok());
  while (events.load() < 2) std::this_thread::yield();
  request->reset();  // cancels and waits for the thread
  const int at_drop = events.load();
  EXPECT_LT(at_drop, 900);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(events.load(), at_drop);  // nothing runs any more
}

TEST(RequestTest, BadOptionsFailAtSubmitNamingTheFlag) {
  std::unique_ptr<Engine> engine = LoadBundled();
  ASSERT_NE(engine, nullptr);
  GenerationOptions bad = Greedy(10);
  bad.draft.draft_max = 0;
  EXPECT_THAT(engine->Submit("x", bad).status().message(), HasSubstr("--draft-max"));
  GenerationOptions unknown_slice = Greedy(10);
  unknown_slice.draft.slice_name = "no such slice";
  EXPECT_THAT(engine->Submit("x", unknown_slice).status().message(), HasSubstr("no such slice"));
  EXPECT_THAT(engine->SubmitTokens({1, 99999}, Greedy(10)).status().message(),
              HasSubstr("outside the vocabulary"));
  // A prompt that fills the context fails while running: the error comes back from Wait().
  GenerationOptions small = Greedy(10);
  small.context_size = 4;
  absl::StatusOr<std::shared_ptr<Request>> r = engine->SubmitTokens({1, 2, 3, 4, 5}, small);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT((*r)->Wait().status().message(), HasSubstr("--ctx-size"));
}

TEST(RequestTest, ConcurrentRequestsEqualTheirSoloRuns) {
  std::unique_ptr<Engine> engine = LoadBundled();
  ASSERT_NE(engine, nullptr);
  const std::vector<testing::GenerationRequest> mixed =
      testing::MixedRequests(engine->Describe().vocab_size, testing::BundledQuarterDraft(), 24);
  std::vector<std::vector<int32_t>> solo;
  for (const auto& m : mixed) solo.push_back(engine->GenerateTokens(m.prompt, m.options)->tokens);
  std::vector<std::shared_ptr<Request>> requests;
  for (const auto& m : mixed) {
    absl::StatusOr<std::shared_ptr<Request>> r = engine->SubmitTokens(m.prompt, m.options);
    ASSERT_TRUE(r.ok()) << r.status();
    requests.push_back(*r);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StatusOr<GenerationResult> result = requests[i]->Wait();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->tokens, solo[i]) << "request " << i;
    if (i > 0) {
      EXPECT_GT(requests[i]->id(), requests[i - 1]->id());
    }
  }
}

}  // namespace
}  // namespace matspec
