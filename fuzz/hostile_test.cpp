// Hand-made hostile files, one test per class of problem of issue 12
// ("Hardening"): each must be refused with an ltcl::Error that names the
// file and what was wrong (or, for valid input, read with the right values),
// quickly and without a crash, a hang or a huge allocation. Torch-free, so
// this runs in seconds (test_fuzz_parsers).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "../src/train/config/document.h"
#include "ltcl/data/cifar.h"
#include "ltcl/data/folder.h"
#include "ltcl/data/idx.h"
#include "ltcl/data/image_io.h"
#include "ltcl/data/list_file.h"
#include "ltcl/data/pickle.h"
#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/read_file.h"
#include "ltcl/util/record_file.h"

namespace fs = std::filesystem;
using ltcl::data::PickleValue;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ltcl-hostile-XXXXXX");
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  fs::path path_;
};

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// The message of the ltcl::Error `fn` throws ("" and a failure if none).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const ltcl::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an ltcl::Error";
  return "";
}

// Every needle in the message.
#define EXPECT_ERROR(call, ...)                             \
  do {                                                      \
    const std::string msg_ = error_of([&] { call; });       \
    for (const std::string& needle_ :                       \
         std::initializer_list<std::string>{__VA_ARGS__}) { \
      EXPECT_NE(msg_.find(needle_), std::string::npos)      \
          << "'" << needle_ << "' not in: " << msg_;        \
    }                                                       \
  } while (0)

// ---------------------------------------------------------------------------
// Pickle opcodes, written by hand.
// ---------------------------------------------------------------------------

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int k = 0; k < 4; ++k) {
    s[k] = static_cast<char>((v >> (8 * k)) & 0xFF);
  }
  return s;
}
std::string ustr(const std::string& s) {  // BINUNICODE
  return "X" + le32(static_cast<uint32_t>(s.size())) + s;
}
std::string bytes_op(const std::string& s) {  // BINBYTES
  return "B" + le32(static_cast<uint32_t>(s.size())) + s;
}
std::string int_op(int32_t v) {  // BININT
  return "J" + le32(static_cast<uint32_t>(v));
}
std::string global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
// numpy.dtype(type, False, True) with state (3, order, ...); `build`: false
// leaves the dtype's BUILD out, as a hostile file may.
std::string dtype_op(
    const std::string& type,
    bool build = true,
    const std::string& order = "|") {
  std::string s = global("numpy", "dtype") + "(" + ustr(type) +
                  "\x89\x88"
                  "tR";
  if (build) {
    s += "(" + int_op(3) + ustr(order) + "NNN" + int_op(-1) + int_op(-1) +
         int_op(0) + "tb";
  }
  return s;
}
// An ndarray: _reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype,
// fortran, data).
std::string ndarray_op(
    const std::vector<int64_t>& shape,
    const std::string& dtype,
    const std::string& data,
    const std::string& fortran = "\x89") {
  std::string s = global("numpy.core.multiarray", "_reconstruct") + "(" +
                  global("numpy", "ndarray") + int_op(0) + "\x85" +
                  bytes_op("b") + "tR";
  s += "(" + int_op(1) + "(";
  for (int64_t d : shape) {
    s += int_op(static_cast<int32_t>(d));
  }
  s += "t" + dtype + fortran + bytes_op(data) + "tb";
  return s;
}
// {key: value, ...} at protocol 2.
std::string dict_pickle(
    const std::vector<std::pair<std::string, std::string>>& items) {
  std::string s = "\x80\x02}(";
  for (const auto& [k, v] : items) {
    s += bytes_op(k) + v;
  }
  return s + "u.";
}

ltcl::data::PickleRef parse(const std::string& bytes, const std::string& name) {
  return ltcl::data::parse_pickle(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
}

TEST(HostilePickle, DeepNestingIsRefusedNotAStackOverflow) {
  TempDir tmp;
  // 100k lists, each appended into the one below: 200 KB, 100k levels.
  const int n = 100000;
  const std::string deep =
      "\x80\x02" + std::string(n, ']') + std::string(n - 1, 'a') + ".";
  write(tmp / "deep.pkl", deep);
  EXPECT_ERROR(
      ltcl::data::read_pickle((tmp / "deep.pkl").string()),
      (tmp / "deep.pkl").string(),
      "nested deeper than 100 levels",
      "at offset");
  // The same with tuples (MARK ... TUPLE).
  const std::string tuples =
      "\x80\x02" + std::string(n, '(') + std::string(n, 't') + ".";
  EXPECT_ERROR(parse(tuples, "tuples.pkl"), "tuples.pkl", "deeper than 100");
  // A list appended into itself (a cycle would leak and recurse forever).
  EXPECT_ERROR(
      parse(
          std::string(
              "\x80\x02]q\x00h\x00"
              "a.",
              9),
          "self.pkl"),
      "self.pkl",
      "recursive structures are not supported");
  // 100 levels are fine.
  const std::string ok =
      "\x80\x02" + std::string(100, ']') + std::string(99, 'a') + ".";
  EXPECT_EQ(parse(ok, "ok.pkl")->kind, PickleValue::Kind::kList);
}

TEST(HostilePickle, ArrayWithUnsetDtypeIsRefused) {
  TempDir tmp;
  // 'labels' is an array of a dtype 'x9' that no BUILD ever checked: it used
  // to be accepted with item size 0 and no data, and its ten labels read
  // from neighbouring memory.
  const std::string batch = dict_pickle(
      {{"data", ndarray_op({1, 3072}, dtype_op("u1"), std::string(3072, 'p'))},
       {"labels", ndarray_op({10}, dtype_op("x9", false), "")}});
  write(tmp / "data_batch_1", batch);
  EXPECT_ERROR(
      ltcl::data::read_pickle((tmp / "data_batch_1").string()),
      (tmp / "data_batch_1").string(),
      "unsupported dtype 'x9'");
  // A dtype whose BUILD is missing but whose type is fine still reads.
  const std::string fine = dict_pickle(
      {{"data", ndarray_op({1, 3072}, dtype_op("u1"), std::string(3072, 'p'))},
       {"labels", ndarray_op({1}, dtype_op("i8", false), le32(7) + le32(0))}});
  const auto root = parse(fine, "fine.pkl");
  std::vector<uint8_t> pixels, labels;
  ltcl::data::parse_cifar_pickle_batch(*root, {}, "fine.pkl", &pixels, &labels);
  EXPECT_EQ(labels, std::vector<uint8_t>{7});
  // A shape whose byte count wraps to 0 in 64 bits, with no data.
  EXPECT_ERROR(
      parse(
          dict_pickle(
              {{"labels",
                ndarray_op({65536, 65536, 65536, 65536}, dtype_op("u1"), "")}}),
          "wrap.pkl"),
      "wrap.pkl",
      "overflows 64 bits");
}

TEST(HostilePickle, InvalidUtf8AndBadFlagsAreRefused) {
  EXPECT_ERROR(
      parse("\x80\x02" + ustr("ok\xff\xfe") + ".", "utf8.pkl"),
      "utf8.pkl",
      "invalid UTF-8",
      "byte 0xff",
      "at offset 9");
  // An overlong encoding of '/' (C0 AF).
  EXPECT_ERROR(
      parse("\x80\x02\x8c\x02\xc0\xaf.", "overlong.pkl"),
      "overlong.pkl",
      "invalid UTF-8");
  // The Fortran-order flag is a string, not a bool.
  EXPECT_ERROR(
      parse(
          ndarray_op({2}, dtype_op("u1"), "ab", ustr("yes")) + ".", "flag.pkl"),
      "flag.pkl",
      "Fortran-order flag is a str",
      "expected True/False");
  // A dtype byte order that is not one of < > | =.
  EXPECT_ERROR(
      parse("\x80\x02" + dtype_op("u1", true, "?") + ".", "order.pkl"),
      "order.pkl",
      "byte order is '?'");
  // dtype(type, align, copy) with a non-flag align.
  EXPECT_ERROR(
      parse(
          "\x80\x02" + global("numpy", "dtype") + "(" + ustr("u1") + int_op(7) +
              "\x88"
              "tR.",
          "align.pkl"),
      "align.pkl",
      "numpy.dtype flag is a int (7)");
}

TEST(HostilePickle, MessagesEscapeRawBytesAndKeepFileAndOffset) {
  TempDir tmp;
  // A protocol-0 INT with a NUL inside: the message used to embed the raw
  // bytes and be cut at the NUL, losing the file and the offset.
  write(
      tmp / "nul.pkl",
      std::string(
          "I1\0"
          "2\x1b[31m\n.",
          11));
  const std::string msg =
      error_of([&] { ltcl::data::read_pickle((tmp / "nul.pkl").string()); });
  EXPECT_NE(msg.find("bad INT literal '1\\x002\\x1b[31m'"), std::string::npos)
      << msg;
  EXPECT_NE(
      msg.find("at offset 0 in " + (tmp / "nul.pkl").string()),
      std::string::npos)
      << msg;
  for (char c : msg) {
    EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << int(c);
  }
  // An unsupported global with control bytes in its name.
  const std::string g = error_of([&] {
    parse("\x80\x02" + global("os\x07", "sys\x01tem") + ".", "global.pkl");
  });
  EXPECT_NE(g.find("'os\\x07.sys\\x01tem'"), std::string::npos) << g;
  EXPECT_NE(g.find("global.pkl"), std::string::npos) << g;
}

TEST(HostilePickle, ProtocolZeroIsReadWithTheRightValues) {
  // pickle.dumps({b'labels': [1, 0], b'data': np.array([[1, 2, 10], [200,
  // 0, 92]], np.uint8)}, protocol=0) by Python 3.11 / numpy 1.24.
  const std::string p0 =
      "(dp0\nc_codecs\nencode\np1\n(Vlabels\np2\nVlatin1\np3\ntp4\nRp5\n"
      "(lp6\nI1\naI0\nasg1\n(Vdata\np7\ng3\ntp8\nRp9\n"
      "cnumpy.core.multiarray\n_reconstruct\np10\n(cnumpy\nndarray\np11\n"
      "(I0\ntp12\ng1\n(Vb\np13\ng3\ntp14\nRp15\ntp16\nRp17\n(I1\n(I2\nI3\n"
      "tp18\ncnumpy\ndtype\np19\n(Vu1\np20\nI00\nI01\ntp21\nRp22\n(I3\nV|\n"
      "p23\nNNNI-1\nI-1\nI0\ntp24\nbI00\ng1\n"
      "(V\x01\x02\\u000a\xc8\\u0000\\u005c\np25\ng3\ntp26\nRp27\ntp28\nbs.";
  const auto root = parse(p0, "p0.pkl");
  const PickleValue* labels = root->find("labels");
  ASSERT_TRUE(labels);
  ASSERT_EQ(labels->items.size(), 2u);
  EXPECT_EQ(labels->items[0]->integer, 1);
  EXPECT_EQ(labels->items[1]->integer, 0);
  const PickleValue* data = root->find("data");
  ASSERT_TRUE(data);
  EXPECT_EQ(data->kind, PickleValue::Kind::kNdarray);
  EXPECT_EQ(data->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(data->dtype, "u1");
  EXPECT_EQ(data->text, std::string("\x01\x02\x0a\xc8\x00\x5c", 6));

  // pickle.dumps({'s': 'h\xe9llo\n\\ \u20ac', 'f': 1.5, 'big': 2**40,
  // 'neg': -7, 't': (True, None, False), b'b': b'\0\xff\n'}, protocol=0).
  const std::string p0b =
      "(dp0\nVs\np1\nVh\xe9llo\\u000a\\u005c \\u20ac\np2\nsVf\np3\nF1.5\n"
      "sVbig\np4\nL1099511627776L\nsVneg\np5\nI-7\nsVt\np6\n(I01\nNI00\n"
      "tp7\nsc_codecs\nencode\np8\n(Vb\np9\nVlatin1\np10\ntp11\nRp12\ng8\n"
      "(V\\u0000\xff\\u000a\np13\ng10\ntp14\nRp15\ns.";
  const auto r = parse(p0b, "p0b.pkl");
  EXPECT_EQ(r->find("s")->text, "h\xc3\xa9llo\n\\ \xe2\x82\xac");
  EXPECT_DOUBLE_EQ(r->find("f")->number, 1.5);
  EXPECT_EQ(r->find("big")->integer, int64_t(1) << 40);
  EXPECT_EQ(r->find("neg")->integer, -7);
  const PickleValue* t = r->find("t");
  ASSERT_EQ(t->items.size(), 3u);
  EXPECT_EQ(t->items[0]->kind, PickleValue::Kind::kBool);
  EXPECT_EQ(t->items[0]->integer, 1);
  EXPECT_EQ(t->items[1]->kind, PickleValue::Kind::kNone);
  EXPECT_EQ(t->items[2]->integer, 0);
  EXPECT_EQ(r->find("b")->text, std::string("\0\xff\n", 3));
  // Python 2's STRING: a quoted literal with escapes.
  const auto s = parse("S'a\\x41\\n\\'\\\\\\101'\n.", "p0s.pkl");
  EXPECT_EQ(s->kind, PickleValue::Kind::kBytes);
  EXPECT_EQ(s->text, "aA\n'\\A");
  EXPECT_ERROR(parse("Sunquoted\n.", "p0q.pkl"), "p0q.pkl", "not quoted");
}

// ---------------------------------------------------------------------------
// IDX
// ---------------------------------------------------------------------------

std::string be32(uint32_t v) {
  return {
      static_cast<char>(v >> 24),
      static_cast<char>(v >> 16),
      static_cast<char>(v >> 8),
      static_cast<char>(v)};
}

std::string gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

ltcl::data::IdxArray parse_idx(
    const std::string& b, int dims, const std::string& name) {
  return ltcl::data::parse_idx(
      reinterpret_cast<const uint8_t*>(b.data()), b.size(), dims, name);
}

TEST(HostileIdx, DimensionProductThatOverflowsIsRefused) {
  TempDir tmp;
  // 2^22 x 2^21 x 2^21 = 2^64 wraps to 0: a 16-byte file that claimed 4M
  // images of 2M x 2M pixels.
  const std::string header =
      be32(0x803) + be32(1u << 22) + be32(1u << 21) + be32(1u << 21);
  write(tmp / "train-images-idx3-ubyte", header);
  write(tmp / "train-labels-idx1-ubyte", be32(0x801) + be32(1u << 22));
  EXPECT_ERROR(
      ltcl::data::open_idx((tmp / "").string(), {}),
      "train-images-idx3-ubyte",
      "declare more than");
}

TEST(HostileIdx, ZeroDimensionIsRefused) {
  EXPECT_ERROR(
      parse_idx(be32(0x803) + be32(0) + be32(28) + be32(28), 3, "zero.idx"),
      "zero.idx",
      "dimension 0 is 0",
      "expected at least 1");
  EXPECT_ERROR(
      parse_idx(be32(0x803) + be32(5) + be32(0) + be32(28), 3, "zero1.idx"),
      "zero1.idx",
      "dimension 1 is 0");
}

TEST(HostileIdx, GarbageAfterTheGzipStreamIsRefused) {
  const std::string labels =
      be32(0x801) + be32(3) + std::string("\x01\x02\x03");
  // Valid, and valid as two gzip members.
  EXPECT_EQ(parse_idx(gzip(labels), 1, "ok.gz").data.size(), 3u);
  const std::string two = gzip(labels.substr(0, 5)) + gzip(labels.substr(5));
  EXPECT_EQ(parse_idx(two, 1, "two.gz").data, (std::vector<uint8_t>{1, 2, 3}));
  const std::string packed = gzip(labels);
  EXPECT_ERROR(
      parse_idx(packed + "junk!", 1, "junk.gz"),
      "junk.gz",
      "trailing garbage after the gzip stream",
      "at offset " + std::to_string(packed.size()),
      "(5 bytes)");
}

TEST(HostileIdx, GzipBombStopsAtTheDeclaredSize) {
  TempDir tmp;
  // Labels that declare 10 items and unpack to 64 MB of zeros (~64 KB
  // packed; a real bomb goes on for gigabytes): reading stops once more
  // than the declared 18 bytes are out, not after unpacking everything.
  std::string bomb =
      be32(0x801) + be32(10) + std::string(size_t(64) << 20, '\0');
  bomb = gzip(bomb);
  ASSERT_LT(bomb.size(), 1u << 18);
  write(tmp / "bomb.gz", bomb);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_ERROR(
      {
        const auto bytes = ltcl::util::read_regular_file(
            (tmp / "bomb.gz").string(), 1 << 30, "test");
        ltcl::data::parse_idx(bytes.data(), bytes.size(), 1, "bomb.gz");
      },
      "bomb.gz",
      "unpacks to more than 18 bytes");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // A stream that claims more than deflate's 1032:1 can give (a header of
  // 2 x 1000 x 1000 in 40 bytes) is refused as soon as it is short.
  const std::string lie = gzip(be32(0x803) + be32(2) + be32(1000) + be32(1000));
  EXPECT_ERROR(parse_idx(lie, 3, "lie.gz"), "lie.gz", "count disagrees");
}

// ---------------------------------------------------------------------------
// List files
// ---------------------------------------------------------------------------

TEST(HostileListFile, HugeLabelIsRefused) {
  EXPECT_ERROR(
      ltcl::data::parse_list_file("a.jpg 1\nb.jpg 100000000\n", "big.txt"),
      "big.txt:2",
      "label too large",
      "100000 classes");
  EXPECT_ERROR(
      ltcl::data::parse_list_file("a.jpg 20000000\n", "big2.txt"),
      "big2.txt:1",
      "label too large");
  EXPECT_ERROR(
      ltcl::data::parse_list_file("a.jpg 1e8\n", "e.txt"),
      "e.txt:1",
      "not a non-negative integer",
      "'1e8'");
  EXPECT_EQ(
      ltcl::data::parse_list_file("a b.jpg 99999\n", "ok.txt").max_label,
      99999);
}

TEST(HostileListFile, PathsOutsideTheRootAreRefused) {
  TempDir tmp;
  fs::create_directories(tmp / "root");
  write(tmp / "list.txt", "ok/a.jpg 0\n../../../etc/passwd 1\n");
  ltcl::data::ListFileOptions no_check;
  no_check.check_files = false;
  EXPECT_ERROR(
      ltcl::data::ListFileDataset(
          (tmp / "root").string(), (tmp / "list.txt").string(), no_check),
      (tmp / "list.txt").string() + ":2",
      "'..' part",
      "'../../../etc/passwd'");
  EXPECT_ERROR(
      ltcl::data::parse_list_file("/etc/passwd 0\n", "abs.txt"),
      "abs.txt:1",
      "is absolute");
  EXPECT_ERROR(
      ltcl::data::parse_list_file("a/../../x.jpg 0\n", "mid.txt"),
      "mid.txt:1",
      "'..' part");
  EXPECT_ERROR(
      ltcl::data::parse_list_file(std::string("a\0b.jpg 0\n", 10), "nul.txt"),
      "nul.txt:1",
      "NUL",
      "'a\\x00b.jpg'");
  // A name with dots that is not "..".
  EXPECT_EQ(
      ltcl::data::parse_list_file("a/..b/c..jpg 0\n", "dots.txt").paths[0],
      "a/..b/c..jpg");
}

// ---------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------

// Runs fn on a thread; fails (instead of hanging the suite) if it takes more
// than 10 s, then calls `unblock` so that the thread can finish.
template <typename Fn, typename Unblock>
void within_10s(Fn fn, Unblock unblock) {
  auto result = std::async(std::launch::async, fn);
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "hung for 10 s";
    unblock();
  }
  result.get();
}

TEST(HostileImage, FifoNamedLikeAnImageGivesANamedErrorNotAHang) {
  TempDir tmp;
  const std::string fifo = (tmp / "x.jpg").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  within_10s(
      [&] {
        EXPECT_ERROR(
            ltcl::data::read_image(fifo),
            fifo,
            "is a FIFO",
            "expected a regular file");
      },
      [&] { ::close(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK)); });
  // In an image folder it is named when the folder is opened.
  fs::create_directories(tmp / "root" / "cat");
  const std::string in_folder = (tmp / "root" / "cat" / "x.jpg").string();
  ASSERT_EQ(::mkfifo(in_folder.c_str(), 0600), 0);
  EXPECT_ERROR(
      ltcl::data::FolderDataset((tmp / "root").string()),
      in_folder,
      "is a FIFO");
  // /dev/zero named as an image: refused, not read forever.
  EXPECT_ERROR(
      ltcl::data::read_image("/dev/zero"),
      "/dev/zero",
      "is a character device");
}

TEST(HostileImage, DirectoryNamedLikeAnImageGivesANamedError) {
  TempDir tmp;
  fs::create_directories(tmp / "x.jpg");
  EXPECT_ERROR(
      ltcl::data::read_image((tmp / "x.jpg").string()),
      (tmp / "x.jpg").string(),
      "is a directory");
}

uint32_t crc(const std::string& s) {
  return static_cast<uint32_t>(crc32(
      0,
      reinterpret_cast<const Bytef*>(s.data()),
      static_cast<uInt>(s.size())));
}
std::string chunk(const std::string& type, const std::string& body) {
  return be32(static_cast<uint32_t>(body.size())) + type + body +
         be32(crc(type + body));
}
std::string zlib_pack(const std::string& raw) {
  uLongf n = compressBound(raw.size());
  std::string out(n, '\0');
  compress2(
      reinterpret_cast<Bytef*>(out.data()),
      &n,
      reinterpret_cast<const Bytef*>(raw.data()),
      raw.size(),
      9);
  out.resize(n);
  return out;
}
std::string png(
    uint32_t w,
    uint32_t h,
    int color,
    const std::string& extra,
    const std::string& raw_rows) {
  const std::string ihdr =
      be32(w) + be32(h) + std::string{8, char(color), 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + extra +
         chunk("IDAT", zlib_pack(raw_rows)) + chunk("IEND", "");
}
ltcl::data::Image decode(const std::string& b, const std::string& name) {
  return ltcl::data::decode_image(
      reinterpret_cast<const uint8_t*>(b.data()), b.size(), name);
}

TEST(HostileImage, TinyPngDeclaringAHugeImageIsRefusedBeforeAllocating) {
  // 20000 x 13000 RGB: 780 MB of pixels, in a file of ~70 bytes.
  const std::string huge = png(20000, 13000, 2, "", std::string(4, '\0'));
  ASSERT_LT(huge.size(), 100u);
  EXPECT_ERROR(
      decode(huge, "huge.png"), "huge.png", "declares 20000 x 13000 pixels");
  // 4000 x 4000 is within the pixel limit, but no 70-byte file can hold
  // 48 MB of rows (deflate: at most 1032:1).
  EXPECT_ERROR(
      decode(png(4000, 4000, 2, "", std::string(4, '\0')), "lie.png"),
      "lie.png",
      "1032:1");
}

TEST(HostileImage, PalettePngWithTransparencyIsRead) {
  // 2 x 1 palette image: red (transparent) and blue (opaque).
  const std::string plte =
      chunk("PLTE", std::string("\xff\x00\x00\x00\x00\xff", 6));
  const std::string trns = chunk("tRNS", std::string("\x00\xff", 2));
  const auto im = decode(
      png(2, 1, 3, plte + trns, std::string("\x00\x00\x01", 3)), "pal.png");
  ASSERT_EQ(im.channels, 3);
  ASSERT_EQ(im.width, 2);
  ASSERT_EQ(im.height, 1);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{255, 0, 0, 0, 0, 255}));
}

// ---------------------------------------------------------------------------
// YAML configs (the file layer of train::load_config)
// ---------------------------------------------------------------------------

std::string problems_of_file(const fs::path& p) {
  ltcl::train::config_doc::Document doc;
  ltcl::train::config_doc::Reader(doc).read_file(p);
  std::string all;
  for (const auto& s : doc.problems) {
    all += s + "\n";
  }
  EXPECT_FALSE(all.empty()) << "no problem reported for " << p;
  return all;
}

#define EXPECT_PROBLEM(file, ...)                           \
  do {                                                      \
    const std::string all_ = problems_of_file(file);        \
    for (const std::string& needle_ :                       \
         std::initializer_list<std::string>{__VA_ARGS__}) { \
      EXPECT_NE(all_.find(needle_), std::string::npos)      \
          << "'" << needle_ << "' not in: " << all_;        \
    }                                                       \
  } while (0)

TEST(HostileYaml, DuplicateKeysAndSectionsAreRefused) {
  TempDir tmp;
  write(tmp / "dup.yaml", "optim:\n  lr: 0.1\n  lr: 0.2\n");
  EXPECT_PROBLEM(
      tmp / "dup.yaml", "dup.yaml line 3, column 3", "duplicate key 'lr'");
  write(
      tmp / "dups.yaml", "optim: {lr: 0.1}\ndata: {}\noptim: {momentum: 0}\n");
  EXPECT_PROBLEM(
      tmp / "dups.yaml", "dups.yaml line 3", "duplicate key 'optim'");
}

TEST(HostileYaml, MultipleDocumentsAreRefused) {
  TempDir tmp;
  write(tmp / "multi.yaml", "optim: {lr: 0.1}\n---\noptim: {lr: 9}\n");
  EXPECT_PROBLEM(tmp / "multi.yaml", "multi.yaml",
                 "holds more than one YAML document");
  // Text after a flow mapping: yaml-cpp's LoadAll looped forever on it.
  write(tmp / "after.yaml", "{optim: {lr: 1}}, x\n");
  within_10s(
      [&] {
        EXPECT_PROBLEM(tmp / "after.yaml", "after.yaml",
                       "more than one YAML document");
      },
      [] {});
}

TEST(HostileYaml, BaseThatIsADirectoryIsRefused) {
  TempDir tmp;
  fs::create_directories(tmp / "sub");
  write(tmp / "child.yaml", "base: sub\noptim: {lr: 0.1}\n");
  EXPECT_PROBLEM(
      tmp / "child.yaml",
      "child.yaml line 1",
      "is a directory",
      "not a regular file");
}

TEST(HostileYaml, EmptyFileIsRefused) {
  TempDir tmp;
  write(tmp / "empty.yaml", "");
  EXPECT_PROBLEM(tmp / "empty.yaml", "empty.yaml", "is empty");
  write(tmp / "comments.yaml", "# nothing here\n~\n");
  EXPECT_PROBLEM(tmp / "comments.yaml", "comments.yaml", "sets nothing");
  write(tmp / "base_empty.yaml", "base: ''\n");
  EXPECT_PROBLEM(
      tmp / "base_empty.yaml",
      "base_empty.yaml line 1",
      "base: expected a file name");
  EXPECT_PROBLEM(fs::path(), "config file name is empty");
}

TEST(HostileYaml, FifoAndDeviceAreRefusedWithoutBlocking) {
  TempDir tmp;
  const fs::path fifo = tmp / "fifo.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  within_10s(
      [&] { EXPECT_PROBLEM(fifo, "fifo.yaml", "is a FIFO"); },
      [&] { ::close(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK)); });
  EXPECT_PROBLEM(fs::path("/dev/zero"), "/dev/zero", "is a character device");
  write(tmp / "via_base.yaml", "base: /dev/zero\n");
  EXPECT_PROBLEM(
      tmp / "via_base.yaml", "via_base.yaml line 1", "is a character device");
}

TEST(HostileYaml, AliasBombAndDeepNestingAreRefused) {
  TempDir tmp;
  // Nine levels of ten aliases each: 10^9 nodes once expanded.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int k = 1; k <= 9; ++k) {
    std::string refs;
    for (int j = 0; j < 10; ++j) {
      refs += (j ? ", *a" : "*a") + std::to_string(k - 1);
    }
    bomb += "a" + std::to_string(k) + ": &a" + std::to_string(k) + " [" + refs +
            "]\n";
  }
  write(
      tmp / "bomb.yaml", "data:\n  " + [&] {
        std::string indented;
        for (char c : bomb) {
          indented += c;
          if (c == '\n') {
            indented += "  ";
          }
        }
        return indented;
      }());
  EXPECT_PROBLEM(tmp / "bomb.yaml", "bomb.yaml", "more than 100000 YAML nodes");
  write(
      tmp / "deep.yaml",
      "data: {x: " + std::string(40, '[') + std::string(40, ']') + "}\n");
  EXPECT_PROBLEM(tmp / "deep.yaml", "deep.yaml", "nested deeper than 32");
}

TEST(HostileYaml, AValidChainStillReads) {
  TempDir tmp;
  write(tmp / "base.yaml", "optim: {lr: 0.1}\n");
  write(tmp / "top.yaml", "base: base.yaml\noptim:\n  momentum: 0.8\n");
  ltcl::train::config_doc::Document doc;
  ltcl::train::config_doc::Reader(doc).read_file(tmp / "top.yaml");
  EXPECT_TRUE(doc.problems.empty());
  std::vector<std::string> keys;
  for (const auto& item : doc.items) {
    keys.push_back(item.section + "." + item.key);
  }
  EXPECT_EQ(
      keys,
      (std::vector<std::string>{
          "optim.", "optim.lr", "optim.", "optim.momentum"}));
}

// ---------------------------------------------------------------------------
// Checkpoint files (format 2, util/record_file.h).
// ---------------------------------------------------------------------------

using ltcl::util::RecordFile;

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

uint32_t crc_of(const std::string& s) {
  return static_cast<uint32_t>(crc32_z(
      0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

// A file of `table` (JSON text) and `data` (the data section), with the
// header and table CRCs right, written from the layout in record_file.h.
std::string checkpoint_file(const std::string& table, const std::string& data) {
  std::string head = "LTCLCKPT" + le32(2) + le32(0) + le64(table.size()) +
      le32(crc_of(table));
  head += le32(crc_of(head));
  std::string out = head + table;
  out.resize((out.size() + 63) / 64 * 64, '\0');
  return out + data;
}

std::string record(
    const std::string& name,
    const std::string& dtype,
    const std::string& shape,
    uint64_t offset,
    uint64_t nbytes,
    uint32_t crc) {
  return fmt::format(
      R"({{"name":"{}","dtype":"{}","shape":{},"offset":{},"nbytes":{},"crc32":{}}})",
      name, dtype, shape, offset, nbytes, crc);
}

RecordFile parse_ckpt(const std::string& bytes, const std::string& name) {
  return RecordFile::parse(std::vector<uint8_t>(bytes.begin(), bytes.end()),
                           name);
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

TEST(Checkpoint, FileWrittenByThePythonWriterReadsWithItsValues) {
  // fuzz/corpus/checkpoint/seed_run.pt comes from python/ltcl_checkpoint.py
  // (fuzz/make_corpus.py), an independent writer of the same layout.
  const auto f = parse_ckpt(
      read_bytes(fs::path(LTCL_FUZZ_CORPUS) / "checkpoint" / "seed_run.pt"),
      "seed_run.pt");
  EXPECT_EQ(f.meta()["epoch"], 3);
  EXPECT_EQ(f.meta()["config_yaml"], "optim:\n  lr: 0.1\n");
  ASSERT_EQ(f.records().size(), 10u);
  const auto* s = f.find("sampler/train");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->dtype, ltcl::util::DType::kInt64);
  EXPECT_EQ(s->shape, std::vector<int64_t>{5});
  int64_t v[5];
  std::memcpy(v, f.data(*s), sizeof(v));
  EXPECT_EQ(std::vector<int64_t>(v, v + 5),
            (std::vector<int64_t>{5, 3, 1, 0, -7}));
  const auto* q = f.find("tensor/queue");
  ASSERT_NE(q, nullptr);
  double d[6];
  std::memcpy(d, f.data(*q), sizeof(d));
  EXPECT_EQ(q->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_DOUBLE_EQ(d[5], 5.0);
  EXPECT_EQ(f.find("tensor/empty")->shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(f.find("tensor/mask")->dtype, ltcl::util::DType::kBool);
}

TEST(Checkpoint, WriterAndReaderRoundTrip) {
  const float w[6] = {1.5f, -2.f, 0.f, 3.25f, 1e-20f, -0.f};
  const int64_t n[2] = {-1, 1LL << 40};
  std::string bytes;
  ltcl::util::write_record_file(
      [&](const void* p, size_t k) {
        bytes.append(static_cast<const char*>(p), k);
      },
      {{"kind", "test"}, {"x", 2}},
      {{"w", ltcl::util::DType::kFloat32, {2, 3}, w},
       {"none", ltcl::util::DType::kUInt8, {0}, nullptr},
       {"n", ltcl::util::DType::kInt64, {2}, n}});
  const auto f = parse_ckpt(bytes, "rt.pt");
  EXPECT_EQ(f.meta()["x"], 2);
  ASSERT_EQ(f.records().size(), 3u);
  EXPECT_EQ(std::memcmp(f.data(*f.find("w")), w, sizeof(w)), 0);
  EXPECT_EQ(std::memcmp(f.data(*f.find("n")), n, sizeof(n)), 0);
  EXPECT_EQ(f.find("n")->offset % 64, 0u);  // records start aligned
  EXPECT_EQ(f.find("none")->nbytes, 0u);
}

TEST(Checkpoint, EveryFlippedByteAndEveryTruncationIsRefused) {
  // No byte of a checkpoint goes unchecked: header and table by their CRCs,
  // records by theirs, padding must be zero. So no single-byte change and no
  // cut is accepted.
  const std::string good =
      read_bytes(fs::path(LTCL_FUZZ_CORPUS) / "checkpoint" / "seed_run.pt");
  ASSERT_GT(good.size(), 1000u);
  EXPECT_NO_THROW(parse_ckpt(good, "good.pt"));
  size_t accepted = 0;
  for (size_t k = 0; k < good.size(); ++k) {
    std::string bad = good;
    bad[k] = static_cast<char>(bad[k] ^ 0x10);
    try {
      parse_ckpt(bad, "bad.pt");
      ++accepted;
      ADD_FAILURE() << "byte " << k << " changed and accepted";
    } catch (const ltcl::Error& e) {
      EXPECT_NE(std::string(e.what()).find("'bad.pt'"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(accepted, 0u);
  for (size_t n = 0; n < good.size(); n += 7) {
    EXPECT_THROW(parse_ckpt(good.substr(0, n), "cut.pt"), ltcl::Error) << n;
  }
  EXPECT_ERROR(parse_ckpt(good + std::string(1, '\0'), "long.pt"),
               "'long.pt' is damaged: 1 bytes follow its last record");
}

TEST(Checkpoint, HostileTablesGiveNamedErrors) {
  const std::string data(8, '\x01');
  const uint32_t c8 = crc_of(data);
  auto table = [](const std::string& records) {
    return R"({"meta":{"kind":"x"},"records":[)" + records + "]}";
  };
  // Sizes that overflow, or exceed the file, are refused before any
  // allocation.
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record(
                     "a", "float32", "[4294967296,4294967296,16]", 0, 0, 0)),
                                 data),
                 "over.pt"),
      "'over.pt': record 'a' declares a shape whose size overflows");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record("a", "uint8", "[1099511627776]",
                                              0, 1099511627776, 0)),
                                 data),
                 "huge.pt"),
      "'huge.pt' is truncated: record 'a' needs bytes 0-1099511627776");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record("a", "uint8", "[8]", 0, 4, c8)),
                                 data),
                 "size.pt"),
      "record 'a' holds 4 bytes, its shape and dtype need 8");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record("a", "uint8", "[8]", 0, 8, c8) +
                                       "," +
                                       record("a", "uint8", "[0]", 0, 0, 0)),
                                 data),
                 "twice.pt"),
      "record 'a' appears twice");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record("a", "uint8", "[8]", 0, 8, c8) +
                                       "," +
                                       record("b", "uint8", "[4]", 4, 4,
                                              crc_of(data.substr(4)))),
                                 data),
                 "overlap.pt"),
      "record 'b' overlaps the record before it");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record("a", "uint8", "[8]", 0, 8, 7)),
                                 data),
                 "crc.pt"),
      "'crc.pt' is damaged: record 'a' (bytes ", "fails its CRC-32");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record("a", "complex", "[8]", 0, 8, c8)),
                                 data),
                 "dtype.pt"),
      "record 'a' has an unknown dtype 'complex'");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record("a\\u0000b", "uint8", "[8]", 0,
                                              8, c8)),
                                 data),
                 "name.pt"),
      "record 0 has a bad name 'a\\x00b'");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(record("a", "uint8", "[-8]", 0, 8, c8)),
                                 data),
                 "neg.pt"),
      "record 'a' has a bad size in its shape");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(table(R"({"name":"a"})"), data), "field.pt"),
      "record 0 of the table has no valid 'dtype'");
  // A deep table (100,000 levels, CRCs right) is refused by the depth limit,
  // not by a stack overflow or gigabytes of tree.
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(
                     R"({"meta":{"x":)" + std::string(100000, '[') +
                         std::string(100000, ']') + R"(},"records":[]})",
                     ""),
                 "deep.pt"),
      "'deep.pt': its table nests deeper than 16 levels");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file("{\"meta\":{\"x\":\"\xff\"},\"records\":[]}",
                                 ""),
                 "utf8.pt"),
      "'utf8.pt': its table (bytes 32-", "is not valid JSON");
  EXPECT_ERROR(
      parse_ckpt(checkpoint_file(R"({"meta":[],"records":[]})", ""),
                 "shape.pt"),
      "its table is not an object with 'meta' (object) and 'records'");
}

TEST(Checkpoint, ForeignLegacyAndFutureFilesGiveNamedErrors) {
  // A LibTorch zip archive (format 1, whose loader runs code stored in it)
  // is recognised by its signature and never opened.
  EXPECT_ERROR(parse_ckpt(std::string("PK\x03\x04") + std::string(60, 'x'),
                          "old.pt"),
               "'old.pt' is a LibTorch / PyTorch zip archive",
               "loading one runs code stored in it");
  EXPECT_ERROR(parse_ckpt("hello", "short.pt"),
               "'short.pt' is not an ltcl checkpoint", "first bytes: 'hello'");
  EXPECT_ERROR(parse_ckpt("LTCLCKPT\x02", "trunc.pt"),
               "'trunc.pt' is truncated: 9 bytes");
  std::string future = checkpoint_file(R"({"meta":{},"records":[]})", "");
  future[8] = 3;
  const std::string head = future.substr(0, 28);
  const uint32_t c = crc_of(head);
  std::memcpy(future.data() + 28, &c, 4);
  EXPECT_ERROR(parse_ckpt(future, "new.pt"),
               "'new.pt' has format version 3; this build reads version 2");
  TempDir tmp;
  ASSERT_EQ(::mkfifo((tmp / "fifo.pt").c_str(), 0600), 0);
  EXPECT_ERROR(RecordFile::read((tmp / "fifo.pt").string()), "FIFO");
}

}  // namespace
