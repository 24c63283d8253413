// The `schedule:` section.
#include "ltcl/train/config.h"
#include "sections.h"

namespace ltcl::train::config_sections {

void add_schedule_keys(ConfigSchema& s) {
  using Ints = std::vector<int64_t>;
  s.add(make_key<int64_t>(
      "schedule.epochs",
      LTCL_CONFIG_FIELD(int64_t, schedule.epochs),
      "Training epochs.",
      int_range(1, 1000000)));
  s.add(make_key<int64_t>(
      "schedule.warmup_epochs",
      LTCL_CONFIG_FIELD(int64_t, schedule.warmup_epochs),
      "Linear warm-up epochs (<= epochs).",
      Check<int64_t>([](const int64_t& v, const Config& c) {
        if (v < 0 || v > c.schedule.epochs) {
          return fmt::format(
              "must be in [0, schedule.epochs = {}], got {}",
              c.schedule.epochs,
              v);
        }
        return std::string();
      })));
  s.add(make_key<std::string>(
      "schedule.kind",
      LTCL_CONFIG_FIELD(std::string, schedule.kind),
      "Decay after warm-up.",
      {},
      {"cosine", "multistep"}));
  s.add(make_key<Ints>(
      "schedule.milestones",
      LTCL_CONFIG_FIELD(Ints, schedule.milestones),
      "Multistep: epochs at which lr is multiplied by gamma (increasing, "
      "in [1, epochs]).",
      Check<Ints>([](const Ints& v, const Config& c) {
        if (c.schedule.kind != "multistep") {
          return std::string();
        }
        for (size_t i = 0; i < v.size(); ++i) {
          if (v[i] < 1 || v[i] > c.schedule.epochs ||
              (i > 0 && v[i] <= v[i - 1])) {
            return fmt::format(
                "must be strictly increasing epochs in [1, {}], got {}",
                c.schedule.epochs,
                value_text(v));
          }
        }
        return std::string();
      })));
  s.add(make_key<double>(
      "schedule.gamma",
      LTCL_CONFIG_FIELD(double, schedule.gamma),
      "Multistep factor, in (0, 1].",
      Check<double>([](const double& v, const Config&) {
        return (v > 0 && v <= 1)
            ? std::string()
            : fmt::format("must be in (0, 1], got {}", v);
      })));
  s.add(make_key<double>(
      "schedule.min_lr",
      LTCL_CONFIG_FIELD(double, schedule.min_lr),
      "Cosine floor (< optim.lr).",
      Check<double>([](const double& v, const Config& c) {
        return (v >= 0 && v < c.optim.lr)
            ? std::string()
            : fmt::format(
                  "must be in [0, optim.lr = {}), got {}", c.optim.lr, v);
      })));
}

}  // namespace ltcl::train::config_sections
