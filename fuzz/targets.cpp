#include "targets.h"

#include "../src/train/config/document.h"
#include "ltcl/data/cifar.h"
#include "ltcl/data/idx.h"
#include "ltcl/data/image_io.h"
#include "ltcl/data/list_file.h"
#include "ltcl/data/pickle.h"
#include "ltcl/util/error.h"
#include "ltcl/util/record_file.h"

#include <zlib.h>

#include <cstring>

namespace ltcl::fuzz {

namespace {

// Runs `fn`; a refusal (ltcl::Error) is fine, and its message must be
// printable: the readers promise never to embed raw bytes.
template <typename Fn>
int refused_or_ok(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    for (const char* p = e.what(); *p; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if ((c < 0x20 && c != '\n') || c >= 0x7f) {
        __builtin_trap();  // a raw byte in a message
      }
    }
  }
  return 0;
}

}  // namespace

int pickle(const uint8_t* data, size_t size) {
  return refused_or_ok([&] {
    const data::PickleRef root = data::parse_pickle(data, size, "fuzz.pkl");
    // What the CIFAR reader does with a batch, for both variants.
    for (auto variant :
         {data::CifarVariant::kCifar10, data::CifarVariant::kCifar100}) {
      data::CifarOptions options;
      options.variant = variant;
      std::vector<uint8_t> pixels, labels;
      try {
        data::parse_cifar_pickle_batch(
            *root, options, "fuzz.pkl", &pixels, &labels);
      } catch (const Error&) {
      }
      if (pixels.size() != labels.size() * data::CifarDataset::kImageBytes) {
        __builtin_trap();
      }
    }
  });
}

int idx(const uint8_t* data, size_t size) {
  return refused_or_ok([&] {
    const int ndims = size >= 4 && data[3] == 1 ? 1 : 3;
    const data::IdxArray a = data::parse_idx(data, size, ndims, "fuzz.idx");
    uint64_t product = 1;
    for (uint64_t d : a.dims) {
      product *= d;
    }
    if (a.dims.size() != static_cast<size_t>(ndims) ||
        a.data.size() != product) {
      __builtin_trap();
    }
  });
}

int cifar_binary(const uint8_t* data, size_t size) {
  return refused_or_ok([&] {
    data::CifarOptions options;
    options.variant = size > 0 && (data[0] & 1) ? data::CifarVariant::kCifar100
                                                : data::CifarVariant::kCifar10;
    options.coarse = size > 0 && (data[0] & 2);
    std::vector<uint8_t> pixels, labels;
    data::parse_cifar_binary(data, size, options, "fuzz.bin", &pixels, &labels);
    if (pixels.size() != labels.size() * data::CifarDataset::kImageBytes) {
      __builtin_trap();
    }
  });
}

int list_file(const uint8_t* data, size_t size) {
  return refused_or_ok([&] {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const data::ListFileEntries e = data::parse_list_file(text, "fuzz.txt");
    if (e.paths.size() != e.labels.size() ||
        e.lines.size() != e.labels.size()) {
      __builtin_trap();
    }
  });
}

int image(const uint8_t* data, size_t size) {
  return refused_or_ok([&] {
    const data::Image im = data::decode_image(data, size, "fuzz.img");
    if (im.pixels.size() !=
        static_cast<size_t>(im.height) * im.width * im.channels) {
      __builtin_trap();
    }
  });
}

int yaml_config(const uint8_t* data, size_t size) {
  return refused_or_ok([&] {
    const std::string text(reinterpret_cast<const char*>(data), size);
    train::config_doc::Document doc;
    // Bases resolve under a folder that does not exist: each is reported
    // missing, no file outside is read.
    train::config_doc::Reader(doc).read_text(
        text, "fuzz.yaml", "/nonexistent/ltcl-fuzz");
    for (const auto& p : doc.problems) {
      if (p.empty()) {
        __builtin_trap();
      }
    }
  });
}

namespace {

// What a reader of a verified file may rely on: every record lies inside
// the bytes, its size is its shape's, and names are unique.
void check_verified(const util::RecordFile& f, size_t size) {
  for (const auto& r : f.records()) {
    uint64_t n = util::dtype_size(r.dtype);
    for (int64_t d : r.shape) {
      n *= static_cast<uint64_t>(d);
    }
    if (n != r.nbytes || r.offset > size || r.nbytes > size - r.offset ||
        f.find(r.name) != &r) {
      __builtin_trap();
    }
    volatile uint8_t sink = 0;
    for (uint64_t k = 0; k < r.nbytes; k += 4096) {
      sink = sink ^ f.data(r)[k];  // touched: ASan sees an overrun
    }
  }
}

void put_crc(std::vector<uint8_t>& b, size_t at, const uint8_t* p, size_t n) {
  const auto c = static_cast<uint32_t>(crc32_z(0, p, n));
  std::memcpy(b.data() + at, &c, 4);
}

}  // namespace

int checkpoint(const uint8_t* data, size_t size) {
  // As given (mutations mostly end at a CRC check) ...
  refused_or_ok([&] {
    auto f = util::RecordFile::parse(
        std::vector<uint8_t>(data, data + size), "fuzz.pt");
    check_verified(f, size);
  });
  // ... and with the header and table CRCs made right, so that mutations of
  // the table reach the structural checks behind them.
  if (size < 32) {
    return 0;
  }
  std::vector<uint8_t> b(data, data + size);
  uint64_t table = 0;
  std::memcpy(&table, b.data() + 16, 8);
  if (table <= size - 32) {
    put_crc(b, 24, b.data() + 32, table);
  }
  put_crc(b, 28, b.data(), 28);
  return refused_or_ok([&] {
    auto f = util::RecordFile::parse(b, "fuzz.pt");
    check_verified(f, b.size());
  });
}

const std::vector<Target>& targets() {
  static const std::vector<Target> kTargets = {
      {"pickle", pickle},
      {"idx", idx},
      {"cifar_binary", cifar_binary},
      {"list_file", list_file},
      {"image", image},
      {"yaml_config", yaml_config},
      {"checkpoint", checkpoint}};
  return kTargets;
}

}  // namespace ltcl::fuzz
