#include "ltcl/train/checkpoint.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <cmath>
#include <csignal>
#include <limits>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"
#include "ltcl/util/record_file.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::train::Checkpoint;
using ltcl::train::load_checkpoint;
using ltcl::train::save_checkpoint;

torch::nn::Sequential make_model() {
  return torch::nn::Sequential(
      torch::nn::Linear(4, 8),
      torch::nn::BatchNorm1d(8),
      torch::nn::ReLU(),
      torch::nn::Linear(8, 3));
}

void train_steps(
    torch::nn::Sequential& model,
    torch::optim::SGD& opt,
    int steps,
    int seed) {
  torch::manual_seed(seed);
  for (int i = 0; i < steps; ++i) {
    auto x = torch::randn({6, 4});
    auto y = torch::randint(0, 3, {6});
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
  }
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const ltcl::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ltcl::Error";
  return "";
}

class CheckpointTest : public ltcl::test::SeededTest {};

TEST_F(CheckpointTest, RoundTripContinuesIdentically) {
  ltcl::test::TempDir dir;
  auto a = make_model();
  torch::optim::SGD opt_a(
      a->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  train_steps(a, opt_a, 3, 1);

  Checkpoint state;
  state.epoch = 4;
  state.step_in_epoch = 17;
  state.global_step = 123;
  state.best_metric = 71.5;
  state.best_epoch = 3;
  state.config_yaml = "optim:\n  lr: 0.1\n";
  state.samplers["train"] = {5, 3, 1, 0, -7};
  state.samplers["balanced"] = {};
  state.std_rng = "12345 678";
  state.history_json = "[{\"epoch\":0}]";
  state.tensors["queue"] = torch::arange(6).reshape({2, 3}).to(torch::kFloat);
  ltcl::train::capture_rng(state);
  auto path = (dir / "last.pt").string();
  save_checkpoint(path, *a, &opt_a, state);

  // A different model and a fresh optimizer take the saved state.
  torch::manual_seed(99);
  auto b = make_model();
  torch::optim::SGD opt_b(
      b->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  Checkpoint back = load_checkpoint(path, b.ptr().get(), &opt_b);
  EXPECT_EQ(back.epoch, 4);
  EXPECT_EQ(back.step_in_epoch, 17);
  EXPECT_EQ(back.global_step, 123);
  EXPECT_DOUBLE_EQ(back.best_metric, 71.5);
  EXPECT_EQ(back.best_epoch, 3);
  EXPECT_EQ(back.config_yaml, state.config_yaml);
  EXPECT_EQ(back.samplers["train"], state.samplers["train"]);
  EXPECT_TRUE(back.samplers.count("balanced"));
  EXPECT_TRUE(back.samplers["balanced"].empty());
  EXPECT_EQ(back.std_rng, "12345 678");
  EXPECT_EQ(back.history_json, state.history_json);
  EXPECT_TRUE(torch::equal(back.tensors["queue"], state.tensors["queue"]));

  auto pa = a->named_parameters();
  auto pb = b->named_parameters();
  for (const auto& kv : pa) {
    EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
  }
  for (const auto& kv : a->named_buffers()) {
    EXPECT_TRUE(torch::equal(kv.value(), b->named_buffers()[kv.key()]))
        << kv.key();
  }
  // Momentum buffers came back: the next steps agree exactly.
  train_steps(a, opt_a, 2, 5);
  train_steps(b, opt_b, 2, 5);
  for (const auto& kv : pa) {
    EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
  }
  // ... and they differ from a fresh optimizer's steps (momentum matters).
  torch::manual_seed(99);
  auto c = make_model();
  torch::optim::SGD opt_c(
      c->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  load_checkpoint(path, c.ptr().get(), nullptr);
  train_steps(c, opt_c, 2, 5);
  EXPECT_FALSE(torch::equal(
      c->named_parameters()["0.weight"], pa["0.weight"]));
}

TEST_F(CheckpointTest, RandomStateRestores) {
  Checkpoint state;
  ltcl::train::capture_rng(state);
  auto first = torch::rand({5});
  ltcl::train::restore_rng(state);
  auto again = torch::rand({5});
  EXPECT_TRUE(torch::equal(first, again));
}

TEST_F(CheckpointTest, CorruptTruncatedAndForeignFilesAreErrors) {
  ltcl::test::TempDir dir;
  auto m = make_model();
  auto good = (dir / "good.pt").string();
  save_checkpoint(good, *m, nullptr, Checkpoint{});

  std::string bytes = read_all(good);
  auto truncated = (dir / "truncated.pt").string();
  std::ofstream(truncated, std::ios::binary)
      << bytes.substr(0, bytes.size() / 2);
  std::string msg =
      error_of([&] { load_checkpoint(truncated, m.ptr().get(), nullptr); });
  EXPECT_NE(msg.find("'" + truncated + "' is truncated"), std::string::npos)
      << msg;

  // One byte of a weight changed: its record's CRC names it.
  std::string flipped = bytes;
  flipped[flipped.size() - 3] ^= 0x01;
  auto damaged = (dir / "damaged.pt").string();
  std::ofstream(damaged, std::ios::binary) << flipped;
  msg = error_of([&] { load_checkpoint(damaged, m.ptr().get(), nullptr); });
  EXPECT_NE(msg.find("damaged.pt' is damaged: record '"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("fails its CRC-32 check"), std::string::npos) << msg;

  auto garbage = (dir / "garbage.pt").string();
  std::ofstream(garbage) << "this is not a checkpoint";
  msg = error_of([&] { load_checkpoint(garbage, m.ptr().get(), nullptr); });
  EXPECT_NE(msg.find("garbage.pt' is not an ltcl checkpoint"),
            std::string::npos)
      << msg;

  // LibTorch archives (ltcl's format 1, or torch.save files) are refused by
  // their signature: their loader runs code stored in them.
  auto foreign = (dir / "foreign.pt").string();
  torch::save(torch::ones({2}), foreign);
  msg = error_of([&] { load_checkpoint(foreign, m.ptr().get(), nullptr); });
  EXPECT_NE(msg.find("foreign.pt' is a LibTorch / PyTorch zip archive"),
            std::string::npos)
      << msg;

  msg = error_of(
      [&] { load_checkpoint((dir / "none.pt").string(), nullptr, nullptr); });
  EXPECT_NE(msg.find("no checkpoint file"), std::string::npos) << msg;
  msg = error_of([&] { load_checkpoint(dir.path().string(), nullptr, nullptr); });
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;

  // A checkpoint of another architecture does not load silently.
  torch::nn::Sequential other(torch::nn::Linear(4, 5));
  msg = error_of([&] { load_checkpoint(good, other.ptr().get(), nullptr); });
  EXPECT_NE(msg.find("good.pt' does not match the model: '0.weight' has shape [8, 4] in the file, [5, 4] in the model"), std::string::npos) << msg;
  // Asking for an optimizer state that was not saved.
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1));
  msg = error_of([&] { load_checkpoint(good, m.ptr().get(), &opt); });
  EXPECT_NE(msg.find("holds no optimizer state"), std::string::npos) << msg;
}

TEST_F(CheckpointTest, MismatchesAreNamedAndLeaveTheModelUntouched) {
  ltcl::test::TempDir dir;
  auto path = (dir / "last.pt").string();
  auto saved = make_model();
  torch::optim::SGD opt(
      saved->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  train_steps(saved, opt, 2, 1);
  save_checkpoint(path, *saved, &opt, Checkpoint{});

  // The model has a tensor the file lacks: the first tensors of the model
  // match, the error comes before any of them is copied.
  torch::manual_seed(5);
  auto bigger = torch::nn::Sequential(
      torch::nn::Linear(4, 8),
      torch::nn::BatchNorm1d(8),
      torch::nn::ReLU(),
      torch::nn::Linear(8, 3),
      torch::nn::Linear(3, 2));
  const auto before = bigger->named_parameters()["0.weight"].clone();
  std::string msg =
      error_of([&] { load_checkpoint(path, bigger.ptr().get(), nullptr); });
  EXPECT_NE(msg.find("does not match the model: no parameter '4.weight'"),
            std::string::npos)
      << msg;
  EXPECT_TRUE(torch::equal(bigger->named_parameters()["0.weight"], before));

  // The file has a tensor the model lacks.
  auto smaller = torch::nn::Sequential(
      torch::nn::Linear(4, 8), torch::nn::BatchNorm1d(8));
  msg = error_of([&] { load_checkpoint(path, smaller.ptr().get(), nullptr); });
  EXPECT_NE(msg.find("the file holds '3.weight', which the model lacks"),
            std::string::npos)
      << msg;

  // Same shapes, another dtype.
  auto dbl = make_model();
  dbl->to(torch::kDouble);
  msg = error_of([&] { load_checkpoint(path, dbl.ptr().get(), nullptr); });
  EXPECT_NE(msg.find("'0.weight' is float32 in the file, Double in the model"),
            std::string::npos)
      << msg;

  // An optimizer of another layout (two groups).
  auto m = make_model();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto ps = m->parameters();
  groups.emplace_back(std::vector<at::Tensor>(ps.begin(), ps.begin() + 2));
  groups.emplace_back(std::vector<at::Tensor>(ps.begin() + 2, ps.end()));
  torch::optim::SGD two(std::move(groups), torch::optim::SGDOptions(0.1));
  msg = error_of([&] { load_checkpoint(path, m.ptr().get(), &two); });
  EXPECT_NE(msg.find("does not match the optimizer: 1 parameter groups in "
                     "the file, 2 here"),
            std::string::npos)
      << msg;
}

TEST_F(CheckpointTest, WellFormedFilesWithBadContentGiveNamedErrors) {
  // Valid containers (every CRC right) whose table or records are not what
  // ltcl writes: each is an ltcl::Error naming the file and the field.
  ltcl::test::TempDir dir;
  auto write = [&](const std::string& name, const nlohmann::json& meta,
                   const std::vector<ltcl::util::RecordSource>& recs) {
    const auto path = (dir / name).string();
    ltcl::util::atomic_write(path, [&](const ltcl::util::WriteBytes& w) {
      ltcl::util::write_record_file(w, meta, recs);
    });
    return path;
  };
  nlohmann::json good = {
      {"kind", "ltcl checkpoint"}, {"version", 2}, {"epoch", 1},
      {"step_in_epoch", 0}, {"global_step", 4}, {"best_metric", -1.0},
      {"best_epoch", -1}, {"config_yaml", ""}, {"std_rng", ""},
      {"history_json", "[]"}, {"model_info", ""}};
  EXPECT_EQ(load_checkpoint(write("ok.pt", good, {}), nullptr, nullptr)
                .global_step,
            4);
  auto with = [&](const char* key, const nlohmann::json& v) {
    auto m = good;
    m[key] = v;
    return m;
  };
  std::string msg = error_of([&] {
    load_checkpoint(write("kind.pt", with("kind", 5), {}), nullptr, nullptr);
  });
  EXPECT_NE(msg.find("kind.pt' is not an ltcl checkpoint"), std::string::npos)
      << msg;
  msg = error_of([&] {
    load_checkpoint(write("v.pt", with("version", 7), {}), nullptr, nullptr);
  });
  EXPECT_NE(msg.find("has checkpoint version 7, this build reads 2"),
            std::string::npos)
      << msg;
  msg = error_of([&] {
    load_checkpoint(write("e.pt", with("epoch", "one"), {}), nullptr, nullptr);
  });
  EXPECT_NE(msg.find("e.pt': its table has no valid 'epoch'"),
            std::string::npos)
      << msg;
  msg = error_of([&] {
    load_checkpoint(write("neg.pt", with("global_step", -3), {}), nullptr,
                    nullptr);
  });
  EXPECT_NE(msg.find("negative epoch or step"), std::string::npos) << msg;
  const float f[2] = {1, 2};
  msg = error_of([&] {
    load_checkpoint(
        write("s.pt", good,
              {{"sampler/train", ltcl::util::DType::kFloat32, {2}, f}}),
        nullptr, nullptr);
  });
  EXPECT_NE(msg.find("sampler 'train' is not a list of int64"),
            std::string::npos)
      << msg;
}

TEST_F(CheckpointTest, WriteErrorsKeepThePreviousFileAndLeaveNoTemporary) {
  // A full disk, as the kernel reports a file-size limit: the write fails
  // part way. The error names the file, the old checkpoint stays and no
  // temporary file is left.
  ltcl::test::TempDir dir;
  auto path = (dir / "last.pt").string();
  auto m = make_model();
  Checkpoint state;
  state.epoch = 1;
  save_checkpoint(path, *m, nullptr, state);
  const std::string before = read_all(path);
  state.epoch = 2;
  state.tensors["big"] = torch::zeros({1 << 16});  // 256 KB more

  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg = error_of([&] { save_checkpoint(path, *m, nullptr, state); });
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_NE(msg.find("atomic_write - writing '" + path +
                     "' failed: File too large (the previous file is kept"),
            std::string::npos)
      << msg;
  EXPECT_EQ(read_all(path), before);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename(), "last.pt");
    ++files;
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(load_checkpoint(path, m.ptr().get(), nullptr).epoch, 1);
}

TEST_F(CheckpointTest, NonFiniteStateIsNeverWritten) {
  // A diverged model (an inf weight, a NaN running mean or momentum) must
  // not replace the last good checkpoint.
  ltcl::test::TempDir dir;
  auto m = make_model();
  torch::optim::SGD opt(
      m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  train_steps(m, opt, 2, 1);
  const auto path = (dir / "last.pt").string();
  save_checkpoint(path, *m, &opt, Checkpoint{});
  const std::string good = read_all(path);
  {
    torch::NoGradGuard g;
    m->parameters()[2][1] = std::numeric_limits<float>::infinity();
  }
  std::string msg =
      error_of([&] { save_checkpoint(path, *m, &opt, Checkpoint{}); });
  EXPECT_NE(msg.find("'" + path + "' not written: parameter '1.weight' holds "
                     "NaN or infinite values"),
            std::string::npos)
      << msg;
  EXPECT_EQ(read_all(path), good);
  m = make_model();
  torch::optim::SGD opt2(
      m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  train_steps(m, opt2, 1, 2);
  {
    torch::NoGradGuard g;
    m[1]->named_buffers()["running_mean"][0] = NAN;
  }
  msg = error_of([&] { save_checkpoint(path, *m, &opt2, Checkpoint{}); });
  EXPECT_NE(msg.find("buffer '1.running_mean'"), std::string::npos) << msg;
  m = make_model();
  torch::optim::SGD opt3(
      m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  train_steps(m, opt3, 1, 3);
  for (auto& [key, st] : opt3.state()) {
    static_cast<torch::optim::SGDParamState&>(*st).momentum_buffer().fill_(NAN);
    break;
  }
  msg = error_of([&] { save_checkpoint(path, *m, &opt3, Checkpoint{}); });
  EXPECT_NE(msg.find("optimizer momentum"), std::string::npos) << msg;
  EXPECT_EQ(read_all(path), good);
}

TEST(AtomicWrite, WriterExceptionKeepsPreviousFile) {
  ltcl::test::TempDir dir;
  auto path = (dir / "last.pt").string();
  ltcl::util::atomic_write_text(path, "old content");
  EXPECT_THROW(
      ltcl::util::atomic_write(
          path,
          [](const ltcl::util::WriteBytes& write) {
            write("new par", 7);
            throw std::runtime_error("crash mid-write");
          }),
      std::runtime_error);
  EXPECT_EQ(read_all(path), "old content");
  // No temporary file left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  ltcl::util::atomic_write_text(path, "new content");
  EXPECT_EQ(read_all(path), "new content");
}

TEST_F(CheckpointTest, ProcessDyingMidWriteKeepsPreviousCheckpoint) {
  ltcl::test::TempDir dir;
  auto path = (dir / "last.pt").string();
  auto m = make_model();
  Checkpoint state;
  state.epoch = 2;
  save_checkpoint(path, *m, nullptr, state);
  std::string before = read_all(path);

  // The child writes half a new file and dies without any clean-up, as
  // SIGKILL or a power cut would leave it.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ltcl::util::atomic_write(path, [&](const ltcl::util::WriteBytes& write) {
      write(before.data(), before.size() / 2);
      _exit(3);
    });
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 3);
  EXPECT_EQ(read_all(path), before);
  Checkpoint back = load_checkpoint(path, m.ptr().get(), nullptr);
  EXPECT_EQ(back.epoch, 2);
}

}  // namespace
