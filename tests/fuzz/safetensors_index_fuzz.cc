// libFuzzer: model.safetensors.index.json given to WeightStore::Open, in a
// directory that also holds a small valid shard ("a.safetensors") the index
// may name.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/weight_store.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

std::string MakeDir() {
  char tmpl[] = "/tmp/matspec_fuzz_index_XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr) std::abort();
  // One F32 tensor "w" of shape [2] (8 bytes of data).
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  file += header + std::string(8, '\0');
  std::ofstream(std::string(dir) + "/a.safetensors", std::ios::binary) << file;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = MakeDir();
  const std::string index = dir + "/model.safetensors.index.json";
  std::ofstream(index, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), size);
  auto store = matspec::WeightStore::Open(dir);
  if (store.ok()) {
    for (const auto& [name, rec] : (*store)->index()) {
      auto v = (*store)->Find(name);
      if (!v.ok()) std::abort();
    }
  }
  return 0;
}
