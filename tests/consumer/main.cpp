// A program outside ltcl's build that uses the installed package: one SGD
// step of a resnet20 Network with the logit-adjusted cross entropy. Exits 0
// when the loss is finite and the step changed the weights, 1 otherwise.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <vector>

#include <torch/optim/sgd.h>
#include <torch/types.h>

#include "ltcl/losses/classification.h"
#include "ltcl/models/network.h"
#include "ltcl/util/error.h"

int main() {
  try {
    torch::manual_seed(0);
    ltcl::models::Network net(ltcl::models::NetworkOptions()
                                  .arch("resnet20")
                                  .num_classes(10)
                                  .in_channels(1)
                                  .proj_dim(16));
    net->train();
    std::vector<torch::Tensor> before;
    for (const auto& p : net->parameters()) {
      before.push_back(p.detach().clone());
    }
    torch::optim::SGD sgd(
        net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

    const torch::Tensor x = torch::randn({8, 1, 28, 28});
    const torch::Tensor y = torch::randint(10, {8}, torch::kLong);
    const torch::Tensor counts =
        torch::tensor({500, 300, 200, 120, 80, 50, 30, 20, 12, 5});
    const auto out = net->forward(x);
    if (out.embeddings.size(1) != 16) {
      std::fprintf(stderr, "consumer: embeddings are not 16-d\n");
      return 1;
    }
    torch::Tensor loss =
        ltcl::losses::functional::logit_adjusted_cross_entropy(
            out.logits, y, counts);
    sgd.zero_grad();
    loss.backward();
    sgd.step();

    const double value = loss.item<double>();
    double moved = 0;
    const auto after = net->parameters();
    for (size_t i = 0; i < after.size(); ++i) {
      moved = std::max(
          moved, (after[i].detach() - before[i]).abs().max().item<double>());
    }
    std::printf("consumer: loss %.4f, largest weight change %.3g\n", value,
                moved);
    if (!std::isfinite(value)) {
      std::fprintf(stderr, "consumer: the loss is not finite\n");
      return 1;
    }
    if (!(moved > 0)) {
      std::fprintf(stderr, "consumer: the SGD step changed no weight\n");
      return 1;
    }
    return 0;
  } catch (const ltcl::Error& e) {
    std::fprintf(stderr, "consumer: ltcl::Error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
  }
  return 1;
}
