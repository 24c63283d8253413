#pragma once
// The training configuration: one struct per area, parsed from YAML with
// `--set key.sub=value` overrides and validated as a whole before anything
// runs.
//
//   auto cfg = ltcl::train::load_config("configs/bcl_rcl_fmnist.yaml",
//                                       {"optim.lr=0.1", "train.seed=3"});
//   std::cout << ltcl::train::to_yaml(cfg);
//
// Every key is declared once, with its type, default, allowed range and help,
// on the typed-key engine of train/config_schema.h: the sections in
// src/train/config/<section>.cpp, the loss keys by the methods that use them
// (src/train/methods/). `config_keys()` lists them, and docs/training.md is
// their reference. Errors (ltcl::Error) name the key, where
// it was set ("file.yaml line 4, column 3" or "--set"), what was got and, for
// an unknown key, the closest valid key. All errors of a config are collected
// and reported together.
//
// A file may start with `base: other.yaml` or `base: [a.yaml, b.yaml]`
// (relative to the file's folder): the bases are applied in order, then this
// file's keys override them. The method's presets are applied before any key
// (so every key set by a file or --set wins over them); default_config(m)
// gives the same starting point to configs built in code.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ltcl/losses/options.h"

namespace ltcl::train {

struct DataConfig {
  std::string dataset = "mnist";  // dataset kind (see the schema's choices)
  std::string root;  // data folder; empty = the dataset kind's default
  std::string train_split = "train";
  std::string test_split = "test";
  std::string train_list;  // list files ("path label" lines), kind `list`
  std::string test_list;
  // List kinds: class names, one a line (relative to root), so that reports
  // and predictions name the classes; empty: "0".."C-1".
  std::string names_file;
  double imbalance_factor = 100.0;  // n_max / n_min; 1 = keep balanced
  // exp | step | none. None by default: a user's folder or list is used as
  // it is; the benchmark recipes (configs/<dataset>_lt/) ask for exp.
  std::string profile = "none";
  int64_t n_max = 0;  // head-class count; 0 = the balanced set's count
  int64_t seed = 0;  // seed of the long-tailed selection
  int64_t test_per_class = 0;  // 0 = the whole test set (else first k)
  // Training views per image, one recipe each (BCL: weak, simclr, simclr).
  std::vector<std::string> views = {"cifar_weak"};
  std::string eval_recipe = "eval";
  // Normalisation constants by name (cifar10, cifar100, imagenet, mnist,
  // fashion_mnist, ...; empty: those of data.dataset's kind), e.g. cifar10
  // for CIFAR-10 read as a JPEG folder.
  std::string normalization;
  // Explicit per-channel mean / std (1 or C entries each, both or neither;
  // `ltcl data stats --mean-std` computes them); empty: `normalization`'s.
  std::vector<double> mean;
  std::vector<double> std;
  // Side of the square images the recipes produce (0: the data's own size,
  // 224 for ImageNet-sized images); images of another size are resized and
  // centre-cropped to it first (augment/recipe.h).
  int64_t image_size = 0;
  // random | class_balanced | sqrt | class_aware (data::sampler_names())
  std::string sampler = "random";
  bool cache = true;  // keep decoded images in memory
  int64_t workers = 2;  // loader threads
  // Decode the training images once onto train.device and augment each
  // step's views there as tensor ops (pipeline/device_augment.h; the
  // recipes cifar_weak and simclr).
  bool device_augment = false;
  // The validation set every selection uses (docs/datasets.md,
  // "Validation"): auto | left_out | split | holdout | none.
  std::string validation = "auto";
  int64_t val_per_class = 50;  // left_out: images per class
  double val_fraction = 0.1;  // holdout: fraction of each class
  std::string val_split = "val";  // split: folder sub-folder / list name
  std::string val_list;  // split, list kinds: list file (relative to root)
};

struct ModelConfig {
  // resnet20/32/44/56, resnet50, resnet152, resnext50_32x4d
  std::string arch = "resnet32";
  int64_t in_channels = 0;  // 0 = from the dataset
  std::string classifier = "linear";  // linear | cosine
  double cosine_scale = 30.0;
  int64_t proj_hidden = 512;
  int64_t proj_dim = 128;
  // Initialisation (models::NetworkOptions::init): ldam (Kaiming-normal
  // every conv and linear layer, heads included: LDAM-DRW's scheme on the
  // whole model), ldam_backbone (backbone and classifier only) or pytorch.
  std::string init = "ldam_backbone";
  // The evaluation-time logit transform (models::NetworkOptions::adjust;
  // METHODS.md section 8): none, posthoc_la (logits - log(pi^tau + 1e-12),
  // pi the training class frequencies) or tau_norm (classifier rows divided
  // by ||w||^tau). Applied by every evaluation, ltcl eval / predict and the
  // exported model alike; training logits are never changed.
  std::string adjust = "none";
  double adjust_tau = 1.0;
  bool tau_norm_bias = false;  // tau_norm keeps the bias (BagofTricks-LT)
  // LWS: a learned per-class scale of the logits (NetworkOptions::
  // class_scale), trained with freeze backbone_classifier.
  bool class_scale = false;
  // Stages (train/stages.h): start from another ltcl run's checkpoint
  // (init_from_parts: backbone | backbone_classifier | all) and freeze the
  // backbone (freeze: none | backbone | backbone_classifier; freeze_bn:
  // the backbone's BatchNorm statistics too, the backbone then in eval mode
  // while the rest trains).
  std::string init_from;
  std::string init_from_parts = "backbone";
  std::string freeze = "none";
  bool freeze_bn = true;
  // A state dict whose backbone tensors replace the initialised ones
  // (models/pretrained.h); empty: none.
  std::string pretrained;
};

// The default loss.method: the registry's first method (plain cross
// entropy; train/method.h).
std::string default_method();

// The method and its loss parameters. The loss parameters are the losses'
// own options structs (their defaults are the keys' defaults); which keys a
// method uses, and its presets, are declared by the method (train/method.h).
struct LossConfig {
  std::string method = default_method();  // a registered method
  // Weights of the contrastive-core methods: alpha * LA-CE(view 0) + beta *
  // contrastive.
  double alpha = 2.0;
  double beta = 0.6;
  // The contrastive core (also Hybrid-SC's SupCon temperature).
  losses::ContrastiveLossOptions contrastive;
  // Logit adjustment strength t (la, and the LA-CE of the contrastive core).
  losses::LogitAdjustedLossOptions logit_adjusted;
  losses::LDAMLossOptions ldam;
  int64_t drw_epoch = 160;  // DRW class weights from this epoch (0-based)
  double drw_beta = 0.9999;
  losses::FocalLossOptions focal;
  // ResCom: the loss, and its queue / weights.
  losses::ResComLossOptions rescom;
  int64_t rescom_queue_size = 10;  // keys per class
  double rescom_weight = 0.5;
  double rescom_cb_beta = 0.999999;
  losses::PSCLossOptions psc;  // Hybrid-PSC
  // The parameters of methods registered outside ltcl (method.h), by key
  // name ("loss.my_eps"): their MethodInfo::keys declare them with
  // method_number / method_text (config_schema.h), so they are read from
  // YAML and --set, checked, listed and written like ltcl's own keys.
  std::map<std::string, double> extra_numbers;
  std::map<std::string, std::string> extra_texts;
};

struct OptimConfig {
  std::string optimizer = "sgd";  // train::optimizer_names() (schedule.h)
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  bool no_decay_bn_bias = false;  // BCL-style: no decay on 1-d params
  int64_t batch_size = 128;
  // Micro-batches a step's global batch is split into, one forward /
  // backward each, before one optimizer step (1 = none).
  int64_t accumulation_steps = 1;
};

struct ScheduleConfig {
  int64_t epochs = 200;
  int64_t warmup_epochs = 5;
  std::string kind = "cosine";  // cosine | multistep
  std::vector<int64_t> milestones = {160, 180};
  double gamma = 0.1;
  double min_lr = 0.0;  // cosine floor
};

struct RunConfig {
  int64_t seed = 0;
  int64_t threads = 0;  // 0 = all cores
  int64_t interop_threads = 1;
  std::string device = "cpu";  // cpu | cuda | auto
  // none | bf16 | fp16 | auto (bf16 on a CPU with AVX-512 BF16; opt-in:
  // it costs CE accuracy, docs/results.md). Resolved by the trainer
  // (resolve_precision in train/precision.h) and recorded resolved.
  std::string amp = "none";
  // auto (on for a CPU device, off on CUDA) | true | false
  std::string channels_last = "auto";
  int64_t eval_every = 10;  // epochs; the last epoch is always evaluated
  // Which split chooses best.pt: val (default) | test ("test-selected, as
  // in the papers", labelled so in every report) | last (no selection).
  std::string select_on = "val";
  int64_t eval_batch_size = 512;
  int64_t max_steps_per_epoch = 0;  // 0 = the whole epoch (tiny runs)
  int64_t log_every = 50;  // steps between log lines (no TTY)
  int64_t checkpoint_every = 0;  // steps between mid-epoch checkpoints
};

// Data parallelism (docs/distributed.md). Used when the job has more than
// one process (ltcl train --nproc N, torchrun, SLURM); ignored otherwise.
struct DistConfig {
  double timeout_s = 300;  // bound on every collective and the rendezvous
  bool sync_bn = true;  // preset: the method's (MethodTraits::sync_bn)
  double bucket_mb = 25;  // gradient all-reduce bucket size
};

struct OutputConfig {
  // Default: runs/<config name> (the file's folder and stem, e.g.
  // runs/cifar10_lt/bcl_rcl), else runs/default.
  std::string dir = "runs/default";
  bool plots = true;
  // TensorBoard event files in the run folder (docs/tensorboard.md).
  bool tensorboard = false;
};

struct Config {
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  OptimConfig optim;
  ScheduleConfig schedule;
  RunConfig train;
  DistConfig dist;
  OutputConfig output;
};

// One schema entry, for listings and documentation.
struct KeyInfo {
  std::string key;  // "optim.lr"
  std::string type;  // "float", "int", "bool", "string", "list of int", ...
  std::string default_value;  // as YAML
  std::string help;  // meaning and allowed values / range
};

// Every key, in schema order.
const std::vector<KeyInfo>& config_keys();

// The defaults of `method` with its presets applied: what a YAML file that
// sets only loss.method gives. Configs built in code start here.
Config default_config(const std::string& method);

// Parses a YAML file (following `base:` includes) then applies `overrides`
// ("key.sub=value", value parsed as YAML), fills method presets and
// validates. Throws ltcl::Error listing every problem found.
Config load_config(
    const std::string& path,
    const std::vector<std::string>& overrides = {});

// The same from YAML text; `source_name` stands for the file in messages and
// `base:` is resolved relative to `base_dir` (empty: the working folder).
Config parse_config(
    const std::string& yaml_text,
    const std::string& source_name,
    const std::vector<std::string>& overrides = {},
    const std::string& base_dir = "");

// The resolved config as YAML (every key, schema order). parse_config of the
// result gives back an equal config.
std::string to_yaml(const Config& config);

// Validation alone (ranges and method consistency), for configs built in
// code. Throws ltcl::Error listing every problem.
void validate(const Config& config);

// Levenshtein distance (for "did you mean").
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace ltcl::train
