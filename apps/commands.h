#pragma once
// Each apps/cmd_*.cpp adds one group of subcommands to the CLI; main.cpp
// calls them in order. A command's callback throws ltcl::Error on bad input.
#include <CLI/CLI.hpp>

#include "ltcl/train/saved_model.h"

namespace ltcl::apps {

// Thrown by a command to end the program with `code` after its output
// (e.g. util::kExitStopped for a run stopped by a signal); main returns it.
struct ExitWith {
  int code;
};

// `ltcl data stats` (apps/cmd_data_stats.cpp).
void add_data_stats_command(CLI::App& data);

// `ltcl train`, `ltcl eval`, `ltcl embed` (apps/cmd_train.cpp).
void add_train_commands(CLI::App& app);

// `ltcl config show|keys` (apps/cmd_config.cpp).
void add_config_command(CLI::App& app);
// `ltcl data preview` (apps/cmd_augment.cpp).
void add_data_preview_command(CLI::App& data);

// `ltcl bench loader` (apps/cmd_augment.cpp).
void add_bench_loader_command(CLI::App& bench);

// `ltcl bench train` (apps/cmd_bench_train.cpp).
void add_bench_train_command(CLI::App& bench);

// `ltcl bench peak` (apps/cmd_bench_peak.cpp).
void add_bench_peak_command(CLI::App& bench);

// `ltcl compare RUN...` (apps/cmd_compare.cpp).
void add_compare_command(CLI::App& app);

// `ltcl study` (apps/cmd_study.cpp).
void add_study_command(CLI::App& app);

// `ltcl predict`, `ltcl export`, `ltcl adjust` (apps/cmd_predict.cpp).
void add_predict_commands(CLI::App& app);

// --adjust / --adjust-tau / --tau-norm-bias of eval, predict and export: an
// evaluation-time logit transform in place of the checkpoint's
// (apps/cmd_predict.cpp).
void add_adjust_options(CLI::App* cmd, train::AdjustOverride& adjust);

}  // namespace ltcl::apps
