#include "ltcl/data/pickle.h"

#include <cstring>
#include <unordered_map>

#include "ltcl/data/image_io.h"
#include "ltcl/util/error.h"

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
            try {
              v->integer = std::stoll(line);
            } catch (const std::exception&) {
              error("bad INT literal '" + line + "'");
            }
          }
          push(v);
          break;
        }
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
          push_text(Kind::kString, read_le(4));
          break;
        case 0x8c:  // SHORT_BINUNICODE
          push_text(Kind::kString, read_le(1));
          break;
        case 0x8d:  // BINUNICODE8
          push_text(Kind::kString, read_le(8));
          break;
        case ')':
          push(make(Kind::kTuple));
          break;
        case 't': {  // TUPLE
          auto v = make(Kind::kTuple);
          v->items = pop_to_mark();
          push(v);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = op - 0x84;
          need(n);
          auto v = make(Kind::kTuple);
          v->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(v);
          break;
        }
        case ']':
          push(make(Kind::kList));
          break;
        case 'l': {  // LIST
          auto v = make(Kind::kList);
          v->items = pop_to_mark();
          push(v);
          break;
        }
        case 'a': {  // APPEND
          need(2);
          PickleRef item = pop();
          expect(stack_.back(), Kind::kList, "APPEND")->items.push_back(item);
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_to_mark();
          need(1);
          auto& list = expect(stack_.back(), Kind::kList, "APPENDS")->items;
          list.insert(list.end(), items.begin(), items.end());
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
          memo_put(parse_index(read_line()));
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
          memo_get(parse_index(read_line()));
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
    while (pos_ < size_ && data_[pos_] != '\n') {
      ++pos_;
    }
    if (pos_ >= size_) {
      error_at(start, "truncated text argument");
    }
    std::string s(reinterpret_cast<const char*>(data_ + start), pos_ - start);
    ++pos_;
    return s;
  }
  size_t parse_index(const std::string& s) {
    try {
      return std::stoull(s);
    } catch (const std::exception&) {
      error("bad memo index '" + s + "'");
    }
  }

  void push(PickleRef v) {
    stack_.push_back(std::move(v));
  }
  void push_int(int64_t i) {
    auto v = make(Kind::kInt);
    v->integer = i;
    push(v);
  }
  void push_text(Kind kind, uint64_t n) {
    const uint8_t* p = take(n);
    auto v = make(kind);
    v->text.assign(reinterpret_cast<const char*>(p), n);
    push(v);
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
    error("unsupported global '" + full + "'");
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
      auto v = make(Kind::kBytes);
      v->text = latin1_from_utf8(a[0]->text);
      push(v);
    } else if (f == "__builtin__.bytes" || f == "builtins.bytes") {
      if (!a.empty()) {
        error("bytes() with arguments");
      }
      push(make(Kind::kBytes));
    } else if (f == "numpy.dtype") {
      if (a.empty() ||
          (a[0]->kind != Kind::kString && a[0]->kind != Kind::kBytes)) {
        error("numpy.dtype needs a type string");
      }
      auto v = make(Kind::kDtype);
      v->dtype = a[0]->text;
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

  void build() {
    need(2);
    PickleRef state = pop();
    PickleRef& obj = stack_.back();
    if (obj->kind == Kind::kDtype) {
      // state = (version, byteorder, ...); only the byte order matters.
      if (state->kind == Kind::kTuple && state->items.size() >= 2 &&
          state->items[1]->kind != Kind::kNone) {
        const std::string order = state->items[1]->text;
        if (order == ">" && obj->dtype.size() == 2 && obj->dtype[1] != '1') {
          error("big-endian dtype '" + obj->dtype + "' not supported");
        }
      }
      if (dtype_size(obj->dtype) == 0) {
        error("unsupported dtype '" + obj->dtype + "'");
      }
      return;
    }
    if (obj->kind != Kind::kNdarray) {
      error(std::string("BUILD on a ") + obj->kind_name());
    }
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
    uint64_t count = 1;
    for (const auto& d : shape->items) {
      if (d->kind != Kind::kInt || d->integer < 0) {
        error("ndarray shape is not a tuple of sizes");
      }
      obj->shape.push_back(d->integer);
      count *= static_cast<uint64_t>(d->integer);
    }
    if (fortran->integer != 0 && obj->shape.size() > 1) {
      error("Fortran-ordered ndarray not supported");
    }
    obj->dtype = dtype->dtype;
    const size_t item = dtype_size(obj->dtype);
    if (data->text.size() != count * item) {
      error(
          "ndarray data has " + std::to_string(data->text.size()) +
          " bytes, shape needs " + std::to_string(count * item));
    }
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
};

}  // namespace

PickleRef parse_pickle(
    const uint8_t* bytes, size_t n, const std::string& name) {
  return Parser(bytes, n, name).run();
}

PickleRef read_pickle(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_pickle(bytes.data(), bytes.size(), path);
}

}  // namespace ltcl::data
