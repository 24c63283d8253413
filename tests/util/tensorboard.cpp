// ltcl::tb (include/ltcl/util/tensorboard.h): CRC-32C against known
// vectors, TFRecord framing read back byte by byte, the events parsed back
// with the generated messages, and the errors (full disk, bad input).
// Torch-free: links ltcl_tensorboard only. TensorBoard's own reader reads
// the files in python.tensorboard_readback (tests/util/tb_readback.py).
#include "ltcl/util/tensorboard.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ltcl/util/error.h"
#include "tensorboard.pb.h"

namespace fs = std::filesystem;

namespace {

// A fresh folder under the system's temp folder, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (fs::temp_directory_path() / "ltcl_tb_test_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const {
    return path_;
  }

 private:
  fs::path path_;
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(
      std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

uint64_t read_le(const std::string& bytes, size_t at, int size) {
  uint64_t value = 0;
  for (int i = 0; i < size; ++i) {
    value |= uint64_t{static_cast<unsigned char>(bytes.at(at + i))} << (8 * i);
  }
  return value;
}

// Splits a file of TFRecords into payloads, checking each record's header
// and trailer on the way (lengths, masked CRCs, nothing left over).
std::vector<std::string> read_records(const std::string& bytes) {
  std::vector<std::string> payloads;
  size_t at = 0;
  while (at < bytes.size()) {
    EXPECT_GE(bytes.size() - at, 16u) << "a truncated record at " << at;
    if (bytes.size() - at < 16) {
      break;
    }
    uint64_t length = read_le(bytes, at, 8);
    uint32_t length_crc = static_cast<uint32_t>(read_le(bytes, at + 8, 4));
    EXPECT_EQ(
        length_crc, ltcl::tb::mask_crc(ltcl::tb::crc32c(bytes.data() + at, 8)))
        << "record at " << at;
    EXPECT_LE(length, bytes.size() - at - 16) << "record at " << at;
    if (length > bytes.size() - at - 16) {
      break;
    }
    std::string payload = bytes.substr(at + 12, length);
    uint32_t payload_crc =
        static_cast<uint32_t>(read_le(bytes, at + 12 + length, 4));
    EXPECT_EQ(payload_crc, ltcl::tb::mask_crc(ltcl::tb::crc32c(payload)))
        << "record at " << at;
    payloads.push_back(payload);
    at += 16 + length;
  }
  return payloads;
}

std::vector<ltcl::tb::Event> read_events(const std::string& path) {
  std::vector<ltcl::tb::Event> events;
  for (const std::string& payload : read_records(read_bytes(path))) {
    ltcl::tb::Event event;
    EXPECT_TRUE(event.ParseFromString(payload));
    events.push_back(event);
  }
  return events;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

// ---------------------------------------------------------------------------
// CRC-32C and the mask. The vectors: RFC 3720 (iSCSI) B.4 for the 32-byte
// ones, the others computed by a bitwise Python implementation of the same
// polynomial (independent of the table here).
// ---------------------------------------------------------------------------

TEST(TensorBoardCrc, KnownVectors) {
  using ltcl::tb::crc32c;
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0x00000000u);
  EXPECT_EQ(crc32c("a"), 0xC1D04330u);
  EXPECT_EQ(crc32c("The quick brown fox jumps over the lazy dog"), 0x22620404u);
  std::string zeros(32, '\0');
  std::string ones(32, '\xff');
  std::string up(32, '\0');
  std::string down(32, '\0');
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<char>(i);
    down[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(up), 0x46DD794Eu);
  EXPECT_EQ(crc32c(down), 0x113FDB5Cu);
}

TEST(TensorBoardCrc, Mask) {
  using ltcl::tb::mask_crc;
  EXPECT_EQ(mask_crc(0x00000000u), 0xA282EAD8u);
  EXPECT_EQ(mask_crc(0xE3069283u), 0xC78AB0E5u);
  EXPECT_EQ(mask_crc(0x12345678u), 0x4F730F40u);
  EXPECT_EQ(mask_crc(0xFFFFFFFFu), 0xA282EAD7u);  // wraps modulo 2^32
}

// ---------------------------------------------------------------------------
// TFRecord framing
// ---------------------------------------------------------------------------

TEST(TensorBoardRecord, FrameBytes) {
  // "hi" framed, bytes computed by Python (struct + a bitwise CRC-32C).
  const unsigned char expected[] = {
      0x02,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00,
      0x78,
      0x27,
      0x0b,
      0x34,
      0x68,
      0x69,
      0x13,
      0xd6,
      0x08,
      0x56};
  std::string frame = ltcl::tb::frame_record("hi");
  ASSERT_EQ(frame.size(), sizeof(expected));
  for (size_t i = 0; i < sizeof(expected); ++i) {
    EXPECT_EQ(static_cast<unsigned char>(frame[i]), expected[i]) << i;
  }
}

TEST(TensorBoardRecord, FileHoldsTheRecordsInOrder) {
  TempDir dir;
  std::string path = (dir.path() / "records").string();
  std::vector<std::string> payloads = {
      "", "x", std::string(300, 'y'), std::string("\0\1\2", 3)};
  {
    ltcl::tb::RecordWriter writer(path);
    for (const std::string& p : payloads) {
      writer.write(p);
    }
    writer.close();
    writer.close();  // idempotent
    EXPECT_THROW(writer.write("after close"), ltcl::Error);
  }
  std::string bytes = read_bytes(path);
  size_t total = 0;
  for (const std::string& p : payloads) {
    total += p.size() + 16;
  }
  ASSERT_EQ(bytes.size(), total);
  EXPECT_EQ(read_records(bytes), payloads);
  // The third record's header, byte by byte: length 300 = 0x012c.
  size_t third = 16 + 17;
  EXPECT_EQ(static_cast<unsigned char>(bytes[third]), 0x2c);
  EXPECT_EQ(static_cast<unsigned char>(bytes[third + 1]), 0x01);
  for (int i = 2; i < 8; ++i) {
    EXPECT_EQ(bytes[third + i], '\0');
  }
}

TEST(TensorBoardRecord, DestructorFlushes) {
  TempDir dir;
  std::string path = (dir.path() / "records").string();
  {
    ltcl::tb::RecordWriter writer(path);
    writer.write("kept");
    EXPECT_EQ(read_bytes(path).size(), 0u);  // still buffered
  }
  EXPECT_EQ(read_records(read_bytes(path)), std::vector<std::string>{"kept"});
}

TEST(TensorBoardRecord, FullDiskIsReportedNamingTheFile) {
  if (!fs::exists("/dev/full")) {
    GTEST_SKIP() << "no /dev/full here to play a full disk";
  }
  ltcl::tb::RecordWriter writer("/dev/full");
  writer.write("lost");
  try {
    writer.flush();
    FAIL() << "a write to /dev/full succeeded";
  } catch (const ltcl::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("/dev/full"), std::string::npos) << what;
    EXPECT_NE(what.find("No space left"), std::string::npos) << what;
  }
  // And every later call says so again instead of pretending to log.
  EXPECT_THROW(writer.write("more"), ltcl::Error);
  EXPECT_THROW(writer.flush(), ltcl::Error);
  EXPECT_THROW(writer.close(), ltcl::Error);
}

TEST(TensorBoardRecord, FullDiskOnTheAutomaticFlush) {
  if (!fs::exists("/dev/full")) {
    GTEST_SKIP() << "no /dev/full here to play a full disk";
  }
  ltcl::tb::RecordWriter writer("/dev/full");
  std::string big(1 << 16, 'z');
  EXPECT_THROW(
      {
        for (int i = 0; i < 64; ++i) {
          writer.write(big);  // passes 1 MiB: written, fails
        }
      },
      ltcl::Error);
}

TEST(TensorBoardRecord, CannotCreate) {
  TempDir dir;
  std::string path = (dir.path() / "no" / "such" / "folder").string();
  try {
    ltcl::tb::RecordWriter writer(path);
    FAIL() << "created " << path;
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::string existing = (dir.path() / "taken").string();
  ltcl::tb::RecordWriter(existing).close();
  EXPECT_THROW(
      ltcl::tb::RecordWriter(
          existing, ltcl::tb::RecordWriter::Open::kCreateNew),
      ltcl::Error);
}

// ---------------------------------------------------------------------------
// EventWriter: the events parsed back
// ---------------------------------------------------------------------------

TEST(TensorBoardEvents, FileNameAndVersionRecord) {
  TempDir dir;
  fs::path run = dir.path() / "run" / "nested";  // created with parents
  double before = now_seconds();
  ltcl::tb::EventWriter writer(run.string());
  std::string name = fs::path(writer.path()).filename().string();
  EXPECT_EQ(fs::path(writer.path()).parent_path(), run);
  ASSERT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  std::string rest = name.substr(std::string("events.out.tfevents.").size());
  size_t dot = rest.find('.');
  ASSERT_NE(dot, std::string::npos) << name;
  long long seconds = std::stoll(rest.substr(0, dot));
  EXPECT_GE(seconds, static_cast<long long>(before) - 1);
  EXPECT_LE(seconds, static_cast<long long>(now_seconds()) + 1);
  EXPECT_FALSE(rest.substr(dot + 1).empty()) << "no host name: " << name;

  // The version record is on disk before anything is flushed.
  std::vector<ltcl::tb::Event> events = read_events(writer.path());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[0].step(), 0);
  EXPECT_GE(events[0].wall_time(), before - 1);
  EXPECT_LE(events[0].wall_time(), now_seconds() + 1);

  // A second writer in the same second gets a file of its own.
  ltcl::tb::EventWriter second(run.string());
  EXPECT_NE(second.path(), writer.path());
}

TEST(TensorBoardEvents, ScalarsHistogramsText) {
  TempDir dir;
  std::string path;
  double before = now_seconds();
  {
    ltcl::tb::EventWriter writer(dir.path().string());
    path = writer.path();
    writer.scalar("train/loss", 2.5f, 0);
    writer.scalar("train/loss", 1.25f, 100);
    writer.scalar("val/accuracy", 0.75f, 1LL << 40);  // int64 steps
    // 0, 1, ..., 10 in 5 buckets of width 2: [0,2) [2,4) [4,6) [6,8) [8,10]
    std::vector<float> values;
    for (int i = 0; i <= 10; ++i) {
      values.push_back(static_cast<float>(i));
    }
    writer.histogram("weights/fc", values, 7, 5);
    writer.histogram("weights/same", std::vector<float>{3.f, 3.f, 3.f}, 8);
    writer.text("config", "| key | value |\n|---|---|\n| lr | 0.1 |", 9);
    writer.flush();
  }
  std::vector<ltcl::tb::Event> events = read_events(path);
  ASSERT_EQ(events.size(), 7u);
  for (size_t i = 1; i < events.size(); ++i) {
    ASSERT_TRUE(events[i].has_summary()) << i;
    ASSERT_EQ(events[i].summary().value_size(), 1) << i;
    EXPECT_GE(events[i].wall_time(), before - 1);
    EXPECT_LE(events[i].wall_time(), now_seconds() + 1);
  }
  auto value = [&](size_t i) -> const ltcl::tb::Summary::Value& {
    return events[i].summary().value(0);
  };

  EXPECT_EQ(value(1).tag(), "train/loss");
  EXPECT_EQ(value(1).simple_value(), 2.5f);
  EXPECT_EQ(events[1].step(), 0);
  EXPECT_EQ(value(2).simple_value(), 1.25f);
  EXPECT_EQ(events[2].step(), 100);
  EXPECT_EQ(value(3).tag(), "val/accuracy");
  EXPECT_EQ(value(3).simple_value(), 0.75f);
  EXPECT_EQ(events[3].step(), 1LL << 40);

  EXPECT_EQ(value(4).tag(), "weights/fc");
  EXPECT_EQ(events[4].step(), 7);
  const ltcl::tb::HistogramProto& h = value(4).histo();
  EXPECT_EQ(h.min(), 0.0);
  EXPECT_EQ(h.max(), 10.0);
  EXPECT_EQ(h.num(), 11.0);
  EXPECT_EQ(h.sum(), 55.0);
  EXPECT_EQ(h.sum_squares(), 385.0);
  EXPECT_EQ(
      std::vector<double>(h.bucket_limit().begin(), h.bucket_limit().end()),
      (std::vector<double>{2, 4, 6, 8, 10}));
  EXPECT_EQ(
      std::vector<double>(h.bucket().begin(), h.bucket().end()),
      (std::vector<double>{2, 2, 2, 2, 3}));

  const ltcl::tb::HistogramProto& same = value(5).histo();
  EXPECT_EQ(same.min(), 3.0);
  EXPECT_EQ(same.max(), 3.0);
  EXPECT_EQ(same.num(), 3.0);
  EXPECT_EQ(same.sum(), 9.0);
  EXPECT_EQ(same.sum_squares(), 27.0);
  ASSERT_EQ(same.bucket_size(), 1);
  EXPECT_EQ(same.bucket_limit(0), 3.0);
  EXPECT_EQ(same.bucket(0), 3.0);

  EXPECT_EQ(value(6).tag(), "config");
  EXPECT_EQ(events[6].step(), 9);
  EXPECT_EQ(value(6).metadata().plugin_data().plugin_name(), "text");
  const ltcl::tb::TensorProto& t = value(6).tensor();
  EXPECT_EQ(t.dtype(), ltcl::tb::DT_STRING);
  EXPECT_EQ(static_cast<int>(t.dtype()), 7);  // TensorFlow's DT_STRING
  ASSERT_EQ(t.tensor_shape().dim_size(), 1);
  EXPECT_EQ(t.tensor_shape().dim(0).size(), 1);
  ASSERT_EQ(t.string_val_size(), 1);
  EXPECT_EQ(t.string_val(0), "| key | value |\n|---|---|\n| lr | 0.1 |");
}

// The wire bytes of a scalar event with a fixed wall time: field numbers
// and wire types exactly as TensorBoard's event.proto / summary.proto
// declare them (1: double wall_time, 2: varint step, 5: Summary; Summary 1:
// Value; Value 1: tag, 2: float simple_value).
TEST(TensorBoardEvents, ScalarWireBytes) {
  ltcl::tb::Event event;
  event.set_wall_time(0.5);
  event.set_step(3);
  auto* v = event.mutable_summary()->add_value();
  v->set_tag("a");
  v->set_simple_value(1.0f);
  std::string bytes;
  ASSERT_TRUE(event.SerializeToString(&bytes));
  const unsigned char expected[] = {
      0x09, 0,    0,   0,    0,   0, 0, 0xe0, 0x3f,  // 1: 0.5 (fixed64)
      0x10, 0x03,                                    // 2: 3
      0x2a, 0x0a,                                    // 5: 10 bytes
      0x0a, 0x08,                                    //   1: 8 bytes
      0x0a, 0x01, 'a',                               //     1: "a"
      0x15, 0,    0,   0x80, 0x3f};                  //     2: 1.0f (fixed32)
  ASSERT_EQ(bytes.size(), sizeof(expected));
  for (size_t i = 0; i < sizeof(expected); ++i) {
    EXPECT_EQ(static_cast<unsigned char>(bytes[i]), expected[i]) << i;
  }
}

TEST(TensorBoardEvents, HistogramBucketsArePacked) {
  ltcl::tb::HistogramProto h;
  h.add_bucket_limit(1.0);
  h.add_bucket_limit(2.0);
  std::string bytes;
  ASSERT_TRUE(h.SerializeToString(&bytes));
  ASSERT_EQ(bytes.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), (6 << 3) | 2);  // packed
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 16);
}

TEST(TensorBoardEvents, BadInputThrows) {
  TempDir dir;
  ltcl::tb::EventWriter writer(dir.path().string());
  EXPECT_THROW(writer.scalar("", 1.f, 0), ltcl::Error);
  EXPECT_THROW(writer.text("", "x", 0), ltcl::Error);
  EXPECT_THROW(writer.histogram("h", std::vector<float>{}, 0), ltcl::Error);
  EXPECT_THROW(
      writer.histogram("h", std::vector<float>{1.f}, 0, 0), ltcl::Error);
  EXPECT_THROW(
      writer.histogram(
          "h", std::vector<float>{1.f}, 0, ltcl::tb::kMaxHistogramBuckets + 1),
      ltcl::Error);
  try {
    writer.histogram("h", std::vector<float>{1.f, NAN, 2.f}, 0);
    FAIL() << "a NaN went into a histogram";
  } catch (const ltcl::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("value 1 of 'h'"), std::string::npos) << what;
    EXPECT_NE(what.find(writer.path()), std::string::npos) << what;
  }
  writer.close();
  // Nothing but the version record was written.
  EXPECT_EQ(read_events(writer.path()).size(), 1u);
  EXPECT_THROW(writer.scalar("late", 1.f, 0), ltcl::Error);

  // A folder that cannot be made: named.
  std::string file = (dir.path() / "a_file").string();
  std::ofstream(file) << "x";
  std::string under_file = file + "/run";
  try {
    ltcl::tb::EventWriter bad(under_file);
    FAIL() << "an event file under a regular file";
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find(under_file), std::string::npos)
        << e.what();
  }
}

TEST(TensorBoardEvents, MovedWriterKeepsWriting) {
  TempDir dir;
  ltcl::tb::EventWriter first(dir.path().string());
  std::string path = first.path();
  ltcl::tb::EventWriter second = std::move(first);
  second.scalar("x", 1.f, 1);
  second.close();
  EXPECT_EQ(read_events(path).size(), 2u);
  EXPECT_THROW(first.scalar("x", 1.f, 1), ltcl::Error);  // NOLINT: moved
}

// ---------------------------------------------------------------------------
// The projector's config
// ---------------------------------------------------------------------------

TEST(TensorBoardProjector, ConfigNamesTheFiles) {
  TempDir dir;
  ltcl::tb::write_projector_config(
      dir.path().string(),
      {{"test", "embeddings/test_vectors.tsv", "embeddings/test_metadata.tsv"},
       {"odd \"name\"", "/abs/v.tsv", ""}});
  fs::path config = dir.path() / "projector_config.pbtxt";
  std::string text = read_bytes(config);
  EXPECT_NE(
      text.find("tensor_path: \"embeddings/test_vectors.tsv\""),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("metadata_path: \"embeddings/test_metadata.tsv\""),
      std::string::npos)
      << text;
  ltcl::tb::ProjectorConfig parsed;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &parsed));
  ASSERT_EQ(parsed.embeddings_size(), 2);
  EXPECT_EQ(parsed.embeddings(0).tensor_name(), "test");
  EXPECT_EQ(parsed.embeddings(1).tensor_name(), "odd \"name\"");
  EXPECT_EQ(parsed.embeddings(1).tensor_path(), "/abs/v.tsv");
  EXPECT_EQ(parsed.embeddings(1).metadata_path(), "");
  EXPECT_FALSE(fs::exists(dir.path() / "projector_config.pbtxt.tmp"));

  // Written again: replaced.
  ltcl::tb::write_projector_config(dir.path().string(), {{"b", "b.tsv", ""}});
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      read_bytes(config), &parsed));
  ASSERT_EQ(parsed.embeddings_size(), 1);
  EXPECT_EQ(parsed.embeddings(0).tensor_path(), "b.tsv");
}

TEST(TensorBoardProjector, Errors) {
  TempDir dir;
  EXPECT_THROW(
      ltcl::tb::write_projector_config(dir.path().string(), {}), ltcl::Error);
  EXPECT_THROW(
      ltcl::tb::write_projector_config(dir.path().string(), {{"t", "", ""}}),
      ltcl::Error);
  std::string missing = (dir.path() / "missing").string();
  try {
    ltcl::tb::write_projector_config(missing, {{"t", "v.tsv", ""}});
    FAIL() << "wrote into a missing folder";
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos)
        << e.what();
  }
}

// Every declared field's number and type against TensorBoard's protos
// (event.proto, summary.proto, histogram.proto, tensor.proto,
// tensor_shape.proto, projector_config.proto): the wire format is these
// numbers. python.tensorboard_readback checks the same by parsing with
// TensorBoard's own messages; this holds where that test cannot run.
TEST(TensorBoardEvents, FieldNumbersAreTensorBoards) {
  using google::protobuf::Descriptor;
  using google::protobuf::FieldDescriptor;
  struct Field {
    const Descriptor* message;
    const char* name;
    int number;
    FieldDescriptor::Type type;
  };
  const Field fields[] = {
      {ltcl::tb::Event::descriptor(),
       "wall_time",
       1,
       FieldDescriptor::TYPE_DOUBLE},
      {ltcl::tb::Event::descriptor(), "step", 2, FieldDescriptor::TYPE_INT64},
      {ltcl::tb::Event::descriptor(),
       "file_version",
       3,
       FieldDescriptor::TYPE_STRING},
      {ltcl::tb::Event::descriptor(),
       "summary",
       5,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::Summary::descriptor(),
       "value",
       1,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::Summary::Value::descriptor(),
       "tag",
       1,
       FieldDescriptor::TYPE_STRING},
      {ltcl::tb::Summary::Value::descriptor(),
       "simple_value",
       2,
       FieldDescriptor::TYPE_FLOAT},
      {ltcl::tb::Summary::Value::descriptor(),
       "histo",
       5,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::Summary::Value::descriptor(),
       "tensor",
       8,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::Summary::Value::descriptor(),
       "metadata",
       9,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::SummaryMetadata::descriptor(),
       "plugin_data",
       1,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::SummaryMetadata::PluginData::descriptor(),
       "plugin_name",
       1,
       FieldDescriptor::TYPE_STRING},
      {ltcl::tb::SummaryMetadata::PluginData::descriptor(),
       "content",
       2,
       FieldDescriptor::TYPE_BYTES},
      {ltcl::tb::HistogramProto::descriptor(),
       "min",
       1,
       FieldDescriptor::TYPE_DOUBLE},
      {ltcl::tb::HistogramProto::descriptor(),
       "max",
       2,
       FieldDescriptor::TYPE_DOUBLE},
      {ltcl::tb::HistogramProto::descriptor(),
       "num",
       3,
       FieldDescriptor::TYPE_DOUBLE},
      {ltcl::tb::HistogramProto::descriptor(),
       "sum",
       4,
       FieldDescriptor::TYPE_DOUBLE},
      {ltcl::tb::HistogramProto::descriptor(),
       "sum_squares",
       5,
       FieldDescriptor::TYPE_DOUBLE},
      {ltcl::tb::HistogramProto::descriptor(),
       "bucket_limit",
       6,
       FieldDescriptor::TYPE_DOUBLE},
      {ltcl::tb::HistogramProto::descriptor(),
       "bucket",
       7,
       FieldDescriptor::TYPE_DOUBLE},
      {ltcl::tb::TensorProto::descriptor(),
       "dtype",
       1,
       FieldDescriptor::TYPE_ENUM},
      {ltcl::tb::TensorProto::descriptor(),
       "tensor_shape",
       2,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::TensorProto::descriptor(),
       "string_val",
       8,
       FieldDescriptor::TYPE_BYTES},
      {ltcl::tb::TensorShapeProto::descriptor(),
       "dim",
       2,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::TensorShapeProto::Dim::descriptor(),
       "size",
       1,
       FieldDescriptor::TYPE_INT64},
      {ltcl::tb::ProjectorConfig::descriptor(),
       "embeddings",
       2,
       FieldDescriptor::TYPE_MESSAGE},
      {ltcl::tb::EmbeddingInfo::descriptor(),
       "tensor_name",
       1,
       FieldDescriptor::TYPE_STRING},
      {ltcl::tb::EmbeddingInfo::descriptor(),
       "metadata_path",
       2,
       FieldDescriptor::TYPE_STRING},
      {ltcl::tb::EmbeddingInfo::descriptor(),
       "tensor_path",
       6,
       FieldDescriptor::TYPE_STRING},
  };
  size_t declared = 0;
  for (const Field& f : fields) {
    const FieldDescriptor* field = f.message->FindFieldByName(f.name);
    ASSERT_NE(field, nullptr) << f.message->full_name() << "." << f.name;
    EXPECT_EQ(field->number(), f.number) << field->full_name();
    EXPECT_EQ(field->type(), f.type) << field->full_name();
  }
  // Nothing declared beyond the table (a new field gets checked here too).
  for (const Descriptor* m :
       {ltcl::tb::Event::descriptor(),
        ltcl::tb::Summary::descriptor(),
        ltcl::tb::Summary::Value::descriptor(),
        ltcl::tb::SummaryMetadata::descriptor(),
        ltcl::tb::SummaryMetadata::PluginData::descriptor(),
        ltcl::tb::HistogramProto::descriptor(),
        ltcl::tb::TensorProto::descriptor(),
        ltcl::tb::TensorShapeProto::descriptor(),
        ltcl::tb::TensorShapeProto::Dim::descriptor(),
        ltcl::tb::ProjectorConfig::descriptor(),
        ltcl::tb::EmbeddingInfo::descriptor()}) {
    declared += static_cast<size_t>(m->field_count());
  }
  EXPECT_EQ(declared, std::size(fields));
  EXPECT_EQ(ltcl::tb::DT_STRING, 7);
  EXPECT_EQ(ltcl::tb::DT_FLOAT, 1);
}
