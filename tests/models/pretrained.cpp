// model.pretrained (models/pretrained.h): a state dict's backbone tensors
// replace the initialised ones, name by name.
// - a state dict written here with torch::pickle_save (another network's
//   backbone, plus a torchvision-style fc that must be ignored) makes the
//   loading network's backbone, and so its features, equal the source's;
//   the classifier keeps its own initialisation; "backbone." prefixes load;
// - one written by Python's torch.save of a plain dict (Debian's
//   /usr/bin/python3; skipped without it) loads with the values Python put
//   in; an OrderedDict (model.state_dict() as is) and the legacy format are
//   errors that give the re-save command;
// - a missing file, a legacy (non-zip) file, a missing tensor and a wrong
//   shape are errors naming the file (and the tensor), and leave the network
//   untouched.
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <fstream>

#include "ltcl/models/network.h"
#include "ltcl/models/pretrained.h"
#include "support.h"

namespace {

namespace fs = std::filesystem;
using ltcl::models::Network;
using ltcl::models::NetworkOptions;

Network make(int64_t seed, const std::string& arch = "resnet20") {
  torch::manual_seed(static_cast<uint64_t>(seed));
  return Network(NetworkOptions().arch(arch).num_classes(5).in_channels(3));
}

// name -> tensor of `net`'s backbone, with `prefix` before every name.
c10::Dict<std::string, at::Tensor> backbone_dict(
    Network& net,
    const std::string& prefix = "") {
  c10::Dict<std::string, at::Tensor> d;
  const auto children = net->named_children();
  const auto* backbone = children.find("backbone");
  for (const auto& kv : (*backbone)->named_parameters(true)) {
    d.insert(prefix + kv.key(), kv.value().detach().clone());
  }
  for (const auto& kv : (*backbone)->named_buffers(true)) {
    d.insert(prefix + kv.key(), kv.value().detach().clone());
  }
  return d;
}

void write(const fs::path& p, const c10::Dict<std::string, at::Tensor>& d) {
  auto bytes = torch::pickle_save(c10::IValue(d));
  std::ofstream(p, std::ios::binary).write(bytes.data(), bytes.size());
}

// Every parameter and buffer of the two networks' backbones equal.
bool same_backbone(Network& a, Network& b) {
  auto da = backbone_dict(a);
  auto db = backbone_dict(b);
  for (const auto& kv : da) {
    if (!kv.value().equal(db.at(kv.key()))) {
      return false;
    }
  }
  return da.size() == db.size();
}

class Pretrained : public ltcl::test::SeededTest {};

TEST_F(Pretrained, BackboneTensorsAndFeaturesOfTheSourceClassifierKept) {
  ltcl::test::TempDir dir;
  Network source = make(1);
  // Random BatchNorm statistics, so buffers matter to the features.
  {
    torch::NoGradGuard g;
    for (auto& b : source->buffers()) {
      if (b.is_floating_point()) {
        b.uniform_(0.5, 1.5);
      }
    }
  }
  auto dict = backbone_dict(source);
  dict.insert("fc.weight", torch::randn({1000, 64}));  // torchvision's head
  write(dir / "sd.pt", dict);

  Network target = make(2);
  const auto classifier = target->linear->weight.detach().clone();
  ASSERT_FALSE(same_backbone(source, target));
  const int64_t n =
      ltcl::models::load_pretrained_backbone(*target, (dir / "sd.pt").string());
  EXPECT_EQ(n, static_cast<int64_t>(dict.size()) - 1);
  EXPECT_TRUE(same_backbone(source, target));
  EXPECT_TRUE(target->linear->weight.equal(classifier));
  source->eval();
  target->eval();
  auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::allclose(
      source->forward(x).features, target->forward(x).features, 0, 0));

  // An ltcl-style state dict ("backbone." before every name) loads too.
  write(dir / "prefixed.pt", backbone_dict(source, "backbone."));
  Network third = make(3);
  ltcl::models::load_pretrained_backbone(
      *third, (dir / "prefixed.pt").string());
  EXPECT_TRUE(same_backbone(source, third));
}

TEST_F(Pretrained, PythonTorchSaveFileLoadsWithItsValues) {
  if (!fs::exists("/usr/bin/python3")) {
    GTEST_SKIP() << "no /usr/bin/python3";
  }
  ltcl::test::TempDir dir;
  Network net = make(1);
  // Python fills tensor i (in the order listed) with i + 0.001 * arange.
  std::ofstream names(dir / "names.txt");
  std::vector<std::string> order;
  for (const auto& kv : backbone_dict(net)) {
    order.push_back(kv.key());
  }
  for (const auto& name : order) {
    auto t = backbone_dict(net).at(name);
    names << name;
    for (auto d : t.sizes()) {
      names << " " << d;
    }
    names << "\n";
  }
  names.close();
  std::ofstream(dir / "make.py")
      << "import sys, collections\n"
         "try:\n"
         "    import torch\n"
         "except ImportError:\n"
         "    sys.exit(77)\n"
         "sd = collections.OrderedDict()\n"
         "for i, line in enumerate(open(sys.argv[1])):\n"
         "    name, *shape = line.split()\n"
         "    shape = [int(s) for s in shape]\n"
         "    n = 1\n"
         "    for s in shape:\n"
         "        n *= s\n"
         "    t = i + 0.001 * torch.arange(n, dtype=torch.float64)\n"
         "    dt = torch.int64 if name.endswith('num_batches_tracked') "
         "else torch.float32\n"
         "    sd[name] = t.reshape(shape).to(dt)\n"
         "torch.save(dict(sd), sys.argv[2])\n"
         "torch.save(sd, sys.argv[3], _use_new_zipfile_serialization=False)\n"
         "torch.save(sd, sys.argv[4])\n";
  std::string out;
  const int rc = ltcl::test::run_command(
      "/usr/bin/python3 " + (dir / "make.py").string() + " " +
          (dir / "names.txt").string() + " " + (dir / "sd.pt").string() +
          " " + (dir / "legacy.pth").string() + " " +
          (dir / "ordered.pt").string(),
      &out);
  if (rc == 77 << 8 || rc == 77) {
    GTEST_SKIP() << "no torch in /usr/bin/python3";
  }
  ASSERT_EQ(rc, 0) << out;
  ltcl::models::load_pretrained_backbone(*net, (dir / "sd.pt").string());
  auto got = backbone_dict(net);
  for (size_t i = 0; i < order.size(); ++i) {
    auto t = got.at(order[i]);
    auto want = (static_cast<double>(i) +
                 0.001 * torch::arange(t.numel(), torch::kDouble))
                    .reshape(t.sizes())
                    .to(t.scalar_type());
    EXPECT_TRUE(t.equal(want)) << order[i];
  }
  // The legacy format: the error says how to re-save it.
  ltcl::test::expect_error(
      [&] {
        ltcl::models::load_pretrained_backbone(
            *net, (dir / "legacy.pth").string());
      },
      {"model.pretrained", "legacy.pth", "zip", "torch.save(dict("});
  // model.state_dict() saved as is (an OrderedDict): the same advice.
  ltcl::test::expect_error(
      [&] {
        ltcl::models::load_pretrained_backbone(
            *net, (dir / "ordered.pt").string());
      },
      {"model.pretrained", "ordered.pt", "OrderedDict", "torch.save(dict("});
}

TEST_F(Pretrained, BadFilesNameTheFileAndTheTensorAndChangeNothing) {
  ltcl::test::TempDir dir;
  Network net = make(1);
  Network copy = make(1);
  ltcl::test::expect_error(
      [&] {
        ltcl::models::load_pretrained_backbone(
            *net, (dir / "none.pt").string());
      },
      {"model.pretrained", "none.pt", "no file"});
  std::ofstream(dir / "text.pt") << "not a state dict";
  ltcl::test::expect_error(
      [&] {
        ltcl::models::load_pretrained_backbone(
            *net, (dir / "text.pt").string());
      },
      {"model.pretrained", "text.pt", "zip"});

  Network other = make(5);
  auto dict = backbone_dict(other);
  dict.erase("layer3.2.bn2.running_var");
  write(dir / "missing.pt", dict);
  ltcl::test::expect_error(
      [&] {
        ltcl::models::load_pretrained_backbone(
            *net, (dir / "missing.pt").string());
      },
      {"missing.pt", "lacks 1 of", "layer3.2.bn2.running_var"});

  auto wrong = backbone_dict(other);
  wrong.insert_or_assign("conv1.weight", torch::zeros({16, 1, 3, 3}));
  write(dir / "shape.pt", wrong);
  ltcl::test::expect_error(
      [&] {
        ltcl::models::load_pretrained_backbone(
            *net, (dir / "shape.pt").string());
      },
      {"shape.pt", "conv1.weight", "[16, 1, 3, 3]", "[16, 3, 3, 3]"});
  EXPECT_TRUE(same_backbone(net, copy));  // nothing was copied

  // A file holding something else than a dict.
  auto bytes = torch::pickle_save(c10::IValue(torch::ones({2})));
  std::ofstream(dir / "tensor.pt", std::ios::binary)
      .write(bytes.data(), bytes.size());
  ltcl::test::expect_error(
      [&] {
        ltcl::models::load_pretrained_backbone(
            *net, (dir / "tensor.pt").string());
      },
      {"tensor.pt", "not a state dict"});
}

}  // namespace
