#include "ltcl/losses/hybrid.h"

#include <torch/torch.h>

#include <cmath>

#include "checks.h"
#include "ltcl/util/error.h"

namespace ltcl::losses {

double hybrid_alpha(double epoch, double total_epochs) {
  if (!(total_epochs > 0) || !(epoch >= 0) || epoch > total_epochs) {
    fail(
        "hybrid_alpha - need 0 <= epoch <= total_epochs, total_epochs > 0: "
        "{{got epoch {}, total_epochs {}}}",
        epoch,
        total_epochs);
  }
  const double r = epoch / total_epochs;
  return 1.0 - r * r;
}

namespace functional {

torch::Tensor psc_loss(
    const torch::Tensor& features,
    const torch::Tensor& labels,
    const torch::Tensor& prototypes,
    const PSCLossOptions& options) {
  const char* name = "psc_loss";
  using detail::shape;
  detail::check_positive(name, "temperature", options.temperature());
  if (!features.defined() || features.dim() != 2 ||
      !features.is_floating_point() || !prototypes.defined() ||
      prototypes.dim() != 2 || prototypes.size(1) != features.size(1)) {
    fail(
        "{} - need features [B, D] and prototypes [C, D]: {{got features {}, "
        "prototypes {}}}",
        name,
        shape(features),
        shape(prototypes));
  }
  auto p = torch::nn::functional::normalize(
      prototypes.to(features.scalar_type()),
      torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto logits = torch::mm(features, p.t()) / options.temperature();
  detail::check_logits_labels(name, logits, labels);
  return torch::nn::functional::cross_entropy(logits, labels);
}

}  // namespace functional

}  // namespace ltcl::losses
