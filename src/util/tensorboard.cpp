#include "ltcl/util/tensorboard.h"

#include <fcntl.h>
#include <google/protobuf/text_format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "ltcl/util/error.h"
#include "tensorboard.pb.h"

namespace ltcl::tb {
namespace {

// The byte-at-a-time table of the reflected polynomial 0x82F63B78.
constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    table[i] = crc;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;
// Records are written once this much is buffered.
constexpr size_t kFlushBytes = size_t{1} << 20;
constexpr const char* kFileVersion = "brain.Event:2";

void append_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
  }
}

std::string system_reason(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// Writes all of data; 0, or the errno of the failure (EIO where the system
// wrote nothing without saying why).
int write_all(int fd, const char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n < 0 ? errno : EIO;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
    return "localhost";
  }
  // A host name is one path component: no '/' (none is legal, but a
  // misconfigured one must not name another folder).
  std::string host(name);
  for (char& c : host) {
    if (c == '/') {
      c = '_';
    }
  }
  return host;
}

double unix_seconds_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

void check_tag(const char* method, const std::string& tag) {
  if (tag.empty()) {
    fail("tb::EventWriter::{} - a tag must not be empty", method);
  }
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) {
    crc = kCrc32cTable[(crc ^ bytes[i]) & 0xffu] ^ (crc >> 8);
  }
  return crc ^ 0xFFFFFFFFu;
}

uint32_t mask_crc(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kCrcMaskDelta;
}

std::string frame_record(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 16);
  append_le(out, payload.size(), 8);
  append_le(out, mask_crc(crc32c(out.data(), 8)), 4);
  out.append(payload.data(), payload.size());
  append_le(out, mask_crc(crc32c(payload)), 4);
  return out;
}

// ---------------------------------------------------------------------------
// RecordWriter
// ---------------------------------------------------------------------------

struct RecordWriter::Impl {
  std::string path;
  int fd = -1;
  std::string buffer;
  // Set by the first failed write: every later call throws it again.
  std::string failure;

  void check_usable(const char* method) const {
    if (!failure.empty()) {
      fail(
          "tb::RecordWriter::{} - an earlier write failed, records are lost: "
          "{}",
          method,
          failure);
    }
    if (fd < 0) {
      fail("tb::RecordWriter::{} - {} is closed", method, path);
    }
  }

  [[noreturn]] void fail_write(const char* method, const std::string& what) {
    buffer.clear();
    failure = fmt::format("{}: {}", path, what);
    fail("tb::RecordWriter::{} - cannot write {}", method, failure);
  }

  void write_buffer(const char* method) {
    int error = write_all(fd, buffer.data(), buffer.size());
    if (error != 0) {
      fail_write(method, system_reason(error));
    }
    buffer.clear();
  }
};

RecordWriter::RecordWriter(const std::string& path, Open mode)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
  flags |= mode == Open::kCreateNew ? O_EXCL : O_TRUNC;
  impl_->fd = ::open(path.c_str(), flags, 0644);
  if (impl_->fd < 0) {
    fail("tb::RecordWriter - cannot create {}: {}", path, system_reason(errno));
  }
}

RecordWriter::~RecordWriter() {
  if (!impl_ || impl_->fd < 0) {
    return;
  }
  if (impl_->failure.empty()) {
    try {
      impl_->write_buffer("~RecordWriter");
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
  }
  ::close(impl_->fd);
}

RecordWriter::RecordWriter(RecordWriter&&) noexcept = default;
RecordWriter& RecordWriter::operator=(RecordWriter&& other) noexcept {
  if (this != &other) {
    RecordWriter old(std::move(*this));  // flushed and closed on return
    impl_ = std::move(other.impl_);
  }
  return *this;
}

void RecordWriter::write(std::string_view payload) {
  if (!impl_) {
    fail("tb::RecordWriter::write - the writer was moved from");
  }
  impl_->check_usable("write");
  impl_->buffer += frame_record(payload);
  if (impl_->buffer.size() >= kFlushBytes) {
    impl_->write_buffer("write");
  }
}

void RecordWriter::flush() {
  if (!impl_) {
    fail("tb::RecordWriter::flush - the writer was moved from");
  }
  impl_->check_usable("flush");
  impl_->write_buffer("flush");
}

void RecordWriter::close() {
  if (!impl_) {
    fail("tb::RecordWriter::close - the writer was moved from");
  }
  if (impl_->fd < 0 && impl_->failure.empty()) {
    return;  // closed before
  }
  if (!impl_->failure.empty()) {
    if (impl_->fd >= 0) {
      ::close(impl_->fd);
      impl_->fd = -1;
    }
    impl_->check_usable("close");  // throws the earlier failure
  }
  impl_->write_buffer("close");
  // fsync fails with EINVAL / EROFS on files that cannot be synced (pipes,
  // character devices): nothing was lost there.
  if (::fsync(impl_->fd) != 0 && errno != EINVAL && errno != EROFS) {
    impl_->fail_write("close", system_reason(errno));
  }
  int fd = impl_->fd;
  impl_->fd = -1;
  if (::close(fd) != 0 && errno != EINTR) {
    impl_->fail_write("close", system_reason(errno));
  }
}

const std::string& RecordWriter::path() const {
  if (!impl_) {
    fail("tb::RecordWriter::path - the writer was moved from");
  }
  return impl_->path;
}

// ---------------------------------------------------------------------------
// EventWriter
// ---------------------------------------------------------------------------

struct EventWriter::Impl {
  RecordWriter records;

  explicit Impl(RecordWriter&& r) : records(std::move(r)) {}

  void write(const Event& event) {
    std::string bytes;
    if (!event.SerializeToString(&bytes)) {
      fail(
          "tb::EventWriter - cannot serialise an event for {}", records.path());
    }
    records.write(bytes);
  }

  // An Event carrying one Summary.Value, returned for the caller to fill.
  Summary::Value* summary_value(
      Event& event, const std::string& tag, int64_t step) {
    event.set_wall_time(unix_seconds_now());
    event.set_step(step);
    Summary::Value* value = event.mutable_summary()->add_value();
    value->set_tag(tag);
    return value;
  }
};

namespace {

RecordWriter create_event_file(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    fail(
        "tb::EventWriter - cannot create the folder {}: {}", dir, ec.message());
  }
  auto seconds = static_cast<long long>(std::floor(unix_seconds_now()));
  std::string base =
      (std::filesystem::path(dir) /
       fmt::format("events.out.tfevents.{}.{}", seconds, host_name()))
          .string();
  for (int n = 0;; ++n) {
    std::string path = n == 0 ? base : fmt::format("{}.{}", base, n);
    struct stat st;
    if (n < 1000 && ::lstat(path.c_str(), &st) == 0) {
      continue;  // taken (another writer this second): the next suffix
    }
    return RecordWriter(path, RecordWriter::Open::kCreateNew);
  }
}

void check_open(bool open, const char* method) {
  if (!open) {
    fail("tb::EventWriter::{} - the writer was moved from", method);
  }
}

}  // namespace

EventWriter::EventWriter(const std::string& dir)
    : impl_(std::make_unique<Impl>(create_event_file(dir))) {
  Event event;
  event.set_wall_time(unix_seconds_now());
  event.set_file_version(kFileVersion);
  impl_->write(event);
  // The header reaches the file at once: TensorBoard lists the run.
  impl_->records.flush();
}

EventWriter::~EventWriter() = default;
EventWriter::EventWriter(EventWriter&&) noexcept = default;
EventWriter& EventWriter::operator=(EventWriter&&) noexcept = default;

void EventWriter::scalar(const std::string& tag, float value, int64_t step) {
  check_open(impl_ != nullptr, "scalar");
  check_tag("scalar", tag);
  Event event;
  impl_->summary_value(event, tag, step)->set_simple_value(value);
  impl_->write(event);
}

void EventWriter::histogram(
    const std::string& tag,
    const float* values,
    size_t count,
    int64_t step,
    int buckets) {
  check_open(impl_ != nullptr, "histogram");
  check_tag("histogram", tag);
  if (count == 0) {
    fail(
        "tb::EventWriter::histogram - no values for '{}' (step {}) in {}",
        tag,
        step,
        impl_->records.path());
  }
  if (buckets < 1 || buckets > kMaxHistogramBuckets) {
    fail(
        "tb::EventWriter::histogram - buckets must be 1..{} for '{}', got {}",
        kMaxHistogramBuckets,
        tag,
        buckets);
  }
  double lo = values[0];
  double hi = values[0];
  double sum = 0.0;
  double sum_squares = 0.0;
  for (size_t i = 0; i < count; ++i) {
    double v = values[i];
    if (!std::isfinite(v)) {
      fail(
          "tb::EventWriter::histogram - value {} of '{}' (step {}) is {}, "
          "not finite ({})",
          i,
          tag,
          step,
          v,
          impl_->records.path());
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
    sum_squares += v * v;
  }

  Event event;
  HistogramProto* histo =
      impl_->summary_value(event, tag, step)->mutable_histo();
  histo->set_min(lo);
  histo->set_max(hi);
  histo->set_num(static_cast<double>(count));
  histo->set_sum(sum);
  histo->set_sum_squares(sum_squares);
  if (lo == hi) {
    histo->add_bucket_limit(hi);
    histo->add_bucket(static_cast<double>(count));
  } else {
    double width = (hi - lo) / buckets;
    std::vector<double> counts(static_cast<size_t>(buckets), 0.0);
    for (size_t i = 0; i < count; ++i) {
      double position = std::floor((values[i] - lo) / width);
      auto index = static_cast<int>(
          std::min(position, static_cast<double>(buckets - 1)));
      counts[static_cast<size_t>(index)] += 1.0;
    }
    for (int i = 0; i < buckets; ++i) {
      histo->add_bucket_limit(i == buckets - 1 ? hi : lo + (i + 1) * width);
      histo->add_bucket(counts[static_cast<size_t>(i)]);
    }
  }
  impl_->write(event);
}

void EventWriter::histogram(
    const std::string& tag,
    const std::vector<float>& values,
    int64_t step,
    int buckets) {
  histogram(tag, values.data(), values.size(), step, buckets);
}

void EventWriter::text(
    const std::string& tag, const std::string& markdown, int64_t step) {
  check_open(impl_ != nullptr, "text");
  check_tag("text", tag);
  Event event;
  Summary::Value* value = impl_->summary_value(event, tag, step);
  value->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  TensorProto* tensor = value->mutable_tensor();
  tensor->set_dtype(DT_STRING);
  tensor->mutable_tensor_shape()->add_dim()->set_size(1);
  tensor->add_string_val(markdown);
  impl_->write(event);
}

void EventWriter::flush() {
  check_open(impl_ != nullptr, "flush");
  impl_->records.flush();
}

void EventWriter::close() {
  check_open(impl_ != nullptr, "close");
  impl_->records.close();
}

const std::string& EventWriter::path() const {
  check_open(impl_ != nullptr, "path");
  return impl_->records.path();
}

// ---------------------------------------------------------------------------
// The projector's config
// ---------------------------------------------------------------------------

void write_projector_config(
    const std::string& folder,
    const std::vector<ProjectorEmbedding>& embeddings) {
  std::string path =
      (std::filesystem::path(folder) / "projector_config.pbtxt").string();
  if (embeddings.empty()) {
    fail("tb::write_projector_config - no embeddings for {}", path);
  }
  ProjectorConfig config;
  for (const ProjectorEmbedding& e : embeddings) {
    if (e.tensor_path.empty()) {
      fail(
          "tb::write_projector_config - embedding '{}' has no tensor_path "
          "({})",
          e.tensor_name,
          path);
    }
    EmbeddingInfo* info = config.add_embeddings();
    info->set_tensor_name(e.tensor_name);
    info->set_tensor_path(e.tensor_path);
    info->set_metadata_path(e.metadata_path);
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(config, &text)) {
    fail("tb::write_projector_config - cannot format {}", path);
  }
  // A temporary file beside it, then a rename: a reader never sees half.
  std::string temp = path + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail(
        "tb::write_projector_config - cannot create {}: {}",
        temp,
        system_reason(errno));
  }
  int error = write_all(fd, text.data(), text.size());
  if (error == 0 && ::fsync(fd) != 0) {
    error = errno;
  }
  if (::close(fd) != 0 && error == 0 && errno != EINTR) {
    error = errno;
  }
  if (error == 0 && ::rename(temp.c_str(), path.c_str()) != 0) {
    error = errno;
  }
  if (error != 0) {
    ::unlink(temp.c_str());
    fail(
        "tb::write_projector_config - cannot write {}: {}",
        path,
        system_reason(error));
  }
}

}  // namespace ltcl::tb
