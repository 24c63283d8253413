// What a checkpoint's table and records may not do (issue 25), end to end
// through the `ltcl` program on synthetic MNIST-format data (no ../shared):
// checkpoints rewritten with valid CRCs but a record missing, a record of
// the wrong size, or a table value out of range. --resume restores a run
// exactly or refuses naming the file and the record / field.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ltcl/train/checkpoint.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/record_file.h"
#include "support.h"
#include "train/runs.h"

namespace {

namespace fs = std::filesystem;
using ltcl::test::run_command;
using ltcl::test::train_cmd;
using ltcl::util::RecordSource;

// CE on 120 random 28x28 images, batch 16, 2 epochs of 3 steps, stopped
// by SIGTERM after global step 4 (epoch 1, step 1: mid-epoch, with momentum
// buffers): dir/run/last.pt, shared by every test.
class ResumeChecks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ltcl::test::TempDir();
    ltcl::test::write_random_idx(*dir_ / "idx", "train", 120);
    ltcl::test::write_random_idx(*dir_ / "idx", "t10k", 30);
    std::ofstream(*dir_ / "run.yaml")
        << "data:\n"
           "  dataset: mnist\n"
           "  root: "
        << (*dir_ / "idx").string()
        << "\n"
           "  validation: none\n"
           "  workers: 1\n"
           "  views: [cifar_weak]\n"
           "model:\n"
           "  arch: resnet20\n"
           "loss:\n"
           "  method: ce\n"
           "optim:\n"
           "  lr: 0.05\n"
           "  batch_size: 16\n"
           "schedule:\n"
           "  epochs: 2\n"
           "  warmup_epochs: 0\n"
           "train:\n"
           "  select_on: last\n"
           "  threads: 1\n"
           "  max_steps_per_epoch: 3\n"
           "  log_every: 100\n"
           "output:\n"
           "  plots: false\n";
    std::string out;
    status_ = run_command(
        "LTCL_DEBUG_TERM_AT_STEP=4 " +
            train_cmd(*dir_ / "run.yaml", *dir_ / "run"),
        &out);
    log_ = out;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(status_, 3) << log_;
  }

  static fs::path config() {
    return *dir_ / "run.yaml";
  }
  static fs::path last() {
    return *dir_ / "run" / "last.pt";
  }

  // last.pt written again into a new run folder `name` (every CRC valid)
  // after `edit` changed its table and records; returns the folder.
  static fs::path rewritten(
      const std::string& name,
      const std::function<void(nlohmann::json&, std::vector<RecordSource>&)>&
          edit) {
    const auto file = ltcl::util::RecordFile::read(last().string());
    nlohmann::json meta = file.meta();
    std::vector<RecordSource> records;
    for (const auto& r : file.records()) {
      records.push_back({r.name, r.dtype, r.shape, file.data(r)});
    }
    edit(meta, records);
    const fs::path out = *dir_ / name;
    fs::create_directories(out);
    ltcl::util::atomic_write(
        (out / "last.pt").string(), [&](const ltcl::util::WriteBytes& w) {
          ltcl::util::write_record_file(w, meta, records);
        });
    return out;
  }

  // `ltcl train --resume` on a folder: its exit status and output.
  static int resume(const fs::path& out, std::string* log) {
    return run_command(train_cmd(config(), out, "--resume"), log);
  }

  static ltcl::test::TempDir* dir_;
  static int status_;
  static std::string log_;
};

ltcl::test::TempDir* ResumeChecks::dir_ = nullptr;
int ResumeChecks::status_ = -1;
std::string ResumeChecks::log_;

void drop(std::vector<RecordSource>& records, const std::string& name) {
  const auto n = records.size();
  records.erase(
      std::remove_if(
          records.begin(), records.end(),
          [&](const RecordSource& r) { return r.name == name; }),
      records.end());
  ASSERT_EQ(records.size(), n - 1) << name;
}

std::string first_with_prefix(
    const std::vector<RecordSource>& records,
    const std::string& prefix) {
  for (const auto& r : records) {
    if (r.name.rfind(prefix, 0) == 0) {
      return r.name;
    }
  }
  ADD_FAILURE() << "no record " << prefix;
  return "";
}

// The copy as written resumes and finishes: the checks refuse only what is
// wrong (and the rewriting itself is faithful).
TEST_F(ResumeChecks, AnUnchangedCopyResumes) {
  auto out = rewritten("same", [](auto&, auto&) {});
  std::string log;
  EXPECT_EQ(resume(out, &log), 0) << log;
}

TEST_F(ResumeChecks, AMissingMomentumBufferIsRefused) {
  std::string name;
  auto out = rewritten("momentum", [&](auto&, auto& records) {
    name = first_with_prefix(records, "momentum/");
    drop(records, name);
  });
  std::string log;
  EXPECT_EQ(resume(out, &log), 1) << log;
  EXPECT_NE(log.find((out / "last.pt").string() + "': record '" + name +
                     "' is missing"),
            std::string::npos)
      << log;
}

TEST_F(ResumeChecks, MissingOrMalformedRandomStateIsRefused) {
  auto out = rewritten("rng_missing", [](auto&, auto& records) {
    drop(records, "rng/cpu");
  });
  std::string log;
  EXPECT_EQ(resume(out, &log), 1) << log;
  EXPECT_NE(log.find("last.pt': record 'rng/cpu' is missing"),
            std::string::npos)
      << log;
  static const uint8_t one = 7;
  out = rewritten("rng_short", [](auto&, auto& records) {
    for (auto& r : records) {
      if (r.name == "rng/cpu") {
        r.shape = {1};
        r.data = &one;
      }
    }
  });
  EXPECT_EQ(resume(out, &log), 1) << log;
  EXPECT_NE(log.find("rng_short/last.pt': record 'rng/cpu' (1 bytes) is not"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("c10"), std::string::npos) << log;
  // Right size, impossible content (every byte 0xFF).
  static std::vector<uint8_t> junk;
  out = rewritten("rng_junk", [](auto&, auto& records) {
    for (auto& r : records) {
      if (r.name == "rng/cpu") {
        junk.assign(static_cast<size_t>(r.shape[0]), 0xFF);
        r.data = junk.data();
      }
    }
  });
  EXPECT_EQ(resume(out, &log), 1) << log;
  EXPECT_NE(log.find("rng_junk/last.pt': record 'rng/cpu'"), std::string::npos)
      << log;
}

TEST_F(ResumeChecks, AMissingSamplerPositionIsRefused) {
  auto out = rewritten("sampler", [](auto&, auto& records) {
    drop(records, "sampler/train");
  });
  std::string log;
  EXPECT_EQ(resume(out, &log), 1) << log;
  EXPECT_NE(log.find("last.pt': record 'sampler/train' is missing"),
            std::string::npos)
      << log;
}

TEST_F(ResumeChecks, CountersOutOfRangeAreRefused) {
  struct Case {
    const char* name;
    const char* key;
    int64_t value;
    const char* expected;
  };
  const int64_t huge = std::numeric_limits<int64_t>::max();
  for (const Case& c : std::vector<Case>{
           {"step3", "step_in_epoch", 3,
            "field 'step_in_epoch' is 3, but an epoch has 3 steps"},
           {"stepmax", "step_in_epoch", huge, "field 'step_in_epoch' is"},
           {"epoch", "epoch", 3, "field 'epoch' is 3, beyond schedule.epochs 2"},
           {"global", "global_step", 5, "field 'global_step' is 5"},
           {"globalmax", "global_step", huge, "field 'global_step' is"}}) {
    auto out = rewritten(c.name, [&](auto& meta, auto&) {
      meta[c.key] = c.value;
    });
    std::string log;
    EXPECT_EQ(resume(out, &log), 1) << c.name << "\n" << log;
    EXPECT_NE(log.find(std::string(c.name) + "/last.pt': " + c.expected),
              std::string::npos)
        << log;
  }
}

TEST_F(ResumeChecks, AHistoryThatIsNotOneIsRefused) {
  for (const auto& [name, text, expected] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"hist_text", "not json", "not a JSON list of epoch records"},
           {"hist_type", R"([{"epoch": "x"}])", "record 0: 'epoch'"},
           {"hist_lr",
            R"([{"epoch": 0, "lr": "fast", "images_per_s": 1, "losses": {},
                 "accuracy": {}}])",
            "record 0: 'lr' is missing or not a number"},
           {"hist_future",
            R"([{"epoch": 1, "lr": 0.1, "images_per_s": 1, "losses": {},
                 "accuracy": {}}])",
            "records epoch 2, which the checkpoint (at epoch 1) has not"}}) {
    auto out = rewritten(name, [&, t = text](auto& meta, auto&) {
      meta["history_json"] = t;
    });
    std::string log;
    EXPECT_EQ(resume(out, &log), 1) << name << "\n" << log;
    EXPECT_NE(log.find(name + "/last.pt': field 'history_json'"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find(expected), std::string::npos) << log;
  }
}

}  // namespace
