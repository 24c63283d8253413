#pragma once
// The checkpoint container (format 2): a fixed header, a JSON table and raw
// tensor records, every part CRC-32 checked before anything is used. It
// holds data only: reading one runs no code (LibTorch's archives, format 1,
// carry TorchScript that its loader executes). Torch-free, so the reader is
// fuzzed without LibTorch (fuzz/targets.h: `checkpoint`).
//
// Layout (little-endian):
//   0   8  signature "LTCLCKPT"
//   8   4  format version (kRecordFormatVersion)
//   12  4  flags (0)
//   16  8  H: bytes of the JSON table
//   24  4  CRC-32 of the table
//   28  4  CRC-32 of bytes 0-27
//   32  H  the table: {"meta": {...}, "records": [{"name", "dtype", "shape",
//          "offset", "nbytes", "crc32"}, ...]}
//   then zero padding to a multiple of 64: the data section; a record's
//   offset counts from its start, records do not overlap, the file ends
//   with the last record's last byte.
// docs/training.md ("Checkpoint files") describes it for users; a Python
// reader is python/ltcl_checkpoint.py.
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "ltcl/util/atomic_file.h"

namespace ltcl::util {

inline constexpr uint32_t kRecordFormatVersion = 2;
inline constexpr char kRecordSignature[8] = {'L', 'T', 'C', 'L',
                                             'C', 'K', 'P', 'T'};

enum class DType {
  kFloat32,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt64,
  kInt32,
  kInt16,
  kInt8,
  kUInt8,
  kBool,
};

// "float32", "int64", ... (NumPy's names; bfloat16 has none there).
const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);

struct Record {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // from the start of the file (the reader resolves it)
  uint64_t nbytes = 0;  // product of shape x dtype_size
  uint32_t crc32 = 0;
};

// A file whose every byte has been checked: signature, version, header and
// table CRCs, the table's structure and limits, each record's name, dtype,
// shape (overflow-safe), extent and CRC, no overlaps, no trailing bytes.
// Any failure throws ltcl::Error naming the source and what is wrong.
class RecordFile {
 public:
  static RecordFile parse(std::vector<uint8_t> bytes, std::string source);
  // Only a regular file, at most limits::kMaxCheckpointBytes.
  static RecordFile read(const std::string& path);

  const std::string& source() const { return source_; }
  const nlohmann::json& meta() const { return meta_; }
  const std::vector<Record>& records() const { return records_; }
  const Record* find(std::string_view name) const;
  const uint8_t* data(const Record& record) const {
    return bytes_.data() + record.offset;
  }

 private:
  std::string source_;
  std::vector<uint8_t> bytes_;
  nlohmann::json meta_;
  std::vector<Record> records_;
};

// The member `key` of a JSON object when it holds a T, else nullptr. T:
// std::string, bool, double (any number), uint64_t (an integer >= 0),
// int64_t (any integer).
template <typename T>
const nlohmann::json* typed_member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  auto it = object.find(key);
  if (it == object.end()) {
    return nullptr;
  }
  bool ok = false;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = it->is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean();
  } else if constexpr (std::is_same_v<T, double>) {
    ok = it->is_number();
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    ok = it->is_number_unsigned();
  } else {
    static_assert(std::is_same_v<T, int64_t>);
    ok = it->is_number_integer();
  }
  return ok ? &*it : nullptr;
}

// What the writer stores: `data` holds shape x dtype_size bytes (C order).
struct RecordSource {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

// Writes `meta` (a JSON object) and `records` in the layout above. Names
// must be unique. Throws ltcl::Error on a bad argument; write errors come
// from `write`.
void write_record_file(
    const WriteBytes& write,
    const nlohmann::json& meta,
    const std::vector<RecordSource>& records);

}  // namespace ltcl::util
