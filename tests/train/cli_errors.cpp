// Bad input through the real `ltcl` program (issue 12): every case below
// ends with exit 1 and "ltcl: error:" naming the file, never exit 2
// ("internal error"), a crash or a hang (each command runs under
// `timeout 120`). The model the good-checkpoint cases use is trained here,
// on a folder of PNGs the test writes (no ../shared).
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/serialize.h>
#include <torch/torch.h>

#include "ltcl/data/image_io.h"
#include "ltcl/models/network.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/train/saved_model.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::test::cli_path;
using ltcl::test::run_command;

struct Case {
  std::string what;
  std::string args;  // after `ltcl`
  std::string names;  // the message must contain this (a path, a key)
};

void expect_named_error(const Case& c) {
  std::string out;
  const int rc = run_command("timeout 120 " + cli_path() + " " + c.args, &out);
  EXPECT_EQ(rc, 1) << c.what << ": exit " << rc << "\n" << out;
  EXPECT_NE(out.find("ltcl: error:"), std::string::npos) << c.what << "\n"
                                                         << out;
  EXPECT_EQ(out.find("internal error"), std::string::npos) << c.what << "\n"
                                                           << out;
  EXPECT_NE(out.find(c.names), std::string::npos)
      << c.what << ": the message does not name '" << c.names << "'\n"
      << out;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

void write_folder(const fs::path& root) {
  for (const char* split : {"train", "test"}) {
    for (int c = 0; c < 2; ++c) {
      fs::create_directories(root / split / ("c" + std::to_string(c)));
      for (int i = 0; i < 4; ++i) {
        ltcl::data::Image im(16, 16, 3);
        for (size_t k = 0; k < im.pixels.size(); ++k) {
          im.pixels[k] = static_cast<uint8_t>((k * (c + 3) + i * 7) % 256);
        }
        ltcl::data::write_png(
            (root / split / ("c" + std::to_string(c)) /
             (std::to_string(i) + ".png"))
                .string(),
            im);
      }
    }
  }
}

TEST(CliErrors, HostileFilesAndValuesGiveNamedErrors) {
  ltcl::test::TempDir dir;
  const fs::path d = dir.path();
  // A tiny model to run the good-checkpoint cases with.
  write_folder(d / "data");
  std::string out;
  ASSERT_EQ(
      run_command(
          "timeout 300 " + cli_path() +
              " train --config " LTCL_TEST_SOURCE_DIR
              "/configs/folder/ce.yaml --out " +
              (d / "run").string() + " --threads 1 --set data.root=" +
              (d / "data").string() +
              " model.arch=resnet20 data.image_size=16 schedule.epochs=1 "
              "schedule.warmup_epochs=0",
          &out),
      0)
      << out;
  const std::string good = (d / "run" / "best.pt").string();
  ASSERT_TRUE(fs::exists(good)) << out;

  std::ofstream(d / "garbage.pt") << "this is not a checkpoint";
  std::ofstream(d / "empty.pt");
  fs::create_directories(d / "dir.pt");
  torch::save(torch::ones({2}), (d / "tensor.pt").string());
  std::ofstream(d / "corrupt.png") << "\x89PNG\r\n\x1a\n but then nothing";
  fs::create_directories(d / "folder.jpg");
  fs::create_directories(d / "no_images");
  std::ofstream(d / "no_images" / "readme.txt") << "x";
  ASSERT_EQ(::mkfifo((d / "fifo.png").c_str(), 0644), 0);
  ASSERT_EQ(::mkfifo((d / "fifo.yaml").c_str(), 0644), 0);
  std::ofstream(d / "list.txt") << (d / "data" / "test" / "c0" / "0.png").string()
                                << "\nmissing.png 3\n";
  std::ofstream(d / "empty.yaml");
  {
    // The trained model's backbone as a state dict (model.pretrained).
    auto saved = ltcl::train::load_saved_model(good, "cpu");
    c10::Dict<std::string, at::Tensor> sd;
    for (const auto& kv : saved.model->named_parameters()) {
      sd.insert(kv.key(), kv.value().detach());
    }
    for (const auto& kv : saved.model->named_buffers()) {
      sd.insert(kv.key(), kv.value().detach());
    }
    auto bytes = torch::pickle_save(c10::IValue(sd));
    std::ofstream(d / "resnet20_backbone.pt", std::ios::binary)
        .write(bytes.data(), bytes.size());
    // ... which a resnet20 run starts from (backbone.* names load).
    ASSERT_EQ(
        run_command(
            "timeout 300 " + cli_path() +
                " train --config " LTCL_TEST_SOURCE_DIR
                "/configs/folder/ce.yaml --out " +
                (d / "from_pretrained").string() +
                " --threads 1 --set data.root=" + (d / "data").string() +
                " model.arch=resnet20 data.image_size=16 schedule.epochs=1 "
                "schedule.warmup_epochs=0 model.pretrained=" +
                (d / "resnet20_backbone.pt").string(),
            &out),
        0)
        << out;
    EXPECT_NE(out.find("model.pretrained: "), std::string::npos) << out;
    EXPECT_NE(out.find(" backbone tensors from "), std::string::npos) << out;
  }
  std::ofstream(d / "bad_value.yaml") << "train:\n  threads: 100000\n";

  const std::vector<Case> cases = {
      {"garbage checkpoint", "eval --checkpoint " + (d / "garbage.pt").string(),
       "garbage.pt"},
      {"empty checkpoint", "eval --checkpoint " + (d / "empty.pt").string(),
       "empty.pt"},
      {"directory as checkpoint",
       "eval --checkpoint " + (d / "dir.pt").string(), "dir.pt"},
      {"a plain torch.save file",
       "predict --checkpoint " + (d / "tensor.pt").string() + " " +
           (d / "data").string(),
       "tensor.pt' is a LibTorch / PyTorch zip archive"},
      {"export of garbage",
       "export --checkpoint " + (d / "garbage.pt").string() + " --out " +
           (d / "m.ts").string(),
       "garbage.pt"},
      {"missing image", "predict --checkpoint " + good + " " +
                            (d / "nope.png").string(),
       "nope.png"},
      {"corrupt PNG",
       "predict --checkpoint " + good + " " + (d / "corrupt.png").string(),
       "corrupt.png"},
      {"FIFO named like an image",
       "predict --checkpoint " + good + " " + (d / "fifo.png").string(),
       "fifo.png"},
      {"folder named like an image",
       "predict --checkpoint " + good + " " + (d / "folder.jpg").string(),
       "folder.jpg"},
      {"folder without images",
       "predict --checkpoint " + good + " " + (d / "no_images").string(),
       "no_images"},
      {"list naming a missing image",
       "predict --checkpoint " + good + " " + (d / "list.txt").string(),
       "list.txt:2"},
      {"output folder missing",
       "predict --checkpoint " + good + " --out " +
           (d / "no" / "such" / "p.csv").string() + " " +
           (d / "data" / "test").string(),
       "p.csv"},
      {"export into a missing folder",
       "export --checkpoint " + good + " --out " +
           (d / "no" / "such" / "m.ts").string(),
       "m.ts"},
      {"config is a folder", "train --config " + (d / "dir.pt").string(),
       "dir.pt"},
      {"config is a FIFO", "train --config " + (d / "fifo.yaml").string(),
       "fifo.yaml"},
      {"empty config", "train --config " + (d / "empty.yaml").string(),
       "empty.yaml"},
      {"a value that sizes threads",
       "train --config " + (d / "bad_value.yaml").string(),
       "train.threads: must be in [0, 1024], got 100000"},
      {"study of a missing config",
       "study --config " + (d / "none.yaml").string() + " --seeds 0 --out " +
           (d / "study").string(),
       "none.yaml"},
      {"data stats of a missing root",
       "data stats --dataset folder --root " + (d / "nowhere").string(),
       "nowhere"},
      {"an ltcl checkpoint as pretrained weights",
       "train --config " LTCL_TEST_SOURCE_DIR "/configs/folder/ce.yaml --out " +
           (d / "pre").string() + " --set data.root=" +
           (d / "data").string() + " model.arch=resnet20 model.pretrained=" +
           good,
       "model.pretrained: '" + good + "'"},
      {"pretrained weights of another architecture",
       "train --config " LTCL_TEST_SOURCE_DIR "/configs/folder/ce.yaml --out " +
           (d / "pre").string() + " --set data.root=" +
           (d / "data").string() + " model.arch=resnet32 model.pretrained=" +
           (d / "resnet20_backbone.pt").string(),
       "lacks"},
  };
  for (const auto& c : cases) {
    expect_named_error(c);
  }
}

// SIGTERM in the two phases without a step (issue 12): while the config and
// data are read (LTCL_DEBUG_TERM_AT=start) the run stops before its first
// step with a last.pt that --resume continues to the uninterrupted result;
// during the final evaluation and reports (=report) they are finished and
// the run exits 0 as finished.
TEST(CliErrors, SignalsWhileLoadingOrReportingLoseNothing) {
  ltcl::test::TempDir dir;
  const fs::path d = dir.path();
  write_folder(d / "data");
  auto train = [&](const std::string& env, const std::string& out,
                   const std::string& extra) {
    return env + " timeout 300 " + cli_path() +
        " train --config " LTCL_TEST_SOURCE_DIR "/configs/folder/ce.yaml --out " +
        (d / out).string() + " --threads 1 --set data.root=" +
        (d / "data").string() +
        " model.arch=resnet20 data.image_size=16 schedule.epochs=2 "
        "schedule.warmup_epochs=0 output.plots=false " + extra;
  };
  std::string out;
  ASSERT_EQ(run_command(train("", "straight", ""), &out), 0) << out;

  int rc = run_command(train("LTCL_DEBUG_TERM_AT=start", "start", ""), &out);
  EXPECT_EQ(rc, 3) << out;  // stopped, resumable
  EXPECT_NE(out.find("before the first step"), std::string::npos) << out;
  ASSERT_TRUE(fs::exists(d / "start" / "last.pt")) << out;
  EXPECT_FALSE(fs::exists(d / "start" / "metrics.json"));
  EXPECT_EQ(ltcl::train::load_checkpoint((d / "start" / "last.pt").string(),
                                         nullptr, nullptr)
                .global_step,
            0);
  ASSERT_EQ(run_command(train("", "start", "--resume"), &out), 0) << out;

  rc = run_command(train("LTCL_DEBUG_TERM_AT=report", "report", ""), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("the reports were finished first"), std::string::npos)
      << out;
  const auto straight = read_json(d / "straight" / "metrics.json");
  for (const char* run : {"start", "report"}) {
    const auto m = read_json(d / run / "metrics.json");
    EXPECT_DOUBLE_EQ(m["top1"].get<double>(), straight["top1"].get<double>())
        << run;
    EXPECT_EQ(m["selected_epoch"], straight["selected_epoch"]) << run;
    EXPECT_TRUE(fs::exists(d / run / "per_class.csv")) << run;
  }
}

}  // namespace
