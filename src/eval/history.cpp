#include "ltcl/eval/history.h"

#include <nlohmann/json.hpp>

#include <cmath>

#include "ltcl/eval/plot.h"

namespace ltcl::eval {

std::string history_to_json(const History& h) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : h) {
    nlohmann::json j;
    j["epoch"] = r.epoch;
    j["lr"] = r.lr;
    j["images_per_s"] = r.images_per_s;
    j["losses"] = r.losses;
    nlohmann::json acc = nlohmann::json::object();
    for (const auto& [k, v] : r.accuracy) {
      acc[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    }
    j["accuracy"] = acc;
    if (!r.split.empty()) {
      j["split"] = r.split;
    }
    a.push_back(j);
  }
  return a.dump();
}

History history_from_json(const std::string& text) {
  History h;
  if (text.empty()) {
    return h;
  }
  for (const auto& j : nlohmann::json::parse(text)) {
    EpochRecord r;
    r.epoch = j["epoch"];
    r.lr = j["lr"];
    r.images_per_s = j["images_per_s"];
    r.losses = j["losses"].get<std::map<std::string, double>>();
    for (const auto& [k, v] : j["accuracy"].items()) {
      r.accuracy[k] = v.is_null() ? NAN : v.get<double>();
    }
    if (j.contains("split")) {
      r.split = j["split"].get<std::string>();
    }
    h.push_back(r);
  }
  return h;
}

void write_curves(const std::string& path, const History& h) {
  Panel loss;
  loss.title = "training loss";
  loss.y_label = "loss";
  Panel acc;
  std::string split;
  for (const auto& r : h) {
    if (!r.split.empty()) {
      split = r.split;
    }
  }
  acc.title = split == "val" ? "validation accuracy"
      : split.empty()        ? std::string("accuracy")
                             : split + " accuracy";
  acc.y_label = "top-1 %";
  acc.y_min = 0;
  acc.y_max = 100;
  std::map<std::string, Series> ls, as;
  for (const auto& r : h) {
    for (const auto& [k, v] : r.losses) {
      ls[k].name = k;
      ls[k].x.push_back(static_cast<double>(r.epoch + 1));
      ls[k].y.push_back(v);
    }
    for (const auto& [k, v] : r.accuracy) {
      as[k].name = k;
      as[k].x.push_back(static_cast<double>(r.epoch + 1));
      as[k].y.push_back(v);
    }
  }
  for (auto& [k, s] : ls) {
    loss.series.push_back(s);
  }
  for (const char* k : {"top1", "many", "medium", "few"}) {
    if (as.count(k)) {
      acc.series.push_back(as[k]);
    }
  }
  write_panels_plot(path, {loss, acc});
}

}  // namespace ltcl::eval
