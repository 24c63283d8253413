// What a checkpoint's table and records may not do (issue 25), end to end
// through the `ltcl` program on synthetic MNIST-format data (no ../shared):
// checkpoints rewritten with valid CRCs but a record missing, a record of
// the wrong size, or a table value out of range. --resume restores a run
// exactly or refuses naming the file and the record / field; eval, predict
// and export need only the model's records and check those (and refuse
// non-finite weights or outputs).
#include <cmath>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ltcl/data/image.h"
#include "ltcl/data/image_io.h"
#include "ltcl/eval/history.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/saved_model.h"
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

// model_info is read by eval / predict / export (resume builds its own).
TEST_F(ResumeChecks, ModelInfoValuesAreCheckedLikeConfigValues) {
  const std::string good = ltcl::train::load_checkpoint(
                               last().string(), nullptr, nullptr)
                               .model_info;
  EXPECT_NO_THROW(ltcl::train::ModelInfo::from_json(good, "x.pt"));
  auto error_of = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(good);
    edit(j);
    try {
      ltcl::train::ModelInfo::from_json(j.dump(), "x.pt");
    } catch (const ltcl::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of([](auto& j) { j["stats"]["height"] = 100000; })
                .find("'x.pt': field 'model_info.stats.height' must be an "
                      "integer in [1, 8192]: got 100000"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["stats"]["width"] = -28; })
                .find("field 'model_info.stats.width' must be an integer in "
                      "[1, 8192]: got -28"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["stats"]["channels"] = 2; })
                .find("field 'model_info.stats.channels' must be 1 or 3"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["stats"]["std"] = {0.0}; })
                .find("field 'model_info.stats.std' values must be in"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["stats"]["mean"] = {0.1, 0.2}; })
                .find("field 'model_info.stats.mean' must hold one value per "
                      "channel (1)"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["stats"]["image_size"] = 5; })
                .find("field 'model_info.stats.image_size' must be 0 or in "
                      "[8, 4096]: got 5"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["class_counts"][0] = -1; })
                .find("field 'model_info.class_counts' holds -1"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["class_names"].erase(0); })
                .find("field 'model_info.class_names' must list one name per "
                      "class (10)"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["class_names"][3] = 7; })
                .find("field 'model_info.class_names' holds 7"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j["class_counts"] = "x"; })
                .find("field 'model_info.class_counts' must list 1 to"),
            std::string::npos);
  EXPECT_NE(error_of([](auto& j) { j.erase("stats"); })
                .find("field 'model_info.stats' is missing"),
            std::string::npos);
  try {
    ltcl::train::ModelInfo::from_json("[1,", "x.pt");
    ADD_FAILURE();
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "'x.pt': field 'model_info' is not a JSON object"),
              std::string::npos);
  }
}

// Structure-aware mutations of what a checkpoint's table holds (the
// campaign's class of input: a valid file, hostile values): every field of
// model_info and of a history record replaced by values from a hostile
// pool, 2000 times each. The readers either accept the result with every
// value in range or throw ltcl::Error; nothing else may escape (before
// issue 25 history_from_json let JSON library exceptions out and
// ModelInfo::from_json accepted any size).
TEST_F(ResumeChecks, HostileTableValuesGiveNamedErrorsOrValuesInRange) {
  const nlohmann::json pool = nlohmann::json::parse(R"([
      -1, 0, 1, 2, 3, 7, 8, 4096, 8192, 100000, 2147483648,
      9223372036854775807, -9223372036854775808, 18446744073709551615,
      1e308, -1e308, 0.5, 1e-7, "", "x", "\u0000", null, true, [], {},
      [1, 2, 3], [0.1], [0.1, 0.2, 0.3], {"a": 1}, "[1,", [[1]]])");
  const auto info = nlohmann::json::parse(
      ltcl::train::load_checkpoint(last().string(), nullptr, nullptr)
          .model_info);
  const auto history = nlohmann::json::parse(
      R"([{"epoch": 0, "lr": 0.1, "images_per_s": 5, "losses": {"ce": 2},
           "accuracy": {"top1": 10, "few": null}, "split": "test"}])");
  std::mt19937 rng(25);
  auto pick = [&] { return pool[rng() % pool.size()]; };
  // Every path to a scalar or container in `j`.
  std::vector<nlohmann::json::json_pointer> paths;
  std::function<void(const nlohmann::json&, nlohmann::json::json_pointer)>
      walk = [&](const nlohmann::json& j, nlohmann::json::json_pointer at) {
        paths.push_back(at);
        if (j.is_object()) {
          for (const auto& [k, v] : j.items()) {
            walk(v, at / k);
          }
        } else if (j.is_array() && j.size() <= 3) {
          for (size_t i = 0; i < j.size(); ++i) {
            walk(j[i], at / i);
          }
        }
      };
  walk(info, nlohmann::json::json_pointer());
  int accepted = 0, refused = 0;
  for (int n = 0; n < 2000; ++n) {
    auto j = info;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 2); ++k) {
      const auto& at = paths[rng() % paths.size()];
      // (A path under a field already replaced by another type: the
      // mutation is skipped.)
      try {
        if (!at.empty()) {
          j[at] = pick();
        }
      } catch (const nlohmann::json::exception&) {
      }
    }
    try {
      const auto m = ltcl::train::ModelInfo::from_json(j.dump(), "m.pt");
      ++accepted;
      EXPECT_TRUE(m.stats.height >= 1 && m.stats.height <= 8192) << j;
      EXPECT_TRUE(m.stats.width >= 1 && m.stats.width <= 8192) << j;
      EXPECT_TRUE(m.stats.channels == 1 || m.stats.channels == 3) << j;
      EXPECT_EQ(m.stats.mean.size(), static_cast<size_t>(m.stats.channels));
      EXPECT_EQ(m.class_names.size(), m.class_counts.size());
    } catch (const ltcl::Error& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find("'m.pt'"), std::string::npos)
          << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an ltcl::Error: " << e.what() << "\n" << j;
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 1000);
  paths.clear();
  walk(history, nlohmann::json::json_pointer());
  for (int n = 0; n < 2000; ++n) {
    auto j = history;
    const auto& at = paths[rng() % paths.size()];
    if (!at.empty()) {
      j[at] = pick();
    }
    try {
      const auto h = ltcl::eval::history_from_json(j.dump());
      for (const auto& r : h) {
        EXPECT_GE(r.epoch, 0) << j;
      }
    } catch (const ltcl::Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an ltcl::Error: " << e.what() << "\n" << j;
    }
  }
}

// The same through the program: export (which accepted these) and eval
// refuse, naming the file and the field, and write nothing.
TEST_F(ResumeChecks, ExportAndEvalRefuseBadModelInfo) {
  for (int64_t size : {int64_t{100000}, int64_t{-5}}) {
    const std::string name = "info" + std::to_string(size);
    auto out = rewritten(name, [&](auto& meta, auto&) {
      auto info = nlohmann::json::parse(meta["model_info"].template get<std::string>());
      info["stats"]["height"] = size;
      info["stats"]["width"] = size;
      meta["model_info"] = info.dump();
    });
    const std::string ckpt = (out / "last.pt").string();
    std::string log;
    EXPECT_EQ(run_command(ltcl::test::cli_path() + " export --checkpoint " +
                              ckpt + " --out " + (out / "m.pt").string(),
                          &log),
              1)
        << log;
    EXPECT_NE(log.find(ckpt + "': field 'model_info.stats."), std::string::npos)
        << log;
    EXPECT_FALSE(fs::exists(out / "m.pt"));
    EXPECT_EQ(run_command(ltcl::test::cli_path() + " eval --checkpoint " + ckpt,
                          &log),
              1)
        << log;
    EXPECT_NE(log.find(ckpt + "': field 'model_info.stats."), std::string::npos)
        << log;
  }
}

// A parameter holding a NaN (a checkpoint ltcl never writes) and finite
// but diverged weights (x 1e28: NaN outputs) are refused by eval, predict
// and export, naming the file (and the tensor).
TEST_F(ResumeChecks, NonFiniteWeightsOrOutputsAreRefused) {
  // One 28x28 gray image to predict on.
  const fs::path image = *dir_ / "digit.png";
  ltcl::data::Image img(28, 28, 1);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    img.pixels[i] = static_cast<uint8_t>(i * 7 % 256);
  }
  ltcl::data::write_png(image.string(), img);
  static std::vector<float> poisoned;
  static std::vector<float> blown;
  std::string pname;
  auto nan_out = rewritten("nan", [&](auto&, auto& records) {
    pname = first_with_prefix(records, "param/");
    for (auto& r : records) {
      if (r.name == pname) {
        int64_t n = 1;
        for (auto d : r.shape) {
          n *= d;
        }
        const float* src = static_cast<const float*>(r.data);
        poisoned.assign(src, src + n);
        poisoned[n / 2] = NAN;
        r.data = poisoned.data();
      }
    }
  });
  auto blown_out = rewritten("blown", [&](auto&, auto& records) {
    size_t total = 0;
    for (auto& r : records) {
      if (r.name.rfind("param/", 0) == 0) {
        int64_t n = 1;
        for (auto d : r.shape) {
          n *= d;
        }
        total += static_cast<size_t>(n);
      }
    }
    blown.reserve(total);  // no reallocation: r.data points into it
    for (auto& r : records) {
      if (r.name.rfind("param/", 0) == 0) {
        int64_t n = 1;
        for (auto d : r.shape) {
          n *= d;
        }
        const float* src = static_cast<const float*>(r.data);
        const size_t at = blown.size();
        for (int64_t i = 0; i < n; ++i) {
          blown.push_back(src[i] * 1e28f);
        }
        r.data = blown.data() + at;
      }
    }
  });
  const std::string cli = ltcl::test::cli_path();
  const std::string nan_ckpt = (nan_out / "last.pt").string();
  const std::string blown_ckpt = (blown_out / "last.pt").string();
  std::string log;
  const std::string bad_param = "'" + nan_ckpt + "': parameter '" +
      pname.substr(std::strlen("param/")) + "' holds NaN or infinite values";
  EXPECT_EQ(run_command(cli + " eval --checkpoint " + nan_ckpt, &log), 1)
      << log;
  EXPECT_NE(log.find(bad_param), std::string::npos) << log;
  EXPECT_EQ(run_command(cli + " export --checkpoint " + nan_ckpt + " --out " +
                            (nan_out / "m.pt").string(),
                        &log),
            1)
      << log;
  EXPECT_NE(log.find(bad_param), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(nan_out / "m.pt"));

  EXPECT_EQ(run_command(cli + " eval --checkpoint " + blown_ckpt, &log), 1)
      << log;
  EXPECT_NE(log.find("eval - '" + blown_ckpt +
                     "': the model's outputs are not finite"),
            std::string::npos)
      << log;
  EXPECT_EQ(run_command(cli + " export --checkpoint " + blown_ckpt +
                            " --out " + (blown_out / "m.pt").string(),
                        &log),
            1)
      << log;
  EXPECT_NE(log.find("export - '" + blown_ckpt +
                     "': the model's output is not finite"),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(blown_out / "m.pt"));
  EXPECT_EQ(run_command(cli + " predict --checkpoint " + blown_ckpt + " " +
                            image.string(),
                        &log),
            1)
      << log;
  EXPECT_NE(log.find("predict - '" + blown_ckpt +
                     "': the model's output for '" + image.string() +
                     "' is not finite"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("nan"), std::string::npos) << log;
  // The unaltered checkpoint predicts (the image is readable).
  EXPECT_EQ(run_command(cli + " predict --checkpoint " + last().string() +
                            " " + image.string(),
                        &log),
            0)
      << log;
  EXPECT_EQ(run_command(cli + " predict --checkpoint " + nan_ckpt + " " +
                            image.string(),
                        &log),
            1)
      << log;
  EXPECT_NE(log.find(bad_param), std::string::npos) << log;
}

}  // namespace
