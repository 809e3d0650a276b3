// EmbeddingGatherCuda against the CPU EmbeddingGather: bit-identical for every
// dtype (q8 / q4 tables too: a tied LM head quantized at load), on tables
// read through a leading dimension larger than the row.
#include "kernels/embedding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/embedding_cuda.h"
#include "kernels/quantize.h"
#include "tests/cuda/cuda_test_util.h"

namespace matspec {
namespace {

using cuda_test::CudaTest;
using EmbeddingCudaTest = CudaTest;

TEST_F(EmbeddingCudaTest, MatchesCpuForEveryDtypeAndShape) {
  std::mt19937 rng(7);
  for (DType dtype : testing::kAllDTypes) {
    for (int64_t vocab : {1, 3, 1000}) {
      for (int64_t dim : {1, 3, 17, 61, 130, 1000}) {
        for (int64_t t : {1, 2, 5, 9, 17}) {
          const int64_t ld = dim + 5;
          testing::WeightBuffer table(dtype, vocab, ld, vocab, dim,
                                      cuda_test::RandomFloats(vocab * dim, rng(), -2.f, 2.f));
          cuda_test::DeviceMatrix dev_table = cuda_test::ToDevice(table, vocab);
          std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
          std::vector<int32_t> ids(t);
          for (int32_t& id : ids) id = pick(rng);
          const float scale = std::sqrt(static_cast<float>(dim));

          std::vector<float> want(t * dim);
          EmbeddingGather(table.view(), ids.data(), t, scale, want.data());

          DeviceBuffer dev_ids = cuda_test::ToDevice(ids);
          DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<float>(t * dim, -7.f));
          ASSERT_TRUE(EmbeddingGatherCuda(dev_table.view, dev_ids.As<int32_t>(), t, scale,
                                          dev_out.As<float>(), stream())
                          .ok());
          const std::vector<float> got = cuda_test::FromDevice<float>(dev_out.data(), t * dim);
          ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaExactTol))
              << cuda_test::Name(dtype) << " vocab " << vocab << " dim " << dim << " t " << t;
        }
      }
    }
  }
}

TEST_F(EmbeddingCudaTest, QuantizedTablesMatchCpuBitForBit) {
  std::mt19937 rng(8);
  for (DType dtype : {DType::kQ8, DType::kQ4}) {
    const int64_t vocab = 97, ld = 160, dim = 96;  // the first 3 of 5 blocks of each row
    std::vector<float> f = cuda_test::RandomFloats(vocab * ld, rng(), -2.f, 2.f);
    std::vector<uint8_t> values(vocab * DTypeRowBytes(dtype, ld));
    std::vector<uint16_t> scales(vocab * ld / kQuantBlock);
    ASSERT_TRUE(QuantizeMatrix({f.data(), DType::kF32, vocab, ld, ld}, dtype, "table", 1, values.data(),
                               scales.data())
                    .ok());
    const MatrixView host = QuantizedView(dtype, vocab, ld, values.data(), scales.data()).FirstCols(dim);
    DeviceBuffer dev_values = cuda_test::ToDevice(values);
    DeviceBuffer dev_scales = cuda_test::ToDevice(scales);
    MatrixView dev = host;
    dev.data = dev_values.data();
    dev.scales = dev_scales.As<uint16_t>();
    dev.device = Device::kCuda;
    const std::vector<int32_t> ids = {0, 96, 5, 5, 40, 1, 95};
    const int64_t t = static_cast<int64_t>(ids.size());
    const float scale = 1.7f;
    std::vector<float> want(t * dim);
    EmbeddingGather(host, ids.data(), t, scale, want.data());
    DeviceBuffer dev_ids = cuda_test::ToDevice(ids);
    DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<float>(t * dim, -7.f));
    ASSERT_TRUE(EmbeddingGatherCuda(dev, dev_ids.As<int32_t>(), t, scale, dev_out.As<float>(), stream()).ok());
    const std::vector<float> got = cuda_test::FromDevice<float>(dev_out.data(), t * dim);
    ASSERT_TRUE(cuda_test::AllClose(got, want, cuda_test::kCudaExactTol)) << cuda_test::Name(dtype);
  }
}

TEST_F(EmbeddingCudaTest, OutOfRangeIdGivesNanRowNotAWildRead) {
  testing::WeightBuffer table(DType::kBF16, 4, 8, 4, 8, cuda_test::RandomFloats(32, 1));
  cuda_test::DeviceMatrix dev_table = cuda_test::ToDevice(table, 4);
  DeviceBuffer dev_ids = cuda_test::ToDevice(std::vector<int32_t>{2, 4, -1});
  DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<float>(24, 0.f));
  ASSERT_TRUE(
      EmbeddingGatherCuda(dev_table.view, dev_ids.As<int32_t>(), 3, 1.f, dev_out.As<float>(), stream()).ok());
  const std::vector<float> got = cuda_test::FromDevice<float>(dev_out.data(), 24);
  for (int c = 0; c < 8; ++c) {
    EXPECT_EQ(got[c], table.view().At(2, c));
    EXPECT_TRUE(std::isnan(got[8 + c]));
    EXPECT_TRUE(std::isnan(got[16 + c]));
  }
}

TEST_F(EmbeddingCudaTest, RejectsAHostView) {
  testing::WeightBuffer table(DType::kF32, 2, 2, 2, 2, cuda_test::RandomFloats(4, 1));
  DeviceBuffer dev_ids = cuda_test::ToDevice(std::vector<int32_t>{0});
  DeviceBuffer dev_out = cuda_test::ToDevice(std::vector<float>(2));
  EXPECT_EQ(
      EmbeddingGatherCuda(table.view(), dev_ids.As<int32_t>(), 1, 1.f, dev_out.As<float>(), stream()).code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace matspec
