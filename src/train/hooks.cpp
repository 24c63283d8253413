#include "hooks.h"

#include <csignal>
#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "ltcl/dist/collectives.h"
#include "ltcl/eval/plot.h"
#include "ltcl/util/progress.h"
#include "ltcl/util/signals.h"

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
    bar_->finish(
        fmt::format("{} lr {:.4g} {:.0f} img/s", text, rec.lr,
                    rec.images_per_s));
  }

 private:
  std::unique_ptr<util::Progress> bar_;
};

// last.pt mid-epoch (train.checkpoint_every) and after every epoch; best.pt
// when the epoch's evaluation improved on the best top-1.
class CheckpointHook : public Hook {
 public:
  void step_end(Run& run, const StepInfo& s) override {
    const int64_t every = run.config.train.checkpoint_every;
    if (every > 0 && run.state.global_step % every == 0 && s.step < s.steps) {
      run.save_last(s.epoch, s.step);
    }
  }
  void epoch_recorded(Run& run, const eval::EpochRecord& rec) override {
    run.save_last(rec.epoch + 1, 0);
    if (run.improved) {
      run.save_as(run.best);
    }
  }
};

// All ranks stop after the same step: a signal seen by any rank stops every
// rank (a one-number all-reduce).
class StopSignal : public Hook {
 public:
  bool stop_after(Run& run, const StepInfo&) override {
    bool stop = util::stop_requested();
    if (run.ctx.distributed()) {
      auto flag = torch::full({1}, stop ? 1.0 : 0.0, torch::kDouble);
      run.ctx.all_reduce(flag, dist::ReduceOp::kMax);
      stop = flag.item<double>() > 0;
    }
    return stop;
  }
};

// Every train.eval_every epochs and after the last: the test report into
// metrics.jsonl and the epoch's record; the best top-1 so far.
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
    run.report = run.evaluate();
    run.have_report = true;
    const auto& r = run.report;
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
    eval::append_metrics_jsonl((run.out / "metrics.jsonl").string(), r, extra);
    spdlog::info(
        "eval epoch {}: top-1 {:.2f}  many {:.2f}  medium {:.2f}  few {:.2f}",
        rec.epoch + 1, r.top1, r.many, r.medium, r.few);
    if (r.top1 > run.state.best_metric) {
      run.improved = true;
      run.state.best_metric = r.top1;
      run.state.best_epoch = rec.epoch + 1;
    }
  }
};

class Curves : public Hook {
 public:
  void epoch_recorded(Run& run, const eval::EpochRecord&) override {
    if (run.main && run.config.output.plots) {
      eval::write_curves((run.out / "curves.png").string(), run.history);
    }
  }
};

// The final report of the last evaluation (evaluated now when a resumed run
// had none left to do). Rank 0.
class Reports : public Hook {
 public:
  void run_end(Run& run) override {
    const Config& c = run.config;
    if (!run.have_report) {
      run.report = run.evaluate();
      run.have_report = true;
    }
    eval::Scalars extra = {
        {"epoch", static_cast<double>(c.schedule.epochs)},
        {"best_top1", run.state.best_metric},
        {"best_epoch", static_cast<double>(run.state.best_epoch)}};
    const auto& out = run.out;
    eval::write_metrics_json((out / "metrics.json").string(), run.report, extra);
    eval::write_per_class_csv((out / "per_class.csv").string(), run.report);
    eval::write_confusion_csv((out / "confusion.csv").string(), run.report);
    if (c.output.plots) {
      eval::write_class_accuracy_plot(
          (out / "per_class.png").string(),
          run.report,
          fmt::format(
              "{} on {}: per-class top-1", c.loss.method, c.data.dataset));
      eval::write_curves((out / "curves.png").string(), run.history);
    }
  }
};

}  // namespace

Hooks standard_hooks(const Config&) {
  Hooks h;
  h.push_back(std::make_unique<DebugSignal>());
  h.push_back(std::make_unique<Progress>());
  h.push_back(std::make_unique<CheckpointHook>());
  h.push_back(std::make_unique<StopSignal>());
  h.push_back(std::make_unique<Evaluation>());
  h.push_back(std::make_unique<Curves>());
  h.push_back(std::make_unique<Reports>());
  return h;
}

}  // namespace ltcl::train::hooks
