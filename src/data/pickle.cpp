#include "ltcl/data/pickle.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <unordered_map>

#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/printable.h"
#include "ltcl/util/read_file.h"

namespace ltcl::data {

const PickleValue* PickleValue::find(const std::string& key) const {
  if (kind != Kind::kDict) {
    return nullptr;
  }
  for (const auto& [k, v] : entries) {
    if ((k->kind == Kind::kBytes || k->kind == Kind::kString) &&
        k->text == key) {
      return v.get();
    }
  }
  return nullptr;
}

const char* PickleValue::kind_name() const {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kBytes:
      return "bytes";
    case Kind::kString:
      return "str";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global";
    case Kind::kNdarray:
      return "ndarray";
    case Kind::kDtype:
      return "dtype";
  }
  return "?";
}

namespace {

using Kind = PickleValue::Kind;

PickleRef make(Kind kind) {
  auto v = std::make_shared<PickleValue>();
  v->kind = kind;
  return v;
}

class Parser {
 public:
  Parser(const uint8_t* bytes, size_t n, const std::string& name)
      : data_(bytes), size_(n), name_(name) {}

  PickleRef run() {
    while (true) {
      if (pos_ >= size_) {
        error_at(pos_, "truncated: no STOP opcode");
      }
      op_pos_ = pos_;
      const uint8_t op = data_[pos_++];
      switch (op) {
        case 0x80:  // PROTO
          take(1);
          break;
        case 0x95:  // FRAME
          take(8);
          break;
        case '.': {  // STOP
          if (stack_.size() != 1 || !marks_.empty()) {
            error("STOP with a malformed stack");
          }
          return stack_.back();
        }
        case '(':  // MARK
          marks_.push_back(stack_.size());
          break;
        case 'N':
          push(make(Kind::kNone));
          break;
        case 0x88:
        case 0x89: {  // NEWTRUE / NEWFALSE
          auto v = make(Kind::kBool);
          v->integer = op == 0x88;
          push(v);
          break;
        }
        case 'J':
          push_int(static_cast<int32_t>(read_le(4)));
          break;
        case 'K':
          push_int(read_le(1));
          break;
        case 'M':
          push_int(read_le(2));
          break;
        case 0x8a: {  // LONG1
          const size_t n = read_le(1);
          if (n > 8) {
            error("LONG1 wider than 64 bits");
          }
          const uint8_t* p = take(n);
          uint64_t v = 0;
          for (size_t k = 0; k < n; ++k) {
            v |= uint64_t(p[k]) << (8 * k);
          }
          if (n > 0 && n < 8 && (p[n - 1] & 0x80)) {
            v |= ~uint64_t(0) << (8 * n);  // sign-extend
          }
          push_int(static_cast<int64_t>(v));
          break;
        }
        case 'I': {  // INT (text), also protocol-0 bools
          const std::string line = read_line();
          auto v = make(Kind::kInt);
          if (line == "00" || line == "01") {
            v->kind = Kind::kBool;
            v->integer = line == "01";
          } else {
            v->integer = parse_decimal(line, "INT");
          }
          push(v);
          break;
        }
        case 'L': {  // LONG (text, protocol 0): digits and a trailing 'L'
          std::string line = read_line();
          if (!line.empty() && line.back() == 'L') {
            line.pop_back();
          }
          push_int(parse_decimal(line, "LONG"));
          break;
        }
        case 'F': {  // FLOAT (text, protocol 0)
          const std::string line = read_line();
          auto v = make(Kind::kFloat);
          const char* end = line.data() + line.size();
          const auto [ptr, err] = std::from_chars(line.data(), end, v->number);
          if (line.empty() || err != std::errc() || ptr != end) {
            error(
                "bad FLOAT literal '" + printable(line) +
                "', expected a number");
          }
          push(v);
          break;
        }
        case 'S':  // STRING (protocol 0): a quoted Python 2 str literal
          push_owned(Kind::kBytes, unquote_string(read_line()));
          break;
        case 'V':  // UNICODE (protocol 0): raw-unicode-escape text
          push_owned(Kind::kString, raw_unicode_escape(read_line()));
          break;
        case 'G': {  // BINFLOAT, big-endian
          const uint8_t* p = take(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) {
            bits = (bits << 8) | p[k];
          }
          auto v = make(Kind::kFloat);
          std::memcpy(&v->number, &bits, 8);
          push(v);
          break;
        }
        case 'T':  // BINSTRING
          push_text(Kind::kBytes, read_le(4));
          break;
        case 'U':  // SHORT_BINSTRING
          push_text(Kind::kBytes, read_le(1));
          break;
        case 'B':  // BINBYTES
          push_text(Kind::kBytes, read_le(4));
          break;
        case 'C':  // SHORT_BINBYTES
          push_text(Kind::kBytes, read_le(1));
          break;
        case 0x8e:  // BINBYTES8
          push_text(Kind::kBytes, read_le(8));
          break;
        case 'X':  // BINUNICODE
          push_text(Kind::kString, read_le(4), "BINUNICODE");
          break;
        case 0x8c:  // SHORT_BINUNICODE
          push_text(Kind::kString, read_le(1), "SHORT_BINUNICODE");
          break;
        case 0x8d:  // BINUNICODE8
          push_text(Kind::kString, read_le(8), "BINUNICODE8");
          break;
        case ')':
          push(make(Kind::kTuple));
          break;
        case 't': {  // TUPLE
          auto v = make(Kind::kTuple);
          for (auto& item : pop_to_mark()) {
            adopt(v, std::move(item));
          }
          push(v);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = op - 0x84;
          need(n);
          auto v = make(Kind::kTuple);
          for (auto it = stack_.end() - n; it != stack_.end(); ++it) {
            adopt(v, std::move(*it));
          }
          stack_.resize(stack_.size() - n);
          push(v);
          break;
        }
        case ']':
          push(make(Kind::kList));
          break;
        case 'l': {  // LIST
          auto v = make(Kind::kList);
          for (auto& item : pop_to_mark()) {
            adopt(v, std::move(item));
          }
          push(v);
          break;
        }
        case 'a': {  // APPEND
          need(2);
          PickleRef item = pop();
          expect(stack_.back(), Kind::kList, "APPEND");
          adopt(stack_.back(), std::move(item));
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_to_mark();
          need(1);
          expect(stack_.back(), Kind::kList, "APPENDS");
          for (auto& item : items) {
            adopt(stack_.back(), std::move(item));
          }
          break;
        }
        case '}':
          push(make(Kind::kDict));
          break;
        case 'd': {  // DICT
          auto items = pop_to_mark();
          auto v = make(Kind::kDict);
          add_pairs(v, items);
          push(v);
          break;
        }
        case 's': {  // SETITEM
          need(3);
          PickleRef value = pop();
          PickleRef key = pop();
          add_pairs(stack_.back(), {key, value});
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_to_mark();
          need(1);
          add_pairs(stack_.back(), items);
          break;
        }
        case 'q':  // BINPUT
          memo_put(read_le(1));
          break;
        case 'r':  // LONG_BINPUT
          memo_put(read_le(4));
          break;
        case 'p':  // PUT (text)
          memo_put(parse_index(read_line(), "PUT"));
          break;
        case 0x94:  // MEMOIZE
          memo_put(memo_.size());
          break;
        case 'h':  // BINGET
          memo_get(read_le(1));
          break;
        case 'j':  // LONG_BINGET
          memo_get(read_le(4));
          break;
        case 'g':  // GET (text)
          memo_get(parse_index(read_line(), "GET"));
          break;
        case '0':  // POP
          need(1);
          pop();
          break;
        case '1':  // POP_MARK
          pop_to_mark();
          break;
        case '2':  // DUP
          need(1);
          push(stack_.back());
          break;
        case 'c': {  // GLOBAL
          const std::string module = read_line();
          const std::string qualname = read_line();
          push_global(module, qualname);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          need(2);
          PickleRef qualname = pop();
          PickleRef module = pop();
          if (module->kind != Kind::kString ||
              qualname->kind != Kind::kString) {
            error("STACK_GLOBAL needs two strings");
          }
          push_global(module->text, qualname->text);
          break;
        }
        case 'R':  // REDUCE
          reduce();
          break;
        case 'b':  // BUILD
          build();
          break;
        default:
          fail(
              "read_pickle - unsupported opcode 0x{:02x} ('{}') at offset {} "
              "in {}",
              op,
              op >= 32 && op < 127 ? static_cast<char>(op) : '?',
              op_pos_,
              name_);
      }
    }
  }

 private:
  [[noreturn]] void error_at(size_t at, const std::string& what) const {
    fail("read_pickle - {} at offset {} in {}", what, at, name_);
  }
  [[noreturn]] void error(const std::string& what) const {
    error_at(op_pos_, what);
  }

  const uint8_t* take(size_t n) {
    if (n > size_ - pos_) {
      error_at(pos_, "truncated data (" + std::to_string(n) + " bytes wanted)");
    }
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t read_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) {
      v |= uint64_t(p[k]) << (8 * k);
    }
    return v;
  }
  std::string read_line() {
    const size_t start = pos_;
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!nl) {
      error_at(start, "truncated text argument (no newline before the end)");
    }
    pos_ = static_cast<const uint8_t*>(nl) - data_;
    std::string s(reinterpret_cast<const char*>(data_ + start), pos_ - start);
    ++pos_;
    count_bytes(s.size());
    return s;
  }
  // A whole decimal literal (optional '-'), as the text opcodes write it.
  int64_t parse_decimal(const std::string& s, const char* op) {
    int64_t v = 0;
    const char* end = s.data() + s.size();
    const auto [ptr, err] = std::from_chars(s.data(), end, v);
    if (s.empty() || err != std::errc() || ptr != end) {
      error(
          std::string("bad ") + op + " literal '" + printable(s) +
          "', expected a decimal integer of at most 64 bits");
    }
    return v;
  }
  size_t parse_index(const std::string& s, const char* op) {
    uint64_t v = 0;
    const char* end = s.data() + s.size();
    const auto [ptr, err] = std::from_chars(s.data(), end, v);
    if (s.empty() || err != std::errc() || ptr != end) {
      error(
          std::string("bad ") + op + " memo index '" + printable(s) +
          "', expected a decimal number");
    }
    return v;
  }

  // Every byte a parsed value holds is counted: with the memo, a small file
  // could otherwise make the reader copy one large string many times.
  void count_bytes(uint64_t n) {
    bytes_held_ += n;
    const uint64_t limit =
        size_ * limits::kMaxPickleExpansion + limits::kPickleExpansionSlack;
    if (bytes_held_ > limit) {
      error(
          "the values would hold more than " + std::to_string(limit) +
          " bytes (" + std::to_string(limits::kMaxPickleExpansion) +
          "x the file); refusing a decompression bomb");
    }
  }

  // Python 3 reads pickled text as UTF-8 ('surrogatepass': encoded
  // surrogates are allowed); anything else is refused with the offset.
  void check_utf8(const uint8_t* p, size_t n, size_t at, const char* op) {
    size_t k = 0;
    while (k < n) {
      const uint8_t c = p[k];
      size_t len = 0;
      uint32_t cp = 0;
      uint32_t min = 0;
      if (c < 0x80) {
        ++k;
        continue;
      } else if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
      } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
      } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
      }
      bool ok = len != 0 && k + len <= n;
      for (size_t j = 1; ok && j < len; ++j) {
        ok = (p[k + j] & 0xC0) == 0x80;
        cp = (cp << 6) | (p[k + j] & 0x3F);
      }
      if (!ok || cp < min || cp > 0x10FFFF) {
        error_at(
            at + k,
            fmt::format(
                "{}: invalid UTF-8 (byte 0x{:02x}, {} bytes into the "
                "string), expected UTF-8 text",
                op,
                c,
                k));
      }
      k += len;
    }
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  }

  // UNICODE's argument: latin-1 bytes, where an odd run of backslashes
  // before 'u' / 'U' starts a \uXXXX / \UXXXXXXXX escape (CPython's
  // raw-unicode-escape). Returns UTF-8.
  std::string raw_unicode_escape(const std::string& s) {
    std::string out;
    size_t k = 0;
    while (k < s.size()) {
      if (s[k] != '\\') {
        append_utf8(out, static_cast<uint8_t>(s[k++]));
        continue;
      }
      size_t run = 0;
      while (k < s.size() && s[k] == '\\') {
        out.push_back('\\');
        ++run, ++k;
      }
      if (run % 2 == 0 || k >= s.size() || (s[k] != 'u' && s[k] != 'U')) {
        continue;
      }
      out.pop_back();
      const size_t digits = s[k] == 'u' ? 4 : 8;
      uint32_t cp = 0;
      for (size_t d = 1; d <= digits; ++d) {
        const int h = k + d < s.size() ? hex_value(s[k + d]) : -1;
        if (h < 0) {
          error(
              "UNICODE: bad \\" + std::string(1, s[k]) + " escape in '" +
              printable(s) + "', expected " + std::to_string(digits) +
              " hex digits");
        }
        cp = (cp << 4) | static_cast<uint32_t>(h);
      }
      if (cp > 0x10FFFF) {
        error("UNICODE: code point above U+10FFFF in '" + printable(s) + "'");
      }
      append_utf8(out, cp);
      k += digits + 1;
    }
    return out;
  }

  // STRING's argument: a Python 2 str literal, quoted with ' or ", with the
  // escapes of codecs.escape_decode.
  std::string unquote_string(const std::string& s) {
    if (s.size() < 2 || s.front() != s.back() ||
        (s.front() != '\'' && s.front() != '"')) {
      error(
          "STRING argument '" + printable(s) +
          "' is not quoted, expected a Python str literal");
    }
    std::string out;
    const size_t end = s.size() - 1;
    for (size_t k = 1; k < end; ++k) {
      if (s[k] != '\\') {
        out.push_back(s[k]);
        continue;
      }
      if (++k >= end) {
        error("STRING argument '" + printable(s) + "' ends with a backslash");
      }
      const char c = s[k];
      switch (c) {
        case '\\':
        case '\'':
        case '"':
          out.push_back(c);
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x': {
          const int hi = k + 1 < end ? hex_value(s[k + 1]) : -1;
          const int lo = k + 2 < end ? hex_value(s[k + 2]) : -1;
          if (hi < 0 || lo < 0) {
            error(
                "STRING argument '" + printable(s) +
                "' has a bad \\x escape, expected two hex digits");
          }
          out.push_back(static_cast<char>(hi * 16 + lo));
          k += 2;
          break;
        }
        default:
          if (c >= '0' && c <= '7') {
            int v = 0;
            size_t d = 0;
            while (d < 3 && k < end && s[k] >= '0' && s[k] <= '7') {
              v = v * 8 + (s[k] - '0');
              ++k, ++d;
            }
            --k;
            out.push_back(static_cast<char>(v & 0xFF));
          } else {
            out.push_back('\\');  // unknown escapes stay as written
            out.push_back(c);
          }
      }
    }
    return out;
  }

  void push(PickleRef v) {
    stack_.push_back(std::move(v));
  }
  void push_int(int64_t i) {
    auto v = make(Kind::kInt);
    v->integer = i;
    push(v);
  }
  void push_text(Kind kind, uint64_t n, const char* op = nullptr) {
    const size_t at = pos_;
    const uint8_t* p = take(n);
    if (kind == Kind::kString) {
      check_utf8(p, n, at, op);
    }
    count_bytes(n);
    auto v = make(kind);
    v->text.assign(reinterpret_cast<const char*>(p), n);
    push(v);
  }
  void push_owned(Kind kind, std::string text) {
    count_bytes(text.size());
    auto v = make(kind);
    v->text = std::move(text);
    push(v);
  }

  // What the parser knows of each container and array it made.
  struct Info {
    int depth = 0;           // 1 + the deepest child's depth (0: a leaf)
    bool contained = false;  // inside another container: frozen
    bool built = false;      // an ndarray whose BUILD has run
  };
  Info& info(const PickleRef& v) {
    auto [it, fresh] = info_.try_emplace(v.get());
    if (fresh) {
      keep_.push_back(v);  // alive until the end: its address stays unique
    }
    return it->second;
  }
  int depth_of(const PickleRef& v) {
    auto it = info_.find(v.get());
    return it == info_.end() ? 0 : it->second.depth;
  }
  // Puts `child` into `parent` (a tuple or list; dicts: add_pairs) with the
  // two rules that keep the parsed values a tree of bounded depth: a
  // container already inside another one is never changed (so no cycle can
  // form: a self-referential list is refused), and no chain is deeper than
  // kMaxPickleDepth (freeing a deep chain recurses once per level).
  void adopt(const PickleRef& parent, PickleRef child) {
    mark_child(parent, child);
    parent->items.push_back(std::move(child));
  }
  void mark_child(const PickleRef& parent, const PickleRef& child) {
    Info& p = info(parent);
    if (p.contained || parent == child) {
      error(
          std::string("a ") + parent->kind_name() +
          " changed after it was put inside another value (recursive "
          "structures are not supported)");
    }
    const int d = depth_of(child) + 1;
    if (d > limits::kMaxPickleDepth) {
      error(
          "values nested deeper than " +
          std::to_string(limits::kMaxPickleDepth) + " levels");
    }
    p.depth = std::max(p.depth, d);
    info(child).contained = true;
  }
  void need(size_t n) {
    const size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + n) {
      error("stack underflow");
    }
  }
  PickleRef pop() {
    PickleRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  std::vector<PickleRef> pop_to_mark() {
    if (marks_.empty()) {
      error("no MARK on the stack");
    }
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleRef> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  PickleValue* expect(const PickleRef& v, Kind kind, const char* op) {
    if (v->kind != kind) {
      error(std::string(op) + " on a " + v->kind_name());
    }
    return v.get();
  }
  void add_pairs(const PickleRef& dict, const std::vector<PickleRef>& items) {
    expect(dict, Kind::kDict, "SETITEM(S)");
    if (items.size() % 2 != 0) {
      error("odd number of dict items");
    }
    for (size_t k = 0; k < items.size(); k += 2) {
      mark_child(dict, items[k]);
      mark_child(dict, items[k + 1]);
      dict->entries.emplace_back(items[k], items[k + 1]);
    }
  }
  void memo_put(size_t key) {
    if (stack_.empty()) {
      error("PUT on an empty stack");
    }
    memo_[key] = stack_.back();
  }
  void memo_get(size_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) {
      error("memo key " + std::to_string(key) + " not defined");
    }
    push(it->second);
  }

  void push_global(const std::string& module, const std::string& qualname) {
    const std::string full = module + "." + qualname;
    static const char* kKnown[] = {
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.ndarray",
        "numpy.dtype",
        "_codecs.encode",
        "__builtin__.bytes",
        "builtins.bytes"};
    for (const char* k : kKnown) {
      if (full == k) {
        auto v = make(Kind::kGlobal);
        v->text = full;
        push(v);
        return;
      }
    }
    error("unsupported global '" + printable(full) + "'");
  }

  // UTF-8 text whose code points are all < 256 -> those bytes (latin-1).
  std::string latin1_from_utf8(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (size_t k = 0; k < s.size(); ++k) {
      const uint8_t c = static_cast<uint8_t>(s[k]);
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
      } else if ((c & 0xE0) == 0xC0 && k + 1 < s.size()) {
        const uint32_t cp =
            ((c & 0x1F) << 6) | (static_cast<uint8_t>(s[k + 1]) & 0x3F);
        if (cp > 0xFF) {
          error("_codecs.encode: character above U+00FF");
        }
        out.push_back(static_cast<char>(cp));
        ++k;
      } else {
        error("_codecs.encode: character above U+00FF");
      }
    }
    return out;
  }

  void reduce() {
    need(2);
    PickleRef args = pop();
    PickleRef callable = pop();
    if (callable->kind != Kind::kGlobal || args->kind != Kind::kTuple) {
      error("REDUCE needs a global and a tuple");
    }
    const std::string& f = callable->text;
    const auto& a = args->items;
    if (f == "_codecs.encode") {
      if (a.size() != 2 || a[0]->kind != Kind::kString ||
          a[1]->kind != Kind::kString || a[1]->text != "latin1") {
        error("_codecs.encode needs (str, 'latin1')");
      }
      push_owned(Kind::kBytes, latin1_from_utf8(a[0]->text));
    } else if (f == "__builtin__.bytes" || f == "builtins.bytes") {
      if (!a.empty()) {
        error("bytes() with arguments");
      }
      push(make(Kind::kBytes));
    } else if (f == "numpy.dtype") {
      // numpy writes dtype('u1', False, True): the type, align, copy.
      if (a.empty() || a.size() > 3 ||
          (a[0]->kind != Kind::kString && a[0]->kind != Kind::kBytes)) {
        error("numpy.dtype needs (type string[, align, copy])");
      }
      for (size_t k = 1; k < a.size(); ++k) {
        check_flag(a[k], "numpy.dtype flag");
      }
      // The type is checked here, not only at BUILD: an array may use a
      // dtype whose BUILD never ran.
      std::string type = a[0]->text;
      if (!type.empty() &&
          (type[0] == '<' || type[0] == '|' || type[0] == '=')) {
        type.erase(0, 1);
      }
      if (dtype_size(type) == 0) {
        error(
            "unsupported dtype '" + printable(a[0]->text) +
            "', expected u1, i1, b1, u2, i2, u4, i4, u8 or i8");
      }
      auto v = make(Kind::kDtype);
      v->dtype = type;
      push(v);
    } else if (f.find("_reconstruct") != std::string::npos) {
      if (a.empty() || a[0]->kind != Kind::kGlobal ||
          a[0]->text != "numpy.ndarray") {
        error("_reconstruct of something other than numpy.ndarray");
      }
      push(make(Kind::kNdarray));
    } else {
      error("cannot call '" + f + "'");
    }
  }

  static size_t dtype_size(const std::string& base) {
    if (base.size() == 2 && (base[0] == 'u' || base[0] == 'i') &&
        (base[1] == '1' || base[1] == '2' || base[1] == '4' ||
         base[1] == '8')) {
      return base[1] - '0';
    }
    if (base == "b1") {
      return 1;
    }
    return 0;
  }

  // A flag (numpy writes bools; protocol 0: I00 / I01): False/True or 0/1.
  void check_flag(const PickleRef& v, const char* what) {
    if ((v->kind != Kind::kBool && v->kind != Kind::kInt) ||
        (v->integer != 0 && v->integer != 1)) {
      error(
          std::string(what) + " is a " + v->kind_name() + " (" +
          std::to_string(v->integer) + "), expected True/False or 0/1");
    }
  }

  void build() {
    need(2);
    PickleRef state = pop();
    PickleRef& obj = stack_.back();
    if (obj->kind == Kind::kDtype) {
      // state = (version, byteorder, ...); only the byte order matters.
      if (state->kind != Kind::kTuple || state->items.size() < 2) {
        error(
            "dtype state is a " + std::string(state->kind_name()) +
            ", expected a tuple (version, byte order, ...)");
      }
      const PickleRef& order = state->items[1];
      if (order->kind != Kind::kNone) {
        if ((order->kind != Kind::kString && order->kind != Kind::kBytes) ||
            (order->text != "<" && order->text != ">" && order->text != "|" &&
             order->text != "=")) {
          error(
              "dtype byte order is '" + printable(order->text) +
              "', expected one of < > | =");
        }
        if (order->text == ">" && dtype_size(obj->dtype) > 1) {
          error("big-endian dtype '" + obj->dtype + "' not supported");
        }
      }
      return;
    }
    if (obj->kind != Kind::kNdarray) {
      error(std::string("BUILD on a ") + obj->kind_name());
    }
    Info& array = info(obj);
    if (array.built) {
      error("BUILD on an ndarray that was already built");
    }
    array.built = true;
    // (version, shape, dtype, is_fortran, data) or without the version.
    if (state->kind != Kind::kTuple ||
        (state->items.size() != 5 && state->items.size() != 4)) {
      error("ndarray state is not a 4- or 5-tuple");
    }
    const size_t o = state->items.size() == 5 ? 1 : 0;
    const auto& shape = state->items[o];
    const auto& dtype = state->items[o + 1];
    const auto& fortran = state->items[o + 2];
    const auto& data = state->items[o + 3];
    if (shape->kind != Kind::kTuple || dtype->kind != Kind::kDtype ||
        data->kind != Kind::kBytes) {
      error("ndarray state has the wrong types");
    }
    check_flag(fortran, "ndarray Fortran-order flag");
    const size_t item = dtype_size(dtype->dtype);
    if (item == 0) {
      error("ndarray dtype '" + printable(dtype->dtype) + "' is not set up");
    }
    // The byte count the shape needs, overflow-checked: a product that
    // wrapped to 0 would accept an empty buffer for a huge shape.
    uint64_t bytes = item;
    std::vector<int64_t> dims;
    for (const auto& d : shape->items) {
      if (d->kind != Kind::kInt || d->integer < 0) {
        error("ndarray shape is not a tuple of sizes");
      }
      dims.push_back(d->integer);
      if (__builtin_mul_overflow(
              bytes, static_cast<uint64_t>(d->integer), &bytes)) {
        error("ndarray shape overflows 64 bits");
      }
    }
    if (fortran->integer != 0 && dims.size() > 1) {
      error("Fortran-ordered ndarray not supported");
    }
    if (data->text.size() != bytes) {
      error(
          "ndarray data has " + std::to_string(data->text.size()) +
          " bytes, shape needs " + std::to_string(bytes));
    }
    count_bytes(bytes);
    obj->shape = std::move(dims);
    obj->dtype = dtype->dtype;
    obj->text = data->text;
  }

  const uint8_t* data_;
  size_t size_;
  const std::string& name_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<size_t, PickleRef> memo_;
  std::unordered_map<const PickleValue*, Info> info_;
  std::vector<PickleRef> keep_;
  uint64_t bytes_held_ = 0;
};

}  // namespace

PickleRef parse_pickle(
    const uint8_t* bytes, size_t n, const std::string& name) {
  return Parser(bytes, n, name).run();
}

PickleRef read_pickle(const std::string& path) {
  const std::vector<uint8_t> bytes =
      util::read_regular_file(path, limits::kMaxDataFileBytes, "read_pickle");
  return parse_pickle(bytes.data(), bytes.size(), path);
}

}  // namespace ltcl::data
