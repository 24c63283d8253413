// The `dist:` section (data parallelism, docs/distributed.md).
#include "ltcl/train/config.h"
#include "sections.h"

namespace ltcl::train::config_sections {

void add_dist_keys(ConfigSchema& s) {
  s.add(make_key<double>(
      "dist.timeout_s",
      LTCL_CONFIG_FIELD(double, dist.timeout_s),
      "Seconds a collective (or the rendezvous) may wait for the other "
      "ranks before the job fails with an error.",
      positive()));
  s.add(make_key<bool>(
      "dist.sync_bn",
      LTCL_CONFIG_FIELD(bool, dist.sync_bn),
      "Synchronise BatchNorm statistics across ranks (default: the "
      "method's; on for the contrastive methods)."));
  s.add(make_key<double>(
      "dist.bucket_mb",
      LTCL_CONFIG_FIELD(double, dist.bucket_mb),
      "Gradient all-reduce bucket size in MiB.",
      positive()));
}

}  // namespace ltcl::train::config_sections
