// The `train:` section (RunConfig: seed, threads, device, precision,
// evaluation and checkpoint cadence).
#include "ltcl/train/config.h"
#include "sections.h"

namespace ltcl::train::config_sections {

void add_run_keys(ConfigSchema& s) {
  using Str = std::string;
  s.add(make_key<int64_t>(
      "train.seed",
      LTCL_CONFIG_FIELD(int64_t, train.seed),
      "Seed of initialisation, sampling and augmentation.",
      at_least<int64_t>(0)));
  s.add(make_key<int64_t>(
      "train.threads",
      LTCL_CONFIG_FIELD(int64_t, train.threads),
      "Intra-op threads (torch and OpenCV; 0: all cores).",
      int_range(0, kMaxThreads)));
  s.add(make_key<int64_t>(
      "train.interop_threads",
      LTCL_CONFIG_FIELD(int64_t, train.interop_threads),
      "Inter-op threads (0: LibTorch's default).",
      int_range(0, kMaxThreads)));
  s.add(make_key<Str>(
      "train.device",
      LTCL_CONFIG_FIELD(Str, train.device),
      "Device (auto: cuda when present).",
      {},
      {"cpu", "cuda", "auto"}));
  s.add(make_key<Str>(
      "train.amp",
      LTCL_CONFIG_FIELD(Str, train.amp),
      "Mixed precision of the forward pass (fp16 needs CUDA; auto: bf16 "
      "on a CPU with AVX-512 BF16, none elsewhere).",
      {},
      {"auto", "none", "bf16", "fp16"}));
  s.add(make_key<Str>(
      "train.channels_last",
      LTCL_CONFIG_FIELD(Str, train.channels_last),
      "Channels-last memory format (auto: on for a CPU device, off on "
      "CUDA).",
      {},
      {"auto", "true", "false"}));
  s.add(make_key<int64_t>(
      "train.eval_every",
      LTCL_CONFIG_FIELD(int64_t, train.eval_every),
      "Evaluate every k epochs (the last epoch always).",
      at_least<int64_t>(1)));
  s.add(make_key<Str>(
      "train.select_on",
      LTCL_CONFIG_FIELD(Str, train.select_on),
      "Split that selects best.pt: val (data.validation's set), test "
      "(test-selected, as in the papers; labelled so in every report) or "
      "last (no selection: the final model).",
      {},
      {"val", "test", "last"}));
  s.add(make_key<int64_t>(
      "train.eval_batch_size",
      LTCL_CONFIG_FIELD(int64_t, train.eval_batch_size),
      "Batch size at evaluation.",
      int_range(1, kMaxBatch)));
  s.add(make_key<int64_t>(
      "train.max_steps_per_epoch",
      LTCL_CONFIG_FIELD(int64_t, train.max_steps_per_epoch),
      "Cap on steps per epoch (0: whole epoch; for tiny runs).",
      at_least<int64_t>(0)));
  s.add(make_key<int64_t>(
      "train.log_every",
      LTCL_CONFIG_FIELD(int64_t, train.log_every),
      "Steps between log lines when stdout is not a terminal.",
      at_least<int64_t>(1)));
  s.add(make_key<int64_t>(
      "train.checkpoint_every",
      LTCL_CONFIG_FIELD(int64_t, train.checkpoint_every),
      "Steps between mid-epoch checkpoints (0: end of epoch only).",
      at_least<int64_t>(0)));
  s.add_rule([](const Config& c, const ConfigReport& report) {
    if (c.train.amp == "fp16" && c.train.device == "cpu") {
      report(
          "train.amp",
          "train.amp 'fp16' needs train.device cuda or auto (use bf16 on "
          "CPU)");
    }
  });
}

}  // namespace ltcl::train::config_sections
