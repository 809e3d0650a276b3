// SafetensorsFile: values written by the test writer read back exactly in
// f32, f16 and bf16, and every malformed file is refused with InvalidArgument
// naming the file (and the tensor where there is one) -- never a crash.
#include "engine/safetensors.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"

namespace matspec {
namespace {

using ::matspec::testing::ScopedTempDir;
using ::matspec::testing::StatusIs;
using ::matspec::testing::WriteRawSafetensors;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

class SafetensorsTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name = "model.safetensors") const { return tmp_.Sub(name); }

  // Writes `header` framed as a safetensors file over `data_bytes` zero bytes and opens it.
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenRaw(const std::string& header, int64_t data_bytes,
                                                           int64_t header_len = -1) {
    EXPECT_OK(WriteRawSafetensors(Path(), header, std::string(data_bytes, '\0'), header_len));
    return SafetensorsFile::Open(Path());
  }

  // InvalidArgument naming the file and every fragment in `parts`.
  template <typename... Parts>
  void ExpectRejected(const absl::StatusOr<std::unique_ptr<SafetensorsFile>>& result, Parts... parts) {
    EXPECT_THAT(result, StatusIs(kInvalid, AllOf(HasSubstr(Path()), HasSubstr(parts)...)));
  }

  ScopedTempDir tmp_{"safetensors_test_"};
};

std::vector<float> Ramp(int n, float step) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = (i - n / 2) * step;
  return v;
}

class SafetensorsRoundTripTest : public SafetensorsTest, public ::testing::WithParamInterface<DType> {};

TEST_P(SafetensorsRoundTripTest, ValuesReadBackAsWritten) {
  const DType dtype = GetParam();
  // Multiples of 1/8 up to 8: exact in every dtype; plus values that need rounding.
  std::vector<float> exact = Ramp(128, 0.125f);
  std::vector<float> rounded = {0.1f, -1.0f / 3.0f, 3.14159265f, 1e-3f, -65000.f, 7e-6f};
  testing::SafetensorsWriter w;
  w.Add("a.weight", dtype, {16, 8}, exact);
  w.Add("b.bias", dtype, {6}, rounded);
  w.Add("empty", dtype, {0, 4}, {});
  ASSERT_OK(w.Write(Path()));

  ASSERT_OK_AND_ASSIGN(auto file, SafetensorsFile::Open(Path()));
  ASSERT_EQ(file->tensors().size(), 3u);
  const TensorRecord& a = file->tensors().at("a.weight");
  EXPECT_EQ(a.name, "a.weight");
  EXPECT_EQ(a.dtype, dtype);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{16, 8}));
  EXPECT_EQ(a.nbytes, 128 * DTypeSize(dtype));
  EXPECT_EQ(a.file, Path());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data) % DTypeSize(dtype), 0u);
  for (int i = 0; i < 128; ++i) ASSERT_EQ(LoadAsF32(a.data, dtype, i), exact[i]) << i;

  const TensorRecord& b = file->tensors().at("b.bias");
  for (size_t i = 0; i < rounded.size(); ++i) {
    float want = rounded[i];
    if (dtype == DType::kF16) want = F16ToF32(F32ToF16(want));
    if (dtype == DType::kBF16) want = Bf16ToF32(F32ToBf16(want));
    EXPECT_EQ(LoadAsF32(b.data, dtype, static_cast<int64_t>(i)), want) << i;
  }
  EXPECT_EQ(file->tensors().at("empty").nbytes, 0);
  EXPECT_EQ(file->file_size(), static_cast<int64_t>(w.Serialize().size()));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SafetensorsRoundTripTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

TEST_F(SafetensorsTest, MetadataIsSkipped) {
  testing::SafetensorsWriter w;
  w.SetMetadata("format", "pt");
  w.Add("x", DType::kF32, {2}, {1.f, 2.f});
  ASSERT_OK(w.Write(Path()));
  ASSERT_OK_AND_ASSIGN(auto file, SafetensorsFile::Open(Path()));
  EXPECT_EQ(file->tensors().size(), 1u);
  EXPECT_EQ(file->tensors().count("__metadata__"), 0u);
}

TEST_F(SafetensorsTest, EmptyHeaderObjectHasNoTensors) {
  ASSERT_OK_AND_ASSIGN(auto file, OpenRaw("{}", 0));
  EXPECT_TRUE(file->tensors().empty());
}

// Legal but unusual: a header length that leaves the data section at an odd
// address. The tensor must still read back right (from an aligned copy).
TEST_F(SafetensorsTest, MisalignedTensorReadsBackCorrectly) {
  const std::string header = R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}  )";
  ASSERT_NE((8 + header.size()) % 4, 0u);
  std::string data(12, '\0');
  const float values[3] = {1.5f, -2.f, 3.25f};
  std::memcpy(data.data(), values, 12);
  ASSERT_OK(WriteRawSafetensors(Path(), header, data));
  ASSERT_OK_AND_ASSIGN(auto file, SafetensorsFile::Open(Path()));
  const TensorRecord& x = file->tensors().at("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data) % 4, 0u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(LoadAsF32(x.data, DType::kF32, i), values[i]);
}

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  EXPECT_THAT(SafetensorsFile::Open(Path("nope.safetensors")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope.safetensors")));
}

TEST_F(SafetensorsTest, DirectoryIsRejected) {
  EXPECT_THAT(SafetensorsFile::Open(tmp_.path()), StatusIs(kInvalid, HasSubstr(tmp_.path())));
}

TEST_F(SafetensorsTest, FileShorterThanHeaderLength) {
  ASSERT_OK(testing::WriteFileBytes(Path(), "abc"));
  ExpectRejected(SafetensorsFile::Open(Path()), "shorter than the 8-byte header length");
}

TEST_F(SafetensorsTest, TruncatedFile) {
  testing::SafetensorsWriter w;
  w.Add("layer.0", DType::kBF16, {4, 4}, Ramp(16, 0.01f));
  w.Add("layer.1", DType::kBF16, {32, 32}, Ramp(1024, 0.02f));
  const std::string full = w.Serialize();
  ASSERT_OK(testing::WriteFileBytes(Path(), full.substr(0, full.size() / 2)));
  // The header survives; the second tensor's bytes do not.
  ExpectRejected(SafetensorsFile::Open(Path()), "layer.1", "past the end of the data section");
}

TEST_F(SafetensorsTest, TruncatedInsideHeader) {
  testing::SafetensorsWriter w;
  w.Add("x", DType::kF32, {4}, {1, 2, 3, 4});
  ASSERT_OK(testing::WriteFileBytes(Path(), w.Serialize().substr(0, 20)));
  ExpectRejected(SafetensorsFile::Open(Path()), "header length", "past the end of the file");
}

TEST_F(SafetensorsTest, HeaderLengthPastEndOfFile) {
  ExpectRejected(OpenRaw(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4, 1 << 20),
                 "header length 1048576", "past the end of the file");
}

TEST_F(SafetensorsTest, HugeHeaderLengthDoesNotOverflow) {
  ExpectRejected(OpenRaw("{}", 0, INT64_MAX), "past the end of the file");
}

TEST_F(SafetensorsTest, HeaderLengthZero) { ExpectRejected(OpenRaw("", 16, 0), "header length is 0"); }

TEST_F(SafetensorsTest, MalformedJsonHeader) {
  ExpectRejected(OpenRaw(R"({"x":{"dtype":"F32","shape":[1],)", 4), "not valid JSON");
}

TEST_F(SafetensorsTest, HeaderNotAnObject) { ExpectRejected(OpenRaw("[1, 2, 3]", 0), "not a JSON object"); }

TEST_F(SafetensorsTest, EntryNotAnObject) {
  ExpectRejected(OpenRaw(R"({"x": 5})", 0), "'x'", "not an object");
}

TEST_F(SafetensorsTest, MissingDtype) {
  ExpectRejected(OpenRaw(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), "'w'", "missing \"dtype\"");
}

TEST_F(SafetensorsTest, MissingShape) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4), "'w'", "missing \"shape\"");
}

TEST_F(SafetensorsTest, MissingDataOffsets) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[1]}})", 4), "'w'", "missing \"data_offsets\"");
}

TEST_F(SafetensorsTest, IllTypedShape) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8), "'w'",
                 "not a non-negative integer");
}

TEST_F(SafetensorsTest, IllTypedDataOffsets) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), "'w'",
                 "data_offsets");
}

TEST_F(SafetensorsTest, UnknownDtype) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})", 4), "'w'",
                 "unknown dtype \"F31\"");
}

TEST_F(SafetensorsTest, UnsupportedDtypeIsNamed) {
  ExpectRejected(OpenRaw(R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8), "'ids'",
                 "unsupported dtype \"I64\"");
}

TEST_F(SafetensorsTest, NegativeDimension) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[-1, 4],"data_offsets":[0,16]}})", 16), "'w'",
                 "negative dimension -1");
}

TEST_F(SafetensorsTest, ShapeDisagreesWithByteLength) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20), "'w'",
                 "needs 24 bytes", "span 20");
}

TEST_F(SafetensorsTest, DtypeDisagreesWithByteLength) {
  // Four elements: 8 bytes in BF16, but the header calls them F32.
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})", 8), "'w'", "dtype F32",
                 "needs 16 bytes");
}

TEST_F(SafetensorsTest, ShapeProductOverflows) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
                 "'w'", "overflows");
}

TEST_F(SafetensorsTest, OffsetsOutOfRange) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16), "'w'",
                 "past the end of the data section (16 bytes)");
  // One byte past the end is as wrong as eight.
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[1,17]}})", 16), "'w'",
                 "past the end of the data section (16 bytes)");
}

TEST_F(SafetensorsTest, OffsetsBeginAfterEnd) {
  ExpectRejected(OpenRaw(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 16), "'w'",
                 "begin > end");
}

TEST_F(SafetensorsTest, OverlappingOffsets) {
  ExpectRejected(OpenRaw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                         R"("b":{"dtype":"F32","shape":[4],"data_offsets":[12,28]}})",
                         28),
                 "'a'", "'b'", "overlapping");
}

TEST_F(SafetensorsTest, AdjacentAndEmptyRangesDoNotOverlap) {
  ASSERT_OK_AND_ASSIGN(auto file, OpenRaw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                          R"("e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
                                          R"("b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]}})",
                                          20));
  EXPECT_EQ(file->tensors().size(), 3u);
}

}  // namespace
}  // namespace matspec
