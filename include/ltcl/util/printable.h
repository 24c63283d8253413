#pragma once
// Escaping file bytes for error messages (see ltcl::printable).
#include <cstddef>
#include <string>
#include <string_view>

namespace ltcl {

// Bytes from a file as they may appear in a message: printable ASCII as is,
// everything else (NUL, control bytes, bytes >= 0x80, backslash) escaped as
// \xNN, cut after `max_bytes` input bytes with "...". Messages never embed
// raw file bytes: a NUL would cut the message, and terminals interpret
// control bytes.
inline std::string printable(std::string_view bytes, size_t max_bytes = 64) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = bytes.size() < max_bytes ? bytes.size() : max_bytes;
  for (size_t k = 0; k < n; ++k) {
    const auto c = static_cast<unsigned char>(bytes[k]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (n < bytes.size()) {
    out += "...";
  }
  return out;
}

}  // namespace ltcl
