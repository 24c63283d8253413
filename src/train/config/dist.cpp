// The `dist:` section (data parallelism, docs/distributed.md).
#include "ltcl/train/config.h"
#include "sections.h"

namespace ltcl::train::config_sections {

void add_dist_keys(ConfigSchema& s) {
  s.add(make_key<double>(
      "dist.timeout_s",
      LTCL_CONFIG_FIELD(double, dist.timeout_s),
      "Seconds a collective (or the rendezvous) may wait for the other "
      "ranks before the job fails with an error (at most a week).",
      Check<double>([](const double& v, const Config&) {
        return v > 0 && v <= 7 * 24 * 3600.0
            ? std::string()
            : fmt::format("must be in (0, 604800], got {}", v);
      })));
  s.add(make_key<bool>(
      "dist.sync_bn",
      LTCL_CONFIG_FIELD(bool, dist.sync_bn),
      "Synchronise BatchNorm statistics across ranks (default: the "
      "method's; on for every method, so N processes normalise over the "
      "global batch as one process does)."));
  s.add(make_key<double>(
      "dist.bucket_mb",
      LTCL_CONFIG_FIELD(double, dist.bucket_mb),
      "Gradient all-reduce bucket size in MiB.",
      in_range(1e-3, 4096, false)));
}

}  // namespace ltcl::train::config_sections
