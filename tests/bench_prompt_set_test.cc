// bench_suite/prompt_set.h: text and JSONL prompt sets (MT-Bench / Spec-Bench
// questions, {"prompt"} and {"text"} lines), bad lines named with their line
// number, the category filter, and the prompt set that ships in bench/prompts/.
#include <map>
#include <set>

#include "bench_suite/prompt_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace matspec::bench {
namespace {

using ::testing::HasSubstr;

TEST(BenchPromptSetTest, TextLinesAreOnePromptEach) {
  auto p = ParsePromptSet("In the beginning\n\nA soft answer\r\n", "p.txt", false);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].turns, std::vector<std::string>{"In the beginning"});
  EXPECT_EQ((*p)[1].turns, std::vector<std::string>{"A soft answer"});
  EXPECT_EQ((*p)[1].line, 3);
  EXPECT_EQ((*p)[1].id, "3");
  EXPECT_EQ((*p)[1].category, "");
}

TEST(BenchPromptSetTest, MtBenchQuestionsGiveTheirTurnsNotRawJson) {
  const std::string text =
      "{\"question_id\": 81, \"category\": \"writing\", \"turns\": [\"Compose a poem.\", \"Now shorter.\"]}\n"
      "{\"question_id\": \"q2\", \"category\": \"math\", \"turns\": [\"What is 2+2?\"], \"reference\": "
      "[\"4\"]}\n"
      "{\"prompt\": \"Once upon a time\", \"category\": \"story\"}\n"
      "{\"text\": \"Plain text\", \"id\": 7}\n";
  auto p = ParsePromptSet(text, "q.jsonl", false);  // sniffed from the first line
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 4u);
  EXPECT_EQ((*p)[0].id, "81");
  EXPECT_EQ((*p)[0].category, "writing");
  EXPECT_EQ((*p)[0].turns, (std::vector<std::string>{"Compose a poem.", "Now shorter."}));
  EXPECT_EQ((*p)[1].id, "q2");
  EXPECT_EQ((*p)[1].turns, std::vector<std::string>{"What is 2+2?"});
  EXPECT_EQ((*p)[2].turns, std::vector<std::string>{"Once upon a time"});
  EXPECT_EQ((*p)[2].category, "story");
  EXPECT_EQ((*p)[3].id, "7");
  EXPECT_EQ((*p)[3].turns, std::vector<std::string>{"Plain text"});
}

TEST(BenchPromptSetTest, BadLinesAreNamedWithTheirLineNumber) {
  const std::string good = "{\"prompt\": \"ok\"}\n\n";
  const std::map<std::string, std::string> cases = {
      {"{\"prompt\": \"ok\"", "q.jsonl:3: not valid JSON"},
      {"[1, 2]", "q.jsonl:3: expected a JSON object"},
      {"{\"question_id\": 1, \"turns\": []}", "q.jsonl:3: \"turns\" must be a non-empty array of strings"},
      {"{\"turns\": [\"a\", 5]}", "q.jsonl:3: \"turns\" must be a non-empty array of strings"},
      {"{\"turns\": \"a\"}", "q.jsonl:3: \"turns\" must be a non-empty array of strings"},
      {"{\"prompt\": 42}", "q.jsonl:3: \"prompt\" must be a non-empty string"},
      {"{\"prompt\": \"\"}", "q.jsonl:3: \"prompt\" must be a non-empty string"},
      {"{\"question\": \"what?\"}", "q.jsonl:3: no prompt"},
      {"{\"prompt\": \"a\", \"category\": 3}", "q.jsonl:3: \"category\" must be a string"},
      {"{\"prompt\": \"a\", \"question_id\": 1.5}",
       "q.jsonl:3: \"question_id\" must be a string or an integer"},
  };
  for (const auto& [line, want] : cases) {
    auto p = ParsePromptSet(good + line + "\n" + good, "q.jsonl", true);
    ASSERT_FALSE(p.ok()) << line;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(want)) << line;
  }
}

TEST(BenchPromptSetTest, EmptySetIsAnError) {
  EXPECT_FALSE(ParsePromptSet("\n \n", "e.txt", false).ok());
  EXPECT_THAT(std::string(LoadPromptSet("/nonexistent/p.jsonl").status().message()),
              HasSubstr("/nonexistent/p.jsonl"));
}

TEST(BenchPromptSetTest, CategoryFilter) {
  auto p = ParsePromptSet("{\"prompt\":\"a\",\"category\":\"x\"}\n{\"prompt\":\"b\",\"category\":\"y\"}\n",
                          "c", true);
  ASSERT_TRUE(p.ok());
  auto x = FilterByCategory(*p, {"y"});
  ASSERT_TRUE(x.ok());
  ASSERT_EQ(x->size(), 1u);
  EXPECT_EQ((*x)[0].turns[0], "b");
  EXPECT_EQ(FilterByCategory(*p, {}).value().size(), 2u);
  auto none = FilterByCategory(*p, {"z"});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("present: x, y"));
}

// The prompt set that ships: >= 80 prompts, several categories, unique ids, some with a second turn.
TEST(BenchPromptSetTest, ShippedPromptSetParses) {
  auto p = LoadPromptSet("bench/prompts/mixed-88.jsonl");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GE(p->size(), 80u);
  std::map<std::string, int> per_category;
  std::set<std::string> ids;
  int multi_turn = 0;
  for (const BenchPrompt& q : *p) {
    per_category[q.category] += 1;
    ids.insert(q.id);
    multi_turn += q.turns.size() > 1;
  }
  EXPECT_GE(per_category.size(), 5u);
  for (const auto& [category, n] : per_category) EXPECT_GE(n, 5) << category;
  EXPECT_EQ(ids.size(), p->size());
  EXPECT_GE(multi_turn, 10);
}

}  // namespace
}  // namespace matspec::bench
