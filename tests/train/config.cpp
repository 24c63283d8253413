#include "ltcl/train/config.h"
#include "ltcl/train/method.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <gtest/gtest.h>

#include "ltcl/data/image_io.h"
#include "ltcl/train/data.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using ltcl::Error;
using ltcl::train::Config;
using ltcl::train::load_config;
using ltcl::train::parse_config;
using ltcl::train::to_yaml;

// The message of the ltcl::Error thrown by `f`; fails the test otherwise.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ltcl::Error";
  return "";
}

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

TEST(Config, DefaultsAreValid) {
  Config c = parse_config("", "empty.yaml");
  EXPECT_EQ(c.loss.method, "ce");
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.1);
  EXPECT_EQ(c.schedule.epochs, 200);
  EXPECT_NO_THROW(ltcl::train::validate(c));
}

TEST(Config, ParsesSections) {
  Config c = parse_config(
      "data:\n"
      "  dataset: fashion_mnist\n"
      "  imbalance_factor: 50\n"
      "  views: [cifar_weak, simclr, simclr]\n"
      "loss:\n"
      "  method: bcl\n"
      "  alpha: 2\n"
      "  beta: 0.6\n"
      "optim:\n"
      "  lr: 0.15\n"
      "  nesterov: true\n"
      "schedule:\n"
      "  kind: multistep\n"
      "  epochs: 10\n"
      "  milestones: [4, 8]\n",
      "a.yaml");
  EXPECT_EQ(c.data.dataset, "fashion_mnist");
  EXPECT_DOUBLE_EQ(c.data.imbalance_factor, 50.0);
  ASSERT_EQ(c.data.views.size(), 3u);
  EXPECT_EQ(c.data.views[1], "simclr");
  EXPECT_EQ(c.loss.method, "bcl");
  EXPECT_DOUBLE_EQ(c.loss.alpha, 2.0);
  EXPECT_TRUE(c.optim.nesterov);
  EXPECT_EQ(c.schedule.milestones, (std::vector<int64_t>{4, 8}));
}

TEST(Config, MethodPresetsFillUnsetSwitches) {
  const std::string views = "data: {views: [cifar_weak, simclr, simclr]}\n";
  Config bcl = parse_config(views + "loss: {method: bcl}\n", "x");
  EXPECT_TRUE(bcl.loss.contrastive.class_averaging());
  EXPECT_TRUE(bcl.loss.contrastive.class_complement());
  EXPECT_DOUBLE_EQ(bcl.loss.contrastive.balance(), 0.0);
  EXPECT_DOUBLE_EQ(bcl.loss.contrastive.feature_scale(), 1.0);
  Config both = parse_config(views + "loss: {method: bcl_rcl}\n", "x");
  EXPECT_TRUE(both.loss.contrastive.class_averaging());
  EXPECT_DOUBLE_EQ(both.loss.contrastive.balance(), 1.0);
  EXPECT_GT(both.loss.contrastive.feature_scale(), 1.0);
  EXPECT_GT(both.loss.contrastive.margin_max(), 0.0);
  Config rcl = parse_config(views + "loss: {method: rcl}\n", "x");
  EXPECT_FALSE(rcl.loss.contrastive.class_averaging());
  EXPECT_FALSE(rcl.loss.contrastive.class_complement());
  EXPECT_DOUBLE_EQ(rcl.loss.contrastive.balance(), 1.0);
  // An explicit switch wins over the preset (ablations).
  Config abl = parse_config(
      views + "loss: {method: bcl_rcl, balance: 0, margin_max: 0.3}\n", "x");
  EXPECT_DOUBLE_EQ(abl.loss.contrastive.balance(), 0.0);
  EXPECT_DOUBLE_EQ(abl.loss.contrastive.margin_max(), 0.3);
  EXPECT_TRUE(abl.loss.contrastive.class_complement());
}

TEST(Config, UnknownKeyNamesFileLineAndClosestKey) {
  std::string msg = error_of([] {
    parse_config(
        "optim:\n"
        "  lr: 0.1\n"
        "  momentun: 0.9\n",
        "recipe.yaml");
  });
  EXPECT_NE(msg.find("recipe.yaml line 3, column 3"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("'optim.momentun'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'optim.momentum'"), std::string::npos)
      << msg;
}

TEST(Config, UnknownSectionSuggestsSection) {
  std::string msg = error_of([] { parse_config("optm:\n  lr: 1\n", "f.yaml"); });
  EXPECT_NE(msg.find("f.yaml line 1, column 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'optim'"), std::string::npos) << msg;
}

TEST(Config, WrongTypes) {
  std::string msg = error_of([] {
    parse_config(
        "optim:\n"
        "  lr: fast\n"
        "  batch_size: 12.5\n"
        "  nesterov: maybe\n"
        "schedule:\n"
        "  milestones: 3\n",
        "t.yaml");
  });
  EXPECT_NE(msg.find("4 problems"), std::string::npos) << msg;
  EXPECT_NE(
      msg.find("t.yaml line 2, column 3: optim.lr (float): expected a "
               "finite number, got 'fast'"),
      std::string::npos)
      << msg;
  EXPECT_NE(
      msg.find("optim.batch_size (int): expected an integer, got '12.5'"),
      std::string::npos)
      << msg;
  EXPECT_NE(msg.find("optim.nesterov (bool)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("t.yaml line 6"), std::string::npos) << msg;
  EXPECT_NE(msg.find("schedule.milestones (list of int)"), std::string::npos)
      << msg;
}

TEST(Config, BadChoiceNamesClosest) {
  std::string msg = error_of(
      [] { parse_config("loss:\n  method: bcl-rcl\n", "c.yaml"); });
  EXPECT_NE(msg.find("c.yaml line 2, column 3: loss.method"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("closest: 'bcl_rcl'"), std::string::npos) << msg;
}

TEST(Config, OutOfRangeValues) {
  std::string msg = error_of([] {
    parse_config(
        "optim:\n"
        "  lr: -0.1\n"
        "  momentum: 1.0\n"
        "schedule:\n"
        "  epochs: 10\n"
        "  warmup_epochs: 20\n"
        "data:\n"
        "  imbalance_factor: 0.5\n",
        "r.yaml");
  });
  EXPECT_NE(
      msg.find("r.yaml line 2, column 3: optim.lr: must be > 0, got -0.1"),
      std::string::npos)
      << msg;
  EXPECT_NE(msg.find("optim.momentum: must be in [0, 1), got 1"),
            std::string::npos)
      << msg;
  EXPECT_NE(
      msg.find("schedule.warmup_epochs: must be in [0, schedule.epochs = "
               "10], got 20"),
      std::string::npos)
      << msg;
  EXPECT_NE(msg.find("data.imbalance_factor: must be >= 1, got 0.5"),
            std::string::npos)
      << msg;
}

TEST(Config, MilestonesMustIncreaseWithinEpochs) {
  std::string msg = error_of([] {
    parse_config(
        "schedule: {kind: multistep, epochs: 10, milestones: [8, 4]}\n",
        "m.yaml");
  });
  EXPECT_NE(msg.find("schedule.milestones: must be strictly increasing"),
            std::string::npos)
      << msg;
  msg = error_of([] {
    parse_config(
        "schedule: {kind: multistep, epochs: 10, milestones: [4, 11]}\n",
        "m.yaml");
  });
  EXPECT_NE(msg.find("[1, 10], got [4, 11]"), std::string::npos) << msg;
}

TEST(Config, MethodConsistency) {
  // ResCom needs two views.
  std::string msg = error_of([] {
    parse_config("loss: {method: rescom}\n", "v.yaml");
  });
  EXPECT_NE(
      msg.find("data.views: loss.method 'rescom' needs 2 view(s), got 1"),
      std::string::npos)
      << msg;
  // BCL needs three.
  msg = error_of([] {
    parse_config("loss: {method: bcl}\ndata: {views: [cifar_weak, simclr]}\n", "v.yaml");
  });
  EXPECT_NE(msg.find("v.yaml line 2, column 8: data.views"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("needs 3 view(s), got 2"), std::string::npos) << msg;
  // A key of another method would be silently ignored: an error.
  msg = error_of([] {
    parse_config("loss:\n  method: ce\n  focal_gamma: 2\n", "g.yaml");
  });
  EXPECT_NE(
      msg.find("g.yaml line 3, column 3: loss.focal_gamma has no effect with "
               "loss.method 'ce'"),
      std::string::npos)
      << msg;
  // DRW must switch on inside the run.
  msg = error_of([] {
    parse_config(
        "loss: {method: ldam_drw, drw_epoch: 10}\nschedule: {epochs: 10}\n"
        "model: {classifier: cosine, cosine_scale: 1}\n",
        "d.yaml");
  });
  EXPECT_NE(msg.find("loss.drw_epoch must be < schedule.epochs = 10, got 10"),
            std::string::npos)
      << msg;
  // The preset gives the cosine classifier at scale 1; another one set
  // explicitly is refused.
  EXPECT_NO_THROW(
      parse_config("loss: {method: ldam_drw, drw_epoch: 1}\n", "l.yaml"));
  msg = error_of([] {
    parse_config(
        "loss: {method: ldam_drw, drw_epoch: 1}\nmodel: {classifier: linear}\n",
        "l.yaml");
  });
  EXPECT_NE(msg.find("'ldam_drw' needs model.classifier cosine"),
            std::string::npos)
      << msg;
  // ResCom's k_pos cannot exceed the queue.
  msg = error_of([] {
    parse_config(
        "loss: {method: rescom, rescom_queue_size: 2, rescom_k_pos: 3}\n"
        "data: {views: [cifar_weak, cifar_weak]}\n",
        "q.yaml");
  });
  EXPECT_NE(msg.find("loss.rescom_k_pos: must be in [1, "
                     "loss.rescom_queue_size = 2], got 3"),
            std::string::npos)
      << msg;
  // Hybrid builds its own class-balanced branch on the random sampler.
  msg = error_of([] {
    parse_config(
        "loss: {method: hybrid_sc}\n"
        "data: {views: [cifar_weak, simclr, simclr], sampler: class_balanced}\n",
        "h.yaml");
  });
  EXPECT_NE(msg.find("needs the instance-balanced 'random' sampler"),
            std::string::npos)
      << msg;
  msg = error_of([] {
    parse_config("optim: {momentum: 0, nesterov: true}\n", "n.yaml");
  });
  EXPECT_NE(msg.find("optim.nesterov needs optim.momentum > 0"),
            std::string::npos)
      << msg;
  msg = error_of([] { parse_config("train: {amp: fp16}\n", "a.yaml"); });
  EXPECT_NE(msg.find("train.amp 'fp16' needs"), std::string::npos) << msg;
}

TEST(Config, SyntaxErrorNamesLine) {
  std::string msg = error_of(
      [] { parse_config("optim:\n  lr: [0.1\n", "s.yaml"); });
  EXPECT_NE(msg.find("s.yaml line"), std::string::npos) << msg;
  EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
  msg = error_of([] { parse_config("optim: 3\n", "s.yaml"); });
  EXPECT_NE(msg.find("section 'optim' must be a mapping"), std::string::npos)
      << msg;
}

TEST(Config, Overrides) {
  Config c = parse_config(
      "optim: {lr: 0.1}\n",
      "o.yaml",
      {"optim.lr=0.5",
       "train.seed=7",
       "data.views=[cifar_weak, simclr, simclr]",
       "loss.method=bcl",
       "output.dir=/tmp/run a"});
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.5);
  EXPECT_EQ(c.train.seed, 7);
  EXPECT_EQ(c.data.views, (std::vector<std::string>{"cifar_weak", "simclr", "simclr"}));
  EXPECT_EQ(c.output.dir, "/tmp/run a");
  EXPECT_TRUE(c.loss.contrastive.class_averaging());  // preset follows the overridden method
  std::string msg =
      error_of([] { parse_config("", "o.yaml", {"optim.lrate=1"}); });
  EXPECT_NE(
      msg.find("--set optim.lrate=1: unknown key 'optim.lrate'; did you mean "
               "'optim.lr'?"),
      std::string::npos)
      << msg;
  msg = error_of([] { parse_config("", "o.yaml", {"optim.lr"}); });
  EXPECT_NE(msg.find("--set optim.lr: expected key.sub=value"),
            std::string::npos)
      << msg;
  msg = error_of([] { parse_config("", "o.yaml", {"train.seed=-3"}); });
  EXPECT_NE(msg.find("--set train.seed=-3: train.seed: must be >= 0, got -3"),
            std::string::npos)
      << msg;
}

TEST(Config, UnknownRecipesAndSectionValuesNameTheKey) {
  // A recipe make_recipe does not know is a config error naming the key
  // (it used to surface at run time as "make_recipe - unknown recipe").
  std::string msg = error_of([] {
    parse_config("data: {views: [cifar_weak, simclr, simclrr]}\n", "r.yaml");
  });
  EXPECT_NE(msg.find("data.views: unknown recipe 'simclrr' (known: "
                     "cifar_weak, "),
            std::string::npos)
      << msg;
  msg = error_of([] { parse_config("data: {eval_recipe: evil}\n", "r.yaml"); });
  EXPECT_NE(msg.find("data.eval_recipe: unknown recipe 'evil'"),
            std::string::npos)
      << msg;
  // A value for a whole section: not "did you mean 'optim'?".
  msg = error_of([] { parse_config("", "o.yaml", {"optim=5"}); });
  EXPECT_NE(msg.find("--set optim=5: 'optim' is a section, not a key: set "
                     "one of its keys (e.g. 'optim."),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("did you mean"), std::string::npos) << msg;
}

TEST(Config, RoundTrip) {
  Config c = parse_config(
      "data: {dataset: cifar100, views: [cifar_weak, simclr, simclr], "
      "root: '', test_per_class: 5}\n"
      "loss: {method: bcl_rcl, alpha: 2, beta: 0.35, temperature: 0.07, "
      "margin_max: 0.2, feature_scale: 2}\n"
      "optim: {lr: 0.15, weight_decay: 0.0005, no_decay_bn_bias: true}\n"
      "schedule: {kind: multistep, epochs: 200, milestones: [120, 160]}\n"
      "train: {amp: bf16, seed: 3}\n"
      "output: {dir: 'runs/x y'}\n",
      "rt.yaml");
  std::string text = to_yaml(c);
  Config back = parse_config(text, "printed");
  EXPECT_EQ(to_yaml(back), text);
  EXPECT_EQ(back.data.dataset, "cifar100");
  EXPECT_EQ(back.data.root, "");
  EXPECT_EQ(back.data.views, c.data.views);
  EXPECT_DOUBLE_EQ(back.loss.contrastive.temperature(), 0.07);
  EXPECT_DOUBLE_EQ(back.loss.contrastive.margin_max(), 0.2);
  EXPECT_DOUBLE_EQ(back.loss.contrastive.feature_scale(), 2.0);
  EXPECT_DOUBLE_EQ(back.optim.weight_decay, 0.0005);
  EXPECT_TRUE(back.optim.no_decay_bn_bias);
  EXPECT_EQ(back.schedule.milestones, (std::vector<int64_t>{120, 160}));
  EXPECT_EQ(back.train.amp, "bf16");
  EXPECT_EQ(back.output.dir, "runs/x y");
  // Keys of other methods are not printed (they would be rejected).
  EXPECT_EQ(text.find("focal_gamma"), std::string::npos);
  EXPECT_NE(text.find("margin_max: 0.2"), std::string::npos) << text;
}

TEST(Config, RoundTripEveryMethod) {
  for (const char* m :
       {"ce", "la", "bs", "ldam_drw", "focal", "supcon_la", "bcl", "bcl_rcl",
        "rcl", "rescom", "hybrid_sc", "hybrid_psc"}) {
    int64_t v = ltcl::train::method_info(m).traits.views;
    std::string views = v == 1   ? "[cifar_weak]"
        : v == 2                 ? "[cifar_weak, simclr]"
                                 : "[cifar_weak, simclr, simclr]";
    std::string model = std::string(m) == "ldam_drw"
        ? "model: {classifier: cosine, cosine_scale: 1}\n"
        : "";
    Config c = parse_config(
        std::string("loss: {method: ") + m + "}\ndata: {views: " + views +
            "}\n" + model,
        "m.yaml");
    std::string text = to_yaml(c);
    EXPECT_EQ(to_yaml(parse_config(text, "printed")), text) << m;
  }
}

TEST(Config, BaseIncludeAndFileErrors) {
  ltcl::test::TempDir dir;
  write(dir / "base.yaml", "optim:\n  lr: 0.2\n  batch_size: 64\n");
  write(dir / "child.yaml", "base: base.yaml\noptim:\n  lr: 0.3\n");
  Config c = load_config((dir / "child.yaml").string(), {"optim.momentum=0.5"});
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.3);  // the child overrides its base
  EXPECT_EQ(c.optim.batch_size, 64);  // inherited
  EXPECT_DOUBLE_EQ(c.optim.momentum, 0.5);

  // An error inside the base names the base file and its line.
  write(dir / "bad_base.yaml", "train:\n  seed: 1\n  sed: 2\n");
  write(dir / "child2.yaml", "base: bad_base.yaml\n");
  std::string msg =
      error_of([&] { load_config((dir / "child2.yaml").string()); });
  EXPECT_NE(msg.find("bad_base.yaml line 3, column 3"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("did you mean 'train.seed'"), std::string::npos) << msg;

  write(dir / "cycle.yaml", "base: cycle.yaml\n");
  msg = error_of([&] { load_config((dir / "cycle.yaml").string()); });
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;

  write(dir / "missing_base.yaml", "base: nowhere.yaml\n");
  msg = error_of([&] { load_config((dir / "missing_base.yaml").string()); });
  EXPECT_NE(msg.find("missing_base.yaml line 1, column 7"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("nowhere.yaml"), std::string::npos) << msg;

  msg = error_of([&] { load_config((dir / "absent.yaml").string()); });
  EXPECT_NE(msg.find("cannot open config file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("absent.yaml"), std::string::npos) << msg;
}

TEST(Config, EditDistanceAndKeyList) {
  EXPECT_EQ(ltcl::train::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(ltcl::train::edit_distance("", "abc"), 3u);
  EXPECT_EQ(ltcl::train::edit_distance("same", "same"), 0u);
  const auto& keys = ltcl::train::config_keys();
  ASSERT_GT(keys.size(), 50u);
  bool found = false;
  for (const auto& k : keys) {
    EXPECT_FALSE(k.help.empty()) << k.key;
    if (k.key == "optim.lr") {
      found = true;
      EXPECT_EQ(k.type, "float");
      EXPECT_EQ(k.default_value, "0.1");
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace

namespace {

// Every shipped recipe parses and validates, and names its method.
TEST(Config, EveryRecipeIsValid) {
  namespace fs = std::filesystem;
  fs::path root = fs::path(LTCL_TEST_SOURCE_DIR) / "configs";
  ASSERT_TRUE(fs::is_directory(root)) << root;
  int checked = 0;
  std::set<std::string> methods;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = fs::relative(e.path(), root).string();
    if (e.path().extension() != ".yaml" || rel.front() == '_' ||
        e.path().filename().string().front() == '_') {
      continue;
    }
    SCOPED_TRACE(e.path().string());
    // A stage-2 recipe names its stage 1 on the command line.
    std::vector<std::string> sets;
    std::ifstream in(e.path());
    const std::string text(
        (std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find("freeze: backbone") != std::string::npos) {
      sets.push_back("model.init_from=stage1/best.pt");
    }
    Config c = load_config(e.path().string(), sets);
    methods.insert(c.loss.method);
    EXPECT_EQ(
        static_cast<int64_t>(c.data.views.size()),
        ltcl::train::method_info(c.loss.method).traits.views);
    ++checked;
  }
  EXPECT_GE(checked, 60);  // 12 methods x 5 datasets (+ quick runs)
  // Every registered method has a recipe.
  EXPECT_EQ(methods.size(), ltcl::train::method_names().size());
  EXPECT_EQ(methods.size(), 15u);
}

TEST(Config, DistKeysPresetsAndRanges) {
  const std::string views = "data: {views: [cifar_weak, simclr, simclr]}\n";
  // SyncBN defaults on for every method; explicit settings win.
  EXPECT_TRUE(parse_config(views + "loss: {method: bcl_rcl}\n", "x")
                  .dist.sync_bn);
  EXPECT_TRUE(parse_config("loss: {method: ce}\n", "x").dist.sync_bn);
  EXPECT_FALSE(
      parse_config("loss: {method: la}\ndist: {sync_bn: false}\n", "x")
          .dist.sync_bn);
  EXPECT_FALSE(parse_config(
                   views + "loss: {method: bcl}\ndist: {sync_bn: false}\n", "x")
                   .dist.sync_bn);
  Config c = parse_config("dist: {timeout_s: 12.5, bucket_mb: 4}\n", "x");
  EXPECT_DOUBLE_EQ(c.dist.timeout_s, 12.5);
  EXPECT_DOUBLE_EQ(c.dist.bucket_mb, 4.0);
  EXPECT_DOUBLE_EQ(parse_config(to_yaml(c), "y").dist.timeout_s, 12.5);
  std::string msg = error_of([] {
    parse_config("dist:\n  timeout_s: 0\n  bucket_mb: -1\n", "d.yaml");
  });
  EXPECT_NE(msg.find("d.yaml line 2, column 3: dist.timeout_s: must be in "
                     "(0, 604800], got 0"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("dist.bucket_mb: must be in [0.001, 4096], got -1"),
            std::string::npos)
      << msg;
  msg = error_of([] { parse_config("dist: {timeout: 5}\n", "d.yaml"); });
  EXPECT_NE(msg.find("dist.timeout_s"), std::string::npos) << msg;
}

}  // namespace

namespace {

using ltcl::train::Config;
using ltcl::train::load_config;
using ltcl::train::parse_config;
using ltcl::train::to_yaml;

// `base:` as a list: applied in order (a later base and the file win),
// and output.dir defaults to runs/<folder>/<file stem>.
TEST(Config, BaseListsAndDefaultRunFolder) {
  ltcl::test::TempDir tmp;
  auto dir = tmp / "cifar_x";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "_data.yaml") << "data: {dataset: cifar10}\n"
                                       "optim: {lr: 0.3, batch_size: 64}\n";
  std::ofstream(dir / "_method.yaml")
      << "data: {views: [cifar_weak, simclr, simclr]}\n"
         "loss: {method: bcl_rcl, beta: 0.5}\n"
         "optim: {lr: 0.2}\n";
  std::ofstream(dir / "recipe.yaml")
      << "base: [_data.yaml, _method.yaml]\nloss: {beta: 0.4}\n";
  Config c = load_config((dir / "recipe.yaml").string());
  EXPECT_EQ(c.data.dataset, "cifar10");
  EXPECT_EQ(c.loss.method, "bcl_rcl");
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.2);  // the later base wins
  EXPECT_EQ(c.optim.batch_size, 64);
  EXPECT_DOUBLE_EQ(c.loss.beta, 0.4);  // the file wins
  EXPECT_DOUBLE_EQ(c.loss.contrastive.margin_max(), 0.1);  // preset
  EXPECT_EQ(c.output.dir, "runs/cifar_x/recipe");
  // An explicit output.dir stays; text configs keep runs/default.
  EXPECT_EQ(
      load_config((dir / "recipe.yaml").string(), {"output.dir=elsewhere"})
          .output.dir,
      "elsewhere");
  EXPECT_EQ(parse_config("", "x").output.dir, "runs/default");
  // A base that is a folder, or an empty list entry, is named.
  std::ofstream(dir / "bad.yaml") << "base: [_data.yaml, '']\n";
  ltcl::test::expect_error(
      [&] { load_config((dir / "bad.yaml").string()); },
      {"bad.yaml line 1", "base: expected a file name"});
  std::ofstream(dir / "folder.yaml") << "base: .\n";
  ltcl::test::expect_error(
      [&] { load_config((dir / "folder.yaml").string()); },
      {"folder.yaml", "not a regular file"});
}

// A config built in code from default_config() equals the YAML that sets
// the same keys: the presets are the config layer's, not the trainer's.
TEST(Config, CodeBuiltConfigEqualsYaml) {
  for (const auto& m : ltcl::train::method_names()) {
    Config code = ltcl::train::default_config(m);
    const int64_t views = ltcl::train::method_info(m).traits.views;
    code.data.views.assign(static_cast<size_t>(views), "cifar_weak");
    std::string yaml = "data: {views: [cifar_weak";
    for (int64_t v = 1; v < views; ++v) {
      yaml += ", cifar_weak";
    }
    yaml += "]}\nloss: {method: " + m + "}\n";
    Config parsed = parse_config(yaml, "x.yaml");
    EXPECT_EQ(to_yaml(code), to_yaml(parsed)) << m;
    EXPECT_NO_THROW(ltcl::train::validate(code)) << m;
  }
  // The losses' own defaults are the keys' defaults.
  EXPECT_DOUBLE_EQ(
      ltcl::train::default_config("focal").loss.focal.gamma(),
      ltcl::losses::FocalLossOptions().gamma());
}

}  // namespace

namespace {

TEST(Config, UserDataKeys) {
  // The default uses the training set as it is; benchmark recipes ask.
  Config d = parse_config("loss: {method: ce}\n", "d.yaml");
  EXPECT_EQ(d.data.profile, "none");
  EXPECT_TRUE(d.data.mean.empty());
  EXPECT_EQ(d.data.image_size, 0);
  Config c = parse_config(
      "data:\n"
      "  dataset: folder\n"
      "  mean: [0.4, 0.5, 0.6]\n"
      "  std: [0.2, 0.25, 0.3]\n"
      "  image_size: 48\n",
      "u.yaml");
  EXPECT_EQ(c.data.mean, (std::vector<double>{0.4, 0.5, 0.6}));
  EXPECT_EQ(c.data.std, (std::vector<double>{0.2, 0.25, 0.3}));
  EXPECT_EQ(c.data.image_size, 48);
  // Round trip through the resolved YAML.
  Config r = parse_config(to_yaml(c), "resolved");
  EXPECT_EQ(r.data.mean, c.data.mean);
  EXPECT_EQ(r.data.std, c.data.std);
  std::string msg = error_of([] {
    parse_config(
        "data:\n"
        "  mean: [0.5, 0.5]\n"
        "  std: [0.25]\n"
        "  image_size: 5\n",
        "bad.yaml");
  });
  EXPECT_NE(msg.find("data.mean: data.mean has 2 values but data.std 1"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("data.image_size: must be 0 or in [8, 4096], got 5"),
            std::string::npos)
      << msg;
  msg = error_of([] {
    parse_config("data:\n  mean: 0.5\n  std: [0, 0, 0]\n", "bad.yaml");
  });
  EXPECT_NE(msg.find("data.mean"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected a list of numbers"), std::string::npos) << msg;
  msg = error_of([] {
    parse_config("data:\n  mean: [0.5]\n  std: [0]\n", "bad.yaml");
  });
  EXPECT_NE(msg.find("data.std: values must be in [1e-6, 10]: got 0"),
            std::string::npos)
      << msg;
}

}  // namespace

namespace {

TEST(Config, ValuesThatSizeThreadsMemoryOrTimeAreBounded) {
  // Each of these once hung or ended in an internal error / a huge
  // allocation (issue 12); now every one is named, all in one message.
  std::string msg = error_of([] {
    parse_config(
        "data: {workers: 100000}\n"
        "model: {proj_hidden: 1000000000}\n"
        "optim: {weight_decay: 1.0e+308, batch_size: 100000000}\n"
        "train: {threads: 100000, eval_batch_size: 0}\n"
        "dist: {timeout_s: 1.0e+300}\n",
        "huge.yaml");
  });
  for (const char* want :
       {"data.workers: must be in [0, 256], got 100000",
        "model.proj_hidden: must be in [1, 65536], got 1000000000",
        "optim.weight_decay: must be in [0, 1], got 1e+308",
        "optim.batch_size: must be in [1, 1048576], got 100000000",
        "train.threads: must be in [0, 1024], got 100000",
        "train.eval_batch_size: must be in [1, 1048576], got 0",
        "dist.timeout_s: must be in (0, 604800], got 1e+300"}) {
    EXPECT_NE(msg.find(want), std::string::npos) << want << "\n" << msg;
  }
  // The limits themselves are accepted.
  EXPECT_NO_THROW(parse_config(
      "data: {workers: 256}\ntrain: {threads: 1024}\n"
      "dist: {timeout_s: 604800}\n",
      "edge.yaml"));
}

}  // namespace

namespace {

TEST(Config, ListKindsTakeClassNamesFromNamesFile) {
  // Reports and predictions name the classes of a list dataset (they said
  // 0..C-1 before data.names_file existed).
  ltcl::test::TempDir dir;
  ltcl::data::Image im(8, 8, 3);
  for (const char* f : {"a.png", "b.png", "c.png"}) {
    ltcl::data::write_png((dir / f).string(), im);
  }
  write(dir / "train.txt", "a.png 0\nb.png 1\n");
  write(dir / "test.txt", "c.png 1\n");
  write(dir / "names.txt", "cat\nsea lion\n");
  const std::string base =
      "train: {select_on: last}\ndata:\n  dataset: list\n  root: " +
      dir.path().string() +
      "\n  train_list: train.txt\n  test_list: test.txt\n"
      "  validation: none\n";
  Config c = parse_config(base + "  names_file: names.txt\n", "l.yaml");
  auto d = ltcl::train::open_data(c.data, "test");
  EXPECT_EQ(d.train->class_names(),
            (std::vector<std::string>{"cat", "sea lion"}));
  EXPECT_EQ(d.test->class_names(), d.train->class_names());
  Config plain = parse_config(base, "p.yaml");
  EXPECT_EQ(ltcl::train::open_data(plain.data, "test").train->class_names(),
            (std::vector<std::string>{"0", "1"}));
}

}  // namespace
