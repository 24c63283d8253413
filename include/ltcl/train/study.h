#pragma once
// `ltcl study`: one recipe over several seeds and a grid of config values,
// resumable, summarised as mean +- std and a 95 % interval per cell.
//
//   ltcl study --config configs/cifar10_lt/bcl_rcl.yaml --seeds 0,1,2
//       --grid loss.margin_max=0,0.1 --out runs/studies/margin   (one line)
//
// Layout: <out>/<cell>/seed<k>/ is an ordinary run folder (config.yaml,
// last.pt, best.pt, metrics.json, ...); <cell> names the grid values
// ("margin_max=0.1", several joined by ","; "base" without a grid). A run
// whose metrics.json names its selecting split is finished and skipped; one
// with last.pt resumes from it (a killed study continues where it was);
// any other starts afresh. "{seed}" in an override is replaced by the run's
// seed, so a stage 2 runs over the seeds of a stage-1 study:
//   ltcl study --config configs/cifar10_lt/crt.yaml --seeds 0,1,2
//       --set 'model.init_from=runs/s1/base/seed{seed}/best.pt'   (one line)
// (its metrics.json records which stage-1 file each run started from). At
// the end (and after every run) the tables are rewritten: <out>/study.md,
// study.csv and study.json.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ltcl/train/trainer.h"

namespace ltcl::train {

struct StudyAxis {
  std::string key;  // a config key, e.g. loss.margin_max
  std::vector<std::string> values;  // YAML scalars
};

// "key=v1,v2,..." -> axis; throws ltcl::Error naming the text when malformed.
StudyAxis parse_study_axis(const std::string& text);

struct StudySpec {
  std::string config;  // the recipe YAML
  std::vector<std::string> sets;  // key=value overrides for every run
  std::vector<int64_t> seeds = {0, 1, 2};  // train.seed of each run
  std::vector<StudyAxis> grid;  // cartesian product of the axes
  std::filesystem::path out;
};

struct StudyRun {
  std::string cell;  // folder name of the grid values
  std::vector<std::pair<std::string, std::string>> values;  // key, value
  int64_t seed = 0;
  std::filesystem::path dir;  // <out>/<cell>/seed<k>
  // The overrides of this run: spec.sets, the grid values, train.seed,
  // output.dir.
  std::vector<std::string> overrides;
};

// Every run of the study, cells in grid order (the last axis fastest),
// seeds within a cell. Throws ltcl::Error for an empty seed list, a repeated
// seed, an axis without values or a key given twice.
std::vector<StudyRun> plan_study(const StudySpec& spec);

enum class RunStatus { kFinished, kResumable, kFresh };
RunStatus run_status(const std::filesystem::path& run_dir);

struct StudyOutcome {
  int skipped = 0;  // finished before this invocation
  int resumed = 0;  // continued from last.pt
  int trained = 0;  // started afresh
  bool stopped = false;  // a stop signal ended a run (resumable)
};

// Trains one run: (config, resume) -> result. The default builds a Trainer
// in this process.
using TrainFn = std::function<TrainResult(const Config&, bool resume)>;

// Runs what is missing, in plan order, then writes the tables. Stops after
// a run that a signal stopped (its last.pt written). `threads` >= 0
// overrides train.threads. Throws ltcl::Error from a failing run, naming
// the run folder.
StudyOutcome run_study(
    const StudySpec& spec,
    int64_t threads = -1,
    const TrainFn& train = {});

// mean, sample standard deviation (n - 1; 0 for one value) and the
// half-width of the two-sided 95 % Student-t interval of the mean (NaN for
// one value) of the finite values.
struct Summary {
  int64_t n = 0;
  double mean = 0, std = 0, ci95 = 0;
};
Summary summarize(const std::vector<double>& values);

// The 0.975 quantile of Student's t with `dof` degrees of freedom (>= 1).
double student_t_975(int64_t dof);

// The metrics a study table shows, as (column, JSON pointer into a run's
// metrics.json); a run without a value leaves it out of that cell.
const std::vector<std::pair<std::string, std::string>>& study_metrics();

// Reads each finished run's metrics.json and writes <out>/study.md,
// study.csv (one row per cell and metric: n, mean, std, ci95) and study.json.
// Returns the markdown.
std::string write_study_tables(
    const StudySpec& spec,
    const std::vector<StudyRun>& runs);

// mean +- std per group of run folders, for `ltcl compare`: each group is a
// label and its runs' metrics.json folders.
std::string compare_groups(
    const std::vector<std::pair<std::string, std::vector<std::string>>>&
        groups);

}  // namespace ltcl::train
