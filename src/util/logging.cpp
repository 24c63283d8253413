#include "ltcl/util/logging.h"

#include <memory>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "ltcl/util/error.h"

namespace ltcl::util {

void setup_logging(const std::string& level, const std::string& file) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    fail(
        "setup_logging - unknown level '{}' (trace, debug, info, warn, error, "
        "off)",
        level);
  }
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!file.empty()) {
    try {
      sinks.push_back(
          std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, false));
    } catch (const spdlog::spdlog_ex& e) {
      fail("setup_logging - cannot open log file '{}': {}", file, e.what());
    }
  }
  auto logger =
      std::make_shared<spdlog::logger>("ltcl", sinks.begin(), sinks.end());
  logger->set_level(lvl);
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void log_to_file(const std::string& text) {
  auto logger = spdlog::default_logger();
  if (!logger || !logger->should_log(spdlog::level::info)) {
    return;
  }
  const spdlog::details::log_msg msg(
      logger->name(), spdlog::level::info, text);
  for (const auto& sink : logger->sinks()) {
    if (std::dynamic_pointer_cast<spdlog::sinks::basic_file_sink_mt>(sink)) {
      sink->log(msg);
      sink->flush();
    }
  }
}

}  // namespace ltcl::util
