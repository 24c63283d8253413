#pragma once
// The config sections, one small file each (src/train/config/<section>.cpp),
// declared on the key engine of train/config_schema.h. The loss section is
// loss.method plus the keys the registered methods declare (engine.cpp).
#include <fmt/format.h>

#include "ltcl/train/config_schema.h"

namespace ltcl::train::config_sections {

void add_data_keys(ConfigSchema& schema);
void add_model_keys(ConfigSchema& schema);
void add_loss_keys(ConfigSchema& schema);
void add_optim_keys(ConfigSchema& schema);
void add_schedule_keys(ConfigSchema& schema);
void add_run_keys(ConfigSchema& schema);  // the `train:` section
void add_dist_keys(ConfigSchema& schema);
void add_output_keys(ConfigSchema& schema);

// Bounds of the keys that size threads and memory (int_range).
inline constexpr int64_t kMaxThreads = 1024;
inline constexpr int64_t kMaxWidth = 65536;  // layer widths
inline constexpr int64_t kMaxBatch = int64_t(1) << 20;

// The value of a key as YAML text (for messages).
std::string value_text(const std::vector<std::string>& v);
std::string value_text(const std::vector<int64_t>& v);

}  // namespace ltcl::train::config_sections
