#pragma once
// A small reader for Python pickles of plain data, enough for CIFAR's Python
// distribution: no Python needed at run time.
//
// Supported: protocols 0-4 framing (PROTO, FRAME, STOP), None/bools, ints
// (BININT*, LONG1, and protocol 0's INT / LONG text), floats (BINFLOAT,
// FLOAT text), strings and bytes (BINSTRING, SHORT_BINSTRING, BINUNICODE,
// SHORT_BINUNICODE, BINUNICODE8, BINBYTES, SHORT_BINBYTES, BINBYTES8, and
// protocol 0's quoted STRING and raw-unicode-escape UNICODE), tuples,
// lists, dicts, the memo (PUT/GET, text and binary, MEMOIZE), and these
// globals:
//   numpy.core.multiarray._reconstruct (+ BUILD): an ndarray (C order)
//   numpy.dtype (+ BUILD): its dtype ('u1', 'i1', '<i2' ... '<i8', '<u2'...)
//   _codecs.encode(str, 'latin1'): bytes, as Python 3 writes bytes at
//     protocol 2
//   __builtin__.bytes() / builtins.bytes(): empty bytes
// Anything else throws ltcl::Error naming the file, the opcode and its byte
// offset; so do truncated data and malformed structures. Hostile input is
// bounded (util/limits.h): containers nest at most kMaxPickleDepth deep and
// never in a cycle (a container inside another is frozen), the values hold
// at most kMaxPickleExpansion x the file's bytes, text is valid UTF-8,
// flags are bools, a dtype is checked when it is made (dtype strings are
// stored without their byte-order character: "u1", "i8"), and an array's
// data is exactly its shape's bytes (overflow-checked). File bytes in a
// message are escaped (ltcl::printable).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ltcl::data {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

struct PickleValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kBytes,   // py2 str, py3 bytes (`text` holds the bytes)
    kString,  // unicode text (`text` holds UTF-8)
    kTuple,
    kList,
    kDict,
    kGlobal,   // `text` = "module.name"
    kNdarray,  // shape, dtype, text = raw data (C order)
    kDtype,    // dtype = e.g. "u1", "<i8"
  };
  Kind kind = Kind::kNone;
  int64_t integer = 0;  // kInt, kBool
  double number = 0;    // kFloat
  std::string text;
  std::vector<PickleRef> items;                          // tuple, list
  std::vector<std::pair<PickleRef, PickleRef>> entries;  // dict
  std::vector<int64_t> shape;                            // ndarray
  std::string dtype;                                     // ndarray, dtype

  // Dict lookup by a key that is bytes or str equal to `key`; nullptr if
  // absent (or this is not a dict).
  const PickleValue* find(const std::string& key) const;
  const char* kind_name() const;
};

// Parses a whole pickle held in memory; `name` is used in errors.
PickleRef parse_pickle(const uint8_t* bytes, size_t n, const std::string& name);

// Reads a pickle file and parses it.
PickleRef read_pickle(const std::string& path);

}  // namespace ltcl::data
