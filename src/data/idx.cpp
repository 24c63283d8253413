#include "ltcl/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>

#include "ltcl/data/class_names.h"
#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/read_file.h"

namespace ltcl::data {

namespace fs = std::filesystem;

namespace {

bool is_gzip(const uint8_t* p, size_t n) {
  return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

// Unpacks one or more gzip members. `allowed(out)` is asked after every
// chunk how many bytes the output may have in all (the caller's limit, which
// may tighten once a header is in), so that a bomb is stopped at the size it
// declared rather than read in full. Anything after the last member that is
// not another member is refused, with its offset.
std::vector<uint8_t> gunzip(
    const uint8_t* p,
    size_t n,
    const std::string& name,
    const std::function<uint64_t(const std::vector<uint8_t>&)>& allowed) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) {
    fail("read_maybe_gzipped - zlib cannot start for {}", name);
  }
  struct End {
    z_stream* z;
    ~End() {
      inflateEnd(z);
    }
  } end{&z};
  std::vector<uint8_t> out;
  uint8_t chunk[1 << 16];
  z.next_in = const_cast<uint8_t*>(p);
  z.avail_in = static_cast<uInt>(std::min<size_t>(n, UINT32_MAX));
  size_t fed = z.avail_in;
  while (true) {
    z.next_out = chunk;
    z.avail_out = sizeof(chunk);
    const int rc = inflate(&z, Z_NO_FLUSH);
    const size_t got = sizeof(chunk) - z.avail_out;
    const size_t offset = fed - z.avail_in;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      fail(
          "read_maybe_gzipped - corrupt gzip stream in {} near offset {}: {}",
          name,
          offset,
          z.msg ? z.msg : "zlib error");
    }
    out.insert(out.end(), chunk, chunk + got);
    const uint64_t limit = allowed(out);
    if (out.size() > limit) {
      fail(
          "read_maybe_gzipped - {} unpacks to more than {} bytes (its "
          "header's size or the limit), refusing to read on",
          name,
          limit);
    }
    if (rc == Z_STREAM_END) {
      if (offset == n) {
        return out;
      }
      if (!is_gzip(p + offset, n - offset)) {
        fail(
            "read_maybe_gzipped - trailing garbage after the gzip stream in "
            "{} at offset {} ({} bytes), expected the end of the file or "
            "another gzip member",
            name,
            offset,
            n - offset);
      }
      inflateReset(&z);
      continue;
    }
    if (z.avail_in == 0 && fed < n) {
      const size_t more = std::min<size_t>(n - fed, UINT32_MAX);
      z.next_in = const_cast<uint8_t*>(p + fed);
      z.avail_in = static_cast<uInt>(more);
      fed += more;
      continue;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && got == 0) {
      fail(
          "read_maybe_gzipped - truncated gzip file {}: the stream ends at "
          "offset {} before its end marker",
          name,
          n);
    }
  }
}

uint64_t unpack_limit(size_t packed) {
  uint64_t ratio_limit = 0;
  if (__builtin_mul_overflow(
          static_cast<uint64_t>(packed),
          limits::kMaxInflateRatio,
          &ratio_limit)) {
    ratio_limit = UINT64_MAX - limits::kInflateSlack;
  }
  return std::min(
      limits::kMaxDataFileBytes, ratio_limit + limits::kInflateSlack);
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
         (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// The header of an IDX file of `ndims` unsigned-byte dimensions, once
// `have` >= 4 + 4 * ndims bytes are in: the dimensions and the file size
// they declare (header + product), every dimension >= 1, the product
// overflow-checked and within the limits. Throws naming the file.
std::pair<std::vector<uint64_t>, uint64_t> idx_header(
    const uint8_t* bytes, size_t have, int ndims, const std::string& path) {
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (have < 4) {
    fail(
        "IdxDataset - file too short for an IDX header: {} {{got {} bytes}}",
        path,
        have);
  }
  const uint32_t magic = be32(bytes);
  const uint32_t want = 0x00000800u | static_cast<uint32_t>(ndims);
  if (magic != want) {
    fail(
        "IdxDataset - bad magic in {}: {{got 0x{:08x}, want 0x{:08x} "
        "(unsigned bytes, {} dims)}}",
        path,
        magic,
        want,
        ndims);
  }
  if (have < header) {
    fail(
        "IdxDataset - truncated IDX header: {} {{got {} bytes, want {}}}",
        path,
        have,
        header);
  }
  std::vector<uint64_t> dims;
  uint64_t payload = 1;
  uint64_t per_item = 1;
  for (int d = 0; d < ndims; ++d) {
    dims.push_back(be32(bytes + 4 + 4 * d));
    if (dims.back() == 0) {
      fail(
          "IdxDataset - dimension {} is 0 in {} (header offset {}), expected "
          "at least 1",
          d,
          path,
          4 + 4 * d);
    }
    if (d > 0) {
      per_item *= dims.back();  // two 32-bit factors: cannot overflow
    }
    if (__builtin_mul_overflow(payload, dims.back(), &payload) ||
        payload > limits::kMaxDataFileBytes) {
      fail(
          "IdxDataset - dimensions of {} declare more than {} bytes "
          "(the limit on data files)",
          path,
          limits::kMaxDataFileBytes);
    }
  }
  if (per_item > limits::kMaxImagePixels) {
    fail(
        "IdxDataset - images of {} are {} pixels, more than the limit of {}",
        path,
        per_item,
        limits::kMaxImagePixels);
  }
  return {dims, header + payload};
}

}  // namespace

std::vector<uint8_t> read_maybe_gzipped(const std::string& path) {
  std::vector<uint8_t> bytes = util::read_regular_file(
      path, limits::kMaxDataFileBytes, "read_maybe_gzipped");
  if (!is_gzip(bytes.data(), bytes.size())) {
    return bytes;
  }
  const uint64_t limit = unpack_limit(bytes.size());
  return gunzip(
      bytes.data(), bytes.size(), path, [&](const auto&) { return limit; });
}

IdxArray parse_idx(
    const uint8_t* bytes, size_t n, int ndims, const std::string& name) {
  std::vector<uint8_t> unpacked;
  if (is_gzip(bytes, n)) {
    const size_t header = 4 + 4 * static_cast<size_t>(ndims);
    const uint64_t limit = unpack_limit(n);
    unpacked = gunzip(bytes, n, name, [&](const std::vector<uint8_t>& out) {
      // Once the header is in, the file may be exactly what it declares.
      return out.size() < header
                 ? limit
                 : std::min(
                       limit,
                       idx_header(out.data(), out.size(), ndims, name).second);
    });
    bytes = unpacked.data();
    n = unpacked.size();
  }
  auto [dims, size] = idx_header(bytes, n, ndims, name);
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (n != size) {
    fail(
        "IdxDataset - count disagrees with file size in {}: {{header says {} "
        "items ({} payload bytes), file has {} payload bytes}}",
        name,
        dims[0],
        size - header,
        n - header);
  }
  IdxArray out;
  out.dims = std::move(dims);
  if (unpacked.empty()) {
    out.data.assign(bytes + header, bytes + n);
  } else {
    unpacked.erase(unpacked.begin(), unpacked.begin() + header);
    out.data = std::move(unpacked);
  }
  return out;
}

const std::vector<std::string>& fashion_mnist_names() {
  static const std::vector<std::string> kNames = {
      "T-shirt/top",
      "Trouser",
      "Pullover",
      "Dress",
      "Coat",
      "Sandal",
      "Shirt",
      "Sneaker",
      "Bag",
      "Ankle boot"};
  return kNames;
}

IdxDataset::IdxDataset(
    const std::string& images_path,
    const std::string& labels_path,
    std::vector<std::string> class_names)
    : images_path_(images_path), class_names_(std::move(class_names)) {
  const auto read = [](const std::string& path, int ndims) {
    const std::vector<uint8_t> bytes =
        util::read_regular_file(path, limits::kMaxDataFileBytes, "IdxDataset");
    return parse_idx(bytes.data(), bytes.size(), ndims, path);
  };
  IdxArray images = read(images_path, 3);
  const auto& idims = images.dims;
  IdxArray labels = read(labels_path, 1);
  const auto& ldims = labels.dims;
  if (idims[0] != ldims[0]) {
    fail(
        "IdxDataset - image and label counts differ: {{{} has {}, {} has {}}}",
        images_path,
        idims[0],
        labels_path,
        ldims[0]);
  }
  rows_ = static_cast<int>(idims[1]);
  cols_ = static_cast<int>(idims[2]);
  labels_ = std::move(labels.data);
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (labels_[i] >= class_names_.size()) {
      fail(
          "IdxDataset - label out of range in {} item {}: {{got {}, classes "
          "{}}}",
          labels_path,
          i,
          labels_[i],
          class_names_.size());
    }
  }
  pixels_ = std::move(images.data);
}

int64_t IdxDataset::label(size_t i) const {
  if (i >= labels_.size()) {
    fail(
        "IdxDataset::label - index out of range: {{got {}, size {}}}",
        i,
        labels_.size());
  }
  return labels_[i];
}

Example IdxDataset::get(size_t i) const {
  Example e{Image(rows_, cols_, 1), label(i)};
  const size_t n = static_cast<size_t>(rows_) * cols_;
  std::copy_n(pixels_.data() + i * n, n, e.image.data());
  return e;
}

std::string IdxDataset::describe(size_t i) const {
  label(i);
  return images_path_ + "#" + std::to_string(i);
}

std::shared_ptr<IdxDataset> open_idx(
    const std::string& root, const IdxOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    fail("open_idx - root is not an existing folder: {}", root);
  }
  if (options.split != "train" && options.split != "test") {
    fail(
        "open_idx - unknown split: {{got '{}', want train|test}}",
        options.split);
  }
  const std::string prefix = options.split == "train" ? "train" : "t10k";
  auto find = [&](const std::string& kind) {
    // MNIST's names, and the dotted variant some mirrors use.
    for (const std::string sep : {"-", "."}) {
      for (const std::string ext : {"", ".gz"}) {
        const fs::path p =
            fs::path(root) / (prefix + "-" + kind + sep + "ubyte" + ext);
        if (fs::is_regular_file(p)) {
          return p.string();
        }
      }
    }
    fail("open_idx - missing file: {}/{}-{}-ubyte[.gz]", root, prefix, kind);
  };
  const std::string images = find("images-idx3");
  const std::string labels = find("labels-idx1");
  std::vector<std::string> names;
  std::string mode = options.names;
  if (mode == "auto") {
    std::string folder = fs::absolute(root).lexically_normal().string();
    std::transform(folder.begin(), folder.end(), folder.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    mode = folder.find("fashion") != std::string::npos ? "fashion" : "digits";
  }
  if (mode == "digits") {
    names = numbered_names(10);
  } else if (mode == "fashion") {
    names = fashion_mnist_names();
  } else {
    fail(
        "open_idx - unknown names option: {{got '{}', want "
        "auto|digits|fashion}}",
        options.names);
  }
  return std::make_shared<IdxDataset>(images, labels, std::move(names));
}

}  // namespace ltcl::data
