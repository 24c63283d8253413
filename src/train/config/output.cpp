// The `output:` section.
#include "ltcl/train/config.h"
#include "sections.h"

namespace ltcl::train::config_sections {

void add_output_keys(ConfigSchema& s) {
  using Str = std::string;
  s.add(make_key<Str>(
      "output.dir",
      LTCL_CONFIG_FIELD(Str, output.dir),
      "Run folder: checkpoints, metrics, CSVs, plots (default: "
      "runs/<config folder>/<config name>).",
      Check<Str>([](const Str& v, const Config&) {
        return v.empty() ? std::string("must not be empty") : std::string();
      })));
  s.add(make_key<bool>(
      "output.plots",
      LTCL_CONFIG_FIELD(bool, output.plots),
      "Write PNG plots."));
  s.add(make_key<bool>(
      "output.tensorboard",
      LTCL_CONFIG_FIELD(bool, output.tensorboard),
      "Also write TensorBoard event files into the run folder: the step "
      "losses, lr and images/s, each evaluation's accuracies, groups, ECE "
      "and per-class accuracy, the config, and the projector config for the "
      "test embeddings (docs/tensorboard.md)."));
}

}  // namespace ltcl::train::config_sections
