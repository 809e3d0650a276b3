// Safetensors reader: map, then validate every header entry before any
// tensor is handed out. See engine/safetensors.h for the contract.
#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/json_input.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace matspec {
namespace {

using Json = nlohmann::json;

// Safetensors dtypes that exist but that matspec does not read.
constexpr std::string_view kOtherDtypes[] = {"F64",     "I64",     "I32",     "I16",     "U64",
                                             "U32",     "U16",     "BOOL",    "F8_E4M3", "F8_E5M2",
                                             "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",      "C64"};

// I8 and U8 hold the values of matspec's quantized tensors (q8: int8 [rows,
// cols]; q4: packed nibbles [rows, cols / 2]); WeightStore pairs each with its
// scales and checks the shapes.
std::optional<DType> ParseDType(std::string_view name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  if (name == "I8") return DType::kQ8;
  if (name == "U8") return DType::kQ4;
  return std::nullopt;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Reads a non-negative JSON integer; nullopt for anything else (floats, bools,
// negatives, strings).
std::optional<int64_t> NonNegativeInt(const Json& j) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    if (v < 0) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

struct Range {
  int64_t begin;
  int64_t end;
  const std::string* name;
};

class Validator {
 public:
  Validator(const std::string& path, int64_t data_size) : path_(path), data_size_(data_size) {}

  absl::Status Error(absl::string_view tensor, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor '", tensor, "': ", what));
  }

  // Fills `rec` (minus data pointer) and returns the byte range of one entry.
  absl::StatusOr<Range> Entry(const std::string& name, const Json& entry, TensorRecord& rec) const {
    if (!entry.is_object()) {
      return Error(name, absl::StrCat("header entry is not an object (got ", entry.type_name(), ")"));
    }
    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) return Error(name, "missing \"dtype\"");
    if (!dtype_it->is_string()) return Error(name, "\"dtype\" is not a string");
    const std::string dtype_name = dtype_it->get<std::string>();
    std::optional<DType> dtype = ParseDType(dtype_name);
    if (!dtype) {
      const bool known =
          std::find(std::begin(kOtherDtypes), std::end(kOtherDtypes), dtype_name) != std::end(kOtherDtypes);
      return Error(name, absl::StrCat(known ? "unsupported" : "unknown", " dtype \"", dtype_name,
                                      "\" (matspec reads F32, F16 and BF16 tensors)"));
    }

    auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) return Error(name, "missing \"shape\"");
    if (!shape_it->is_array()) return Error(name, "\"shape\" is not an array");
    std::vector<int64_t> shape;
    int64_t elements = 1;
    bool overflow = false;
    for (const Json& d : *shape_it) {
      if (d.is_number_integer() && !d.is_number_unsigned() && d.get<int64_t>() < 0) {
        return Error(name, absl::StrCat("negative dimension ", d.get<int64_t>(), " in shape"));
      }
      std::optional<int64_t> dim = NonNegativeInt(d);
      if (!dim)
        return Error(name, absl::StrCat("shape dimension ", JsonSnippet(d), " is not a non-negative integer"));
      shape.push_back(*dim);
      overflow = overflow || __builtin_mul_overflow(elements, *dim, &elements);
    }
    int64_t expected_bytes = 0;
    overflow = overflow || __builtin_mul_overflow(elements, DTypeSize(*dtype), &expected_bytes);
    if (overflow) return Error(name, absl::StrCat("shape ", ShapeString(shape), " overflows 64-bit size"));

    auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) return Error(name, "missing \"data_offsets\"");
    if (!offsets_it->is_array() || offsets_it->size() != 2) {
      return Error(name, "\"data_offsets\" is not an array [begin, end]");
    }
    std::optional<int64_t> begin = NonNegativeInt((*offsets_it)[0]);
    std::optional<int64_t> end = NonNegativeInt((*offsets_it)[1]);
    if (!begin || !end) {
      return Error(name, absl::StrCat("data_offsets ", JsonSnippet((*offsets_it)[0]), ", ", JsonSnippet((*offsets_it)[1]), " are not non-negative integers"));
    }
    if (*begin > *end) {
      return Error(name, absl::StrCat("data_offsets [", *begin, ", ", *end, "] have begin > end"));
    }
    if (*end > data_size_) {
      return Error(name, absl::StrCat("data_offsets [", *begin, ", ", *end,
                                      "] run past the end of the data section (", data_size_, " bytes)"));
    }
    if (*end - *begin != expected_bytes) {
      return Error(name, absl::StrCat("dtype ", dtype_name, " with shape ", ShapeString(shape), " needs ",
                                      expected_bytes, " bytes but data_offsets [", *begin, ", ", *end,
                                      "] span ", *end - *begin));
    }
    rec.name = name;
    rec.dtype = *dtype;
    rec.shape = std::move(shape);
    rec.nbytes = expected_bytes;
    rec.file = path_;
    return Range{*begin, *end, nullptr};
  }

  // Sorted by begin; an empty range overlaps nothing.
  absl::Status NoOverlaps(std::vector<Range>& ranges) const {
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    const Range* owner = nullptr;  // the non-empty range reaching furthest so far
    for (const Range& r : ranges) {
      if (r.end == r.begin) continue;
      if (owner != nullptr && r.begin < owner->end) {
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ": tensors '", *owner->name, "' [", owner->begin, ", ", owner->end, ") and '",
                         *r.name, "' [", r.begin, ", ", r.end, ") have overlapping data_offsets"));
      }
      if (owner == nullptr || r.end > owner->end) owner = &r;
    }
    return absl::OkStatus();
  }

 private:
  const std::string& path_;
  int64_t data_size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->size_ = static_cast<int64_t>(st.st_size);
  file->dev_ = st.st_dev;
  file->ino_ = st.st_ino;
  if (file->size_ < 8) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": file is ", file->size_, " bytes, shorter than the 8-byte header length"));
  }
  void* map = ::mmap(nullptr, static_cast<size_t>(file->size_), PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": mmap failed: ", std::strerror(map_err)));
  }
  // A hint: where the kernel and file system give file-backed huge pages, the
  // weights stream from DRAM through 2 MiB pages (the hardware prefetchers stop
  // at 4 KiB page boundaries). Refused or ignored elsewhere; nothing depends on it.
  ::madvise(map, static_cast<size_t>(file->size_), MADV_HUGEPAGE);
  file->map_ = map;
  const auto* bytes = static_cast<const unsigned char*>(map);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  const uint64_t room = static_cast<uint64_t>(file->size_) - 8;
  if (header_len == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": header length is 0"));
  if (header_len > room) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_len,
                                                   " runs past the end of the file (", file->size_,
                                                   " bytes; truncated?)"));
  }
  // The reference implementation refuses headers above 100 MB; so do we, before parsing.
  constexpr uint64_t kMaxHeaderBytes = 100'000'000;
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_len,
                                                   " is above the limit of ", kMaxHeaderBytes, " bytes"));
  }
  const char* header = reinterpret_cast<const char*>(bytes + 8);
  const char* data = header + header_len;
  const int64_t data_size = static_cast<int64_t>(room - header_len);

  absl::StatusOr<Json> parsed = ParseJsonDocument(std::string_view(header, header_len), absl::StrCat(path, ": header"));
  if (!parsed.ok()) return parsed.status();
  Json root = *std::move(parsed);
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header is not a JSON object (got ", root.type_name(), ")"));
  }

  Validator validator(file->path_, data_size);
  std::vector<Range> ranges;
  try {
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      TensorRecord rec;
      ASSIGN_OR_RETURN(Range range, validator.Entry(it.key(), it.value(), rec));
      auto [slot, inserted] = file->tensors_.emplace(it.key(), std::move(rec));
      range.name = &slot->first;
      ranges.push_back(range);
      // Bytes are read in place as float / uint16_t: a misaligned tensor (legal
      // in the format, never written by the reference writer) gets an aligned copy.
      const char* src = data + range.begin;
      if (slot->second.nbytes > 0 && reinterpret_cast<uintptr_t>(src) % DTypeSize(slot->second.dtype) != 0) {
        auto& copy = file->aligned_copies_.emplace_back((slot->second.nbytes + 7) / 8);
        std::memcpy(copy.data(), src, static_cast<size_t>(slot->second.nbytes));
        slot->second.data = copy.data();
      } else {
        slot->second.data = src;
      }
    }
  } catch (const Json::exception& e) {  // defensive: every access above is type-checked
    return absl::InvalidArgumentError(absl::StrCat(path, ": bad header: ", e.what()));
  }
  RETURN_IF_ERROR(validator.NoOverlaps(ranges));
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, static_cast<size_t>(size_));
}

HugePageReport SafetensorsFile::PreferHugePages(
    const std::function<bool(const std::string&)>& read_every_step) const {
  const uintptr_t map_begin = reinterpret_cast<uintptr_t>(map_), map_end = map_begin + size_;
  std::vector<FileRange> ranges;
  for (const auto& [name, rec] : tensors_) {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(rec.data);
    if (begin < map_begin || begin + rec.nbytes > map_end || !read_every_step(name)) continue;  // an aligned copy
    ranges.push_back({static_cast<int64_t>(begin - map_begin), rec.nbytes});
  }
  return PreferFileHugePages(path_, dev_, ino_, map_, size_, ranges);
}

void SafetensorsFile::ReleasePages(const TensorRecord& rec) const {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(rec.data), end = begin + rec.nbytes;
  const uintptr_t map_begin = reinterpret_cast<uintptr_t>(map_), map_end = map_begin + size_;
  if (map_ == nullptr || begin < map_begin || end > map_end) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace matspec
