// Tests for draft/slice_spec.h: slice tables (the real Gemma 3n table and
// hand-written edge cases), slices from flags, validation against a model,
// and the short width form.
#include "draft/slice_spec.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace matspec {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kHeader[] = "name,# Layers,# Effective Params (B),Notes,FFN Hidden Dims,Layers Skipped\n";

ModelConfig SmallModel() {  // 6 layers of width 64
  ModelConfig m;
  m.model_type = "llama";
  m.num_layers = 6;
  m.ffn_widths.assign(6, 64);
  return m;
}

ModelConfig GemmaLikeModel() {  // 35 layers of width 16384 (Gemma 3n E4B)
  ModelConfig m;
  m.num_layers = 35;
  m.ffn_widths.assign(35, 16384);
  return m;
}

const std::vector<int64_t> kGemmaReserved = {18, 19};

std::string TableError(std::string_view csv) {
  absl::StatusOr<std::vector<SliceSpec>> t = ParseSliceTable(csv, "t.csv");
  EXPECT_FALSE(t.ok()) << csv;
  if (t.ok()) return "";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

SliceSpec Spec(std::string name, std::vector<int64_t> widths, std::vector<int64_t> skipped) {
  SliceSpec s;
  s.name = std::move(name);
  s.ffn_widths = std::move(widths);
  s.skipped_layers = std::move(skipped);
  return s;
}

std::string ValidateError(const SliceSpec& spec, const ModelConfig& model,
                          const std::vector<int64_t>& reserved = {}) {
  absl::StatusOr<SliceView> v = ValidateSlice(spec, model, reserved);
  EXPECT_FALSE(v.ok());
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(v.status().message());
}

std::string FlagsError(std::string_view ffn, std::string_view skip, const ModelConfig& model) {
  absl::StatusOr<SliceSpec> s = SliceSpecFromFlags(ffn, skip, model);
  EXPECT_FALSE(s.ok()) << "ffn=" << ffn << " skip=" << skip;
  if (s.ok()) return "";
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.status().message());
}

// ---- The real table ----

TEST(SliceTableTest, ParsesGemma3nTable) {
  absl::StatusOr<std::vector<SliceSpec>> table = LoadSliceTable("matformer_configs/gemma3n.csv");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->size(), 16u);

  const SliceSpec& main = (*table)[0];
  EXPECT_EQ(main.name, "Main model");
  EXPECT_EQ(main.ffn_widths.size(), 35u);
  EXPECT_THAT(main.ffn_widths, Each(16384));
  EXPECT_THAT(main.skipped_layers, IsEmpty());
  EXPECT_EQ(main.declared_layers, 35);
  ASSERT_TRUE(main.declared_params_b.has_value());
  EXPECT_DOUBLE_EQ(*main.declared_params_b, 3.98);
  EXPECT_EQ(main.extra.at("MMLU PT accuracy"), "62.30%");
  EXPECT_EQ(main.source, "matformer_configs/gemma3n.csv:row 2");

  absl::StatusOr<SliceSpec> e2b = FindSlice(*table, "Config for official E2B Model", "gemma3n.csv");
  ASSERT_TRUE(e2b.ok()) << e2b.status();
  EXPECT_EQ(e2b->ffn_widths.size(), 30u);
  EXPECT_THAT(e2b->ffn_widths, Each(8192));
  EXPECT_THAT(e2b->skipped_layers, ElementsAre(20, 21, 22, 23, 24));
  EXPECT_EQ(e2b->declared_layers, 30);
  EXPECT_EQ(e2b->source, "matformer_configs/gemma3n.csv:row 3");

  // Every row validates against the E4B-like model with its reserved layers.
  for (const SliceSpec& spec : *table) {
    absl::StatusOr<SliceView> view = ValidateSlice(spec, GemmaLikeModel(), kGemmaReserved);
    EXPECT_TRUE(view.ok()) << spec.name << ": " << view.status();
  }
  absl::StatusOr<SliceView> full = ValidateSlice(main, GemmaLikeModel(), kGemmaReserved);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->ffn_widths, GemmaLikeModel().ffn_widths);
  EXPECT_EQ(full->layers.size(), 35u);
  absl::StatusOr<SliceView> view = ValidateSlice(*e2b, GemmaLikeModel(), kGemmaReserved);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->layers.size(), 30u);
  EXPECT_EQ(ShortWidths(view->ffn_widths), "[8192 x 20, 0 x 5, 8192 x 10]");
}

TEST(SliceTableTest, MissingFileIsNotFound) {
  absl::StatusOr<std::vector<SliceSpec>> t = LoadSliceTable("matformer_configs/nope.csv");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("matformer_configs/nope.csv"));
}

// ---- Hand-written tables ----

TEST(SliceTableTest, QuotingCrLfBomAndExtras) {
  const std::string csv = std::string("\xEF\xBB\xBF") +
                          "name,# Layers,# Effective Params (B),Notes,FFN Hidden Dims,Layers Skipped\r\n"
                          "\"tiny, \"\"fast\"\"\",,,\"line one\r\nline two\",\"[32, 16*2]\",[ ]\r\n"
                          "half,2,0.5,,\"[ 2_0 + 12 ,(4) * 8 ]\",\"[1,2,3, 4]\"\r\n"
                          "\r\n\r\n";
  absl::StatusOr<std::vector<SliceSpec>> t = ParseSliceTable(csv, "t.csv");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].name, "tiny, \"fast\"");
  EXPECT_FALSE((*t)[0].declared_layers.has_value());
  EXPECT_FALSE((*t)[0].declared_params_b.has_value());
  EXPECT_THAT((*t)[0].ffn_widths, ElementsAre(32, 32));
  EXPECT_THAT((*t)[0].skipped_layers, IsEmpty());
  EXPECT_EQ((*t)[0].extra.at("Notes"), "line one\r\nline two");
  EXPECT_EQ((*t)[0].extra.size(), 1u);
  EXPECT_EQ((*t)[1].name, "half");
  EXPECT_THAT((*t)[1].ffn_widths, ElementsAre(32, 32));
  EXPECT_THAT((*t)[1].skipped_layers, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ((*t)[1].source, "t.csv:row 4");  // row 2 spans lines 2 and 3
}

TEST(SliceTableTest, BrokenQuotingIsInvalidArgument) {
  const std::string message = TableError(std::string(kHeader) + "a,1,2,\"x\"y,[1],\n");
  EXPECT_THAT(message, HasSubstr("t.csv"));
  EXPECT_THAT(message, HasSubstr("broken CSV quoting"));
  EXPECT_THAT(message, HasSubstr("line 2, column 10"));
  EXPECT_THAT(TableError(std::string(kHeader) + "a,1,2,x,\"[1],\n"), HasSubstr("never closed"));
}

TEST(SliceTableTest, StructuralErrors) {
  EXPECT_THAT(TableError(""), HasSubstr("t.csv: empty slice table"));
  EXPECT_THAT(TableError("name,# Layers,# Effective Params (B),Layers Skipped\n"),
              HasSubstr("missing required column \"FFN Hidden Dims\""));
  EXPECT_THAT(TableError("Name,# Layers,# Effective Params (B),FFN Hidden Dims,Layers Skipped\n"),
              HasSubstr("missing required column \"name\""));
  EXPECT_THAT(TableError("name,name,# Layers,# Effective Params (B),FFN Hidden Dims,Layers Skipped\n"),
              HasSubstr("header names column \"name\" twice"));
  const std::string fields = TableError(std::string(kHeader) + "a,1,2,x,[1]\n");
  EXPECT_THAT(fields, HasSubstr("t.csv: row 2: has 5 fields but the header has 6"));
}

TEST(SliceTableTest, FieldErrorsNameRowAndColumn) {
  const std::string h = kHeader;
  EXPECT_THAT(TableError(h + "a,1,,,[1],\n\nb,1,,,[2 x],\n"),
              HasSubstr("t.csv: row 4, column \"FFN Hidden Dims\": bad list \"[2 x]\": item 1"));
  EXPECT_THAT(TableError(h + "a,,,,,\n"), HasSubstr("row 2, column \"FFN Hidden Dims\": bad list \"\""));
  EXPECT_THAT(TableError(h + "a,,,,[],\n"), HasSubstr("the list is empty"));
  EXPECT_THAT(TableError(h + "a,,,,\"[1, 0]\",\n"),
              HasSubstr("row 2, column \"FFN Hidden Dims\": width 2 is 0"));
  EXPECT_THAT(TableError(h + "a,,,,[4 - 8],\n"), HasSubstr("width 1 is -4"));
  EXPECT_THAT(TableError(h + "a,,,,[1],\"[1,,2]\"\n"),
              HasSubstr("row 2, column \"Layers Skipped\": bad list \"[1,,2]\": item 2 is empty"));
  EXPECT_THAT(TableError(h + "a,,,,[1],3\n"), HasSubstr("column \"Layers Skipped\": bad list \"3\""));
  EXPECT_THAT(TableError(h + "a,,,,[1],[-1]\n"), HasSubstr("layer index -1 is negative"));
  EXPECT_THAT(TableError(h + "a,thirty,,,[1],\n"),
              HasSubstr("row 2, column \"# Layers\": \"thirty\" is not a positive integer"));
  EXPECT_THAT(TableError(h + "a,1.5,,,[1],\n"), HasSubstr("\"1.5\" is not a positive integer"));
  EXPECT_THAT(TableError(h + "a,,3.9B,,[1],\n"),
              HasSubstr("row 2, column \"# Effective Params (B)\": \"3.9B\" is not a number"));
  EXPECT_THAT(TableError(h + "a,,nan,,[1],\n"), HasSubstr("\"nan\" is not a number"));
  EXPECT_THAT(TableError(h + " ,,,,[1],\n"), HasSubstr("column \"name\": the slice name is empty"));
}

TEST(SliceTableTest, DeclaredLayersMustMatchWidthCount) {
  const std::string message = TableError(std::string(kHeader) + "a,3,,,\"[1, 2]\",\n");
  EXPECT_THAT(message, HasSubstr("t.csv: row 2, column \"# Layers\""));
  EXPECT_THAT(message, HasSubstr("declares 3 layers but \"FFN Hidden Dims\" lists 2 widths"));
}

TEST(SliceTableTest, DuplicateNames) {
  const std::string message = TableError(std::string(kHeader) + "a,,,,[1],\nb,,,,[1],\na,,,,[2],\n");
  EXPECT_THAT(message, HasSubstr("t.csv: row 4"));
  EXPECT_THAT(message, HasSubstr("slice name \"a\" already used on row 2"));
}

TEST(SliceTableTest, HeaderOnlyIsAnEmptyTable) {
  absl::StatusOr<std::vector<SliceSpec>> t = ParseSliceTable(kHeader, "t.csv");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(*t, IsEmpty());
}

// ---- FindSlice ----

TEST(FindSliceTest, ExactMatchAndNotFoundListsNames) {
  std::vector<SliceSpec> table = {Spec("Main model", {1}, {}), Spec("E2B", {1}, {})};
  absl::StatusOr<SliceSpec> found = FindSlice(table, "E2B", "t.csv");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->name, "E2B");

  absl::StatusOr<SliceSpec> missing = FindSlice(table, "e2b", "t.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  const std::string message(missing.status().message());
  EXPECT_THAT(message, HasSubstr("slice \"e2b\" not found in t.csv"));
  EXPECT_THAT(message, HasSubstr("available: \"Main model\", \"E2B\""));

  absl::StatusOr<SliceSpec> none = FindSlice({}, "x", "t.csv");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("the table has no slices"));
}

// ---- SliceSpecFromFlags ----

TEST(SliceFlagsTest, EmptyFlagsGiveTheFullModel) {
  absl::StatusOr<SliceSpec> s = SliceSpecFromFlags("", "", SmallModel());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "custom");
  EXPECT_EQ(s->source, "flags");
  EXPECT_THAT(s->ffn_widths, ElementsAre(64, 64, 64, 64, 64, 64));
  EXPECT_THAT(s->skipped_layers, IsEmpty());
  absl::StatusOr<SliceView> v = ValidateSlice(*s, SmallModel());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(v->ffn_widths, ElementsAre(64, 64, 64, 64, 64, 64));
  EXPECT_THAT(v->layers, ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ(v->name, "custom");
}

TEST(SliceFlagsTest, OneWidthExpandsToEveryKeptLayer) {
  absl::StatusOr<SliceSpec> s = SliceSpecFromFlags("32", "3,4", SmallModel());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->ffn_widths, ElementsAre(32, 32, 32, 32));
  EXPECT_THAT(s->skipped_layers, ElementsAre(3, 4));
}

TEST(SliceFlagsTest, NoWidthWithSkipUsesFullWidthOfKeptLayers) {
  ModelConfig m = SmallModel();
  m.ffn_widths = {10, 20, 30, 40, 50, 60};
  absl::StatusOr<SliceSpec> s = SliceSpecFromFlags("", " 1 , 4", m);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->ffn_widths, ElementsAre(10, 30, 40, 60));
}

TEST(SliceFlagsTest, ListOfWidths) {
  absl::StatusOr<SliceSpec> s = SliceSpecFromFlags("8,16,24,32,40", "0", SmallModel());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->ffn_widths, ElementsAre(8, 16, 24, 32, 40));
  EXPECT_THAT(s->skipped_layers, ElementsAre(0));
}

TEST(SliceFlagsTest, BadFfnFlag) {
  const ModelConfig m = SmallModel();
  EXPECT_THAT(FlagsError("-5", "", m), HasSubstr("--draft-ffn: item 1 (\"-5\") is negative"));
  EXPECT_THAT(FlagsError("0", "", m), HasSubstr("--draft-ffn: item 1 is 0"));
  EXPECT_THAT(FlagsError("abc", "", m), HasSubstr("--draft-ffn: item 1 (\"abc\") is not"));
  EXPECT_THAT(FlagsError("32,,32", "", m), HasSubstr("--draft-ffn: item 2 (\"\") is empty"));
  EXPECT_THAT(FlagsError("32,", "", m), HasSubstr("--draft-ffn: item 2"));
  EXPECT_THAT(FlagsError("1e3", "", m), HasSubstr("--draft-ffn"));
  EXPECT_THAT(FlagsError("99999999999999999999", "", m), HasSubstr("is too large"));
  const std::string length = FlagsError("32,32,32", "3,4", m);
  EXPECT_THAT(length, HasSubstr("--draft-ffn: expected one width or 4"));
  EXPECT_THAT(length, HasSubstr("got 3"));
}

TEST(SliceFlagsTest, BadSkipFlag) {
  const ModelConfig m = SmallModel();
  EXPECT_THAT(FlagsError("", "3,,4", m), HasSubstr("--draft-skip: item 2 (\"\") is empty"));
  EXPECT_THAT(FlagsError("", "-1", m), HasSubstr("--draft-skip: item 1 (\"-1\") is negative"));
  EXPECT_THAT(FlagsError("", "x", m), HasSubstr("--draft-skip: item 1 (\"x\")"));
  EXPECT_THAT(FlagsError("", "6", m), HasSubstr("--draft-skip: layer 6 is out of range [0, 6)"));
  EXPECT_THAT(FlagsError("", "2,2", m), HasSubstr("--draft-skip: layer 2 is listed twice"));
}

// ---- ValidateSlice ----

TEST(ValidateSliceTest, BuildsTheView) {
  absl::StatusOr<SliceView> v = ValidateSlice(Spec("foo", {64, 32, 16, 64}, {4, 1}), SmallModel());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->name, "foo");
  EXPECT_THAT(v->layers, ElementsAre(0, 2, 3, 5));
  EXPECT_THAT(v->ffn_widths, ElementsAre(64, 0, 32, 16, 0, 64));
  EXPECT_TRUE(v->Keeps(2));
  EXPECT_FALSE(v->Keeps(4));
}

TEST(ValidateSliceTest, FullNarrowAndSkippingViews) {
  absl::StatusOr<SliceView> full = ValidateSlice(Spec("f", std::vector<int64_t>(6, 64), {}), SmallModel());
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_THAT(full->ffn_widths, ElementsAre(64, 64, 64, 64, 64, 64));
  EXPECT_THAT(full->layers, ElementsAre(0, 1, 2, 3, 4, 5));
  absl::StatusOr<SliceView> narrow = ValidateSlice(Spec("n", {64, 64, 64, 64, 64, 63}, {}), SmallModel());
  ASSERT_TRUE(narrow.ok()) << narrow.status();
  EXPECT_THAT(narrow->ffn_widths, ElementsAre(64, 64, 64, 64, 64, 63));
  absl::StatusOr<SliceView> skip = ValidateSlice(Spec("s", std::vector<int64_t>(5, 64), {0}), SmallModel());
  ASSERT_TRUE(skip.ok()) << skip.status();
  EXPECT_THAT(skip->ffn_widths, ElementsAre(0, 64, 64, 64, 64, 64));
  EXPECT_THAT(skip->layers, ElementsAre(1, 2, 3, 4, 5));
}

TEST(ValidateSliceTest, SkippedLayerErrors) {
  const ModelConfig m = SmallModel();
  EXPECT_THAT(ValidateError(Spec("foo", std::vector<int64_t>(5, 8), {6}), m),
              HasSubstr("slice \"foo\": skipped layer 6 is out of range [0, 6)"));
  EXPECT_THAT(ValidateError(Spec("foo", std::vector<int64_t>(5, 8), {-1}), m),
              HasSubstr("skipped layer -1 is out of range"));
  EXPECT_THAT(ValidateError(Spec("foo", std::vector<int64_t>(4, 8), {2, 2}), m),
              HasSubstr("slice \"foo\": layer 2 is skipped twice"));
  EXPECT_THAT(ValidateError(Spec("foo", {}, {0, 1, 2, 3, 4, 5}), m),
              HasSubstr("slice \"foo\": every layer (6) is skipped"));
}

TEST(ValidateSliceTest, ReservedLayersMayNotBeSkipped) {
  SliceSpec spec = Spec("bad", std::vector<int64_t>(33, 8192), {18, 20});
  spec.source = "t.csv:row 5";
  const std::string message = ValidateError(spec, GemmaLikeModel(), kGemmaReserved);
  EXPECT_THAT(message, HasSubstr("slice \"bad\": layer 18 may not be skipped: it is reserved by the model"));
  EXPECT_THAT(message, HasSubstr("(t.csv:row 5)"));
  // The same slice is fine without the reservation.
  EXPECT_TRUE(ValidateSlice(spec, GemmaLikeModel()).ok());
}

TEST(ValidateSliceTest, WidthErrors) {
  const ModelConfig m = SmallModel();
  const std::string length = ValidateError(Spec("foo", {64, 64, 64}, {0}), m);
  EXPECT_THAT(length, HasSubstr("slice \"foo\": FFN width list has the wrong length"));
  EXPECT_THAT(length, HasSubstr("expected 5"));
  EXPECT_THAT(length, HasSubstr("got 3"));
  EXPECT_THAT(ValidateError(Spec("foo", {64, 64, 64, 64, 64, 64, 64}, {}), m),
              HasSubstr("expected 6 (one per kept layer), got 7"));
  EXPECT_THAT(ValidateError(Spec("foo", {64, 64, 64, 0, 64}, {1}), m),
              HasSubstr("slice \"foo\": layer 4 FFN width 0 is not positive"));
  EXPECT_THAT(ValidateError(Spec("foo", {64, 64, 64, 64, 64, -3}, {}), m),
              HasSubstr("layer 5 FFN width -3 is not positive"));
  ModelConfig gemma = GemmaLikeModel();
  gemma.ffn_widths[7] = 2048;
  std::vector<int64_t> widths(35, 2048);
  widths[7] = 4096;
  EXPECT_THAT(ValidateError(Spec("foo", widths, {}), gemma),
              HasSubstr("slice \"foo\": layer 7 FFN width 4096 exceeds the model's 2048"));
  // One unit too wide is refused; exactly the full width is the full layer.
  widths[7] = 2049;
  EXPECT_THAT(ValidateError(Spec("foo", widths, {}), gemma),
              HasSubstr("layer 7 FFN width 2049 exceeds the model's 2048"));
  widths[7] = 2048;
  EXPECT_TRUE(ValidateSlice(Spec("foo", widths, {}), gemma, {}).ok());
}

TEST(ValidateSliceTest, InconsistentModelIsAnErrorNotACrash) {
  ModelConfig m = SmallModel();
  m.num_layers = 7;
  EXPECT_THAT(ValidateError(Spec("foo", std::vector<int64_t>(6, 8), {}), m),
              HasSubstr("model config is inconsistent"));
  EXPECT_THAT(ValidateError(Spec("foo", {}, {}), ModelConfig{}), HasSubstr("model config is inconsistent"));
}

// ---- ShortWidths ----

TEST(ShortWidthsTest, RunLengthForm) {
  EXPECT_EQ(ShortWidths({}), "[]");
  EXPECT_EQ(ShortWidths({512}), "[512]");
  EXPECT_EQ(ShortWidths({512, 512, 512, 512}), "[512 x 4]");
  EXPECT_EQ(ShortWidths({256, 512, 512, 1024}), "[256, 512 x 2, 1024]");
  std::vector<int64_t> w(5, 16384);
  w.insert(w.end(), 30, 8192);
  EXPECT_EQ(ShortWidths(w), "[16384 x 5, 8192 x 30]");
  EXPECT_EQ(ShortWidths({1, 2, 1}), "[1, 2, 1]");
}

}  // namespace
}  // namespace matspec
