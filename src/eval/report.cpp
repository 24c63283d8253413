#include "ltcl/eval/report.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"

namespace ltcl::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double mean_of(const std::vector<double>& v) {
  if (v.empty()) {
    return kNaN;
  }
  double s = 0;
  for (double x : v) {
    s += x;
  }
  return s / static_cast<double>(v.size());
}

nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// Writes key: v only for a finite v (absent beats null for a reader).
template <typename Json>
void put(Json& j, const char* key, double v) {
  if (std::isfinite(v)) {
    j[key] = v;
  }
}

template <typename Json>
void put(Json& j, const char* key, const std::optional<double>& v) {
  if (v) {
    put(j, key, *v);
  }
}

nlohmann::ordered_json calibration_summary_json(const CalibrationSummary& s) {
  nlohmann::ordered_json j;
  j["samples"] = s.samples;
  put(j, "ece", s.ece);
  put(j, "mce", s.mce);
  put(j, "nll", s.nll);
  put(j, "top1", s.top1);
  return j;
}

nlohmann::ordered_json embedding_group_json(const EmbeddingGroupStats& g) {
  nlohmann::ordered_json j;
  j["classes"] = g.classes;
  put(j, "compactness", g.compactness);
  put(j, "extent", g.extent);
  put(j, "margin", g.margin);
  put(j, "positive_margin", g.positive_margin);
  put(j, "nca", g.nca);
  put(j, "separation", g.separation);
  put(j, "resultant_length", g.resultant_length);
  return j;
}

std::string format_accuracy(double v) {
  return std::isfinite(v) ? fmt::format("{:.4f}", v) : std::string();
}

}  // namespace

EvalReport make_report(
    const ConfusionMeter& confusion,
    const std::vector<int64_t>& train_counts,
    const std::vector<std::string>& class_names,
    const ShotThresholds& thresholds) {
  const int64_t C = confusion.num_classes();
  if (static_cast<int64_t>(train_counts.size()) != C) {
    fail(
        "make_report - train_counts needs one entry per class: {{got {}, "
        "classes {}}}",
        train_counts.size(),
        C);
  }
  if (!class_names.empty() && static_cast<int64_t>(class_names.size()) != C) {
    fail(
        "make_report - class_names needs one entry per class: {{got {}, "
        "classes {}}}",
        class_names.size(),
        C);
  }
  EvalReport r;
  r.num_classes = C;
  r.confusion = confusion.value();
  r.samples = confusion.total();
  r.top1 = confusion.accuracy();
  const auto groups = data::shot_groups(train_counts, thresholds);
  auto acc = confusion.per_class_accuracy();
  auto totals = confusion.class_totals();
  std::vector<double> all, many, medium, few;
  for (int64_t c = 0; c < C; ++c) {
    ClassResult row;
    row.index = c;
    row.name = class_names.empty() ? std::to_string(c) : class_names[c];
    row.train_count = train_counts[c];
    row.group = groups.group_of_class[c];
    row.test_count = totals[c];
    row.correct = confusion.at(c, c);
    row.accuracy = acc[c];
    switch (row.group) {
      case ShotGroup::kMany:
        ++r.many_classes;
        break;
      case ShotGroup::kMedium:
        ++r.medium_classes;
        break;
      case ShotGroup::kFew:
        ++r.few_classes;
        break;
    }
    if (std::isfinite(row.accuracy)) {
      all.push_back(row.accuracy);
      (row.group == ShotGroup::kMany       ? many
           : row.group == ShotGroup::kMedium ? medium
                                             : few)
          .push_back(row.accuracy);
    }
    r.per_class.push_back(row);
  }
  r.mean_class = mean_of(all);
  r.many = mean_of(many);
  r.medium = mean_of(medium);
  r.few = mean_of(few);
  return r;
}

std::string report_json(
    const EvalReport& r,
    const Scalars& extra,
    bool per_class) {
  nlohmann::ordered_json j;
  for (const auto& [k, v] : extra) {
    j[k] = number(v);
  }
  j["top1"] = number(r.top1);
  j["mean_class"] = number(r.mean_class);
  // An empty group is left out (cmd_compare shows "-"), not null.
  put(j, "many", r.many);
  put(j, "medium", r.medium);
  put(j, "few", r.few);
  j["many_classes"] = r.many_classes;
  j["medium_classes"] = r.medium_classes;
  j["few_classes"] = r.few_classes;
  j["samples"] = r.samples;
  if (r.calibration) {
    j["calibration"] = nlohmann::ordered_json::parse(
        calibration_json(*r.calibration));
  }
  if (per_class) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const auto& c : r.per_class) {
      nlohmann::ordered_json row;
      row["class"] = c.index;
      row["name"] = c.name;
      row["train_count"] = c.train_count;
      row["group"] = shot_group_name(c.group);
      row["test_count"] = c.test_count;
      row["accuracy"] = number(c.accuracy);
      rows.push_back(row);
    }
    j["per_class"] = rows;
  }
  return j.dump();
}

std::string calibration_json(const CalibrationReport& r) {
  nlohmann::ordered_json j;
  j["samples"] = r.overall.samples;
  j["num_classes"] = r.num_classes;
  j["num_bins"] = r.num_bins;
  put(j, "ece", r.overall.ece);
  put(j, "mce", r.overall.mce);
  put(j, "nll", r.overall.nll);
  put(j, "top1", r.overall.top1);
  put(j, "top5", r.top5);
  for (ShotGroup g : {ShotGroup::kMany, ShotGroup::kMedium, ShotGroup::kFew}) {
    if (const auto& s = r.group(g)) {
      j[shot_group_name(g)] = calibration_summary_json(*s);
    }
  }
  nlohmann::ordered_json bins = nlohmann::ordered_json::array();
  for (const auto& b : r.bins) {
    nlohmann::ordered_json row;
    row["lower"] = b.lower;
    row["upper"] = b.upper;
    row["count"] = b.count;
    if (b.count > 0) {
      put(row, "confidence", b.confidence);
      put(row, "accuracy", b.accuracy);
    }
    bins.push_back(row);
  }
  j["bins"] = bins;
  return j.dump();
}

std::string embedding_metrics_json(const EmbeddingMetrics& m, bool per_class) {
  nlohmann::ordered_json j;
  j["num_classes"] = m.num_classes;
  j["dim"] = m.dim;
  j["samples"] = m.samples;
  j["reference_samples"] = m.reference_samples;
  j["separate_reference"] = m.separate_reference;
  j["centroid_classes"] = m.centroid_classes;
  j["measured_classes"] = m.overall.classes;
  if (m.overall.classes > 0) {
    const auto overall = embedding_group_json(m.overall);
    for (auto it = overall.begin(); it != overall.end(); ++it) {
      if (it.key() != "classes") {
        j[it.key()] = it.value();
      }
    }
  }
  put(j, "nca_samples", m.nca_samples);
  put(j, "separation_cv", m.separation_cv);
  put(j, "separation_ratio", m.separation_ratio);
  put(j, "compactness_ratio", m.compactness_ratio);
  for (ShotGroup g : {ShotGroup::kMany, ShotGroup::kMedium, ShotGroup::kFew}) {
    if (const auto& s = m.group(g)) {
      j[shot_group_name(g)] = embedding_group_json(*s);
    }
  }
  if (per_class) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const auto& c : m.per_class) {
      nlohmann::ordered_json row;
      row["class"] = c.index;
      row["group"] = shot_group_name(c.group);
      row["train_count"] = c.train_count;
      row["samples"] = c.samples;
      row["reference_samples"] = c.reference_samples;
      put(row, "resultant_length", c.resultant_length);
      put(row, "separation", c.separation);
      if (c.nearest_class) {
        row["nearest_class"] = *c.nearest_class;
      }
      put(row, "compactness", c.compactness);
      put(row, "extent", c.extent);
      put(row, "margin", c.margin);
      put(row, "positive_margin", c.positive_margin);
      put(row, "nca", c.nca);
      rows.push_back(row);
    }
    j["per_class"] = rows;
  }
  return j.dump();
}

void append_metrics_jsonl(
    const std::string& path,
    const EvalReport& report,
    const Scalars& extra) {
  std::ofstream out(path, std::ios::app);
  if (!out) {
    fail("append_metrics_jsonl - cannot open '{}' for appending", path);
  }
  out << report_json(report, extra, false) << '\n';
  out.flush();
  if (!out) {
    fail("append_metrics_jsonl - writing '{}' failed", path);
  }
}

void write_metrics_json(
    const std::string& path,
    const EvalReport& report,
    const Scalars& extra) {
  auto text = nlohmann::ordered_json::parse(report_json(report, extra, true))
                  .dump(2);
  util::atomic_write_text(path, text + "\n");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) {
    return s;
  }
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') {
      out += '"';
    }
    out += ch;
  }
  return out + "\"";
}

void write_per_class_csv(const std::string& path, const EvalReport& r) {
  std::ostringstream out;
  out << "class,name,train_count,group,test_count,accuracy\n";
  for (const auto& c : r.per_class) {
    out << c.index << ',' << csv_field(c.name) << ',' << c.train_count << ','
        << shot_group_name(c.group) << ',' << c.test_count << ','
        << format_accuracy(c.accuracy) << '\n';
  }
  util::atomic_write_text(path, out.str());
}

void write_confusion_csv(const std::string& path, const EvalReport& r) {
  std::ostringstream out;
  out << "true\\predicted";
  for (const auto& c : r.per_class) {
    out << ',' << csv_field(c.name);
  }
  out << '\n';
  for (int64_t t = 0; t < r.num_classes; ++t) {
    out << csv_field(r.per_class[t].name);
    for (int64_t p = 0; p < r.num_classes; ++p) {
      out << ',' << r.confusion[static_cast<size_t>(t * r.num_classes + p)];
    }
    out << '\n';
  }
  util::atomic_write_text(path, out.str());
}

}  // namespace ltcl::eval
