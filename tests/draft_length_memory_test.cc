// DraftLengthMemory, SequenceDraftLength and DraftLengthMemories: a new
// sequence starts from what finished ones learned (no opening probes), only a
// sequence's own rounds go back, the memory is capped, configurations are kept
// apart, and many threads learning at once lose nothing (run under TSan by
// ./test.sh). Lossless decoding with the memory on: engine tests below and
// batch_scheduler_test.
#include "draft/draft_length_memory.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace matspec {
namespace {

constexpr AdaptiveDraftLength::Options kOptions{.min_k = 1, .max_k = 8, .decay = 1.0};

// A sequence of `rounds` rounds on a machine where verification costs
// 1 + 0.5 k and every drafted token is accepted.
void RunSequence(SequenceDraftLength* seq, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    const int64_t k = seq->NextDraftLength();
    seq->Record(k, k, 0.01 * k, 1.0 + 0.5 * k);
  }
}

TEST(DraftLengthMemoryTest, TheNextSequenceStartsFromWhatTheFirstLearned) {
  auto memory = std::make_shared<DraftLengthMemory>(kOptions);
  SequenceDraftLength first(kOptions, memory);
  EXPECT_EQ(first.NextDraftLength(), 8) << "nothing learned yet: the opening probe";
  RunSequence(&first, 30);
  EXPECT_EQ(memory->weight(), 0) << "nothing goes back before Finish";
  first.Finish();
  EXPECT_NEAR(memory->weight(), 30.0, 1e-9);
  first.Finish();  // once only
  EXPECT_NEAR(memory->weight(), 30.0, 1e-9);

  SequenceDraftLength second(kOptions, memory);
  const int64_t best = first.estimates().BestDraftLength();
  // The seed weighs as at most kSeedTimingRounds rounds: here all 30 the memory has.
  static_assert(DraftLengthMemory::kSeedTimingRounds >= 30);
  EXPECT_NEAR(second.estimates().weight(), 30.0, 1e-9);
  // Seeded: one wide probe (the far end from the choice), then the choice.
  EXPECT_GE(second.estimates().BestDraftLength(), best - 2);
  EXPECT_EQ(second.NextDraftLength(), 1) << "the far end from a long choice";
  second.Record(1, 1, 0.01, 1.5);
  EXPECT_EQ(second.NextDraftLength(), second.estimates().BestDraftLength()) << "then no more opening probes";
  RunSequence(&second, 9);
  second.Finish();
  // Only the second sequence's own 10 rounds went back, not its seed.
  EXPECT_NEAR(memory->weight(), 40.0, 1e-9);

  // Alone (no memory) a sequence learns from zero and probes first.
  SequenceDraftLength alone(kOptions, nullptr);
  EXPECT_EQ(alone.NextDraftLength(), 8);
  RunSequence(&alone, 2);
  alone.Finish();  // nothing to hand back: no crash
}

// How long a plain run goes before a probe is learned with the rest: a sequence
// whose probes kept failing hands its interval to the next.
TEST(DraftLengthMemoryTest, TheProbeIntervalCarriesOver) {
  constexpr AdaptiveDraftLength::Options kPlainWins{.min_k = 0, .max_k = 4, .decay = 1.0};
  auto memory = std::make_shared<DraftLengthMemory>(kPlainWins);
  SequenceDraftLength first(kPlainWins, memory);
  // The draft is never kept and costs 4 ms; a plain round costs 1 ms.
  for (int i = 0; i < 300; ++i) {
    const int64_t cap = first.NextDraftCap();
    if (cap == 0) {
      first.Record(0, 0, 0.0, 1e-3);
    } else {
      first.Record(1, 0, 4e-3, 1.1e-3, std::vector<float>{0.5f});
    }
  }
  EXPECT_GT(first.estimates().probe_interval(), 8);
  const int64_t reached = first.estimates().probe_interval();
  first.Finish();
  SequenceDraftLength second(kPlainWins, memory);
  EXPECT_EQ(second.estimates().probe_interval(), reached);
  second.Record(0, 0, 0.0, 1e-3);
  second.Finish();
  EXPECT_EQ(memory->Start().probe_interval(), reached) << "the second sequence's own rounds kept it";
}

// The plain run goes on across sequences: once the interval has reached 128,
// sequences of 40 rounds that stay plain must still see a probe now and then
// (before, each started its run at 0 and none ever probed again, so a slice that
// once looked slow stayed plain for good). The probe falls due where the
// previous sequences' plain rounds add up to the interval.
TEST(DraftLengthMemoryTest, ThePlainRunCarriesOverSoShortSequencesStillProbe) {
  constexpr AdaptiveDraftLength::Options kPlainWins{.min_k = 0, .max_k = 4, .decay = 1.0};
  auto memory = std::make_shared<DraftLengthMemory>(kPlainWins);
  // The draft is never kept and costs 4 ms; a plain round costs 1 ms. Long
  // sequences first, until the interval reaches its ceiling.
  for (int sequence = 0; sequence < 10 && memory->Start().probe_interval() < 128; ++sequence) {
    SequenceDraftLength seq(kPlainWins, memory);
    for (int i = 0; i < 300; ++i) {
      if (seq.NextDraftCap() == 0) {
        seq.Record(0, 0, 0.0, 1e-3);
      } else {
        seq.Record(1, 0, 4e-3, 1.1e-3, std::vector<float>{0.5f});
      }
    }
    seq.Finish();
  }
  ASSERT_EQ(memory->Start().probe_interval(), 128);
  int64_t since_probe = memory->Start().plain_run();  // plain rounds in a row, across sequences
  int probes = 0;
  for (int sequence = 0; sequence < 8; ++sequence) {
    SequenceDraftLength seq(kPlainWins, memory);
    EXPECT_EQ(seq.estimates().plain_run(), since_probe) << "sequence " << sequence;
    for (int i = 0; i < 40; ++i) {
      if (seq.NextDraftCap() == 0) {
        seq.Record(0, 0, 0.0, 1e-3);
        ++since_probe;
      } else {
        EXPECT_EQ(since_probe, 128) << "sequence " << sequence << " round " << i;
        ++probes;
        since_probe = 0;
        seq.Record(1, 0, 4e-3, 1.1e-3, std::vector<float>{0.5f});
      }
    }
    seq.Finish();
  }
  // 320 rounds: a probe within the first 128 and another 128 rounds after it.
  EXPECT_GE(probes, 2);
  EXPECT_EQ(memory->Start().probe_interval(), 128) << "each probe failed";
}

TEST(DraftLengthMemoryTest, MemoryIsCapped) {
  DraftLengthMemory memory(kOptions);
  const int sequences = static_cast<int>(DraftLengthMemory::kMemoryRounds / 20) + 5;
  for (int s = 0; s < sequences; ++s) {
    AdaptiveDraftLength seq(kOptions);
    for (int i = 0; i < 20; ++i) seq.Record(1 + i % 8, 1, 0.01, 1.0);
    memory.Learn(seq);
  }
  // The old memory capped at kMemoryRounds, then the newest sequence's 20.
  EXPECT_NEAR(memory.weight(), DraftLengthMemory::kMemoryRounds + 20, 1e-9);
}

TEST(DraftLengthMemoriesTest, OneMemoryPerKey) {
  DraftLengthMemories memories;
  auto a = memories.For("quarter|greedy", kOptions);
  EXPECT_EQ(memories.For("quarter|greedy", kOptions), a);
  EXPECT_NE(memories.For("half|greedy", kOptions), a);
}

// Sequences on 8 threads start and finish at once against one memory: every
// round arrives (the weight is exact: decay 1, below the cap) and nothing races.
TEST(DraftLengthMemoryTest, ManyThreadsLearnTogether) {
  DraftLengthMemories memories;
  constexpr int kThreads = 8, kSequences = 4, kRounds = 1;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int s = 0; s < kSequences; ++s) {
        SequenceDraftLength seq(kOptions, memories.For("shared", kOptions));
        RunSequence(&seq, kRounds);
        seq.Finish();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_NEAR(memories.For("shared", kOptions)->weight(), kThreads * kSequences * kRounds, 1e-9);
}

}  // namespace
}  // namespace matspec
