// `ltcl predict` and `ltcl export`: a trained model on new images, and the
// model as a TorchScript file for Python / LibTorch users. Both need nothing
// but the checkpoint (and the images).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numeric>

#include <torch/torch.h>

#include "commands.h"
#include "ltcl/data/image_files.h"
#include "ltcl/eval/evaluate.h"
#include "ltcl/models/export.h"
#include "ltcl/models/network.h"
#include "ltcl/train/adjust.h"
#include "ltcl/train/data.h"
#include "ltcl/train/saved_model.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"
#include "ltcl/util/guard.h"

namespace ltcl::apps {
namespace {

// A CSV field, quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) {
    return s;
  }
  std::string out = "\"";
  for (char c : s) {
    out += c;
    if (c == '"') {
      out += '"';
    }
  }
  return out + "\"";
}

// Softmax of one row, in double (stable: shifted by the row's maximum).
std::vector<double> softmax(const float* logits, int64_t n) {
  const double mx = *std::max_element(logits, logits + n);
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t c = 0; c < n; ++c) {
    p[c] = std::exp(static_cast<double>(logits[c]) - mx);
    sum += p[c];
  }
  for (auto& v : p) {
    v /= sum;
  }
  return p;
}

// The eval recipe's preprocessing in words, for the export's JSON.
std::string describe_resize(const augment::DatasetStats& s) {
  if (s.large()) {
    return "resize the shorter side to 256 (bilinear), center-crop 224x224";
  }
  return fmt::format(
      "none for {0}x{1} images; others: resize the shorter side to {2} "
      "(bilinear), center-crop {0}x{1}",
      s.height,
      s.width,
      std::max(s.height, s.width));
}

}  // namespace

void add_adjust_options(CLI::App* cmd, train::AdjustOverride& adjust) {
  cmd->add_option(
        "--adjust",
        adjust.adjust,
        "Evaluation-time logit transform in place of the checkpoint's "
        "model.adjust: posthoc_la (logits - log(pi^tau + 1e-12), pi the "
        "training class frequencies), tau_norm (classifier rows over "
        "||w||^tau), ncm (a checkpoint written by ltcl adjust --adjust ncm) "
        "or none")
      ->check(CLI::IsMember(models::adjust_names()));
  cmd->add_option(
        "--adjust-tau",
        adjust.tau,
        "tau of the transform (default: the checkpoint's model.adjust_tau)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option(
        "--tau-norm-bias",
        adjust.bias,
        "1: tau_norm keeps the classifier bias (BagofTricks-LT), 0: drops "
        "it (official)")
      ->check(CLI::Range(0, 1));
}

void add_predict_commands(CLI::App& app) {
  struct PredictArgs {
    std::string checkpoint;
    std::vector<std::string> inputs;
    int64_t top_k = 5;
    std::string format = "csv";
    std::string out;
    bool logits = false;
    int64_t batch_size = 0;
    int64_t threads = 0;
    std::string device = "cpu";
    train::AdjustOverride adjust;
  };
  auto a = std::make_shared<PredictArgs>();
  auto* pr = app.add_subcommand(
      "predict",
      "Classify images with a trained checkpoint: top-k classes and "
      "probabilities (CSV or JSON)");
  pr->add_option("--checkpoint", a->checkpoint, "best.pt / last.pt")
      ->required();
  pr->add_option(
        "inputs",
        a->inputs,
        "Image files, folders (every .jpg/.jpeg/.png below) or list files "
        "(one path a line, relative to the list; a trailing label is "
        "ignored)")
      ->required();
  pr->add_option("--top-k", a->top_k, "Classes per image")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  pr->add_option("--format", a->format, "csv | json")
      ->check(CLI::IsMember({"csv", "json"}));
  pr->add_option("--out", a->out, "Output file (default: standard output)");
  pr->add_flag("--logits", a->logits, "Also write every class's logit");
  pr->add_option(
        "--batch-size", a->batch_size, "Images per forward (0: the config's)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  pr->add_option("--threads", a->threads, "Threads (0: all cores)")
      ->check(CLI::Range(int64_t{0}, int64_t{4096}));
  pr->add_option("--device", a->device, "cpu | cuda | auto");
  add_adjust_options(pr, a->adjust);
  pr->callback([a] {
    util::setup_threads(a->threads);
    auto m = train::load_saved_model(a->checkpoint, a->device, a->adjust);
    const auto paths = data::collect_image_paths(a->inputs);
    data::ImageFilesDataset images(paths);
    const int64_t batch =
        a->batch_size > 0 ? a->batch_size : m.config.train.eval_batch_size;
    const auto outputs =
        eval::run_model(*m.model, images, m.eval_recipe(), batch, false);
    const int64_t classes = outputs.num_classes;
    for (size_t i = 0; i < outputs.logits.size(); ++i) {
      if (!std::isfinite(outputs.logits[i])) {
        fail(
            "predict - '{}': the model's output for '{}' is not finite: its "
            "weights diverged",
            a->checkpoint,
            paths[i / static_cast<size_t>(classes)]);
      }
    }
    const int64_t k = std::min(a->top_k, classes);
    const auto& names = m.info.class_names;

    std::string text;
    nlohmann::json rows = nlohmann::json::array();
    if (a->format == "csv") {
      text += "path";
      for (int64_t r = 1; r <= k; ++r) {
        text += fmt::format(",class_{0},index_{0},prob_{0}", r);
      }
      if (a->logits) {
        for (int64_t c = 0; c < classes; ++c) {
          text += "," + csv_field("logit_" + names[c]);
        }
      }
      text += "\n";
    }
    for (size_t i = 0; i < paths.size(); ++i) {
      const float* row = outputs.logits.data() + i * classes;
      const auto p = softmax(row, classes);
      std::vector<int64_t> order(static_cast<size_t>(classes));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
        return p[x] > p[y];
      });
      if (a->format == "csv") {
        text += csv_field(paths[i]);
        for (int64_t r = 0; r < k; ++r) {
          const auto c = order[r];
          text += fmt::format(
              ",{},{},{:.6g}", csv_field(names[c]), c, p[c]);
        }
        if (a->logits) {
          for (int64_t c = 0; c < classes; ++c) {
            text += fmt::format(",{:.9g}", row[c]);
          }
        }
        text += "\n";
      } else {
        nlohmann::json top = nlohmann::json::array();
        for (int64_t r = 0; r < k; ++r) {
          const auto c = order[r];
          top.push_back({{"class", names[c]}, {"index", c}, {"prob", p[c]}});
        }
        nlohmann::json row_json = {{"path", paths[i]}, {"top", top}};
        if (a->logits) {
          row_json["logits"] = std::vector<float>(row, row + classes);
        }
        rows.push_back(std::move(row_json));
      }
    }
    if (a->format == "json") {
      text = rows.dump(1) + "\n";
    }
    if (a->out.empty()) {
      std::cout << text;
    } else {
      util::atomic_write_text(a->out, text);
      std::cerr << fmt::format(
          "wrote {} ({} images)\n", a->out, paths.size());
    }
  });

  struct ExportArgs {
    std::string checkpoint;
    std::string out;
    train::AdjustOverride adjust;
  };
  auto e = std::make_shared<ExportArgs>();
  auto* ex = app.add_subcommand(
      "export",
      "Write a checkpoint's model as a TorchScript file that Python "
      "(torch.jit.load) and LibTorch run without ltcl");
  ex->add_option("--checkpoint", e->checkpoint, "best.pt / last.pt")
      ->required();
  ex->add_option(
        "--out", e->out, "Model file (its preprocessing goes to <out>.json)")
      ->required();
  add_adjust_options(ex, e->adjust);
  ex->callback([e] {
    auto m = train::load_saved_model(e->checkpoint, "cpu", e->adjust);
    const auto& s = m.info.stats;
    const auto recipe = m.eval_recipe();
    {
      // Finite weights can still give NaN (a diverged update: ~1e28): one
      // probe image (the mean image, zeros after normalisation) must give
      // finite logits, or nothing is written.
      torch::NoGradGuard no_grad;
      const auto logits =
          m.model
              ->forward(torch::zeros(
                  {1, recipe.channels, recipe.height, recipe.width}))
              .logits;
      if (!torch::isfinite(logits).all().item<bool>()) {
        fail(
            "export - '{}': the model's output is not finite: its weights "
            "diverged; nothing written",
            e->checkpoint);
      }
    }
    nlohmann::json info = nlohmann::json::parse(m.info.to_json());
    info["format"] = "ltcl TorchScript export 1";
    info["arch"] = m.config.model.arch;
    info["method"] = m.config.loss.method;
    info["logit_adjust"] = m.model->adjust_description();
    info["checkpoint"] = e->checkpoint;
    info["input_size"] = {recipe.channels, recipe.height, recipe.width};
    info["preprocessing"] = {
        {"resize", describe_resize(s)},
        {"channels", s.channels == 1 ? "gray" : "RGB"},
        {"scale", "pixel / 255"},
        {"mean", s.mean},
        {"std", s.std},
        {"layout", "NCHW float32"}};
    info["methods"] = {
        {"forward", "x [N, C, H, W] -> logits [N, classes]"},
        {"features", "x -> backbone features"},
        {"preprocess", "uint8 images [N, H, W, C] -> x (no resizing)"}};
    if (m.model->head) {
      info["methods"]["embeddings"] = "x -> L2-normalised projections";
    }
    info["python"] = fmt::format(
        "m = torch.jit.load('{}'); logits = m(m.preprocess(images))",
        std::filesystem::path(e->out).filename().string());
    models::ExportOptions o;
    o.class_names = m.info.class_names;
    o.mean = s.mean;
    o.std = s.std;
    o.channels = recipe.channels;
    o.height = recipe.height;
    o.width = recipe.width;
    o.info_json = info.dump();
    models::export_torchscript(*m.model, e->out, o);
    util::atomic_write_text(e->out + ".json", info.dump(2) + "\n");
    std::cout << fmt::format(
        "wrote {0} and {0}.json; in Python: import torch; m = "
        "torch.jit.load('{0}'); logits = m(m.preprocess(images_uint8_nhwc))\n",
        e->out);
  });

  struct AdjustArgs {
    std::string checkpoint;
    std::string out;
    std::string adjust;
    std::string tau = "auto";
    std::vector<double> grid;
    int bias = 0;
    std::string device = "cpu";
    bool json = false;
  };
  auto d = std::make_shared<AdjustArgs>();
  auto* ad = app.add_subcommand(
      "adjust",
      "Write a checkpoint whose model applies post-hoc logit adjustment or "
      "tau-normalisation, tau given or chosen on the validation set");
  ad->add_option("--checkpoint", d->checkpoint, "A trained run's best.pt / last.pt")
      ->required();
  ad->add_option("--out", d->out, "The new checkpoint (a model, not a resume point)")
      ->required();
  ad->add_option(
        "--adjust",
        d->adjust,
        "posthoc_la | tau_norm | ncm (nearest class mean: centroids of the "
        "run's training images, no tau)")
      ->required()
      ->check(CLI::IsMember({"posthoc_la", "tau_norm", "ncm"}));
  ad->add_option(
      "--adjust-tau",
      d->tau,
      "tau, or auto: the tau of --grid with the best mean per-class top-1 "
      "on the run's validation set (never the test set)");
  ad->add_option("--grid", d->grid, "taus auto tries (default 0, 0.1, ..., 2)")
      ->check(CLI::Range(0.0, 100.0));
  ad->add_option(
        "--tau-norm-bias", d->bias, "1: tau_norm keeps the classifier bias")
      ->check(CLI::Range(0, 1));
  ad->add_option("--device", d->device, "cpu | cuda | auto");
  ad->add_flag("--json", d->json, "Print the choice as JSON");
  ad->callback([d] {
    double tau = 0;
    nlohmann::ordered_json j;
    j["checkpoint"] = d->checkpoint;
    j["adjust"] = d->adjust;
    j["tau_norm_bias"] = d->bias != 0;
    if (d->adjust == "ncm") {
      // The centroids come from the training images as the run used them.
      const int64_t images =
          train::write_ncm_checkpoint(d->checkpoint, d->out, d->device);
      j["centroids_from"] = fmt::format("train ({} images)", images);
      j["out"] = d->out;
      if (d->json) {
        std::cout << j.dump() << "\n";
      } else {
        std::cout << fmt::format(
            "wrote {}: ncm with the centroids of {} training images; ltcl "
            "eval / predict / export of it apply it\n",
            d->out,
            images);
      }
      return;
    }
    if (d->tau == "auto") {
      train::AdjustOverride raw;
      raw.adjust = "none";
      auto m = train::load_saved_model(d->checkpoint, d->device, raw);
      if (m.config.data.validation == "none") {
        fail(
            "adjust - '{}' was trained without a validation set "
            "(data.validation none), and tau is never chosen on the test "
            "set: give --adjust-tau",
            d->checkpoint);
      }
      auto val = train::open_validation_set(m.config.data);
      const auto grid =
          d->grid.empty() ? train::default_tau_grid() : d->grid;
      const auto sweep = train::sweep_tau(
          *m.model, d->adjust, d->bias != 0, m.info.class_counts, *val,
          m.eval_recipe(), m.config.train.eval_batch_size, grid);
      tau = sweep.best_tau;
      nlohmann::ordered_json rows = nlohmann::ordered_json::array();
      for (size_t k = 0; k < sweep.taus.size(); ++k) {
        rows.push_back(
            {{"tau", sweep.taus[k]},
             {"mean_class", sweep.mean_class[k]},
             {"top1", sweep.top1[k]}});
      }
      j["chosen_on"] = fmt::format("val ({} images)", sweep.images);
      j["sweep"] = rows;
      if (!d->json) {
        std::cout << fmt::format(
            "{} on the validation set ({} images), mean per-class / overall "
            "top-1 %:\n",
            d->adjust,
            sweep.images);
        for (size_t k = 0; k < sweep.taus.size(); ++k) {
          std::cout << fmt::format(
              "  tau {:<6g} {:6.2f}  {:6.2f}{}\n",
              sweep.taus[k],
              sweep.mean_class[k],
              sweep.top1[k],
              sweep.taus[k] == tau ? "  <- chosen" : "");
        }
      }
    } else {
      try {
        size_t used = 0;
        tau = std::stod(d->tau, &used);
        if (used != d->tau.size()) {
          throw std::invalid_argument(d->tau);
        }
      } catch (const std::exception&) {
        fail("--adjust-tau: expected a number or auto: {{got '{}'}}", d->tau);
      }
      if (!std::isfinite(tau) || tau < 0 || tau > 100) {
        fail("--adjust-tau: expected 0 .. 100 or auto: {{got {}}}", tau);
      }
      j["chosen_on"] = "given";
    }
    train::write_adjusted_checkpoint(
        d->checkpoint, d->out, d->adjust, tau, d->bias != 0);
    j["tau"] = tau;
    j["out"] = d->out;
    if (d->json) {
      std::cout << j.dump() << "\n";
    } else {
      std::cout << fmt::format(
          "wrote {}: {} with tau {}; ltcl eval / predict / export of it "
          "apply it\n",
          d->out,
          d->adjust,
          tau);
    }
  });
}

}  // namespace ltcl::apps
