// The Method lifecycle (method.h): the model at setup, train_mode() after
// the trainer sets training mode, epoch_begin / epoch_end around each
// epoch (a resumed run's first epoch from the step it continues at), and
// evaluations that give every module its own mode back
// (models::EvalModeGuard), so that a method's frozen backbone stays in eval
// mode with its BatchNorm statistics and weights bit-identical. An
// in-process run on in-memory data (no files, no ../shared) of a method
// registered from outside ltcl.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "ltcl/models/mode_guard.h"
#include "ltcl/models/network.h"
#include "ltcl/pipeline/streams.h"
#include "ltcl/train/config.h"
#include "ltcl/train/hooks.h"
#include "ltcl/train/method.h"
#include "ltcl/train/trainer.h"
#include "runs.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::models::NetworkImpl;

// What the test method saw, across its instances (the trainer makes one).
struct Seen {
  bool setup_had_model = false;
  int64_t setup_classes = 0;
  int train_mode_calls = 0;
  std::vector<std::string> epochs;       // "begin 0@0", "end 0", ...
  std::vector<bool> backbone_training;   // at each step
  std::vector<bool> classifier_training; // at each step
  std::map<std::string, torch::Tensor> frozen;  // the backbone at setup
  // Its own run hook: the epochs recorded with an evaluation, and the
  // test top-1 of the final report it saw at the end of the run.
  std::vector<int64_t> hook_evaluated_epochs;
  double hook_final_top1 = -1;
  double made_with_scale = 0;  // its own config keys, as the factory saw them
  std::string made_with_note;
};
Seen& seen() {
  static Seen s;
  return s;
}

class RecordingHook : public ltcl::train::hooks::Hook {
 public:
  void epoch_recorded(
      ltcl::train::hooks::Run& run,
      const ltcl::eval::EpochRecord& record) override {
    if (!record.accuracy.empty()) {
      seen().hook_evaluated_epochs.push_back(record.epoch);
    }
  }
  void run_end(ltcl::train::hooks::Run& run) override {
    seen().hook_final_top1 = run.report.top1;
  }
};

// A stage-2 style method: the backbone frozen (no gradients, eval mode),
// the classifier trained with cross-entropy on view 0.
class FrozenBackbone : public ltcl::train::Method {
 public:
  void attach(NetworkImpl& model) override {
    for (auto& p : model.named_parameters()) {
      if (p.key().rfind("backbone.", 0) == 0) {
        p.value().set_requires_grad(false);
      }
    }
  }
  void setup(const ltcl::train::MethodSetup& s) override {
    seen().setup_had_model = s.model != nullptr;
    if (s.model == nullptr) {
      return;
    }
    seen().setup_classes = s.model->options.num_classes();
    seen().frozen.clear();
    for (const auto& p : s.model->named_parameters()) {
      if (p.key().rfind("backbone.", 0) == 0) {
        seen().frozen[p.key()] = p.value().detach().clone();
      }
    }
    for (const auto& b : s.model->named_buffers()) {
      if (b.key().rfind("backbone.", 0) == 0) {
        seen().frozen[b.key()] = b.value().detach().clone();
      }
    }
  }
  void train_mode(NetworkImpl& model) override {
    ++seen().train_mode_calls;
    model.backbone.ptr()->eval();
  }
  void epoch_begin(const ltcl::train::EpochEnv& e) override {
    seen().epochs.push_back(
        "begin " + std::to_string(e.epoch) + "@" + std::to_string(e.first_step));
    EXPECT_NE(e.model, nullptr);
    EXPECT_GT(e.steps, 0);
  }
  void epoch_end(const ltcl::train::EpochEnv& e) override {
    seen().epochs.push_back("end " + std::to_string(e.epoch));
  }
  void add_run_hooks(
      std::vector<std::unique_ptr<ltcl::train::hooks::Hook>>& hooks) override {
    hooks.push_back(std::make_unique<RecordingHook>());
  }
  ltcl::train::LossParts step(
      const ltcl::pipeline::StepBatch& batch,
      const ltcl::train::StepEnv& env) override {
    seen().backbone_training.push_back(env.model->backbone.ptr()->is_training());
    seen().classifier_training.push_back(env.model->linear->is_training());
    auto o = env.forward(batch.main.views[0]);
    return {{"total", torch::nn::functional::cross_entropy(o.logits, batch.main.labels)}};
  }
};

const bool kRegistered = [] {
  ltcl::train::MethodInfo m;
  m.name = "test_frozen_backbone";
  m.summary = "tests/train/lifecycle.cpp: CE on a frozen backbone";
  // Keys of its own (config_schema.h: method_number / method_text).
  m.keys = [](ltcl::train::ConfigSchema& s) {
    s.add(ltcl::train::make_key<double>(
        "loss.test_frozen_scale",
        ltcl::train::method_number("loss.test_frozen_scale", 1.5),
        "A number of the test method.",
        ltcl::train::positive()));
    s.add(ltcl::train::make_key<std::string>(
        "loss.test_frozen_note",
        ltcl::train::method_text("loss.test_frozen_note", "plain"),
        "A choice of the test method.",
        {},
        {"plain", "fancy"}));
  };
  m.make = [](const ltcl::train::Config& c) {
    seen().made_with_scale =
        ltcl::train::method_number_value(c, "loss.test_frozen_scale");
    seen().made_with_note =
        ltcl::train::method_text_value(c, "loss.test_frozen_note");
    return std::make_unique<FrozenBackbone>();
  };
  ltcl::train::register_method(m);
  return true;
}();

ltcl::train::Config config(const fs::path& out) {
  return ltcl::test::stripes_config("test_frozen_backbone", out, 3, 0);
}

class MethodLifecycle : public ltcl::test::SeededTest {};

TEST_F(MethodLifecycle, HooksRunInOrderAndAFrozenBackboneStaysFrozen) {
  ASSERT_TRUE(kRegistered);
  seen() = Seen();
  ltcl::test::TempDir dir;
  ltcl::train::Trainer trainer(config(dir / "run"), ltcl::test::stripes_splits());
  auto r = trainer.run(false);
  ASSERT_FALSE(r.stopped);
  EXPECT_TRUE(seen().setup_had_model);
  EXPECT_EQ(seen().setup_classes, 3);
  EXPECT_EQ(seen().train_mode_calls, 1);
  EXPECT_EQ(
      seen().epochs,
      (std::vector<std::string>{
          "begin 0@0", "end 0", "begin 1@0", "end 1", "begin 2@0", "end 2"}));
  // Every step, the epochs after an evaluation included: the backbone in
  // eval mode, the classifier training.
  ASSERT_EQ(seen().backbone_training.size(), static_cast<size_t>(r.global_step));
  for (size_t i = 0; i < seen().backbone_training.size(); ++i) {
    EXPECT_FALSE(seen().backbone_training[i]) << "step " << i;
    EXPECT_TRUE(seen().classifier_training[i]) << "step " << i;
  }
  // The backbone bit-identical (weights and BatchNorm statistics), the
  // classifier trained.
  const auto& model = *trainer.model();
  ASSERT_FALSE(seen().frozen.empty());
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  for (const auto& [name, before] : seen().frozen) {
    const auto* now = params.find(name);
    if (now == nullptr) {
      now = buffers.find(name);
    }
    ASSERT_NE(now, nullptr) << name;
    EXPECT_TRUE(torch::equal(before, *now)) << name << " changed";
  }
  EXPECT_GT(model.named_parameters()["linear.weight"].abs().sum().item<double>(), 0);
  // The method's own hook ran after the standard ones: every evaluated
  // epoch recorded (eval_every 1), and at the end the final report.
  EXPECT_EQ(seen().hook_evaluated_epochs, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_DOUBLE_EQ(seen().hook_final_top1, r.report.top1);
  EXPECT_GE(seen().hook_final_top1, 0.0);
}

TEST_F(MethodLifecycle, AResumedEpochBeginsAtTheStepItContinues) {
  seen() = Seen();
  ltcl::test::TempDir dir;
  auto c = config(dir / "cut");
  ::setenv("LTCL_DEBUG_TERM_AT_STEP", "7", 1);  // 6 steps an epoch
  {
    ltcl::train::Trainer first(c, ltcl::test::stripes_splits());
    EXPECT_TRUE(first.run(false).stopped);
  }
  ::unsetenv("LTCL_DEBUG_TERM_AT_STEP");
  EXPECT_EQ(
      seen().epochs,
      (std::vector<std::string>{"begin 0@0", "end 0", "begin 1@0"}));
  seen().epochs.clear();
  ltcl::train::Trainer second(c, ltcl::test::stripes_splits());
  EXPECT_FALSE(second.run(true).stopped);
  EXPECT_EQ(
      seen().epochs,
      (std::vector<std::string>{"begin 1@1", "end 1", "begin 2@0", "end 2"}));
}

// A method registered outside ltcl declares YAML keys of its own: read from
// files and --set, defaulted, checked, written back by to_yaml (and only
// for that method), refused for another method, seen by its factory.
TEST(MethodKeys, AnOutsideMethodHasItsOwnYamlKeys) {
  ASSERT_TRUE(kRegistered);
  using ltcl::train::parse_config;
  auto c = parse_config(
      "loss: {method: test_frozen_backbone, test_frozen_scale: 2.5}\n", "m.yaml");
  EXPECT_DOUBLE_EQ(c.loss.extra_numbers.at("loss.test_frozen_scale"), 2.5);
  const std::string yaml = ltcl::train::to_yaml(c);
  EXPECT_NE(yaml.find("test_frozen_scale: 2.5"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("test_frozen_note: plain"), std::string::npos) << yaml;
  auto again = parse_config(yaml, "again.yaml");
  EXPECT_EQ(ltcl::train::to_yaml(again), yaml);
  // The defaults, and --set.
  auto d = ltcl::train::default_config("test_frozen_backbone");
  ltcl::train::validate(d);
  auto defaults = parse_config(ltcl::train::to_yaml(d), "d.yaml");
  EXPECT_DOUBLE_EQ(
      defaults.loss.extra_numbers.at("loss.test_frozen_scale"), 1.5);
  EXPECT_EQ(defaults.loss.extra_texts.at("loss.test_frozen_note"), "plain");
  // The factory sees the values.
  seen() = Seen();
  c.loss.extra_texts["loss.test_frozen_note"] = "fancy";
  ltcl::train::make_method(c);
  EXPECT_DOUBLE_EQ(seen().made_with_scale, 2.5);
  EXPECT_EQ(seen().made_with_note, "fancy");
  // Checked and named; absent from, and refused for, another method.
  ltcl::test::expect_error(
      [] {
        parse_config(
            "loss: {method: test_frozen_backbone, test_frozen_scale: -1}\n",
            "bad.yaml");
      },
      {"bad.yaml line 1", "loss.test_frozen_scale", "must be > 0"});
  ltcl::test::expect_error(
      [] {
        parse_config(
            "loss: {method: test_frozen_backbone, test_frozen_note: odd}\n",
            "bad.yaml");
      },
      {"loss.test_frozen_note", "odd"});
  EXPECT_EQ(
      ltcl::train::to_yaml(ltcl::train::default_config("ce"))
          .find("test_frozen"),
      std::string::npos);
  ltcl::test::expect_error(
      [] { parse_config("loss: {method: ce, test_frozen_scale: 2}\n", "ce.yaml"); },
      {"loss.test_frozen_scale has no effect with loss.method 'ce'"});
  ltcl::test::expect_error(
      [] { ltcl::train::method_number("test_frozen_scale", 1); },
      {"loss.<something>"});
  // A config built in code that never saw the keys gets the fallbacks.
  ltcl::train::Config bare;
  EXPECT_DOUBLE_EQ(
      ltcl::train::method_number_value(bare, "loss.test_frozen_scale"), 1.5);
  EXPECT_EQ(
      ltcl::train::method_text_value(bare, "loss.test_frozen_note"), "plain");
  ltcl::test::expect_error(
      [&] { ltcl::train::method_number_value(bare, "loss.nosuch"); },
      {"loss.nosuch"});
}

// The guard alone: eval mode inside, each module's own mode after, also
// when the scope is left by an exception.
TEST(EvalModeGuard, RestoresEachModulesOwnMode) {
  NetworkImpl net(ltcl::models::NetworkOptions()
                      .arch("resnet20")
                      .num_classes(3)
                      .in_channels(1)
                      .proj_dim(8));
  net.train();
  net.backbone.ptr()->eval();  // frozen part
  try {
    ltcl::models::EvalModeGuard guard(net);
    EXPECT_FALSE(net.is_training());
    EXPECT_FALSE(net.linear->is_training());
    EXPECT_FALSE(net.head->is_training());
    throw std::runtime_error("evaluation failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(net.is_training());
  EXPECT_TRUE(net.linear->is_training());
  EXPECT_TRUE(net.head->is_training());
  EXPECT_FALSE(net.backbone.ptr()->is_training());
  for (const auto& m : net.backbone.ptr()->modules()) {
    EXPECT_FALSE(m->is_training());
  }
}

}  // namespace
