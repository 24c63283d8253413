#include "commands.h"
#include "ltcl/util/error.h"

namespace ltcl::apps {

void add_data_stats_command(CLI::App& data) {
  auto* cmd = data.add_subcommand("stats", "Class counts of a dataset");
  cmd->callback([] { fail("ltcl data stats - not built yet"); });
}

}  // namespace ltcl::apps
