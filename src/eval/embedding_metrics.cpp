#include "ltcl/eval/embedding_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"
#include "ltcl/util/guard.h"

namespace ltcl::eval {
namespace {

constexpr double kMinResultant = 1e-12;

// Checks a view and returns the norm of each row.
std::vector<double> row_norms(
    const EmbeddingView& v, int64_t num_classes, const char* which) {
  if (v.rows < 0 || v.dim < 1) {
    fail(
        "embedding_metrics - bad {} shape: {{got {} x {}}}",
        which,
        v.rows,
        v.dim);
  }
  if (v.rows > 0 && (!v.data || !v.labels)) {
    fail("embedding_metrics - {} set: null data for {} rows", which, v.rows);
  }
  std::vector<double> norms(static_cast<size_t>(v.rows));
  for (int64_t i = 0; i < v.rows; ++i) {
    const int64_t y = v.labels[i];
    if (y < 0 || y >= num_classes) {
      fail(
          "embedding_metrics - {} label out of range: {{row {}, got {}, "
          "classes {}}}",
          which,
          i,
          y,
          num_classes);
    }
    const float* x = v.data + i * v.dim;
    double sq = 0;
    for (int64_t d = 0; d < v.dim; ++d) {
      if (!std::isfinite(x[d])) {
        throw util::NonFiniteState(fmt::format(
            "embedding_metrics - non-finite value in the {} set: {{row {}, "
            "column {}, got {}}}",
            which,
            i,
            d,
            x[d]));
      }
      sq += static_cast<double>(x[d]) * x[d];
    }
    if (!(sq > 0)) {
      fail(
          "embedding_metrics - row {} of the {} set has norm 0 (cannot be "
          "normalised)",
          i,
          which);
    }
    norms[i] = std::sqrt(sq);
  }
  return norms;
}

// x . mu / ||x|| for a unit mu.
double cosine(const float* x, double norm, const double* mu, int64_t dim) {
  double dot = 0;
  for (int64_t d = 0; d < dim; ++d) {
    dot += static_cast<double>(x[d]) * mu[d];
  }
  return dot / norm;
}

struct ClassSums {
  int64_t n = 0;
  double cos_own = 0;
  double margin = 0;
  int64_t positive = 0;
  int64_t hits = 0;
};

std::optional<EmbeddingGroupStats> mean_of(
    const std::vector<const ClassEmbeddingStats*>& classes) {
  if (classes.empty()) {
    return std::nullopt;
  }
  EmbeddingGroupStats g;
  g.classes = static_cast<int64_t>(classes.size());
  for (const auto* c : classes) {
    g.resultant_length += *c->resultant_length;
    g.separation += *c->separation;
    g.compactness += *c->compactness;
    g.extent += *c->extent;
    g.margin += *c->margin;
    g.positive_margin += *c->positive_margin;
    g.nca += *c->nca;
  }
  const double n = static_cast<double>(g.classes);
  for (double* v :
       {&g.resultant_length,
        &g.separation,
        &g.compactness,
        &g.extent,
        &g.margin,
        &g.positive_margin,
        &g.nca}) {
    *v /= n;
  }
  return g;
}

std::optional<double> ratio(
    const std::optional<EmbeddingGroupStats>& few,
    const std::optional<EmbeddingGroupStats>& many,
    double EmbeddingGroupStats::*field) {
  if (!few || !many || !((*many).*field > 0)) {
    return std::nullopt;
  }
  return (*few).*field / (*many).*field;
}

std::string tsv_field(std::string s) {
  for (char& ch : s) {
    if (ch == '\t' || ch == '\n' || ch == '\r') {
      ch = ' ';
    }
  }
  return s;
}

}  // namespace

EmbeddingView::EmbeddingView(
    const std::vector<float>& data_in,
    const std::vector<int64_t>& labels_in,
    int64_t dim_in)
    : data(data_in.data()),
      labels(labels_in.data()),
      rows(static_cast<int64_t>(labels_in.size())),
      dim(dim_in) {
  if (dim_in < 1 ||
      data_in.size() != labels_in.size() * static_cast<size_t>(dim_in)) {
    fail(
        "EmbeddingView - data must hold rows x dim values: {{got {} values, "
        "{} labels, dim {}}}",
        data_in.size(),
        labels_in.size(),
        dim_in);
  }
}

const std::optional<EmbeddingGroupStats>& EmbeddingMetrics::group(
    data::ShotGroup g) const {
  return data::of_group(g, many, medium, few);
}

EmbeddingMetrics embedding_metrics(
    const EmbeddingView& evaluated,
    int64_t num_classes,
    const std::vector<int64_t>& train_counts,
    const data::ShotThresholds& thresholds,
    const std::optional<EmbeddingView>& reference) {
  const int64_t C = num_classes;
  if (C < 2) {
    fail("embedding_metrics - need at least 2 classes: {{got {}}}", C);
  }
  if (static_cast<int64_t>(train_counts.size()) != C) {
    fail(
        "embedding_metrics - train_counts needs one entry per class: {{got "
        "{}, classes {}}}",
        train_counts.size(),
        C);
  }
  const EmbeddingView& ref = reference ? *reference : evaluated;
  if (ref.dim != evaluated.dim) {
    fail(
        "embedding_metrics - reference and evaluated dims differ: {{got {} "
        "and {}}}",
        ref.dim,
        evaluated.dim);
  }
  const int64_t D = evaluated.dim;
  const auto eval_norms = row_norms(evaluated, C, "evaluated");
  const auto ref_norms =
      reference ? row_norms(ref, C, "reference") : eval_norms;
  const auto groups = data::shot_groups(train_counts, thresholds);

  EmbeddingMetrics out;
  out.num_classes = C;
  out.dim = D;
  out.samples = evaluated.rows;
  out.reference_samples = ref.rows;
  out.separate_reference = reference.has_value();
  out.per_class.resize(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    auto& pc = out.per_class[c];
    pc.index = c;
    pc.group = groups.group_of_class[c];
    pc.train_count = train_counts[c];
  }

  // Centroids: mean of the normalised reference rows, then normalised.
  std::vector<double> mu(static_cast<size_t>(C * D), 0.0);
  for (int64_t i = 0; i < ref.rows; ++i) {
    const int64_t y = ref.labels[i];
    const float* x = ref.data + i * D;
    double* m = mu.data() + y * D;
    for (int64_t d = 0; d < D; ++d) {
      m[d] += x[d] / ref_norms[i];
    }
    ++out.per_class[y].reference_samples;
  }
  std::vector<int64_t> centroid;  // C*, increasing
  for (int64_t c = 0; c < C; ++c) {
    auto& pc = out.per_class[c];
    if (pc.reference_samples == 0) {
      continue;
    }
    double* m = mu.data() + c * D;
    double sq = 0;
    for (int64_t d = 0; d < D; ++d) {
      m[d] /= static_cast<double>(pc.reference_samples);
      sq += m[d] * m[d];
    }
    const double r = std::sqrt(sq);
    pc.resultant_length = r;
    if (r < kMinResultant) {
      continue;  // the rows cancel out: no direction
    }
    for (int64_t d = 0; d < D; ++d) {
      m[d] /= r;
    }
    centroid.push_back(c);
  }
  if (centroid.size() < 2) {
    fail(
        "embedding_metrics - need at least two classes with a centroid "
        "(reference rows): {{got {}}}",
        centroid.size());
  }
  out.centroid_classes = static_cast<int64_t>(centroid.size());

  // Separation: the angular room to the nearest other centroid.
  for (int64_t a : centroid) {
    double best = -std::numeric_limits<double>::infinity();
    int64_t arg = -1;
    for (int64_t b : centroid) {
      if (b == a) {
        continue;
      }
      double dot = 0;
      for (int64_t d = 0; d < D; ++d) {
        dot += mu[a * D + d] * mu[b * D + d];
      }
      if (dot > best) {
        best = dot;
        arg = b;
      }
    }
    out.per_class[a].separation = 1.0 - best;
    out.per_class[a].nearest_class = arg;
  }

  // Per evaluated row: cosines to every centroid.
  std::vector<ClassSums> sums(static_cast<size_t>(C));
  std::vector<char> has_centroid(static_cast<size_t>(C), 0);
  for (int64_t c : centroid) {
    has_centroid[c] = 1;
  }
  int64_t sample_hits = 0;
  for (int64_t i = 0; i < evaluated.rows; ++i) {
    const int64_t y = evaluated.labels[i];
    ++out.per_class[y].samples;
    if (!has_centroid[y]) {
      continue;
    }
    const float* x = evaluated.data + i * D;
    double own = 0, rival = -std::numeric_limits<double>::infinity();
    double best = -std::numeric_limits<double>::infinity();
    int64_t arg = -1;
    for (int64_t c : centroid) {
      const double cs = cosine(x, eval_norms[i], mu.data() + c * D, D);
      if (c == y) {
        own = cs;
      } else {
        rival = std::max(rival, cs);
      }
      if (cs > best) {
        best = cs;
        arg = c;
      }
    }
    auto& s = sums[y];
    ++s.n;
    s.cos_own += own;
    s.margin += own - rival;
    s.positive += own - rival > 0 ? 1 : 0;
    s.hits += arg == y ? 1 : 0;
    sample_hits += arg == y ? 1 : 0;
  }

  std::vector<const ClassEmbeddingStats*> measured, by_group[3];
  for (int64_t c = 0; c < C; ++c) {
    auto& pc = out.per_class[c];
    const auto& s = sums[c];
    if (s.n == 0) {
      continue;
    }
    const double n = static_cast<double>(s.n);
    pc.compactness = s.cos_own / n;
    pc.extent = 1.0 - *pc.compactness;
    pc.margin = s.margin / n;
    pc.positive_margin = static_cast<double>(s.positive) / n;
    pc.nca = 100.0 * static_cast<double>(s.hits) / n;
    measured.push_back(&pc);
    by_group[static_cast<int>(pc.group)].push_back(&pc);
  }
  if (auto all = mean_of(measured)) {
    out.overall = *all;
  }
  out.many = mean_of(by_group[0]);
  out.medium = mean_of(by_group[1]);
  out.few = mean_of(by_group[2]);
  out.nca_samples = evaluated.rows > 0
                        ? 100.0 * static_cast<double>(sample_hits) /
                              static_cast<double>(evaluated.rows)
                        : 0.0;
  out.separation_ratio =
      ratio(out.few, out.many, &EmbeddingGroupStats::separation);
  out.compactness_ratio =
      ratio(out.few, out.many, &EmbeddingGroupStats::compactness);

  double mean = 0, var = 0;
  for (int64_t c : centroid) {
    mean += *out.per_class[c].separation;
  }
  mean /= static_cast<double>(centroid.size());
  for (int64_t c : centroid) {
    const double d = *out.per_class[c].separation - mean;
    var += d * d;
  }
  var /= static_cast<double>(centroid.size());
  if (mean > 0) {
    out.separation_cv = std::sqrt(var) / mean;
  }
  return out;
}

void write_projector_tsv(
    const std::string& vectors_path,
    const std::string& metadata_path,
    const float* embeddings,
    int64_t rows,
    int64_t dim,
    const int64_t* labels,
    const std::vector<std::string>& class_names,
    const std::vector<data::ShotGroup>& group_of_class) {
  const int64_t C = static_cast<int64_t>(group_of_class.size());
  if (rows < 0 || dim < 1 || (rows > 0 && (!embeddings || !labels))) {
    fail(
        "write_projector_tsv - bad embeddings: {{got {} x {}{}}}",
        rows,
        dim,
        rows > 0 && !embeddings ? ", null data" : "");
  }
  if (!class_names.empty() && static_cast<int64_t>(class_names.size()) != C) {
    fail(
        "write_projector_tsv - class_names needs one entry per class: {{got "
        "{}, classes {}}}",
        class_names.size(),
        C);
  }
  std::string vectors, meta = "label\tclass\tgroup\n";
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t y = labels[i];
    if (y < 0 || y >= C) {
      fail(
          "write_projector_tsv - label out of range: {{row {}, got {}, "
          "classes {}}}",
          i,
          y,
          C);
    }
    const float* x = embeddings + i * dim;
    for (int64_t d = 0; d < dim; ++d) {
      vectors += fmt::format(d == 0 ? "{}" : "\t{}", x[d]);
    }
    vectors += '\n';
    meta += fmt::format(
        "{}\t{}\t{}\n",
        y,
        class_names.empty() ? std::to_string(y) : tsv_field(class_names[y]),
        data::shot_group_name(group_of_class[y]));
  }
  util::atomic_write_text(vectors_path, vectors);
  util::atomic_write_text(metadata_path, meta);
}

}  // namespace ltcl::eval
