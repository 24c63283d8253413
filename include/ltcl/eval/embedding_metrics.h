#pragma once
// RCL's three claims about the embedding space (METHODS.md section 3:
// feature-space balancedness, intra-class compactness, larger margins for
// tail classes) as numbers, per class and per shot group. docs/metrics.md
// explains each definition and why it measures the claim.
//
// Every row is L2-normalised here first (z_i = x_i / ||x_i||), so scaling a
// row changes nothing; a row of norm 0 or with a non-finite value throws.
// Class centroids come from the "reference" set (default: the evaluated set
// itself), e.g. the training embeddings when test embeddings are evaluated:
//
//   m_c  = mean of the class's normalised reference rows
//   R_c  = ||m_c||                  mean resultant length (1 = collapsed,
//                                   0 = spread evenly over the sphere)
//   mu_c = m_c / R_c                the class centroid (unit vector)
//
// Per evaluated row i with label y = y_i, over the classes C* that have a
// centroid:
//
//   margin_i = cos(z_i, mu_y) - max_{c in C*, c != y} cos(z_i, mu_c)
//   hit_i    = [argmax_{c in C*} cos(z_i, mu_c) == y]  (ties: lowest index)
//
// Per class c (means over its evaluated rows):
//
//   compactness_c  = mean_i cos(z_i, mu_c)     (= R_c when the reference is
//                                               the evaluated set)
//   extent_c       = 1 - compactness_c
//   margin_c       = mean_i margin_i; positive_margin_c = fraction of rows
//                    with margin_i > 0
//   nca_c          = 100 * mean_i hit_i        nearest-centroid accuracy, %
//   separation_c   = 1 - max_{c' in C*, c' != c} cos(mu_c, mu_c')
//                    (0 = another centroid coincides, 2 = antipodal)
//
// Over classes: means of the per-class values (so every class weighs the
// same: nca is balanced accuracy); group means (many / medium / few by
// training count); few/many ratios of separation and compactness; and the
// coefficient of variation of separation_c, std / mean over C* (population
// std; 0 = every class has the same angular room).
//
// Absent, never NaN: a class without reference rows has no centroid (and is
// not in C*), nor has one whose reference rows cancel out (R_c < 1e-12);
// a class without evaluated rows, or without a centroid, has no
// row-based values. Group numbers average the group's classes that have
// both ("measured" classes); a group without one is absent, and so is a
// ratio whose group is absent or whose many-shot value is not positive.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ltcl/data/shot_groups.h"

namespace ltcl::eval {

// N x D row-major float embeddings and their N labels, not owned.
struct EmbeddingView {
  const float* data = nullptr;
  const int64_t* labels = nullptr;
  int64_t rows = 0;
  int64_t dim = 0;

  EmbeddingView() = default;
  EmbeddingView(
      const float* data, const int64_t* labels, int64_t rows, int64_t dim)
      : data(data), labels(labels), rows(rows), dim(dim) {}
  // rows = labels.size(); throws ltcl::Error unless data.size() == rows * dim.
  EmbeddingView(
      const std::vector<float>& data,
      const std::vector<int64_t>& labels,
      int64_t dim);
};

struct ClassEmbeddingStats {
  int64_t index = 0;
  data::ShotGroup group = data::ShotGroup::kMany;
  int64_t train_count = 0;
  int64_t samples = 0;            // evaluated rows of the class
  int64_t reference_samples = 0;  // reference rows (the centroid's)
  // From the reference set; absent without reference rows.
  std::optional<double> resultant_length;  // R_c
  std::optional<double> separation;        // s_c
  std::optional<int64_t> nearest_class;    // the c' of s_c
  // From the evaluated rows; absent without rows or without a centroid.
  std::optional<double> compactness;
  std::optional<double> extent;
  std::optional<double> margin;
  std::optional<double> positive_margin;  // fraction in [0, 1]
  std::optional<double> nca;              // percent

  bool measured() const {
    return compactness.has_value();
  }
};

// Means over a set of measured classes.
struct EmbeddingGroupStats {
  int64_t classes = 0;  // measured classes averaged
  double resultant_length = 0;
  double separation = 0;
  double compactness = 0;
  double extent = 0;
  double margin = 0;
  double positive_margin = 0;  // fraction
  double nca = 0;              // percent
};

struct EmbeddingMetrics {
  int64_t num_classes = 0;
  int64_t dim = 0;
  int64_t samples = 0;            // evaluated rows
  int64_t reference_samples = 0;  // reference rows
  bool separate_reference = false;
  int64_t centroid_classes = 0;  // |C*|
  // Over all measured classes (balanced: a class counts once).
  EmbeddingGroupStats overall;
  // Rows whose nearest centroid is their class's, percent of all rows
  // (rows of classes without a centroid count as misses).
  double nca_samples = 0;
  // std / mean of separation_c over C*; absent when the mean is 0.
  std::optional<double> separation_cv;
  std::optional<EmbeddingGroupStats> many, medium, few;
  // few / many; absent when either group is absent or many's value <= 0.
  std::optional<double> separation_ratio;
  std::optional<double> compactness_ratio;
  std::vector<ClassEmbeddingStats> per_class;  // one per class

  const std::optional<EmbeddingGroupStats>& group(data::ShotGroup g) const;
};

// The metrics of `evaluated`, with centroids from `reference` when given
// (else from `evaluated`). `train_counts` has one entry per class (for the
// shot groups, with `thresholds`). Throws ltcl::Error on bad shapes, a label
// outside [0, num_classes), a zero or non-finite row, dims that differ, or
// fewer than two classes with a centroid (margins need a rival).
EmbeddingMetrics embedding_metrics(
    const EmbeddingView& evaluated,
    int64_t num_classes,
    const std::vector<int64_t>& train_counts,
    const data::ShotThresholds& thresholds = {},
    const std::optional<EmbeddingView>& reference = std::nullopt);

// For the TensorBoard projector: `vectors_path` gets one row per embedding,
// D tab-separated values, no header; `metadata_path` the header
// "label\tclass\tgroup" and one row per embedding (class index, class name,
// many/medium/few). `class_names` may be empty (the index is used);
// `group_of_class` has one entry per class and sets the number of classes.
// Tabs and newlines in names become spaces. Both files are written
// atomically. Throws ltcl::Error on bad shapes or labels.
void write_projector_tsv(
    const std::string& vectors_path,
    const std::string& metadata_path,
    const float* embeddings,
    int64_t rows,
    int64_t dim,
    const int64_t* labels,
    const std::vector<std::string>& class_names,
    const std::vector<data::ShotGroup>& group_of_class);

}  // namespace ltcl::eval
