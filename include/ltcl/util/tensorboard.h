#pragma once
// TensorBoard event files without TensorFlow: scalars, histograms and text
// (TensorBoard's text plugin) for `tensorboard --logdir`, and the
// projector's config for the embedding TSVs that eval writes.
//
// An event file is a sequence of TFRecords, each holding one serialised
// `Event` message (proto/tensorboard.proto: TensorBoard's field numbers):
//
//   uint64 length            little-endian, of the payload
//   uint32 masked_crc32c(the 8 length bytes)
//   byte   payload[length]
//   uint32 masked_crc32c(payload)
//
// with masked_crc32c(x) = rotate_right(crc32c(x), 15) + 0xa282ead8 (mod
// 2^32). The first record is the Event {file_version: "brain.Event:2"}.
//
// Torch-free (library target ltcl_tensorboard); docs/tensorboard.md.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ltcl::tb {

// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and
// final xor 0xFFFFFFFF), the checksum of TFRecord. crc32c("123456789") is
// 0xE3069283.
uint32_t crc32c(const void* data, size_t size);
inline uint32_t crc32c(std::string_view bytes) {
  return crc32c(bytes.data(), bytes.size());
}

// TFRecord's masked checksum of a CRC-32C: ((crc >> 15) | (crc << 17)) +
// 0xa282ead8, modulo 2^32.
uint32_t mask_crc(uint32_t crc);

// `payload` framed as one TFRecord (header, payload, trailer; see above).
std::string frame_record(std::string_view payload);

// A file of TFRecords. Records are buffered and reach the file on flush(),
// close(), when the buffer passes 1 MiB, and (best effort) in the
// destructor. Every failed write (a full disk, a removed mount) throws
// ltcl::Error naming the file and the system's reason; after one, the
// buffered records are dropped and every later call throws again, so that a
// run cannot go on believing it logs. Not thread-safe.
class RecordWriter {
 public:
  enum class Open {
    kTruncate,   // create, or empty an existing file
    kCreateNew,  // create; an existing file is an error
  };
  explicit RecordWriter(const std::string& path, Open mode = Open::kTruncate);
  // Flushes what is buffered; a failure there is logged (spdlog error), as
  // a destructor cannot throw: call close() to have it thrown.
  ~RecordWriter();
  RecordWriter(RecordWriter&&) noexcept;
  RecordWriter& operator=(RecordWriter&&) noexcept;
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void write(std::string_view payload);
  // Hands the buffered records to the operating system (write(2); no fsync).
  void flush();
  // flush(), fsync, close; later calls throw. Idempotent.
  void close();
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The number of equal-width buckets of EventWriter::histogram by default,
// and the most it takes.
inline constexpr int kHistogramBuckets = 30;
inline constexpr int kMaxHistogramBuckets = 1 << 16;

// One event file of a run: `<dir>/events.out.tfevents.<unix seconds>.<host
// name>` (dir created with its parents if missing; should that name exist,
// ".1", ".2", ... is appended: TensorBoard reads every file whose name holds
// "tfevents"). Each event carries the wall time at the call. Tags name a
// series (`train/loss`, `val/accuracy`; TensorBoard groups by the part
// before the first '/'); steps are the x axis. Errors are ltcl::Error naming
// the file; see RecordWriter for buffering and failed writes (call flush()
// after each epoch's events so that a live TensorBoard shows them). Not
// thread-safe; rank 0 alone should own one.
class EventWriter {
 public:
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(EventWriter&&) noexcept;
  EventWriter& operator=(EventWriter&&) noexcept;
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // A point of the scalar series `tag` (Summary.Value.simple_value),
  // written as given, NaN and infinities too.
  void scalar(const std::string& tag, float value, int64_t step);

  // The distribution of `values` at `step` (TensorBoard's histogram and
  // distribution dashboards). Records min, max, count, sum, sum of squares
  // (accumulated in double) and `buckets` equal-width buckets over [min,
  // max]: with w = (max - min) / buckets, bucket i counts the values v with
  // floor((v - min) / w) == i, the maximum counted in the last bucket; its
  // bucket_limit (right edge) is min + (i + 1) w, max for the last. All
  // values equal: one bucket, right edge max, counting them all. Throws for
  // no values, a non-finite value (named by its index) or buckets outside
  // 1..kMaxHistogramBuckets.
  void histogram(
      const std::string& tag,
      const float* values,
      size_t count,
      int64_t step,
      int buckets = kHistogramBuckets);
  void histogram(
      const std::string& tag,
      const std::vector<float>& values,
      int64_t step,
      int buckets = kHistogramBuckets);

  // Markdown text under `tag` (TensorBoard's text dashboard): a DT_STRING
  // tensor of shape [1] holding `markdown`, plugin_name "text". `markdown`
  // should be UTF-8.
  void text(const std::string& tag, const std::string& markdown, int64_t step);

  void flush();
  void close();
  // The event file's path.
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One embedding of TensorBoard's projector: a TSV of vectors (one row per
// point, tab-separated values, no header) and its metadata TSV (a header
// row, then one row per point), e.g. eval::write_projector_tsv's files.
// Relative paths are read by TensorBoard relative to the folder holding the
// config.
struct ProjectorEmbedding {
  std::string tensor_name;  // the name the projector lists, e.g. "test"
  std::string tensor_path;
  std::string metadata_path;  // may be empty (no metadata)
};

// Writes `<folder>/projector_config.pbtxt` (text format of the projector's
// ProjectorConfig) naming `embeddings`, replacing an existing one (through
// a temporary file and a rename). The folder must exist; put it where the
// event file is (the run's folder) or at the log dir's top. Throws
// ltcl::Error naming the file, or for no embeddings / an empty tensor_path.
void write_projector_config(
    const std::string& folder,
    const std::vector<ProjectorEmbedding>& embeddings);

}  // namespace ltcl::tb
