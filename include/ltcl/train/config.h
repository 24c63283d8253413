#pragma once
// The training configuration: one struct per area, parsed from YAML with
// `--set key.sub=value` overrides and validated as a whole before anything
// runs.
//
//   auto cfg = ltcl::train::load_config("configs/bcl_rcl_fmnist.yaml",
//                                       {"optim.lr=0.1", "train.seed=3"});
//   std::cout << ltcl::train::to_yaml(cfg);
//
// Every key lives in one schema table (src/train/config.cpp) that gives its
// type, default, allowed range and help; `config_keys()` lists it, and
// docs/training.md is its reference. Errors (ltcl::Error) name the key, where
// it was set ("file.yaml line 4, column 3" or "--set"), what was got and, for
// an unknown key, the closest valid key. All errors of a config are collected
// and reported together.
//
// A file may start with `base: other.yaml` (relative to the file's folder):
// the base is applied first, then this file's keys override it.
#include <cstdint>
#include <string>
#include <vector>

namespace ltcl::train {

struct DataConfig {
  std::string dataset = "mnist";  // dataset kind (see the schema's choices)
  std::string root;  // data folder; empty = the dataset kind's default
  std::string train_split = "train";
  std::string test_split = "test";
  std::string train_list;  // list files ("path label" lines), kind `list`
  std::string test_list;
  double imbalance_factor = 100.0;  // n_max / n_min; 1 = keep balanced
  std::string profile = "exp";  // exp | step | none
  int64_t n_max = 0;  // head-class count; 0 = the balanced set's count
  int64_t seed = 0;  // seed of the long-tailed selection
  int64_t test_per_class = 0;  // 0 = the whole test set (else first k)
  // Training views per image, one recipe each (BCL: weak, simclr, simclr).
  std::vector<std::string> views = {"cifar_weak"};
  std::string eval_recipe = "eval";
  std::string sampler = "random";  // random | class_balanced | sqrt
  bool cache = true;  // keep decoded images in memory
  int64_t workers = 2;  // loader threads
};

struct ModelConfig {
  std::string arch = "resnet32";  // resnet20/32/44/56, resnet50, resnext50_32x4d
  int64_t in_channels = 0;  // 0 = from the dataset
  std::string classifier = "linear";  // linear | cosine
  double cosine_scale = 30.0;
  int64_t proj_hidden = 512;
  int64_t proj_dim = 128;
};

struct LossConfig {
  // ce | la | bs | ldam_drw | focal | supcon_la | bcl | bcl_rcl | rcl |
  // rescom | hybrid_sc | hybrid_psc
  std::string method = "ce";
  // Contrastive core (supcon_la, bcl, bcl_rcl, rcl). The switches not set
  // explicitly take the method's preset (see method_preset()).
  double alpha = 2.0;  // weight of LA-CE on view 0
  double beta = 0.6;  // weight of the contrastive term
  double temperature = 0.1;  // also Hybrid-SC's SupCon temperature
  bool class_averaging = false;
  bool class_complement = false;
  double balance = 0.0;  // b
  double feature_scale = 1.0;  // s
  double margin_max = 0.0;  // m_max
  double la_tau = 1.0;  // logit adjustment strength t (la and LA-CE)
  // LDAM-DRW.
  double ldam_max_margin = 0.5;
  double ldam_scale = 30.0;
  int64_t drw_epoch = 160;  // DRW weights from this epoch (0-based) on
  double drw_beta = 0.9999;
  // Focal.
  double focal_gamma = 1.0;
  // ResCom.
  int64_t rescom_queue_size = 10;  // keys per class
  int64_t rescom_k_pos = 1;
  int64_t rescom_k_neg = 400;
  double rescom_tau = 0.2;
  double rescom_weight = 0.5;
  double rescom_cb_beta = 0.999999;
  // Hybrid-PSC.
  double psc_tau = 0.1;
};

struct OptimConfig {
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  bool no_decay_bn_bias = false;  // BCL-style: no decay on 1-d params
  int64_t batch_size = 128;
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
  std::string amp = "none";  // none | bf16 | fp16
  bool channels_last = false;
  int64_t eval_every = 10;  // epochs; the last epoch is always evaluated
  int64_t eval_batch_size = 512;
  int64_t max_steps_per_epoch = 0;  // 0 = the whole epoch (tiny runs)
  int64_t log_every = 50;  // steps between log lines (no TTY)
  int64_t checkpoint_every = 0;  // steps between mid-epoch checkpoints
};

// Data parallelism (docs/distributed.md). Used when the job has more than
// one process (ltcl train --nproc N, torchrun, SLURM); ignored otherwise.
struct DistConfig {
  double timeout_s = 300;  // bound on every collective and the rendezvous
  bool sync_bn = false;  // preset: true for the contrastive methods
  double bucket_mb = 25;  // gradient all-reduce bucket size
};

struct OutputConfig {
  std::string dir = "runs/default";
  bool plots = true;
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

// Method helpers.
bool is_contrastive_core_method(const std::string& method);  // supcon_la..rcl
int64_t required_views(const std::string& method);

}  // namespace ltcl::train
