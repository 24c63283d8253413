#pragma once
// Logging setup: spdlog's default logger writes to stderr and, optionally,
// to a file (the run folder's train.log). Call once from a command.
#include <string>

namespace ltcl::util {

// level: trace, debug, info, warn, error, off. Throws ltcl::Error for an
// unknown level or a log file that cannot be opened.
void setup_logging(const std::string& level = "info",
                   const std::string& file = "");

// `text` at level info into the log files of the default logger only (not
// the terminal): what belongs in train.log but would flood the screen, e.g.
// a run's whole config. Nothing without a log file.
void log_to_file(const std::string& text);

}  // namespace ltcl::util
