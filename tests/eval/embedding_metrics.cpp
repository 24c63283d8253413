// embedding_metrics(): hand-computed values on 2-D unit vectors, scale
// invariance, absent classes and groups, a naive recomputation on random
// data; write_projector_tsv. Torch-free (no support.h).
#include "ltcl/eval/embedding_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "ltcl/util/error.h"

namespace {

using ltcl::data::ShotGroup;
using namespace ltcl::eval;
namespace fs = std::filesystem;

constexpr double kPi = 3.14159265358979323846;
const double kR2 = std::sqrt(2.0) / 2;  // cos 45
const double kR3 = std::sqrt(3.0) / 2;  // cos 30
constexpr double kTol = 1e-6;           // inputs are floats

void push_angle(std::vector<float>& v, double degrees, double scale = 1) {
  v.push_back(static_cast<float>(scale * std::cos(degrees * kPi / 180)));
  v.push_back(static_cast<float>(scale * std::sin(degrees * kPi / 180)));
}

// Three classes on the unit circle (training counts 500 / 50 / 5: many,
// medium, few):
//   class 0: rows at +30 and -30 deg -> mean (cos 30, 0), R_0 = cos 30,
//            mu_0 = 0 deg
//   class 1: rows at 90 deg, one of norm 3 -> R_1 = 1, mu_1 = 90 deg
//   class 2: one row at 135 deg           -> R_2 = 1, mu_2 = 135 deg
// Centroid cosines: (0,1) cos 90 = 0, (0,2) cos 135 = -r2, (1,2) cos 45 = r2.
struct Circle {
  std::vector<float> x;
  std::vector<int64_t> y = {0, 0, 1, 1, 2};
  std::vector<int64_t> counts = {500, 50, 5};
  Circle() {
    push_angle(x, 30);
    push_angle(x, -30);
    push_angle(x, 90, 3);
    push_angle(x, 90);
    push_angle(x, 135);
  }
};

TEST(EmbeddingMetrics, HandComputedOnTheUnitCircle) {
  Circle s;
  auto m = embedding_metrics(EmbeddingView(s.x, s.y, 2), 3, s.counts);
  ASSERT_EQ(m.per_class.size(), 3u);
  const auto& c0 = m.per_class[0];
  const auto& c1 = m.per_class[1];
  const auto& c2 = m.per_class[2];
  EXPECT_EQ(c0.samples, 2);
  EXPECT_EQ(c0.reference_samples, 2);
  EXPECT_FALSE(m.separate_reference);
  EXPECT_EQ(m.centroid_classes, 3);
  // R_c; with the evaluated set as reference, compactness_c = R_c.
  EXPECT_NEAR(*c0.resultant_length, kR3, kTol);
  EXPECT_NEAR(*c1.resultant_length, 1, kTol);
  EXPECT_NEAR(*c2.resultant_length, 1, kTol);
  EXPECT_NEAR(*c0.compactness, kR3, kTol);  // cos 30 for both rows
  EXPECT_NEAR(*c0.extent, 1 - kR3, kTol);
  EXPECT_NEAR(*c1.compactness, 1, kTol);
  EXPECT_NEAR(*c2.compactness, 1, kTol);
  // Margins. Class 0, row +30: cos to mu_0, mu_1, mu_2 = cos 30, cos 60,
  // cos 105 -> r3 - 1/2; row -30: cos 30, cos 120, cos 165 -> r3 + 1/2.
  // Mean r3. Class 1 (90 deg): cos to mu_0 = 0, to mu_2 = r2 -> 1 - r2.
  // Class 2 (135 deg): cos to mu_0 = -r2, to mu_1 = r2 -> 1 - r2.
  EXPECT_NEAR(*c0.margin, kR3, kTol);
  EXPECT_NEAR(*c1.margin, 1 - kR2, kTol);
  EXPECT_NEAR(*c2.margin, 1 - kR2, kTol);
  for (const auto& c : m.per_class) {
    EXPECT_DOUBLE_EQ(*c.positive_margin, 1.0);
    EXPECT_DOUBLE_EQ(*c.nca, 100.0);
  }
  EXPECT_DOUBLE_EQ(m.nca_samples, 100.0);
  // Separation: s_0 = 1 - max(0, -r2) = 1 (nearest: class 1);
  // s_1 = 1 - max(0, r2) = 1 - r2 (class 2); s_2 = 1 - max(-r2, r2) (class 1).
  EXPECT_NEAR(*c0.separation, 1, kTol);
  EXPECT_NEAR(*c1.separation, 1 - kR2, kTol);
  EXPECT_NEAR(*c2.separation, 1 - kR2, kTol);
  EXPECT_EQ(*c0.nearest_class, 1);
  EXPECT_EQ(*c1.nearest_class, 2);
  EXPECT_EQ(*c2.nearest_class, 1);
  // CV: mean (3 - sqrt 2) / 3, deviations sqrt2/3, -sqrt2/6, -sqrt2/6,
  // variance (2/9 + 2 * 2/36) / 3 = 1/9, std 1/3 -> CV = 1 / (3 - sqrt 2).
  ASSERT_TRUE(m.separation_cv.has_value());
  EXPECT_NEAR(*m.separation_cv, 1 / (3 - std::sqrt(2.0)), kTol);
  // Groups: one class each.
  ASSERT_TRUE(m.many && m.medium && m.few);
  EXPECT_EQ(m.few->classes, 1);
  EXPECT_NEAR(m.many->compactness, kR3, kTol);
  EXPECT_NEAR(m.few->separation, 1 - kR2, kTol);
  EXPECT_NEAR(m.medium->margin, 1 - kR2, kTol);
  EXPECT_NEAR(*m.separation_ratio, 1 - kR2, kTol);   // s_2 / s_0
  EXPECT_NEAR(*m.compactness_ratio, 1 / kR3, kTol);  // 1 / cos 30
  EXPECT_NEAR(m.overall.compactness, (kR3 + 2) / 3, kTol);
  EXPECT_NEAR(m.overall.extent, (1 - kR3) / 3, kTol);
  EXPECT_NEAR(m.overall.separation, (3 - std::sqrt(2.0)) / 3, kTol);
  EXPECT_EQ(m.overall.classes, 3);
  EXPECT_EQ(&m.group(ShotGroup::kMedium), &m.medium);
}

TEST(EmbeddingMetrics, SeparateReferenceAndAbsentClasses) {
  // Centroids from the circle above (class 3 has none); evaluated:
  //   class 0 at 0 deg:  cos 1, 0, -r2      -> margin 1, hit
  //   class 0 at 60 deg: cos 1/2, r3, cos 75 -> margin 1/2 - r3, miss
  //   class 2 at 135 deg (norm 2*sqrt 2)     -> margin 1 - r2, hit
  //   class 3 at 45 deg: no centroid         -> absent, a miss
  // Class 1 has no evaluated rows: separation yes, compactness no.
  Circle ref;
  std::vector<int64_t> ref_y = ref.y;
  std::vector<float> x;
  push_angle(x, 0);
  push_angle(x, 60);
  push_angle(x, 135, 2 * std::sqrt(2.0));
  push_angle(x, 45);
  std::vector<int64_t> y = {0, 0, 2, 3};
  auto m = embedding_metrics(
      EmbeddingView(x, y, 2),
      4,
      {500, 50, 5, 5},
      {},
      EmbeddingView(ref.x, ref_y, 2));
  EXPECT_TRUE(m.separate_reference);
  EXPECT_EQ(m.samples, 4);
  EXPECT_EQ(m.reference_samples, 5);
  const auto& c0 = m.per_class[0];
  EXPECT_NEAR(*c0.compactness, 0.75, kTol);      // (1 + 1/2) / 2
  EXPECT_NEAR(*c0.resultant_length, kR3, kTol);  // of the reference
  EXPECT_NEAR(*c0.margin, (3 - std::sqrt(3.0)) / 4, kTol);
  EXPECT_DOUBLE_EQ(*c0.positive_margin, 0.5);
  EXPECT_DOUBLE_EQ(*c0.nca, 50.0);
  const auto& c1 = m.per_class[1];
  EXPECT_FALSE(c1.measured());
  EXPECT_FALSE(c1.margin || c1.nca || c1.extent || c1.positive_margin);
  EXPECT_NEAR(*c1.separation, 1 - kR2, kTol);
  const auto& c3 = m.per_class[3];
  EXPECT_EQ(c3.samples, 1);
  EXPECT_EQ(c3.reference_samples, 0);
  EXPECT_FALSE(c3.measured() || c3.separation || c3.resultant_length);
  EXPECT_DOUBLE_EQ(m.nca_samples, 50.0);  // 2 of 4 rows
  // Groups: many {0}, medium {1} (unmeasured -> absent), few {2, 3} -> {2}.
  EXPECT_TRUE(m.many.has_value());
  EXPECT_FALSE(m.medium.has_value());
  ASSERT_TRUE(m.few.has_value());
  EXPECT_EQ(m.few->classes, 1);
  EXPECT_NEAR(*m.compactness_ratio, 1 / 0.75, kTol);
  EXPECT_NEAR(*m.separation_ratio, 1 - kR2, kTol);
  EXPECT_EQ(m.overall.classes, 2);
  EXPECT_NEAR(m.overall.nca, 75.0, kTol);
  EXPECT_NEAR(*m.separation_cv, 1 / (3 - std::sqrt(2.0)), kTol);

  // No few class measured: the ratios are absent too.
  std::vector<float> x0;
  push_angle(x0, 0);
  std::vector<int64_t> y0 = {0};
  auto m0 = embedding_metrics(
      EmbeddingView(x0, y0, 2),
      3,
      {500, 50, 5},
      {},
      EmbeddingView(ref.x, ref_y, 2));
  EXPECT_FALSE(m0.few || m0.medium);
  EXPECT_FALSE(m0.separation_ratio || m0.compactness_ratio);
}

TEST(EmbeddingMetrics, EvenlySpreadCentroidsHaveZeroCv) {
  // Four classes at 0, 90, 180, 270 deg: every s_c = 1 - cos 90 = 1.
  std::vector<float> x;
  for (int c = 0; c < 4; ++c) {
    push_angle(x, 90.0 * c);
  }
  std::vector<int64_t> y = {0, 1, 2, 3};
  auto m = embedding_metrics(EmbeddingView(x, y, 2), 4, {9, 9, 9, 9});
  EXPECT_NEAR(*m.separation_cv, 0, kTol);
  EXPECT_FALSE(m.many || m.medium);  // all few
  EXPECT_FALSE(m.separation_ratio.has_value());
  // All centroids equal: separation 0 everywhere, the CV is absent.
  std::vector<float> same = {1, 0, 2, 0};
  std::vector<int64_t> y2 = {0, 1};
  auto m2 = embedding_metrics(EmbeddingView(same, y2, 2), 2, {9, 9});
  EXPECT_NEAR(*m2.per_class[0].separation, 0, kTol);
  EXPECT_FALSE(m2.separation_cv.has_value());
  // Ties go to the lower class: class 1's row is a miss.
  EXPECT_DOUBLE_EQ(*m2.per_class[0].nca, 100.0);
  EXPECT_DOUBLE_EQ(*m2.per_class[1].nca, 0.0);
  EXPECT_DOUBLE_EQ(*m2.per_class[1].positive_margin, 0.0);  // margin 0
}

void expect_same(const EmbeddingMetrics& a, const EmbeddingMetrics& b) {
  ASSERT_EQ(a.per_class.size(), b.per_class.size());
  auto same = [](const std::optional<double>& u,
                 const std::optional<double>& v) {
    ASSERT_EQ(u.has_value(), v.has_value());
    if (u) {
      EXPECT_NEAR(*u, *v, 1e-5);
    }
  };
  for (size_t c = 0; c < a.per_class.size(); ++c) {
    const auto& p = a.per_class[c];
    const auto& q = b.per_class[c];
    same(p.compactness, q.compactness);
    same(p.margin, q.margin);
    same(p.separation, q.separation);
    same(p.resultant_length, q.resultant_length);
    same(p.positive_margin, q.positive_margin);
    same(p.nca, q.nca);
  }
  same(a.separation_cv, b.separation_cv);
  same(a.compactness_ratio, b.compactness_ratio);
  EXPECT_NEAR(a.overall.margin, b.overall.margin, 1e-5);
  EXPECT_NEAR(a.nca_samples, b.nca_samples, 1e-9);
}

TEST(EmbeddingMetrics, ScalingRowsChangesNothing) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0, 1);
  std::uniform_real_distribution<float> scale(0.1f, 10.0f);
  std::uniform_int_distribution<int64_t> cls(0, 5);
  const int64_t N = 300, D = 6;
  std::vector<float> x(N * D), scaled(N * D);
  std::vector<int64_t> y(N);
  for (int64_t i = 0; i < N; ++i) {
    y[i] = cls(rng);
    const float s = scale(rng);
    for (int64_t d = 0; d < D; ++d) {
      // Class-dependent mean so that the classes differ.
      x[i * D + d] = g(rng) + (d == y[i] ? 2.0f : 0.0f);
      scaled[i * D + d] = s * x[i * D + d];
    }
  }
  const std::vector<int64_t> counts = {500, 300, 80, 40, 10, 5};
  auto a = embedding_metrics(EmbeddingView(x, y, D), 6, counts);
  auto b = embedding_metrics(EmbeddingView(scaled, y, D), 6, counts);
  expect_same(a, b);
}

// The definitions, recomputed directly in double, one row at a time.
std::vector<std::vector<double>> normalised(
    const std::vector<float>& x, int64_t D) {
  std::vector<std::vector<double>> z;
  for (size_t i = 0; i * D < x.size(); ++i) {
    std::vector<double> r(x.begin() + i * D, x.begin() + (i + 1) * D);
    double n = 0;
    for (double v : r) {
      n += v * v;
    }
    for (double& v : r) {
      v /= std::sqrt(n);
    }
    z.push_back(r);
  }
  return z;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += a[i] * b[i];
  }
  return s;
}

TEST(EmbeddingMetrics, MatchesNaiveRecomputationOnRandomData) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0, 1);
  const int64_t C = 5, D = 8;
  const std::vector<int64_t> counts = {400, 150, 60, 25, 8};
  for (bool separate : {false, true}) {
    std::vector<float> x, rx;
    std::vector<int64_t> y, ry;
    for (int i = 0; i < 250; ++i) {
      // Class 4 has no evaluated rows when separate.
      int64_t c = separate ? i % 4 : i % 5;
      y.push_back(c);
      for (int64_t d = 0; d < D; ++d) {
        x.push_back(g(rng) + (d == c ? 1.5f : 0.0f));
      }
      int64_t rc = i % 5;
      ry.push_back(rc);
      for (int64_t d = 0; d < D; ++d) {
        rx.push_back(g(rng) + (d == rc ? 1.5f : 0.0f));
      }
    }
    auto m = separate ? embedding_metrics(
                            EmbeddingView(x, y, D),
                            C,
                            counts,
                            {},
                            EmbeddingView(rx, ry, D))
                      : embedding_metrics(EmbeddingView(x, y, D), C, counts);

    const auto z = normalised(x, D);
    const auto rz = separate ? normalised(rx, D) : z;
    const auto& rlab = separate ? ry : y;
    std::vector<std::vector<double>> mu(C, std::vector<double>(D, 0.0));
    std::vector<double> R(C);
    for (int64_t c = 0; c < C; ++c) {
      int n = 0;
      for (size_t i = 0; i < rz.size(); ++i) {
        if (rlab[i] == c) {
          ++n;
          for (int64_t d = 0; d < D; ++d) {
            mu[c][d] += rz[i][d];
          }
        }
      }
      for (double& v : mu[c]) {
        v /= n;
      }
      R[c] = std::sqrt(dot(mu[c], mu[c]));
      for (double& v : mu[c]) {
        v /= R[c];
      }
    }
    std::vector<double> sep(C);
    double sep_mean = 0;
    for (int64_t c = 0; c < C; ++c) {
      double best = -2;
      for (int64_t o = 0; o < C; ++o) {
        if (o != c) {
          best = std::max(best, dot(mu[c], mu[o]));
        }
      }
      sep[c] = 1 - best;
      sep_mean += sep[c] / C;
      EXPECT_NEAR(*m.per_class[c].separation, sep[c], 1e-9);
      EXPECT_NEAR(*m.per_class[c].resultant_length, R[c], 1e-9);
    }
    double var = 0;
    for (double s : sep) {
      var += (s - sep_mean) * (s - sep_mean) / C;
    }
    EXPECT_NEAR(*m.separation_cv, std::sqrt(var) / sep_mean, 1e-9);
    std::vector<double> comp(C), marg(C), nca(C);
    for (int64_t c = 0; c < C; ++c) {
      double sc = 0, sm = 0, hits = 0, pos = 0;
      int n = 0;
      for (size_t i = 0; i < z.size(); ++i) {
        if (y[i] != c) {
          continue;
        }
        ++n;
        double own = dot(z[i], mu[c]), rival = -2;
        int64_t arg = 0;
        for (int64_t o = 0; o < C; ++o) {
          if (o != c) {
            rival = std::max(rival, dot(z[i], mu[o]));
          }
          if (dot(z[i], mu[o]) > dot(z[i], mu[arg])) {
            arg = o;
          }
        }
        sc += own;
        sm += own - rival;
        pos += own > rival ? 1 : 0;
        hits += arg == c ? 1 : 0;
      }
      if (n == 0) {
        EXPECT_FALSE(m.per_class[c].measured()) << c;
        continue;
      }
      comp[c] = sc / n;
      marg[c] = sm / n;
      nca[c] = 100 * hits / n;
      EXPECT_NEAR(*m.per_class[c].compactness, comp[c], 1e-9) << c;
      EXPECT_NEAR(*m.per_class[c].margin, marg[c], 1e-9) << c;
      EXPECT_NEAR(*m.per_class[c].positive_margin, pos / n, 1e-12) << c;
      EXPECT_NEAR(*m.per_class[c].nca, nca[c], 1e-12) << c;
    }
    // Groups by count: 400, 150 many; 60, 25 medium; 8 few.
    EXPECT_NEAR(m.many->compactness, (comp[0] + comp[1]) / 2, 1e-9);
    EXPECT_NEAR(m.medium->margin, (marg[2] + marg[3]) / 2, 1e-9);
    EXPECT_NEAR(m.medium->separation, (sep[2] + sep[3]) / 2, 1e-9);
    if (separate) {
      EXPECT_FALSE(m.few.has_value());  // class 4 has no evaluated rows
      EXPECT_FALSE(m.compactness_ratio.has_value());
    } else {
      EXPECT_NEAR(m.few->nca, nca[4], 1e-9);
      EXPECT_NEAR(*m.separation_ratio, sep[4] / ((sep[0] + sep[1]) / 2), 1e-9);
      EXPECT_NEAR(
          *m.compactness_ratio, comp[4] / ((comp[0] + comp[1]) / 2), 1e-9);
    }
  }
}

TEST(EmbeddingMetrics, BadInputsThrow) {
  Circle s;
  auto view = EmbeddingView(s.x, s.y, 2);
  EXPECT_THROW(embedding_metrics(view, 3, {1, 2}), ltcl::Error);
  EXPECT_THROW(embedding_metrics(view, 2, {1, 2}), ltcl::Error);  // label 2
  EXPECT_THROW(EmbeddingView(s.x, s.y, 3), ltcl::Error);
  std::vector<float> zero = s.x;
  zero[4] = zero[5] = 0;
  try {
    embedding_metrics(EmbeddingView(zero, s.y, 2), 3, s.counts);
    ADD_FAILURE() << "no throw for a zero row";
  } catch (const ltcl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 2"), std::string::npos)
        << e.what();
  }
  std::vector<float> nan = s.x;
  nan[1] = NAN;
  EXPECT_THROW(
      embedding_metrics(EmbeddingView(nan, s.y, 2), 3, s.counts), ltcl::Error);
  // One class only: no rival centroid.
  std::vector<int64_t> one(5, 0);
  EXPECT_THROW(
      embedding_metrics(EmbeddingView(s.x, one, 2), 3, s.counts), ltcl::Error);
  // Reference of another dimension.
  std::vector<float> r3 = {1, 0, 0, 0, 1, 0};
  std::vector<int64_t> ry = {0, 1};
  EXPECT_THROW(
      embedding_metrics(view, 3, s.counts, {}, EmbeddingView(r3, ry, 3)),
      ltcl::Error);
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(EmbeddingMetrics, ProjectorTsv) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("ltcl_projector_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  const std::vector<float> x = {0.5f, -1.25f, 3.0f, 1e-3f, 0.1f, 2.0f};
  const std::vector<int64_t> y = {2, 0};
  const std::vector<ShotGroup> groups = {
      ShotGroup::kMany, ShotGroup::kMedium, ShotGroup::kFew};
  const auto vec = (dir / "vectors.tsv").string();
  const auto meta = (dir / "metadata.tsv").string();
  write_projector_tsv(
      vec, meta, x.data(), 2, 3, y.data(), {"cat", "dog", "sea\tlion"}, groups);
  EXPECT_EQ(read_all(vec), "0.5\t-1.25\t3\n0.001\t0.1\t2\n");
  EXPECT_EQ(
      read_all(meta), "label\tclass\tgroup\n2\tsea lion\tfew\n0\tcat\tmany\n");
  write_projector_tsv(vec, meta, x.data(), 2, 3, y.data(), {}, groups);
  EXPECT_EQ(read_all(meta), "label\tclass\tgroup\n2\t2\tfew\n0\t0\tmany\n");
  const std::vector<int64_t> bad = {3, 0};
  EXPECT_THROW(
      write_projector_tsv(vec, meta, x.data(), 2, 3, bad.data(), {}, groups),
      ltcl::Error);
  EXPECT_THROW(
      write_projector_tsv(vec, meta, x.data(), 2, 3, y.data(), {"a"}, groups),
      ltcl::Error);
  // Nothing half-written is left besides the two files.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 2);
  fs::remove_all(dir);
}

}  // namespace
