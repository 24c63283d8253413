#include "ltcl/train/study.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "ltcl/eval/report.h"
#include "ltcl/train/checkpoint.h"
#include "ltcl/util/atomic_file.h"
#include "ltcl/util/error.h"

namespace ltcl::train {
namespace {

namespace fs = std::filesystem;

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) {
    return {};
  }
  const auto b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// A folder-safe form of a value.
std::string safe(const std::string& v) {
  std::string out;
  for (char ch : v) {
    out += (ch == '/' || ch == '\\' || ch == ' ' || ch == ',') ? '_' : ch;
  }
  return out;
}

std::string last_part(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// The metrics.json of a run, or null when it is missing or unreadable.
nlohmann::json read_metrics(const fs::path& dir) {
  std::ifstream in(dir / "metrics.json");
  if (!in) {
    return nullptr;
  }
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json(nullptr);
}

std::string cell_text(const Summary& s) {
  if (s.n == 0) {
    return "-";
  }
  if (s.n == 1) {
    return fmt::format("{:.2f}", s.mean);
  }
  return fmt::format("{:.2f} ± {:.2f} (±{:.2f})", s.mean, s.std, s.ci95);
}

double number_or_nan(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>()
                       : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

StudyAxis parse_study_axis(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    fail("ltcl study --grid: expected key=v1,v2,...: {{got '{}'}}", text);
  }
  StudyAxis a;
  a.key = trim(text.substr(0, eq));
  std::stringstream rest(text.substr(eq + 1));
  std::string v;
  while (std::getline(rest, v, ',')) {
    v = trim(v);
    if (v.empty()) {
      fail("ltcl study --grid '{}': an empty value", text);
    }
    a.values.push_back(v);
  }
  if (a.values.empty()) {
    fail("ltcl study --grid '{}': no values", text);
  }
  return a;
}

std::vector<StudyRun> plan_study(const StudySpec& spec) {
  if (spec.seeds.empty()) {
    fail("ltcl study - no seeds given");
  }
  std::set<int64_t> seen_seed;
  for (auto s : spec.seeds) {
    if (s < 0 || !seen_seed.insert(s).second) {
      fail("ltcl study - seed {} is negative or given twice", s);
    }
  }
  std::set<std::string> keys, parts;
  bool clash = false;
  for (const auto& a : spec.grid) {
    if (a.values.empty()) {
      fail("ltcl study --grid {}: no values", a.key);
    }
    if (!keys.insert(a.key).second) {
      fail("ltcl study --grid: key {} given twice", a.key);
    }
    if (a.key == "train.seed" || a.key == "output.dir") {
      fail("ltcl study --grid: {} is set by the study itself", a.key);
    }
    clash = !parts.insert(last_part(a.key)).second || clash;
  }
  // Cells: the cartesian product, the last axis fastest.
  std::vector<std::vector<std::pair<std::string, std::string>>> cells = {{}};
  for (const auto& a : spec.grid) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& c : cells) {
      for (const auto& v : a.values) {
        auto d = c;
        d.emplace_back(a.key, v);
        next.push_back(std::move(d));
      }
    }
    cells = std::move(next);
  }
  std::vector<StudyRun> runs;
  for (const auto& c : cells) {
    std::string name;
    for (const auto& [k, v] : c) {
      name += fmt::format(
          "{}{}={}", name.empty() ? "" : ",", clash ? k : last_part(k),
          safe(v));
    }
    if (name.empty()) {
      name = "base";
    }
    for (auto seed : spec.seeds) {
      StudyRun r;
      r.cell = name;
      r.values = c;
      r.seed = seed;
      r.dir = spec.out / name / fmt::format("seed{}", seed);
      // "{seed}" in a value is this run's seed: a stage 2 over the seeds
      // of a stage-1 study names model.init_from=S1/base/seed{seed}/best.pt.
      auto with_seed = [seed](std::string text) {
        const std::string mark = "{seed}";
        const std::string value = std::to_string(seed);
        for (size_t at = text.find(mark); at != std::string::npos;
             at = text.find(mark, at + value.size())) {
          text.replace(at, mark.size(), value);
        }
        return text;
      };
      for (const auto& s : spec.sets) {
        r.overrides.push_back(with_seed(s));
      }
      for (const auto& [k, v] : c) {
        r.overrides.push_back(with_seed(k + "=" + v));
      }
      r.overrides.push_back(fmt::format("train.seed={}", seed));
      r.overrides.push_back("output.dir=" + r.dir.string());
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

RunStatus run_status(const fs::path& dir) {
  auto j = read_metrics(dir);
  if (j.is_object() && j.contains("selected_by")) {
    return RunStatus::kFinished;
  }
  std::error_code ec;
  return fs::exists(dir / kLastCheckpoint, ec) ? RunStatus::kResumable
                                               : RunStatus::kFresh;
}

StudyOutcome run_study(
    const StudySpec& spec,
    int64_t threads,
    const TrainFn& train) {
  const auto runs = plan_study(spec);
  // Every config first: a typo in a grid key fails before any training.
  std::vector<Config> configs;
  for (const auto& r : runs) {
    auto overrides = r.overrides;
    if (threads >= 0) {
      overrides.push_back(fmt::format("train.threads={}", threads));
    }
    configs.push_back(load_config(spec.config, overrides));
  }
  fs::create_directories(spec.out);
  StudyOutcome out;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    const RunStatus status = run_status(r.dir);
    if (status == RunStatus::kFinished) {
      ++out.skipped;
      continue;
    }
    const bool resume = status == RunStatus::kResumable;
    spdlog::info(
        "study run {}/{}: {} seed {} ({})", i + 1, runs.size(), r.cell,
        r.seed, resume ? "resuming from last.pt" : "new");
    TrainResult result;
    try {
      if (train) {
        result = train(configs[i], resume);
      } else {
        Trainer t(configs[i]);
        result = t.run(resume);
      }
    } catch (const Error& e) {
      fail("ltcl study - run {} failed: {}", r.dir.string(), e.what());
    }
    ++(resume ? out.resumed : out.trained);
    if (result.stopped) {
      out.stopped = true;
      break;
    }
    write_study_tables(spec, runs);
  }
  write_study_tables(spec, runs);
  return out;
}

double student_t_975(int64_t dof) {
  static const double table[] = {
      12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
      2.2622,  2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
      2.1098,  2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
      2.0595,  2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
  if (dof < 1) {
    fail("student_t_975 - degrees of freedom must be >= 1: {{got {}}}", dof);
  }
  if (dof <= 30) {
    return table[dof - 1];
  }
  // Cornish-Fisher expansion about the normal quantile (error < 1e-4 here).
  const double z = 1.959964;
  const double n = static_cast<double>(dof);
  return z + (z * z * z + z) / (4 * n) +
      (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
}

Summary summarize(const std::vector<double>& values) {
  Summary s;
  double sum = 0;
  for (double v : values) {
    if (std::isfinite(v)) {
      sum += v;
      ++s.n;
    }
  }
  if (s.n == 0) {
    s.mean = s.std = s.ci95 = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.mean = sum / static_cast<double>(s.n);
  if (s.n == 1) {
    s.std = 0;
    s.ci95 = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  double ss = 0;
  for (double v : values) {
    if (std::isfinite(v)) {
      ss += (v - s.mean) * (v - s.mean);
    }
  }
  s.std = std::sqrt(ss / static_cast<double>(s.n - 1));
  s.ci95 = student_t_975(s.n - 1) * s.std / std::sqrt(static_cast<double>(s.n));
  return s;
}

const std::vector<std::pair<std::string, std::string>>& study_metrics() {
  static const std::vector<std::pair<std::string, std::string>> m = {
      {"top1", "/top1"},
      {"many", "/many"},
      {"medium", "/medium"},
      {"few", "/few"},
      {"val_top1", "/val/top1"},
      {"last_top1", "/last/top1"},
      {"ece", "/calibration/ece"},
      {"nll", "/calibration/nll"},
      {"z_compactness", "/embedding/projection/compactness"},
      {"z_margin", "/embedding/projection/margin"},
      {"z_margin_few", "/embedding/projection/few/margin"},
      {"z_separation_cv", "/embedding/projection/separation_cv"},
      {"z_ncm", "/embedding/projection/nca"},
      {"f_compactness", "/embedding/feature/compactness"},
      {"f_margin", "/embedding/feature/margin"},
      {"f_margin_few", "/embedding/feature/few/margin"},
      {"f_ncm", "/embedding/feature/nca"},
  };
  return m;
}

std::string write_study_tables(
    const StudySpec& spec,
    const std::vector<StudyRun>& runs) {
  // Cells in plan order, each with its runs' metrics.
  std::vector<std::string> order;
  std::map<std::string, std::vector<nlohmann::json>> metrics;
  std::map<std::string, int64_t> planned;
  for (const auto& r : runs) {
    if (!planned.count(r.cell)) {
      order.push_back(r.cell);
    }
    ++planned[r.cell];
    auto j = read_metrics(r.dir);
    if (j.is_object() && j.contains("selected_by")) {
      metrics[r.cell].push_back(std::move(j));
    }
  }
  // Columns with a value in at least one run.
  std::vector<std::pair<std::string, std::string>> cols;
  for (const auto& m : study_metrics()) {
    bool any = false;
    for (const auto& [cell, js] : metrics) {
      for (const auto& j : js) {
        any = any || j.contains(nlohmann::json::json_pointer(m.second));
      }
    }
    if (any) {
      cols.push_back(m);
    }
  }
  std::string selection = "-";
  for (const auto& [cell, js] : metrics) {
    for (const auto& j : js) {
      selection = j.value("selection", std::string("-"));
    }
  }
  std::ostringstream md, csv;
  nlohmann::ordered_json js = nlohmann::ordered_json::object();
  md << fmt::format(
      "# Study: {}\n\nSeeds {}; checkpoint: {}. Cells: mean ± sample std "
      "(± half-width of the 95 % Student-t interval of the mean) over the "
      "finished seeds; test-set figures unless the column says otherwise.\n\n",
      spec.config, fmt::join(spec.seeds, ", "), selection);
  md << "| cell | runs |";
  for (const auto& c : cols) {
    md << " " << c.first << " |";
  }
  md << "\n|---|---|";
  for (size_t i = 0; i < cols.size(); ++i) {
    md << "---|";
  }
  md << "\n";
  csv << "cell,metric,n,mean,std,ci95\n";
  js["config"] = spec.config;
  js["seeds"] = spec.seeds;
  js["selection"] = selection;
  js["cells"] = nlohmann::ordered_json::array();
  for (const auto& cell : order) {
    const auto& runs_of = metrics[cell];
    md << fmt::format("| {} | {}/{} |", cell, runs_of.size(), planned[cell]);
    nlohmann::ordered_json cj;
    cj["cell"] = cell;
    cj["runs"] = runs_of.size();
    cj["planned"] = planned[cell];
    for (const auto& [name, ptr] : cols) {
      std::vector<double> v;
      for (const auto& j : runs_of) {
        const nlohmann::json::json_pointer p(ptr);
        v.push_back(j.contains(p) ? number_or_nan(j.at(p))
                                  : std::numeric_limits<double>::quiet_NaN());
      }
      const Summary s = summarize(v);
      md << " " << cell_text(s) << " |";
      csv << fmt::format(
          "{},{},{},{},{},{}\n", eval::csv_field(cell), name, s.n,
          s.n ? fmt::format("{:.6g}", s.mean) : "",
          s.n ? fmt::format("{:.6g}", s.std) : "",
          s.n > 1 ? fmt::format("{:.6g}", s.ci95) : "");
      nlohmann::ordered_json mj;
      mj["n"] = s.n;
      mj["values"] = v;
      for (auto& x : mj["values"]) {
        if (!std::isfinite(x.get<double>())) {
          x = nullptr;
        }
      }
      mj["mean"] = s.n ? nlohmann::ordered_json(s.mean) : nullptr;
      mj["std"] = s.n ? nlohmann::ordered_json(s.std) : nullptr;
      mj["ci95"] = s.n > 1 ? nlohmann::ordered_json(s.ci95) : nullptr;
      cj[name] = mj;
    }
    js["cells"].push_back(cj);
    md << "\n";
  }
  util::atomic_write_text((spec.out / "study.md").string(), md.str());
  util::atomic_write_text((spec.out / "study.csv").string(), csv.str());
  util::atomic_write_text((spec.out / "study.json").string(), js.dump(2) + "\n");
  return md.str();
}

std::string compare_groups(
    const std::vector<std::pair<std::string, std::vector<std::string>>>&
        groups) {
  std::ostringstream out;
  out << fmt::format(
      "{:<28} {:>4}  {:>22} {:>22} {:>22} {:>22}  {}\n", "group", "runs",
      "overall", "many", "medium", "few", "checkpoint");
  for (const auto& [label, dirs] : groups) {
    std::vector<nlohmann::json> js;
    for (const auto& d : dirs) {
      auto j = read_metrics(d);
      if (!j.is_object()) {
        fail(
            "ltcl compare - cannot read {} (has the run finished?)",
            (fs::path(d) / "metrics.json").string());
      }
      js.push_back(std::move(j));
    }
    auto col = [&](const char* key) {
      std::vector<double> v;
      for (const auto& j : js) {
        v.push_back(j.contains(key) ? number_or_nan(j[key])
                                    : std::numeric_limits<double>::quiet_NaN());
      }
      const Summary s = summarize(v);
      if (s.n == 0) {
        return fmt::format("{:>22}", "-");
      }
      return fmt::format(
          "{:>22}", s.n == 1 ? fmt::format("{:.2f}", s.mean)
                             : fmt::format("{:.2f} ± {:.2f}", s.mean, s.std));
    };
    std::set<std::string> sel;
    for (const auto& j : js) {
      sel.insert(j.value("selection", std::string("final epoch, unlabelled")));
    }
    out << fmt::format(
        "{:<28} {:>4}  {} {} {} {}  {}\n", label, js.size(), col("top1"),
        col("many"), col("medium"), col("few"), fmt::join(sel, "; "));
  }
  return out.str();
}

}  // namespace ltcl::train
