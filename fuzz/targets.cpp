#include "targets.h"

#include "../src/train/config/document.h"
#include "ltcl/data/cifar.h"
#include "ltcl/data/idx.h"
#include "ltcl/data/image_io.h"
#include "ltcl/data/list_file.h"
#include "ltcl/data/pickle.h"
#include "ltcl/util/error.h"

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

const std::vector<Target>& targets() {
  static const std::vector<Target> kTargets = {
      {"pickle", pickle},
      {"idx", idx},
      {"cifar_binary", cifar_binary},
      {"list_file", list_file},
      {"image", image},
      {"yaml_config", yaml_config}};
  return kTargets;
}

}  // namespace ltcl::fuzz
