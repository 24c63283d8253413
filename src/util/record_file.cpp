#include "ltcl/util/record_file.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/printable.h"
#include "ltcl/util/read_file.h"

namespace ltcl::util {
namespace {

constexpr size_t kFixedHeader = 32;
constexpr uint64_t kAlign = 64;

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kFloat32, "float32", 4}, {DType::kFloat64, "float64", 8},
    {DType::kFloat16, "float16", 2}, {DType::kBFloat16, "bfloat16", 2},
    {DType::kInt64, "int64", 8},     {DType::kInt32, "int32", 4},
    {DType::kInt16, "int16", 2},     {DType::kInt8, "int8", 1},
    {DType::kUInt8, "uint8", 1},     {DType::kBool, "bool", 1},
};

bool little_endian() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

void require_little_endian(const std::string& source) {
  if (!little_endian()) {
    fail("checkpoint - '{}': checkpoints are little-endian; this host is not",
         source);
  }
}

uint32_t crc(const uint8_t* data, uint64_t size) {
  uLong c = crc32_z(0L, Z_NULL, 0);
  return static_cast<uint32_t>(crc32_z(c, data, static_cast<z_size_t>(size)));
}

template <typename T>
T read_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // little-endian host (checked)
  return v;
}

template <typename T>
void put_le(std::vector<uint8_t>& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof(T));
}

uint64_t align_up(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

// shape x itemsize, or false when a dimension is negative, too many, or the
// product overflows 2^62.
bool byte_count(const std::vector<int64_t>& shape, size_t item, uint64_t* out) {
  if (shape.size() > limits::kMaxRecordDims) {
    return false;
  }
  constexpr uint64_t kCap = uint64_t(1) << 62;
  uint64_t n = item;
  for (int64_t d : shape) {
    if (d < 0) {
      return false;
    }
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && n > kCap / u) {
      return false;
    }
    n *= u;
  }
  *out = n;
  return true;
}

// A name as it may appear in a file and a message: printable ASCII, no
// control bytes, bounded.
bool good_name(const std::string& name) {
  if (name.empty() || name.size() > limits::kMaxRecordNameBytes) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7f;
  });
}

struct TableLimit {};  // thrown by the parse callback

// The table, parsed with its depth and value count bounded (a hostile table
// must not build a huge or deep tree).
nlohmann::json parse_table(
    const uint8_t* data, uint64_t size, const std::string& source) {
  int64_t values = 0;
  int worst_depth = 0;
  auto limit = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    worst_depth = std::max(worst_depth, depth);
    if (depth > limits::kMaxCheckpointTableDepth ||
        ++values > limits::kMaxCheckpointTableValues) {
      throw TableLimit{};
    }
    return true;
  };
  try {
    return nlohmann::json::parse(data, data + size, limit);
  } catch (const TableLimit&) {
    fail(
        "checkpoint - '{}': its table nests deeper than {} levels or holds "
        "more than {} values (not a checkpoint ltcl wrote)",
        source,
        limits::kMaxCheckpointTableDepth,
        limits::kMaxCheckpointTableValues);
  } catch (const nlohmann::json::exception& e) {
    fail(
        "checkpoint - '{}': its table (bytes {}-{}) is not valid JSON: {}",
        source,
        kFixedHeader,
        kFixedHeader + size,
        printable(e.what(), 200));
  }
}

template <typename T>
T field(
    const nlohmann::json& rec,
    const char* key,
    size_t index,
    const std::string& source) {
  const nlohmann::json* v = typed_member<T>(rec, key);
  if (!v) {
    fail(
        "checkpoint - '{}': record {} of the table has no valid '{}'",
        source,
        index,
        key);
  }
  return v->template get<T>();
}

}  // namespace

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) {
      return d.name;
    }
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) {
      return d.size;
    }
  }
  return 0;
}

const Record* RecordFile::find(std::string_view name) const {
  for (const auto& r : records_) {
    if (r.name == name) {
      return &r;
    }
  }
  return nullptr;
}

RecordFile RecordFile::read(const std::string& path) {
  return parse(
      read_regular_file(path, limits::kMaxCheckpointBytes, "checkpoint"), path);
}

RecordFile RecordFile::parse(std::vector<uint8_t> bytes, std::string source) {
  require_little_endian(source);
  const uint64_t size = bytes.size();
  const uint8_t* b = bytes.data();
  if (size >= 4 && std::memcmp(b, "PK\x03\x04", 4) == 0) {
    fail(
        "checkpoint - '{}' is a LibTorch / PyTorch zip archive: a checkpoint "
        "of ltcl before format {} (2026-12-02) or another program's file. "
        "ltcl no longer opens these, because loading one runs code stored "
        "in it; retrain, or load it in the ltcl version that wrote it",
        source,
        kRecordFormatVersion);
  }
  if (size < kFixedHeader ||
      std::memcmp(b, kRecordSignature, sizeof(kRecordSignature)) != 0) {
    if (size >= sizeof(kRecordSignature) &&
        std::memcmp(b, kRecordSignature, sizeof(kRecordSignature)) == 0) {
      fail(
          "checkpoint - '{}' is truncated: {} bytes, less than the {}-byte "
          "header",
          source,
          size,
          kFixedHeader);
    }
    fail(
        "checkpoint - '{}' is not an ltcl checkpoint (it does not start with "
        "'LTCLCKPT'; first bytes: '{}')",
        source,
        printable(std::string_view(
            reinterpret_cast<const char*>(b),
            std::min<uint64_t>(size, 8))));
  }
  const auto header_crc = read_le<uint32_t>(b + 28);
  if (crc(b, 28) != header_crc) {
    fail(
        "checkpoint - '{}' is damaged: its 32-byte header fails its CRC-32 "
        "check",
        source);
  }
  const auto version = read_le<uint32_t>(b + 8);
  if (version != kRecordFormatVersion) {
    fail(
        "checkpoint - '{}' has format version {}; this build reads version "
        "{} (written by a newer ltcl?)",
        source,
        version,
        kRecordFormatVersion);
  }
  if (read_le<uint32_t>(b + 12) != 0) {
    fail("checkpoint - '{}': unknown flags in its header", source);
  }
  const auto table_bytes = read_le<uint64_t>(b + 16);
  if (table_bytes > limits::kMaxCheckpointTableBytes) {
    fail(
        "checkpoint - '{}' declares a table of {} bytes, more than the limit "
        "of {}",
        source,
        table_bytes,
        limits::kMaxCheckpointTableBytes);
  }
  if (table_bytes > size - kFixedHeader) {
    fail(
        "checkpoint - '{}' is truncated: its table needs bytes {}-{}, the "
        "file has {}",
        source,
        kFixedHeader,
        kFixedHeader + table_bytes,
        size);
  }
  if (crc(b + kFixedHeader, table_bytes) != read_le<uint32_t>(b + 24)) {
    fail(
        "checkpoint - '{}' is damaged: its table (bytes {}-{}) fails its "
        "CRC-32 check",
        source,
        kFixedHeader,
        kFixedHeader + table_bytes);
  }
  nlohmann::json table = parse_table(b + kFixedHeader, table_bytes, source);
  if (!table.is_object() || !table.contains("meta") ||
      !table["meta"].is_object() || !table.contains("records") ||
      !table["records"].is_array()) {
    fail(
        "checkpoint - '{}': its table is not an object with 'meta' (object) "
        "and 'records' (array)",
        source);
  }
  const auto& list = table["records"];
  if (static_cast<int64_t>(list.size()) > limits::kMaxCheckpointRecords) {
    fail(
        "checkpoint - '{}' lists {} records, more than the limit of {}",
        source,
        list.size(),
        limits::kMaxCheckpointRecords);
  }
  const uint64_t data_start = align_up(kFixedHeader + table_bytes);
  if (data_start > size) {
    fail(
        "checkpoint - '{}' is truncated: its data section starts at byte {}, "
        "the file has {}",
        source,
        data_start,
        size);
  }
  RecordFile out;
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& rec = list[i];
    if (!rec.is_object()) {
      fail("checkpoint - '{}': record {} of the table is not an object",
           source, i);
    }
    Record r;
    r.name = field<std::string>(rec, "name", i, source);
    if (!good_name(r.name)) {
      fail(
          "checkpoint - '{}': record {} has a bad name '{}' (1-{} printable "
          "ASCII characters)",
          source,
          i,
          printable(r.name),
          limits::kMaxRecordNameBytes);
    }
    if (!names.insert(r.name).second) {
      fail("checkpoint - '{}': record '{}' appears twice", source, r.name);
    }
    const auto dtype = field<std::string>(rec, "dtype", i, source);
    const DTypeInfo* info = nullptr;
    for (const auto& d : kDTypes) {
      if (dtype == d.name) {
        info = &d;
      }
    }
    if (!info) {
      fail(
          "checkpoint - '{}': record '{}' has an unknown dtype '{}'",
          source,
          r.name,
          printable(dtype));
    }
    r.dtype = info->dtype;
    auto shape = rec.find("shape");
    if (shape == rec.end() || !shape->is_array() ||
        shape->size() > limits::kMaxRecordDims) {
      fail(
          "checkpoint - '{}': record '{}' has no shape (an array of at most "
          "{} sizes)",
          source,
          r.name,
          limits::kMaxRecordDims);
    }
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned() ||
          d.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
        fail(
            "checkpoint - '{}': record '{}' has a bad size in its shape",
            source,
            r.name);
      }
      r.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    }
    uint64_t expected = 0;
    if (!byte_count(r.shape, info->size, &expected)) {
      fail(
          "checkpoint - '{}': record '{}' declares a shape whose size "
          "overflows",
          source,
          r.name);
    }
    const auto offset = field<uint64_t>(rec, "offset", i, source);
    r.nbytes = field<uint64_t>(rec, "nbytes", i, source);
    const auto c = field<uint64_t>(rec, "crc32", i, source);
    if (r.nbytes != expected) {
      fail(
          "checkpoint - '{}': record '{}' holds {} bytes, its shape and "
          "dtype need {}",
          source,
          r.name,
          r.nbytes,
          expected);
    }
    if (c > 0xffffffffu) {
      fail("checkpoint - '{}': record '{}' has a bad crc32", source, r.name);
    }
    r.crc32 = static_cast<uint32_t>(c);
    const uint64_t room = size - data_start;
    if (offset > room || r.nbytes > room - offset) {
      fail(
          "checkpoint - '{}' is truncated: record '{}' needs bytes {}-{} of "
          "the data section, which has {}",
          source,
          r.name,
          offset,
          offset + r.nbytes,
          room);
    }
    r.offset = data_start + offset;
    out.records_.push_back(std::move(r));
  }
  // Extents: no two records share a byte, nothing follows the last one.
  std::vector<const Record*> by_offset;
  for (const auto& r : out.records_) {
    by_offset.push_back(&r);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* x, auto* y) {
    return x->offset < y->offset;
  });
  // Every byte outside the header, the table and the records is padding,
  // and padding is zero: no byte of the file goes unchecked.
  auto zeros = [&](uint64_t from, uint64_t to) {
    for (uint64_t k = from; k < to; ++k) {
      if (b[k] != 0) {
        fail(
            "checkpoint - '{}' is damaged: padding byte {} is not zero",
            source,
            k);
      }
    }
  };
  zeros(kFixedHeader + table_bytes, data_start);
  uint64_t end = data_start;
  for (const Record* r : by_offset) {
    if (r->offset < end && r->nbytes > 0) {
      fail(
          "checkpoint - '{}': record '{}' overlaps the record before it",
          source,
          r->name);
    }
    zeros(end, std::max(end, r->offset));
    end = std::max(end, r->offset + r->nbytes);
  }
  if (end != size) {
    fail(
        "checkpoint - '{}' is damaged: {} bytes follow its last record",
        source,
        size - end);
  }
  for (const auto& r : out.records_) {
    if (crc(b + r.offset, r.nbytes) != r.crc32) {
      fail(
          "checkpoint - '{}' is damaged: record '{}' (bytes {}-{}) fails its "
          "CRC-32 check",
          source,
          r.name,
          r.offset,
          r.offset + r.nbytes);
    }
  }
  out.meta_ = std::move(table["meta"]);
  out.source_ = std::move(source);
  out.bytes_ = std::move(bytes);
  return out;
}

void write_record_file(
    const WriteBytes& write,
    const nlohmann::json& meta,
    const std::vector<RecordSource>& records) {
  require_little_endian("(writing)");
  if (!meta.is_object()) {
    fail("write_record_file - meta must be a JSON object");
  }
  nlohmann::json list = nlohmann::json::array();
  std::set<std::string> names;
  std::vector<uint64_t> offsets;
  std::vector<uint64_t> sizes;
  uint64_t at = 0;
  for (const auto& r : records) {
    if (!good_name(r.name) || !names.insert(r.name).second) {
      fail("write_record_file - bad or repeated record name '{}'",
           printable(r.name));
    }
    uint64_t n = 0;
    if (!byte_count(r.shape, dtype_size(r.dtype), &n)) {
      fail("write_record_file - record '{}' has a bad shape", r.name);
    }
    if (n > 0 && !r.data) {
      fail("write_record_file - record '{}' has no data", r.name);
    }
    at = align_up(at);
    offsets.push_back(at);
    sizes.push_back(n);
    list.push_back({
        {"name", r.name},
        {"dtype", dtype_name(r.dtype)},
        {"shape", r.shape},
        {"offset", at},
        {"nbytes", n},
        {"crc32", crc(static_cast<const uint8_t*>(r.data), n)},
    });
    at += n;
  }
  const std::string table =
      nlohmann::json{{"meta", meta}, {"records", list}}.dump();
  std::vector<uint8_t> head(align_up(kFixedHeader + table.size()), 0);
  std::memcpy(head.data(), kRecordSignature, sizeof(kRecordSignature));
  put_le<uint32_t>(head, 8, kRecordFormatVersion);
  put_le<uint32_t>(head, 12, 0);
  put_le<uint64_t>(head, 16, table.size());
  put_le<uint32_t>(
      head,
      24,
      crc(reinterpret_cast<const uint8_t*>(table.data()), table.size()));
  put_le<uint32_t>(head, 28, crc(head.data(), 28));
  std::memcpy(head.data() + kFixedHeader, table.data(), table.size());
  write(head.data(), head.size());
  static const uint8_t kZeros[kAlign] = {};
  uint64_t pos = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (offsets[i] > pos) {
      write(kZeros, offsets[i] - pos);
    }
    if (sizes[i] > 0) {
      write(records[i].data, sizes[i]);
    }
    pos = offsets[i] + sizes[i];
  }
}

}  // namespace ltcl::util
