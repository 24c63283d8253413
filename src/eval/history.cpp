#include "ltcl/eval/history.h"

#include <nlohmann/json.hpp>

#include <cmath>

#include "ltcl/eval/plot.h"
#include "ltcl/util/error.h"
#include "ltcl/util/printable.h"

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

// Throws ltcl::Error saying what is wrong when `text` is not what
// history_to_json writes (a checkpoint's table is input like any file).
History history_from_json(const std::string& text) {
  History h;
  if (text.empty()) {
    return h;
  }
  const auto all = nlohmann::json::parse(text, nullptr, false);
  if (all.is_discarded() || !all.is_array()) {
    fail("history_from_json - not a JSON list of epoch records");
  }
  auto number = [](const nlohmann::json& j, const char* key, size_t i) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) {
      fail("history_from_json - record {}: '{}' is missing or not a number",
           i, key);
    }
    return it->get<double>();
  };
  auto numbers = [](const nlohmann::json& j, const char* key, size_t i,
                    bool null_ok) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_object()) {
      fail("history_from_json - record {}: '{}' is missing or not an object",
           i, key);
    }
    std::map<std::string, double> out;
    for (const auto& [k, v] : it->items()) {
      if (!(v.is_number() || (null_ok && v.is_null()))) {
        fail("history_from_json - record {}: '{}.{}' is not a number", i,
             key, printable(k));
      }
      out[k] = v.is_null() ? NAN : v.get<double>();
    }
    return out;
  };
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& j = all[i];
    if (!j.is_object()) {
      fail("history_from_json - record {} is not an object", i);
    }
    EpochRecord r;
    auto epoch = j.find("epoch");
    if (epoch == j.end() || !epoch->is_number_integer() ||
        epoch->get<int64_t>() < 0 ||
        (!h.empty() && epoch->get<int64_t>() <= h.back().epoch)) {
      fail(
          "history_from_json - record {}: 'epoch' is not an epoch after the "
          "previous record's",
          i);
    }
    r.epoch = epoch->get<int64_t>();
    r.lr = number(j, "lr", i);
    r.images_per_s = number(j, "images_per_s", i);
    r.losses = numbers(j, "losses", i, false);
    r.accuracy = numbers(j, "accuracy", i, true);
    if (j.contains("split")) {
      if (!j["split"].is_string()) {
        fail("history_from_json - record {}: 'split' is not a text", i);
      }
      r.split = j["split"].get<std::string>();
      if (r.split != "val" && r.split != "test") {
        fail("history_from_json - record {}: 'split' is '{}', not val or "
             "test", i, printable(r.split));
      }
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
  // A series without one finite value (a shot group without classes) has
  // nothing to draw: no legend entry either.
  auto drawn = [](const Series& s) {
    for (double y : s.y) {
      if (std::isfinite(y)) {
        return true;
      }
    }
    return false;
  };
  for (auto& [k, s] : ls) {
    if (drawn(s)) {
      loss.series.push_back(s);
    }
  }
  for (const char* k : {"top1", "many", "medium", "few"}) {
    if (as.count(k) && drawn(as[k])) {
      acc.series.push_back(as[k]);
    }
  }
  // Both panels span the run's epochs, however few were evaluated (one
  // evaluation at epoch 5 of 5 is a point at 5 of 1..5, not on an axis of
  // its own).
  if (!h.empty() && h.front().epoch < h.back().epoch) {
    for (Panel* p : {&loss, &acc}) {
      p->x_min = static_cast<double>(h.front().epoch + 1);
      p->x_max = static_cast<double>(h.back().epoch + 1);
    }
  }
  write_panels_plot(path, {loss, acc});
}

}  // namespace ltcl::eval
