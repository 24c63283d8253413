#pragma once
// Argument checks shared by the losses (private to src/losses). Each throws
// ltcl::Error naming the component and the actual shapes / values.
#include <torch/types.h>

#include <string>

namespace ltcl::losses::detail {

// "[4, 10]" (or "undefined").
std::string shape(const torch::Tensor& t);

// logits [N, C] floating, labels [N] integer with values in [0, C).
void check_logits_labels(
    const char* component,
    const torch::Tensor& logits,
    const torch::Tensor& labels);

// labels [N] integer with values in [0, num_classes) (num_classes < 0:
// only >= 0 is checked).
void check_labels(
    const char* component, const torch::Tensor& labels, int64_t num_classes);

// class_counts [C] (C = num_classes when >= 0), every entry > 0.
void check_class_counts(
    const char* component,
    const torch::Tensor& class_counts,
    int64_t num_classes);

// A finite option value > 0 (temperatures, scales):
// "<component> - <what> must be > 0: {got <value>}".
void check_positive(const char* component, const char* what, double value);

// log(n_c / sum n) as a tensor of `like`'s dtype / device.
torch::Tensor log_prior(
    const torch::Tensor& class_counts, const torch::Tensor& like);

}  // namespace ltcl::losses::detail
