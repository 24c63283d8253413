// CIFAR binary and pickle formats, and the pickle reader underneath.
#include "ltcl/data/cifar.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ltcl/data/pickle.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::data::CifarOptions;
using ltcl::data::CifarVariant;

// Pixel byte j of global sample i, as both the C++ and Python writers make it.
uint8_t pixel(size_t i, size_t j) {
  return static_cast<uint8_t>((i * 31 + j * 7) % 256);
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), bytes.size());
}

using ltcl::test::expect_error;

// Writes a CIFAR-10 binary folder: 5 train batches of `per_batch` records
// (label of global sample i = (i * 3) % 10) and a test batch.
void write_cifar10_bin(const fs::path& dir, size_t per_batch) {
  fs::create_directories(dir);
  size_t i = 0;
  for (int b = 1; b <= 5; ++b) {
    std::string bytes;
    for (size_t r = 0; r < per_batch; ++r, ++i) {
      bytes.push_back(static_cast<char>((i * 3) % 10));
      for (size_t j = 0; j < 3072; ++j) {
        bytes.push_back(static_cast<char>(pixel(i, j)));
      }
    }
    write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), bytes);
  }
  write_bytes(dir / "test_batch.bin", std::string(3073, '\x02'));
}

TEST(DataCifarBinary, Cifar10RecordsLabelsPixelsAndNames) {
  ltcl::test::TempDir tmp;
  const fs::path dir = tmp / "cifar-10-batches-bin";
  write_cifar10_bin(dir, 3);
  {
    std::ofstream names(dir / "batches.meta.txt");
    for (const char* n :
         {"airplane",
          "automobile",
          "bird",
          "cat",
          "deer",
          "dog",
          "frog",
          "horse",
          "ship",
          "truck"}) {
      names << n << "\n";
    }
    names << "\n";  // the real file ends with blank lines
  }
  auto ds = ltcl::data::read_cifar_binary(dir.string(), {});
  ASSERT_EQ(ds->size(), 15u);
  EXPECT_EQ(ds->class_names()[9], "truck");
  for (size_t i = 0; i < 15; ++i) {
    EXPECT_EQ(ds->label(i), static_cast<int64_t>((i * 3) % 10));
  }
  // Planar R, G, B records become interleaved HWC.
  const auto e = ds->get(7);
  ASSERT_EQ(e.image.height, 32);
  ASSERT_EQ(e.image.channels, 3);
  EXPECT_EQ(e.label, 1);
  for (int y : {0, 5, 31}) {
    for (int x : {0, 17, 31}) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(e.image.at(y, x, c), pixel(7, c * 1024 + y * 32 + x));
      }
    }
  }
  EXPECT_EQ(ds->describe(7), (dir / "data_batch_3.bin").string() + "#1");
  CifarOptions test;
  test.split = "test";
  auto t = ltcl::data::read_cifar_binary(dir.string(), test);
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ(t->label(0), 2);
  EXPECT_EQ(t->class_names()[0], "airplane");
}

TEST(DataCifarBinary, Cifar100FineCoarseAndNumberedNames) {
  ltcl::test::TempDir tmp;
  const fs::path dir = tmp / "cifar-100-binary";
  fs::create_directories(dir);
  std::string bytes;
  for (size_t i = 0; i < 4; ++i) {
    bytes.push_back(static_cast<char>(i + 16));  // coarse
    bytes.push_back(static_cast<char>(i * 30));  // fine
    for (size_t j = 0; j < 3072; ++j) {
      bytes.push_back(static_cast<char>(pixel(i, j)));
    }
  }
  write_bytes(dir / "train.bin", bytes);
  CifarOptions opt;
  opt.variant = CifarVariant::kCifar100;
  auto fine = ltcl::data::read_cifar_binary(dir.string(), opt);
  ASSERT_EQ(fine->size(), 4u);
  EXPECT_EQ(fine->num_classes(), 100);
  EXPECT_EQ(fine->label(3), 90);
  EXPECT_EQ(fine->class_names()[42], "42");  // no names file
  EXPECT_EQ(fine->get(2).image.at(0, 0, 1), pixel(2, 1024));
  opt.coarse = true;
  {
    std::ofstream names(dir / "coarse_label_names.txt");
    for (int c = 0; c < 20; ++c) {
      names << "super" << c << "\n";
    }
  }
  auto coarse = ltcl::data::read_cifar_binary(dir.string(), opt);
  EXPECT_EQ(coarse->num_classes(), 20);
  EXPECT_EQ(coarse->label(3), 19);
  EXPECT_EQ(coarse->class_names()[19], "super19");
}

TEST(DataCifarBinary, BadFilesThrowNamingTheFile) {
  ltcl::test::TempDir tmp;
  const fs::path dir = tmp / "c10";
  write_cifar10_bin(dir, 2);
  // Not a whole number of records.
  write_bytes(dir / "data_batch_4.bin", std::string(3073 * 2 + 5, '\x01'));
  expect_error(
      [&] { ltcl::data::read_cifar_binary(dir.string(), {}); },
      {"data_batch_4.bin"});
  // Label out of range.
  write_cifar10_bin(dir, 2);
  std::string bad(3073, '\0');
  bad[0] = 10;
  write_bytes(dir / "data_batch_2.bin", bad);
  expect_error(
      [&] { ltcl::data::read_cifar_binary(dir.string(), {}); },
      {"data_batch_2.bin record 0"});
  // Missing batch.
  write_cifar10_bin(dir, 2);
  fs::remove(dir / "data_batch_5.bin");
  expect_error(
      [&] { ltcl::data::read_cifar_binary(dir.string(), {}); },
      {"data_batch_5.bin"});
  // Empty file.
  write_cifar10_bin(dir, 2);
  write_bytes(dir / "data_batch_1.bin", "");
  expect_error(
      [&] { ltcl::data::read_cifar_binary(dir.string(), {}); },
      {"data_batch_1.bin"});
}

TEST(DataCifar, OpenDetectsFolderAndFormat) {
  ltcl::test::TempDir tmp;
  write_cifar10_bin(tmp / "cifar-10-batches-bin", 1);
  // The parent, or the batches folder itself.
  EXPECT_EQ(ltcl::data::open_cifar(tmp.path().string(), {})->size(), 5u);
  EXPECT_EQ(
      ltcl::data::open_cifar((tmp / "cifar-10-batches-bin").string(), {})
          ->size(),
      5u);
  ltcl::test::TempDir empty;
  expect_error(
      [&] { ltcl::data::open_cifar(empty.path().string(), {}); },
      {empty.path().string()});
}

// --- pickle -----------------------------------------------------------------

// Little-endian helpers for hand-written pickles.
std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int k = 0; k < 4; ++k) {
    s[k] = static_cast<char>((v >> (8 * k)) & 0xFF);
  }
  return s;
}

// A CIFAR-10 batch exactly as Python 2's cPickle (protocol 2) wrote the real
// files: str keys, numpy.core.multiarray._reconstruct + BUILD with the pixel
// bytes as a BINSTRING, labels as a list of BININT1, memo PUT/GET.
std::string python2_style_batch(size_t first, size_t n, int label_base) {
  using namespace std::string_literals;
  std::string p = "\x80\x02}q\x01("s + "U\x04"s + "data" + "q\x02"s;
  p += "cnumpy.core.multiarray\n_reconstruct\nq\x03"s;
  p += "cnumpy\nndarray\nq\x04"s + "K\x00\x85"s + "U\x01"s + "b" +
       "\x87Rq\x05("s + "K\x01"s;
  p += "K"s + static_cast<char>(n) + "M\x00\x0c\x86"s;
  p += "cnumpy\ndtype\nq\x06"s + "U\x02"s + "u1" + "K\x00K\x01\x87Rq\x07"s;
  p += "(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"s;
  p += "\x89T"s + le32(static_cast<uint32_t>(n * 3072));
  for (size_t i = first; i < first + n; ++i) {
    for (size_t j = 0; j < 3072; ++j) {
      p.push_back(static_cast<char>(pixel(i, j)));
    }
  }
  p += "tb"s + "U\x06"s + "labels" + "q\x08]q\x09("s;
  for (size_t k = 0; k < n; ++k) {
    p += "K"s + static_cast<char>((label_base + k) % 10);
  }
  // filenames: ['a.png', 'a.png'], the second a memo GET of the first.
  p += "e"s + "U\x09"s + "filenames" + "]q\x0a("s + "U\x05"s + "a.png" +
       "q\x0b"s + "h\x0b"s + "e";
  p += "U\x0b"s + "batch_label" + "U\x0e"s + "training batch" + "u.";
  return p;
}

TEST(DataPickle, HandWrittenPython2CifarBatch) {
  const std::string bytes = python2_style_batch(0, 2, 3);
  const auto root = ltcl::data::parse_pickle(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  ASSERT_EQ(root->kind, ltcl::data::PickleValue::Kind::kDict);
  const auto* data = root->find("data");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->kind, ltcl::data::PickleValue::Kind::kNdarray);
  EXPECT_EQ(data->shape, (std::vector<int64_t>{2, 3072}));
  EXPECT_EQ(data->dtype, "u1");
  ASSERT_EQ(data->text.size(), 6144u);
  EXPECT_EQ(static_cast<uint8_t>(data->text[3072 + 5]), pixel(1, 5));
  const auto* labels = root->find("labels");
  ASSERT_NE(labels, nullptr);
  ASSERT_EQ(labels->items.size(), 2u);
  EXPECT_EQ(labels->items[0]->integer, 3);
  EXPECT_EQ(labels->items[1]->integer, 4);
  const auto* files = root->find("filenames");
  ASSERT_EQ(files->items.size(), 2u);
  EXPECT_EQ(files->items[1]->text, "a.png");
  EXPECT_EQ(files->items[0], files->items[1]);
  EXPECT_EQ(root->find("batch_label")->text, "training batch");
  EXPECT_EQ(root->find("missing"), nullptr);
}

TEST(DataPickle, HandWrittenFolderReadsAsCifar10) {
  ltcl::test::TempDir tmp;
  const fs::path dir = tmp / "cifar-10-batches-py";
  fs::create_directories(dir);
  for (int b = 1; b <= 5; ++b) {
    write_bytes(
        dir / ("data_batch_" + std::to_string(b)),
        python2_style_batch((b - 1) * 2, 2, b));
  }
  auto ds = ltcl::data::open_cifar(tmp.path().string(), {});
  ASSERT_EQ(ds->size(), 10u);
  EXPECT_EQ(ds->label(0), 1);
  EXPECT_EQ(ds->label(9), 6);
  EXPECT_EQ(ds->get(9).image.at(1, 2, 2), pixel(9, 2048 + 32 + 2));
  EXPECT_EQ(ds->class_names()[3], "3");  // no batches.meta
  EXPECT_EQ(ds->describe(3), (dir / "data_batch_2").string() + "#1");
}

TEST(DataPickle, BadPicklesThrowNamingOffset) {
  using namespace std::string_literals;
  auto parse = [](const std::string& s) {
    return ltcl::data::parse_pickle(
        reinterpret_cast<const uint8_t*>(s.data()), s.size(), "bad.pkl");
  };
  // Unknown opcode 'Z' at offset 3.
  expect_error([&] { parse("\x80\x02]Z."s); }, {"offset 3 in bad.pkl"});
  // A global outside the supported set (no code is ever run).
  expect_error(
      [&] { parse("\x80\x02"s + "cos\nsystem\nq\x00."s); }, {"os.system"});
  // Truncated: a BINSTRING longer than the data.
  expect_error(
      [&] { parse("\x80\x02T\x10\x00\x00\x00"s + "abc"); }, {"bad.pkl"});
  // No STOP.
  expect_error([&] { parse("\x80\x02]"s); }, {"bad.pkl"});
  // Memo key never stored.
  expect_error([&] { parse("\x80\x02h\x05."s); }, {"memo key 5"});
  // An ndarray whose data does not fill its shape.
  std::string arr = python2_style_batch(0, 1, 0);
  const auto at = arr.find(std::string("T") + le32(3072));
  ASSERT_NE(at, std::string::npos);
  arr.replace(at, 5, std::string("T") + le32(3071));
  arr.erase(at + 5, 1);
  expect_error([&] { parse(arr); }, {"ndarray data has 3071 bytes"});
}

// Python 3 pickles at protocol 2 (bytes via _codecs.encode), made by NumPy
// the way the real CIFAR files are laid out.
bool write_with_python(const fs::path& dir, bool cifar100, size_t n) {
  if (!fs::exists("/usr/bin/python3")) {
    return false;
  }
  const std::string script = R"PY(
import os, pickle, sys
try:
    import numpy as np
except ImportError:
    sys.exit(77)
d, c100, n = sys.argv[1], sys.argv[2] == '1', int(sys.argv[3])
os.makedirs(d, exist_ok=True)
def batch(first, count):
    i = np.arange(first, first + count, dtype=np.int64)[:, None]
    j = np.arange(3072, dtype=np.int64)[None, :]
    return ((i * 31 + j * 7) % 256).astype(np.uint8)
def dump(name, obj):
    with open(os.path.join(d, name), 'wb') as f:
        pickle.dump(obj, f, protocol=2)
if c100:
    for split, first in (('train', 0), ('test', 1000)):
        dump(split, {b'filenames': [b'f%d.png' % k for k in range(n)],
                     b'batch_label': b'training batch 1 of 1',
                     b'fine_labels': [(first + k * 7) % 100 for k in range(n)],
                     b'coarse_labels': [(first + k) % 20 for k in range(n)],
                     b'data': batch(first, n)})
    dump('meta', {b'fine_label_names': [b'fine%d' % k for k in range(100)],
                  b'coarse_label_names': [b'coarse%d' % k for k in range(20)]})
else:
    for b in range(1, 6):
        dump('data_batch_%d' % b,
             {b'batch_label': b'training batch %d of 5' % b,
              b'labels': [((b - 1) * n + k) % 10 for k in range(n)],
              b'data': batch((b - 1) * n, n),
              b'filenames': [b'img%d.png' % k for k in range(n)]})
    dump('test_batch', {b'batch_label': b'testing batch 1 of 1',
                        b'labels': [9] * n, b'data': batch(5 * n, n),
                        b'filenames': [b't.png'] * n})
    dump('batches.meta', {b'label_names': [b'airplane', b'automobile',
                          b'bird', b'cat', b'deer', b'dog', b'frog',
                          b'horse', b'ship', b'truck'],
                          b'num_cases_per_batch': n, b'num_vis': 3072})
)PY";
  const fs::path py = dir.parent_path() / "write_cifar.py";
  write_bytes(py, script);
  std::string out;
  const int rc = ltcl::test::run_command(
      "/usr/bin/python3 " + py.string() + " " + dir.string() + " " +
          (cifar100 ? "1 " : "0 ") + std::to_string(n),
      &out);
  if (rc == 77) {
    return false;
  }
  EXPECT_EQ(rc, 0) << out;
  return rc == 0;
}

TEST(DataPickle, NumpyWrittenCifar10) {
  ltcl::test::TempDir tmp;
  const fs::path dir = tmp / "cifar-10-batches-py";
  if (!write_with_python(dir, false, 40)) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  }
  auto ds = ltcl::data::open_cifar(tmp.path().string(), {});
  ASSERT_EQ(ds->size(), 200u);
  EXPECT_EQ(ds->class_names()[1], "automobile");
  size_t bad = 0;
  for (size_t i = 0; i < 200; ++i) {
    bad += ds->label(i) != static_cast<int64_t>(i % 10);
    const auto img = ds->get(i).image;
    for (size_t j : {size_t(0), size_t(1023), size_t(1024), size_t(3071)}) {
      const int c = static_cast<int>(j / 1024);
      const int y = static_cast<int>(j % 1024 / 32);
      const int x = static_cast<int>(j % 32);
      bad += img.at(y, x, c) != pixel(i, j);
    }
  }
  EXPECT_EQ(bad, 0u);
  CifarOptions test;
  test.split = "test";
  auto t = ltcl::data::open_cifar(tmp.path().string(), test);
  ASSERT_EQ(t->size(), 40u);
  EXPECT_EQ(t->label(39), 9);
  EXPECT_EQ(t->get(0).image.at(0, 0, 0), pixel(200, 0));
}

TEST(DataPickle, NumpyWrittenCifar100FineAndCoarse) {
  ltcl::test::TempDir tmp;
  const fs::path dir = tmp / "cifar-100-python";
  if (!write_with_python(dir, true, 30)) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  }
  CifarOptions opt;
  opt.variant = CifarVariant::kCifar100;
  auto fine = ltcl::data::open_cifar(dir.string(), opt);
  ASSERT_EQ(fine->size(), 30u);
  EXPECT_EQ(fine->num_classes(), 100);
  EXPECT_EQ(fine->label(5), 35);
  EXPECT_EQ(fine->class_names()[35], "fine35");
  EXPECT_EQ(fine->get(29).image.at(31, 31, 2), pixel(29, 3071));
  opt.coarse = true;
  opt.split = "test";
  auto coarse = ltcl::data::open_cifar(dir.string(), opt);
  EXPECT_EQ(coarse->num_classes(), 20);
  EXPECT_EQ(coarse->label(3), (1000 + 3) % 20);
  EXPECT_EQ(coarse->class_names()[0], "coarse0");
}

}  // namespace
