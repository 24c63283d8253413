// Heads, the composite Network, and ResCom's class-balanced queue.
#include "ltcl/models/heads.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <deque>

#include "ltcl/models/network.h"
#include "ltcl/util/error.h"
#include "support.h"

namespace {

using namespace ltcl::models;

class HeadsTest : public ltcl::test::SeededTest {};

TEST_F(HeadsTest, ProjectionHeadIsNormalisedMlp) {
  ProjectionHead head(ProjectionHeadOptions(64, 32, 8));
  auto x = torch::randn({5, 64});
  auto z = head->forward(x);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{5, 8}));
  EXPECT_TRUE(torch::allclose(z.norm(2, 1), torch::ones({5}), 1e-5, 1e-5));
  // Same as doing the layers by hand (training-mode BN: batch statistics).
  auto h = head->fc1->forward(x);
  h = (h - h.mean(0)) / torch::sqrt(h.var(0, false) + 1e-5);
  h = torch::relu(h);  // BN weight 1, bias 0 at init
  auto want = head->fc2->forward(h);
  want = want / want.norm(2, 1, true);
  EXPECT_TRUE(torch::allclose(z, want, 1e-4, 1e-5));
  EXPECT_THROW(head->forward(torch::randn({5, 63})), ltcl::Error);
}

TEST_F(HeadsTest, NormedLinearIsScaledCosine) {
  NormedLinear fc(NormedLinearOptions(3, 2).scale(30));
  {
    torch::NoGradGuard g;
    fc->weight.copy_(torch::tensor({{1.0, 0.0, 0.0}, {0.0, 2.0, 0.0}}));
  }
  auto x = torch::tensor({{3.0f, 4.0f, 0.0f}});
  // cos to e1 = 3/5, cos to e2 = 4/5.
  auto logits = fc->forward(x);
  EXPECT_NEAR(logits[0][0].item<float>(), 18.0f, 1e-4);
  EXPECT_NEAR(logits[0][1].item<float>(), 24.0f, 1e-4);
  EXPECT_THROW(NormedLinear(NormedLinearOptions(3, 2).scale(0)), ltcl::Error);
}

TEST_F(HeadsTest, PrototypeBankIsNormalised) {
  PrototypeBank bank(4, 6);
  auto p = bank->forward();
  EXPECT_TRUE(torch::allclose(p.norm(2, 1), torch::ones({4}), 1e-5, 1e-5));
  p.sum().backward();
  EXPECT_TRUE(bank->weight.grad().defined());
}

TEST_F(HeadsTest, NetworkOutputsAndPrototypeGradientReachesClassifier) {
  Network net(NetworkOptions()
                  .arch("resnet20")
                  .num_classes(5)
                  .proj_hidden(32)
                  .proj_dim(16)
                  .prototype_head(true));
  auto out = net->forward(torch::randn({3, 3, 32, 32}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(out.embeddings.sizes(), (std::vector<int64_t>{3, 16}));
  auto protos = net->prototypes();
  ASSERT_EQ(protos.sizes(), (std::vector<int64_t>{5, 16}));
  EXPECT_TRUE(torch::allclose(protos.norm(2, 1), torch::ones({5}), 1e-5, 1e-5));
  // head_fc(W): gradients of a prototype-only loss reach W (not detached).
  (protos * torch::randn_like(protos)).sum().backward();
  auto w_grad = net->linear->weight.grad();
  ASSERT_TRUE(w_grad.defined());
  EXPECT_GT(w_grad.abs().sum().item<float>(), 0.0f);
}

TEST_F(HeadsTest, NetworkVariants) {
  Network plain(NetworkOptions().arch("resnet32").num_classes(10).proj_dim(0));
  auto out = plain->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_FALSE(out.embeddings.defined());
  EXPECT_FALSE(plain->prototypes().defined());
  Network mnist(NetworkOptions()
                    .arch("resnet32")
                    .in_channels(1)
                    .classifier("cosine")
                    .cosine_scale(10));
  auto o = mnist->forward(torch::randn({2, 1, 28, 28}));
  EXPECT_EQ(o.logits.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_LE(o.logits.abs().max().item<float>(), 10.0f + 1e-4);
  EXPECT_THROW(Network(NetworkOptions().arch("resnet33")), ltcl::Error);
  EXPECT_THROW(Network(NetworkOptions().classifier("mlp")), ltcl::Error);
  EXPECT_THROW(
      Network(NetworkOptions().proj_dim(0).prototype_head(true)), ltcl::Error);
}

TEST_F(HeadsTest, Resnext50NetworkNamesHaveBackbonePrefix) {
  Network net(NetworkOptions().arch("resnext50_32x4d").num_classes(3));
  auto params = net->named_parameters();
  EXPECT_TRUE(params.contains("backbone.layer1.0.downsample.0.weight"));
  EXPECT_TRUE(params.contains("linear.weight"));
  EXPECT_FALSE(params.contains("backbone.fc.weight"));
  EXPECT_EQ(net->feature_dim(), 2048);
}

// Naive queue: a std::deque per class, one sample at a time.
TEST_F(HeadsTest, ClassBalancedQueueIsPerClassFifo) {
  const int64_t c = 3, q = 4, d = 2;
  ClassBalancedQueue queue(ClassBalancedQueueOptions(c, d).per_class(q));
  std::vector<std::deque<std::vector<float>>> naive(c);
  for (int step = 0; step < 6; ++step) {
    const int64_t b = 7;
    auto emb = torch::randn({b, d}, torch::requires_grad());
    // Class 0 gets many samples per batch (more than Q), class 2 few.
    auto labels = torch::tensor({0, 0, 1, 0, 0, 0, step % 2 ? 2 : 1});
    queue->enqueue(emb, labels);
    for (int64_t i = 0; i < b; ++i) {
      auto& dq = naive[labels[i].item<int64_t>()];
      dq.push_back({emb[i][0].item<float>(), emb[i][1].item<float>()});
      if (static_cast<int64_t>(dq.size()) > q) {
        dq.pop_front();
      }
    }
    EXPECT_FALSE(queue->keys.requires_grad());
    auto valid = queue->valid_mask();
    for (int64_t k = 0; k < c; ++k) {
      ASSERT_EQ(queue->count[k].item<int64_t>(), (int64_t)naive[k].size());
      // The same multiset of keys is stored (slot order is a rotation).
      std::vector<std::vector<float>> stored;
      for (int64_t s = 0; s < q; ++s) {
        if (valid[k][s].item<bool>()) {
          stored.push_back(
              {queue->keys[k][s][0].item<float>(),
               queue->keys[k][s][1].item<float>()});
        }
      }
      std::vector<std::vector<float>> want(naive[k].begin(), naive[k].end());
      std::sort(stored.begin(), stored.end());
      std::sort(want.begin(), want.end());
      ASSERT_EQ(stored, want) << "class " << k << " step " << step;
    }
  }
  // Buffers are saved with the module.
  auto buffers = queue->named_buffers();
  EXPECT_TRUE(buffers.contains("keys"));
  EXPECT_TRUE(buffers.contains("ptr"));
  EXPECT_TRUE(buffers.contains("count"));
  EXPECT_THROW(
      queue->enqueue(torch::randn({2, d + 1}), torch::tensor({0, 1})),
      ltcl::Error);
  // Labels are range-checked on a queue's first enqueue (later ones would
  // cost a host read per step): a fresh queue refuses class 3 of 3.
  ClassBalancedQueue fresh(ClassBalancedQueueOptions(c, d).per_class(q));
  EXPECT_THROW(
      fresh->enqueue(torch::randn({2, d}), torch::tensor({0, 3})), ltcl::Error);
  EXPECT_THROW(
      fresh->enqueue(torch::randn({1, d}), torch::tensor({-1})), ltcl::Error);
  fresh->enqueue(torch::randn({1, d}), torch::tensor({2}));
  EXPECT_EQ(fresh->count[2].item<int64_t>(), 1);
}

}  // namespace
