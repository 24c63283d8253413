#include "ltcl/train/hooks.h"

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "ltcl/dist/collectives.h"
#include "ltcl/data/shot_groups.h"
#include "ltcl/eval/embedding_metrics.h"
#include "ltcl/eval/plot.h"
#include "ltcl/util/progress.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"
#include "ltcl/util/signals.h"
#include "ltcl/util/tensorboard.h"

namespace ltcl::train::hooks {
namespace {

// Test hooks (documented in docs/training.md): after global step N the
// process raises SIGKILL (LTCL_DEBUG_KILL_AT_STEP) or SIGTERM
// (LTCL_DEBUG_TERM_AT_STEP) on itself, so that tests can cut a run at an
// exact step. 0 / unset: off. In a data-parallel job, LTCL_DEBUG_KILL_RANK=r
// restricts both to rank r (unset: every rank).
class DebugSignal : public Hook {
 public:
  DebugSignal()
      : kill_at_(env_step("LTCL_DEBUG_KILL_AT_STEP")),
        term_at_(env_step("LTCL_DEBUG_TERM_AT_STEP")) {}

  void step_end(Run& run, const StepInfo&) override {
    const int64_t g = run.state.global_step;
    if (kill_at_ > 0 && g == kill_at_ && this_rank(run)) {
      std::raise(SIGKILL);
    }
    if (term_at_ > 0 && g == term_at_ && this_rank(run)) {
      std::raise(SIGTERM);
    }
  }

 private:
  static int64_t env_step(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::atoll(v) : 0;
  }
  static bool this_rank(const Run& run) {
    const char* v = std::getenv("LTCL_DEBUG_KILL_RANK");
    return v == nullptr || std::atoi(v) == run.ctx.rank();
  }

  int64_t kill_at_;
  int64_t term_at_;
};

// The progress bar (a terminal) or a line every train.log_every steps.
class Progress : public Hook {
 public:
  void epoch_begin(Run& run, int64_t epoch, int64_t steps) override {
    if (finished_ == 0 && !started_) {
      run_start_ = std::chrono::steady_clock::now();
      started_ = true;
    }
    const bool tty = run.main && util::stdout_is_tty();
    bar_ = std::make_unique<util::Progress>(
        fmt::format("epoch {}/{}", epoch + 1, run.config.schedule.epochs),
        steps,
        tty,
        run.config.train.log_every);
  }
  void step_end(Run& run, const StepInfo& s) override {
    if (run.main) {
      bar_->update(
          s.step,
          fmt::format("loss {:.4f}  lr {:.4g}", s.losses->at("total"), s.lr));
    }
  }
  void epoch_end(Run& run, eval::EpochRecord& rec) override {
    if (!run.main) {
      return;
    }
    std::string text;
    for (const auto& [k, v] : rec.losses) {
      text += fmt::format(" {} {:.4f}", k, v);
    }
    ++finished_;
    const int64_t left = run.config.schedule.epochs - (rec.epoch + 1);
    const double eta = util::run_eta_seconds(
        std::chrono::duration<double>(
            std::chrono::steady_clock::now() - run_start_)
            .count(),
        finished_,
        left);
    bar_->finish(fmt::format(
        "{} lr {:.4g} {:.0f} img/s{}", text, rec.lr, rec.images_per_s,
        left > 0 ? "  run ETA " + util::format_duration(eta) : ""));
  }

 private:
  std::unique_ptr<util::Progress> bar_;
  // The run's ETA: wall time since this process's first epoch began.
  bool started_ = false;
  int64_t finished_ = 0;
  std::chrono::steady_clock::time_point run_start_;
};

// last.pt mid-epoch (train.checkpoint_every) and after every epoch; best.pt
// when the epoch's evaluation improved on the best top-1. best.pt is written
// first: last.pt then never names a best epoch whose best.pt is not on disk
// (a cut between the two resumes from the previous last.pt and redoes the
// epoch, writing the same best.pt again). LTCL_DEBUG_KILL_AFTER_BEST=1 (a
// test hook) raises SIGKILL right after the first best.pt, before last.pt.
class CheckpointHook : public Hook {
 public:
  void step_end(Run& run, const StepInfo& s) override {
    const int64_t every = run.config.train.checkpoint_every;
    if (every > 0 && run.state.global_step % every == 0 && s.step < s.steps) {
      run.save_last(s.epoch, s.step);
    }
  }
  void epoch_recorded(Run& run, const eval::EpochRecord& rec) override {
    if (run.improved) {
      run.capture_state(rec.epoch + 1, 0);
      run.save_as(run.best);
      const char* kill = std::getenv("LTCL_DEBUG_KILL_AFTER_BEST");
      if (kill != nullptr && std::string(kill) == "1") {
        std::raise(SIGKILL);
      }
    }
    run.save_last(rec.epoch + 1, 0);
  }
};

// All ranks stop after the same step: a signal seen by any rank stops every
// rank.
class StopSignal : public Hook {
 public:
  bool stop_after(Run& run, const StepInfo&) override {
    return stop_agreed(run.ctx);
  }
};

// The split evaluated during training: the selecting one (val, or test
// with train.select_on test); with select_on last, val when there is one.
std::string progress_split(const Run& run) {
  if (run.config.train.select_on == "test") {
    return "test";
  }
  return run.has_val ? "val" : "test";
}

// What selected the reported checkpoint, in words every report repeats.
std::string selection_label(const std::string& select_on) {
  if (select_on == "val") {
    return "validation-selected";
  }
  if (select_on == "test") {
    return "test-selected, as in the papers";
  }
  return "final model (no selection)";
}

// The `k` leading principal axes of the rows of `x` [N, D] as columns
// [D, k] (eigenvectors of the covariance, largest eigenvalue first), each
// signed so that its largest-magnitude entry is positive (deterministic).
torch::Tensor principal_axes(const torch::Tensor& x, int64_t k) {
  auto centred = x - x.mean(0, true);
  auto cov = centred.t().mm(centred) / std::max<int64_t>(1, x.size(0) - 1);
  auto eig = at::linalg_eigh(cov, "L");  // torch::linalg is not in 2.x torch.h
  auto vecs = std::get<1>(eig).flip({1}).slice(1, 0, k).clone();
  for (int64_t j = 0; j < vecs.size(1); ++j) {
    auto col = vecs.select(1, j);
    const auto i = col.abs().argmax().item<int64_t>();
    if (col[i].item<double>() < 0) {
      col.mul_(-1);
    }
  }
  return vecs;
}

// One metrics.jsonl / metrics.json object: `split` first, then the report.
nlohmann::ordered_json report_object(
    const eval::EvalReport& r,
    const std::string& split,
    const eval::Scalars& extra,
    bool per_class) {
  nlohmann::ordered_json j;
  j["split"] = split;
  const auto body =
      nlohmann::ordered_json::parse(eval::report_json(r, extra, per_class));
  for (const auto& [k, v] : body.items()) {
    j[k] = v;
  }
  return j;
}

// Every train.eval_every epochs and after the last: the progress split's
// report into metrics.jsonl and the epoch's record; best.pt's epoch when its
// mean per-class accuracy (balanced accuracy, also on an imbalanced
// held-out set) improves, unless train.select_on is last.
class Evaluation : public Hook {
 public:
  void epoch_end(Run& run, eval::EpochRecord& rec) override {
    const Config& c = run.config;
    const bool last_epoch = rec.epoch + 1 == c.schedule.epochs;
    const bool due = (rec.epoch + 1) % c.train.eval_every == 0 || last_epoch;
    run.improved = false;
    if (!due || !run.main) {
      return;
    }
    const std::string split = progress_split(run);
    const auto r = run.evaluate(split);
    rec.split = split;
    rec.accuracy = {
        {"top1", r.top1},
        {"many", r.many},
        {"medium", r.medium},
        {"few", r.few}};
    eval::Scalars extra = {
        {"epoch", static_cast<double>(rec.epoch + 1)},
        {"step", static_cast<double>(run.state.global_step)},
        {"lr", rec.lr}};
    for (const auto& [k, v] : rec.losses) {
      extra["loss_" + k] = v;
    }
    append_jsonl(
        run, report_object(r, split, extra, false).dump(), rec.epoch + 1);
    run.evaluation = r;
    // Shot groups without classes are left out (not "nan").
    std::string groups;
    for (auto [name, v] : {std::pair<const char*, double>{"many", r.many},
                           {"medium", r.medium},
                           {"few", r.few}}) {
      if (std::isfinite(v)) {
        groups += fmt::format("  {} {:.2f}", name, v);
      }
    }
    spdlog::info(
        "eval epoch {} ({}): top-1 {:.2f}{}", rec.epoch + 1, split, r.top1,
        groups);
    if (c.train.select_on != "last" && r.mean_class > run.state.best_metric) {
      run.improved = true;
      run.state.best_metric = r.mean_class;
      run.state.best_epoch = rec.epoch + 1;
    }
  }

 private:
  // Idempotent per epoch: a run resumed after a cut between this
  // evaluation and its checkpoint evaluates the epoch again, and its line
  // replaces the earlier one (and any of later epochs) instead of repeating.
  static void append_jsonl(Run& run, const std::string& line, int64_t epoch) {
    const auto path = (run.out / "metrics.jsonl").string();
    std::string kept;
    {
      std::ifstream in(path);
      std::string l;
      while (std::getline(in, l)) {
        auto j = nlohmann::json::parse(l, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.contains("epoch") && j["epoch"].is_number() &&
            j["epoch"].get<double>() >= static_cast<double>(epoch)) {
          continue;
        }
        kept += l + "\n";
      }
    }
    util::atomic_write_text(path, kept + line + "\n");
  }
};

// steps.jsonl: one line per optimizer step (global step, epoch, lr, each
// loss part as the rank mean, images/s of the step: every view of every
// rank over the step's wall time, the wait for the batch included). A resumed run first drops the lines of the
// steps it is about to redo, so every step appears once.
class StepLog : public Hook {
 public:
  void step_end(Run& run, const StepInfo& s) override {
    if (!run.main) {
      return;
    }
    const int64_t g = run.state.global_step;  // this step, 1-based
    if (!out_.is_open()) {
      const auto path = (run.out / "steps.jsonl").string();
      std::string kept;
      {
        std::ifstream in(path);
        std::string l;
        while (std::getline(in, l)) {
          auto j =
              nlohmann::json::parse(l, nullptr, /*allow_exceptions=*/false);
          if (j.is_object() && j.contains("step") && j["step"].is_number() &&
              j["step"].get<int64_t>() < g) {
            kept += l + "\n";
          }
        }
      }
      util::atomic_write_text(path, kept);
      out_.open(path, std::ios::app);
      if (!out_) {
        fail("steps.jsonl - cannot open '{}' for appending", path);
      }
    }
    nlohmann::ordered_json j;
    j["step"] = g;
    j["epoch"] = s.epoch + 1;
    j["lr"] = s.lr;
    for (const auto& [k, v] : *s.losses) {
      j[k] = v;
    }
    j["images_per_s"] =
        s.seconds > 0 ? static_cast<double>(s.images) / s.seconds : 0.0;
    out_ << j.dump() << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

class Curves : public Hook {
 public:
  void epoch_recorded(Run& run, const eval::EpochRecord&) override {
    if (run.main && run.config.output.plots) {
      eval::write_curves((run.out / "curves.png").string(), run.history);
    }
  }
};

// At the end (rank 0): the test set for the final model and for the
// selected checkpoint (best.pt; the final model itself with select_on last
// or when the last evaluation was the best), and the reports of the
// selected one, which every file labels with its selecting split.
class Reports : public Hook {
 public:
  void run_end(Run& run) override {
    const Config& c = run.config;
    const std::string& select_on = c.train.select_on;
    const bool use_best = select_on != "last" && run.state.best_epoch > 0 &&
        run.state.best_epoch != c.schedule.epochs &&
        std::filesystem::exists(run.best);
    const std::string chosen = use_best ? run.best : std::string();
    auto test = run.evaluate_embedded(chosen, "test");
    // The final model's test report: the pass above when it is the chosen
    // one, else its own pass.
    run.last_report = use_best ? run.evaluate("test") : test.report;
    std::optional<eval::EmbeddedEval> val;
    if (run.has_val) {
      val = run.evaluate_embedded(chosen, "val");
    }
    run.report = test.report;
    const int64_t selected_epoch =
        use_best ? run.state.best_epoch : c.schedule.epochs;
    eval::Scalars extra = {
        {"epoch", static_cast<double>(c.schedule.epochs)},
        {"selected_epoch", static_cast<double>(selected_epoch)}};
    auto j = report_object(run.report, "test", extra, true);
    nlohmann::ordered_json head;
    head["selected_by"] = select_on;
    head["selection"] = selection_label(select_on);
    head["validation"] = run.has_val ? run.val_source : std::string("none");
    head["run"] = {
        {"precision", run.precision},
        {"channels_last", run.channels_last},
        {"device", run.device},
        {"threads", run.threads},
        {"processes", run.processes}};
    if (!c.model.init_from.empty()) {
      // A stage 2: which stage 1 it started from.
      head["init_from"] = {
          {"path", c.model.init_from},
          {"crc32", run.init_from_crc32},
          {"parts", c.model.init_from_parts},
          {"tensors", run.init_from_tensors},
          {"freeze", c.model.freeze},
          {"freeze_bn", c.model.freeze_bn}};
    }
    if (select_on != "last") {
      head["selected_metric"] = fmt::format(
          "mean per-class top-1 on {}", select_on == "val" ? "val" : "test");
      head["selected_value"] = run.state.best_metric;
    }
    for (auto& [k, v] : j.items()) {
      head[k] = v;
    }
    // RCL's embedding claims, measured on the test set with the class
    // centroids of the validation set (of the test set itself without one),
    // and on the validation set (docs/metrics.md).
    // An embedding the metrics cannot take (a row of norm 0: a collapsed
    // network after a few steps) costs that block only, never the report.
    auto embedding = [&](const eval::EmbeddedEval& e,
                         const eval::EmbeddedEval* ref, bool per_class) {
      try {
        return nlohmann::ordered_json::parse(eval::embedding_spaces_json(
            e, ref, run.class_counts, per_class));
      } catch (const Error& err) {
        spdlog::warn("metrics.json: no embedding metrics: {}", err.what());
        return nlohmann::ordered_json{{"error", err.what()}};
      }
    };
    head["embedding"] = embedding(test, val ? &*val : nullptr, true);
    if (val) {
      auto v = report_object(val->report, "val", {}, false);
      v["embedding"] = embedding(*val, nullptr, false);
      head["val"] = v;
    }
    head["last"] = report_object(run.last_report, "test", {}, false);
    const auto& out = run.out;
    util::atomic_write_text(
        (out / "metrics.json").string(), head.dump(2) + "\n");
    eval::write_per_class_csv((out / "per_class.csv").string(), run.report);
    eval::write_confusion_csv((out / "confusion.csv").string(), run.report);
    if (c.output.plots) {
      eval::write_class_accuracy_plot(
          (out / "per_class.png").string(),
          run.report,
          fmt::format(
              "{} on {}: per-class test top-1, {} (epoch {})", c.loss.method,
              c.data.dataset, selection_label(select_on), selected_epoch));
      eval::write_curves((out / "curves.png").string(), run.history);
      if (run.report.calibration) {
        eval::write_reliability_plot(
            (out / "reliability.png").string(), *run.report.calibration,
            fmt::format(
                "{} on {}: test reliability, {}", c.loss.method,
                c.data.dataset, selection_label(select_on)));
      }
      write_embedding_plots(run, test);
    }
  }

 private:
  // embedding_pca.png (the first two principal components of the test
  // projections, or of the backbone features without a projection head)
  // and the TensorBoard-projector files embeddings/test_{vectors,
  // metadata}.tsv.
  static void write_embedding_plots(Run& run, const eval::EmbeddedEval& e) {
    const bool proj = e.projection_dim > 0;
    const auto& v = proj ? e.projections : e.features;
    const int64_t dim = proj ? e.projection_dim : e.feature_dim;
    const auto n = static_cast<int64_t>(e.labels.size());
    if (n < 3 || dim < 2) {
      return;
    }
    const auto groups = data::shot_groups(run.class_counts).group_of_class;
    const auto dir = run.out / "embeddings";
    std::filesystem::create_directories(dir);
    eval::write_projector_tsv(
        (dir / "test_vectors.tsv").string(),
        (dir / "test_metadata.tsv").string(), v.data(), n, dim,
        e.labels.data(), run.class_names, groups);
    auto x = torch::from_blob(
                 const_cast<float*>(v.data()), {n, dim}, torch::kFloat)
                 .to(torch::kDouble);
    if (proj) {
      x = torch::nn::functional::normalize(
          x, torch::nn::functional::NormalizeFuncOptions().dim(1));
    }
    const auto pcs = principal_axes(x, 2);
    auto p = (x - x.mean(0, true)).mm(pcs).contiguous();
    std::vector<double> px(static_cast<size_t>(n)), py(static_cast<size_t>(n));
    auto pa = p.accessor<double, 2>();
    for (int64_t i = 0; i < n; ++i) {
      px[static_cast<size_t>(i)] = pa[i][0];
      py[static_cast<size_t>(i)] = pa[i][1];
    }
    const Config& c = run.config;
    eval::write_scatter_plot(
        (run.out / "embedding_pca.png").string(), px, py, e.labels,
        run.class_names, groups,
        fmt::format(
            "{} on {}: test {} (PCA), {}", c.loss.method, c.data.dataset,
            proj ? "projections" : "features",
            selection_label(c.train.select_on)));
  }
};

}  // namespace

bool stop_agreed(const dist::Context& ctx) {
  bool stop = util::stop_requested();
  if (ctx.distributed()) {
    auto flag = torch::full({1}, stop ? 1.0 : 0.0, torch::kDouble);
    ctx.all_reduce(flag, dist::ReduceOp::kMax);
    stop = flag.item<double>() > 0;
  }
  return stop;
}

// output.tensorboard: the run's numbers as TensorBoard event files in the
// run folder (rank 0; util/tensorboard.h), with the values and steps of the
// JSON files they mirror:
//   each step        train/<loss part>, train/lr, train/images_per_s at the
//                    global step (steps.jsonl)
//   each evaluation  <split>/top1, mean_class, many / medium / few (groups
//                    with classes), ece, nll at the epoch's last global step
//                    (metrics.jsonl), <split>/per_class_accuracy as a
//                    histogram and a Markdown table
//   start            config: the resolved config as text
//   end              selected/<...> and last/<...>: metrics.json's test
//                    reports of the selected checkpoint and of the final
//                    model; projector_config.pbtxt naming the test
//                    embeddings (embeddings/test_{vectors,metadata}.tsv)
// A resumed run opens a new event file; TensorBoard drops the first file's
// events past the step the second starts at (its purge of orphaned data).
class TensorBoardLog : public Hook {
 public:
  void step_end(Run& run, const StepInfo& s) override {
    if (!open(run)) {
      return;
    }
    const int64_t g = run.state.global_step;
    for (const auto& [k, v] : *s.losses) {
      tb_->scalar("train/" + k, static_cast<float>(v), g);
    }
    tb_->scalar("train/lr", static_cast<float>(s.lr), g);
    tb_->scalar(
        "train/images_per_s",
        static_cast<float>(
            s.seconds > 0 ? static_cast<double>(s.images) / s.seconds : 0.0),
        g);
  }

  void epoch_end(Run& run, eval::EpochRecord& rec) override {
    if (!open(run)) {
      return;
    }
    if (!rec.split.empty()) {
      report(run.evaluation, rec.split, run.state.global_step);
    }
    tb_->flush();
  }

  void run_end(Run& run) override {
    if (!open(run)) {
      return;
    }
    const int64_t g = run.state.global_step;
    report(run.report, "selected", g);
    report(run.last_report, "last", g);
    const auto dir = run.out / "embeddings";
    if (std::filesystem::exists(dir / "test_vectors.tsv")) {
      tb::write_projector_config(
          run.out.string(),
          {{"test embeddings", "embeddings/test_vectors.tsv",
            "embeddings/test_metadata.tsv"}});
    }
    tb_->close();
  }

 private:
  bool open(Run& run) {
    if (!run.main || !run.config.output.tensorboard) {
      return false;
    }
    if (!tb_) {
      tb_.emplace(run.out.string());
      // Indented: Markdown shows it as code.
      std::string text;
      std::istringstream in(to_yaml(run.config));
      for (std::string line; std::getline(in, line);) {
        text += "    " + line + "\n";
      }
      tb_->text("config", text, run.state.global_step);
    }
    return true;
  }

  void report(const eval::EvalReport& r, const std::string& split, int64_t g) {
    auto put = [&](const std::string& k, double v) {
      if (std::isfinite(v)) {
        tb_->scalar(split + "/" + k, static_cast<float>(v), g);
      }
    };
    put("top1", r.top1);
    put("mean_class", r.mean_class);
    put("many", r.many);
    put("medium", r.medium);
    put("few", r.few);
    if (r.calibration) {
      put("ece", r.calibration->overall.ece);
      put("nll", r.calibration->overall.nll);
    }
    std::vector<float> acc;
    std::string table = "| class | name | train images | accuracy % |\n|---|---|---|---|\n";
    for (const auto& c : r.per_class) {
      if (std::isfinite(c.accuracy)) {
        acc.push_back(static_cast<float>(c.accuracy));
      }
      table += fmt::format(
          "| {} | {} | {} | {} |\n", c.index, c.name, c.train_count,
          std::isfinite(c.accuracy) ? fmt::format("{:.2f}", c.accuracy) : "-");
    }
    if (!acc.empty()) {
      tb_->histogram(split + "/per_class_accuracy", acc, g);
      tb_->text(split + "/per_class", table, g);
    }
  }

  std::optional<tb::EventWriter> tb_;
};

Hooks standard_hooks(const Config&) {
  Hooks h;
  h.push_back(std::make_unique<DebugSignal>());
  h.push_back(std::make_unique<Progress>());
  h.push_back(std::make_unique<StepLog>());
  h.push_back(std::make_unique<CheckpointHook>());
  h.push_back(std::make_unique<StopSignal>());
  h.push_back(std::make_unique<Evaluation>());
  h.push_back(std::make_unique<Curves>());
  h.push_back(std::make_unique<Reports>());
  h.push_back(std::make_unique<TensorBoardLog>());
  return h;
}

}  // namespace ltcl::train::hooks
