#include "ltcl/train/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "ltcl/util/error.h"

namespace ltcl::train {
namespace {

namespace fs = std::filesystem;

// RCL's scale and margin are not given by the paper text available here
// (METHODS.md section 3): chosen by the ablation in docs/results.md.
constexpr double kRclFeatureScale = 1.5;
constexpr double kRclMarginMax = 0.1;
constexpr int kMaxBaseDepth = 8;

const std::vector<std::string> kMethods = {
    "ce",
    "la",
    "bs",
    "ldam_drw",
    "focal",
    "supcon_la",
    "bcl",
    "bcl_rcl",
    "rcl",
    "rescom",
    "hybrid_sc",
    "hybrid_psc"};

// A type problem found while converting a YAML node.
struct TypeError {
  std::string message;
};

std::string node_text(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) {
    return "nothing";
  }
  if (node.IsScalar()) {
    return fmt::format("'{}'", node.Scalar());
  }
  YAML::Emitter out;
  out << YAML::Flow << node;
  return fmt::format(
      "a {} {}", node.IsSequence() ? "list" : "mapping", out.c_str());
}

template <typename T>
T convert(const YAML::Node& node);

template <>
double convert<double>(const YAML::Node& node) {
  double v = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, v) ||
      !std::isfinite(v)) {
    throw TypeError{
        fmt::format("expected a finite number, got {}", node_text(node))};
  }
  return v;
}

template <>
int64_t convert<int64_t>(const YAML::Node& node) {
  int64_t v = 0;
  if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, v)) {
    throw TypeError{fmt::format("expected an integer, got {}", node_text(node))};
  }
  return v;
}

template <>
bool convert<bool>(const YAML::Node& node) {
  bool v = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, v)) {
    throw TypeError{
        fmt::format("expected true or false, got {}", node_text(node))};
  }
  return v;
}

template <>
std::string convert<std::string>(const YAML::Node& node) {
  if (node.IsNull()) {
    return "";
  }
  if (!node.IsScalar()) {
    throw TypeError{fmt::format("expected a string, got {}", node_text(node))};
  }
  return node.Scalar();
}

template <>
std::vector<int64_t> convert<std::vector<int64_t>>(const YAML::Node& node) {
  if (!node.IsSequence()) {
    throw TypeError{fmt::format(
        "expected a list of integers like [120, 160], got {}",
        node_text(node))};
  }
  std::vector<int64_t> out;
  for (const auto& item : node) {
    out.push_back(convert<int64_t>(item));
  }
  return out;
}

template <>
std::vector<std::string> convert<std::vector<std::string>>(
    const YAML::Node& node) {
  if (!node.IsSequence()) {
    throw TypeError{fmt::format(
        "expected a list of strings like [a, b], got {}", node_text(node))};
  }
  std::vector<std::string> out;
  for (const auto& item : node) {
    if (!item.IsScalar()) {
      throw TypeError{fmt::format(
          "expected a list of strings, got an element {}", node_text(item))};
    }
    out.push_back(item.Scalar());
  }
  return out;
}

std::string format_double(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) {
    s += ".0";  // keep floats visibly floats
  }
  return s;
}

void emit_value(YAML::Emitter& out, double v) {
  out << format_double(v);
}
void emit_value(YAML::Emitter& out, int64_t v) {
  out << v;
}
void emit_value(YAML::Emitter& out, bool v) {
  out << (v ? "true" : "false");
}
void emit_value(YAML::Emitter& out, const std::string& v) {
  static const std::set<std::string> kNullish = {"", "~", "null", "Null", "NULL"};
  if (kNullish.count(v)) {
    out << YAML::DoubleQuoted;
  }
  out << v;
}
void emit_value(YAML::Emitter& out, const std::vector<int64_t>& v) {
  out << YAML::Flow << YAML::BeginSeq;
  for (auto x : v) {
    out << x;
  }
  out << YAML::EndSeq;
}
void emit_value(YAML::Emitter& out, const std::vector<std::string>& v) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const auto& x : v) {
    emit_value(out, x);
  }
  out << YAML::EndSeq;
}

template <typename T>
std::string type_name();
template <>
std::string type_name<double>() {
  return "float";
}
template <>
std::string type_name<int64_t>() {
  return "int";
}
template <>
std::string type_name<bool>() {
  return "bool";
}
template <>
std::string type_name<std::string>() {
  return "string";
}
template <>
std::string type_name<std::vector<int64_t>>() {
  return "list of int";
}
template <>
std::string type_name<std::vector<std::string>>() {
  return "list of string";
}

template <typename T>
std::string value_text(const T& v) {
  YAML::Emitter out;
  emit_value(out, v);
  return out.c_str();
}

// A range / consistency check of one value: "" when fine, else what is wrong.
template <typename T>
using Check = std::function<std::string(const T&, const Config&)>;

struct Key {
  std::string name;
  std::string type;
  std::string help;
  std::function<void(Config&, const YAML::Node&)> assign;  // throws TypeError
  std::function<void(YAML::Emitter&, const Config&)> emit;
  std::function<std::string(const Config&)> check;
  std::function<std::string(const Config&)> text;
};

std::string closest(const std::string& got, const std::vector<std::string>& c) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& s : c) {
    size_t d = edit_distance(got, s);
    if (d < best_d) {
      best_d = d;
      best = s;
    }
  }
  return best;
}

template <typename T>
Key make_key(
    std::string name,
    std::function<T&(Config&)> ref,
    std::string help,
    Check<T> check = {},
    std::vector<std::string> choices = {}) {
  Key k;
  k.name = name;
  k.type = type_name<T>();
  k.help = help;
  if (!choices.empty()) {
    k.help += fmt::format(" One of: {}.", fmt::join(choices, ", "));
  }
  k.assign = [ref, choices](Config& c, const YAML::Node& node) {
    T value = convert<T>(node);
    if constexpr (std::is_same_v<T, std::string>) {
      if (!choices.empty() &&
          std::find(choices.begin(), choices.end(), value) == choices.end()) {
        throw TypeError{fmt::format(
            "got '{}', expected one of {} (closest: '{}')",
            value,
            fmt::join(choices, ", "),
            closest(value, choices))};
      }
    }
    ref(c) = value;
  };
  k.emit = [ref](YAML::Emitter& out, const Config& c) {
    emit_value(out, ref(const_cast<Config&>(c)));
  };
  k.check = [ref, check](const Config& c) {
    return check ? check(ref(const_cast<Config&>(c)), c) : std::string();
  };
  k.text = [ref](const Config& c) {
    return value_text(ref(const_cast<Config&>(c)));
  };
  return k;
}

template <typename T>
Check<T> at_least(T lo) {
  return [lo](const T& v, const Config&) {
    return v >= lo ? std::string()
                   : fmt::format("must be >= {}, got {}", lo, v);
  };
}

Check<double> positive() {
  return [](const double& v, const Config&) {
    return v > 0 ? std::string() : fmt::format("must be > 0, got {}", v);
  };
}

// lo <= v < hi (hi exclusive when `hi_open`).
Check<double> in_range(double lo, double hi, bool hi_open) {
  return [=](const double& v, const Config&) {
    bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
    return ok ? std::string()
              : fmt::format(
                    "must be in [{}, {}{}, got {}",
                    lo,
                    hi,
                    hi_open ? ")" : "]",
                    v);
  };
}

#define LTCL_REF(T, section, field) \
  std::function<T&(Config&)>([](Config& c) -> T& { return c.section.field; })
#define LTCL_KEY(T, section, field, ...) \
  make_key<T>(#section "." #field, LTCL_REF(T, section, field), __VA_ARGS__)

using Str = std::string;
using Ints = std::vector<int64_t>;
using Strs = std::vector<std::string>;

std::vector<Key> build_schema() {
  std::vector<Key> keys;
  // data
  keys.push_back(LTCL_KEY(
      Str,
      data,
      dataset,
      "Dataset kind (mnist / fashion_mnist: IDX files; idx: any IDX set; "
      "cifar10 / cifar100: binary or Python files; folder: "
      "root/<split>/<class>/*.jpg; list: \"path label\" list files).",
      {},
      {"mnist",
       "fashion_mnist",
       "idx",
       "cifar10",
       "cifar100",
       "folder",
       "list"}));
  keys.push_back(LTCL_KEY(
      Str,
      data,
      root,
      "Data folder (empty: the kind's default, e.g. Debian's "
      "/usr/share/datasets/fashion-mnist)."));
  keys.push_back(LTCL_KEY(
      Str, data, train_split, "Split trained on (folder kinds: sub-folder)."));
  keys.push_back(LTCL_KEY(
      Str, data, test_split, "Split evaluated on (test or val)."));
  keys.push_back(LTCL_KEY(
      Str, data, train_list, "Training list file (kind `list`), relative "
                             "to root."));
  keys.push_back(LTCL_KEY(
      Str, data, test_list, "Test list file (kind `list`), relative to root."));
  keys.push_back(LTCL_KEY(
      double,
      data,
      imbalance_factor,
      "Imbalance factor n_max / n_min of the long-tailed training set (>= 1; "
      "1 keeps the set balanced).",
      at_least(1.0)));
  keys.push_back(LTCL_KEY(
      Str,
      data,
      profile,
      "Long-tail profile (none: use the training set as it is).",
      {},
      {"exp", "step", "none"}));
  keys.push_back(LTCL_KEY(
      int64_t,
      data,
      n_max,
      "Head-class count n_max (0: the balanced set's per-class count).",
      at_least<int64_t>(0)));
  keys.push_back(LTCL_KEY(
      int64_t,
      data,
      seed,
      "Seed of the long-tailed selection (0 reproduces the published "
      "subsets).",
      at_least<int64_t>(0)));
  keys.push_back(LTCL_KEY(
      int64_t,
      data,
      test_per_class,
      "Evaluate on the first k test images of each class (0: all).",
      at_least<int64_t>(0)));
  keys.push_back(LTCL_KEY(
      Strs,
      data,
      views,
      "Augmentation recipe of each training view (CE family: 1; BCL, RCL, "
      "SupCon+LA, Hybrid: 3 = [classification, contrastive, contrastive]; "
      "ResCom: 2).",
      Check<Strs>([](const Strs& v, const Config&) {
        return v.empty() ? std::string("must name at least one recipe")
                         : std::string();
      })));
  keys.push_back(LTCL_KEY(Str, data, eval_recipe, "Recipe used at evaluation."));
  keys.push_back(LTCL_KEY(
      Str,
      data,
      sampler,
      "Training sampler (Hybrid adds its class-balanced branch itself).",
      {},
      {"random", "class_balanced", "sqrt"}));
  keys.push_back(LTCL_KEY(bool, data, cache, "Keep decoded images in memory."));
  keys.push_back(LTCL_KEY(
      int64_t,
      data,
      workers,
      "Loader worker threads (0: load in the training thread).",
      at_least<int64_t>(0)));
  // model
  keys.push_back(LTCL_KEY(
      Str,
      model,
      arch,
      "Backbone.",
      {},
      {"resnet20",
       "resnet32",
       "resnet44",
       "resnet56",
       "resnet50",
       "resnext50_32x4d"}));
  keys.push_back(LTCL_KEY(
      int64_t,
      model,
      in_channels,
      "Input channels (0: from the dataset; 1 or 3).",
      Check<int64_t>([](const int64_t& v, const Config&) {
        return (v == 0 || v == 1 || v == 3)
            ? std::string()
            : fmt::format("must be 0, 1 or 3, got {}", v);
      })));
  keys.push_back(LTCL_KEY(
      Str,
      model,
      classifier,
      "Classifier on the backbone feature (cosine = NormedLinear).",
      {},
      {"linear", "cosine"}));
  keys.push_back(LTCL_KEY(
      double, model, cosine_scale, "Scale of the cosine classifier.",
      positive()));
  keys.push_back(LTCL_KEY(
      int64_t,
      model,
      proj_hidden,
      "Hidden width of the projection head (and head_fc).",
      at_least<int64_t>(1)));
  keys.push_back(LTCL_KEY(
      int64_t,
      model,
      proj_dim,
      "Output width of the projection head (embedding size).",
      at_least<int64_t>(1)));
  // loss
  keys.push_back(LTCL_KEY(
      Str, loss, method, "Training method (METHODS.md).", {}, kMethods));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      alpha,
      "Weight of LA-CE on view 0 (contrastive-core methods).",
      at_least(0.0)));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      beta,
      "Weight of the contrastive term (contrastive-core methods).",
      at_least(0.0)));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      temperature,
      "Contrastive temperature tau (contrastive-core methods, Hybrid-SC).",
      positive()));
  keys.push_back(LTCL_KEY(
      bool,
      loss,
      class_averaging,
      "BCL class-averaged denominator (default: the method's preset)."));
  keys.push_back(LTCL_KEY(
      bool,
      loss,
      class_complement,
      "Class prototypes join the keys (default: the method's preset)."));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      balance,
      "RCL balance b: b * log pi_y added to key logits (preset: 1 for "
      "bcl_rcl/rcl, else 0).",
      at_least(0.0)));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      feature_scale,
      fmt::format(
          "RCL feature scale s (preset: {} for bcl_rcl/rcl, else 1).",
          kRclFeatureScale),
      positive()));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      margin_max,
      fmt::format(
          "RCL largest positive-pair margin m_max (preset: {} for "
          "bcl_rcl/rcl, else 0).",
          kRclMarginMax),
      at_least(0.0)));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      la_tau,
      "Logit adjustment strength t (la, and the LA-CE of "
      "contrastive-core methods).",
      at_least(0.0)));
  keys.push_back(LTCL_KEY(
      double, loss, ldam_max_margin, "LDAM largest margin.", positive()));
  keys.push_back(LTCL_KEY(double, loss, ldam_scale, "LDAM scale s.", positive()));
  keys.push_back(LTCL_KEY(
      int64_t,
      loss,
      drw_epoch,
      "Epoch (0-based) from which DRW class weights apply (< "
      "schedule.epochs).",
      at_least<int64_t>(0)));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      drw_beta,
      "DRW effective-number beta, in [0, 1).",
      in_range(0, 1, true)));
  keys.push_back(LTCL_KEY(
      double, loss, focal_gamma, "Focal loss gamma (>= 0).", at_least(0.0)));
  keys.push_back(LTCL_KEY(
      int64_t,
      loss,
      rescom_queue_size,
      "ResCom queue keys per class.",
      at_least<int64_t>(1)));
  keys.push_back(LTCL_KEY(
      int64_t,
      loss,
      rescom_k_pos,
      "ResCom hard positives per anchor (<= rescom_queue_size).",
      Check<int64_t>([](const int64_t& v, const Config& c) {
        if (v < 1 || v > c.loss.rescom_queue_size) {
          return fmt::format(
              "must be in [1, loss.rescom_queue_size = {}], got {}",
              c.loss.rescom_queue_size,
              v);
        }
        return std::string();
      })));
  keys.push_back(LTCL_KEY(
      int64_t,
      loss,
      rescom_k_neg,
      "ResCom hard negatives per anchor.",
      at_least<int64_t>(1)));
  keys.push_back(LTCL_KEY(
      double, loss, rescom_tau, "ResCom contrastive temperature.", positive()));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      rescom_weight,
      "Weight of ResCom's contrastive term.",
      at_least(0.0)));
  keys.push_back(LTCL_KEY(
      double,
      loss,
      rescom_cb_beta,
      "ResCom class-balanced weight beta, in [0, 1).",
      in_range(0, 1, true)));
  keys.push_back(LTCL_KEY(
      double, loss, psc_tau, "Hybrid-PSC temperature.", positive()));
  // optim
  keys.push_back(LTCL_KEY(double, optim, lr, "Base learning rate.", positive()));
  keys.push_back(LTCL_KEY(
      double,
      optim,
      momentum,
      "SGD momentum, in [0, 1).",
      in_range(0, 1, true)));
  keys.push_back(LTCL_KEY(
      bool, optim, nesterov, "Nesterov momentum (needs momentum > 0)."));
  keys.push_back(LTCL_KEY(
      double, optim, weight_decay, "L2 weight decay.", at_least(0.0)));
  keys.push_back(LTCL_KEY(
      bool,
      optim,
      no_decay_bn_bias,
      "No weight decay on 1-d parameters (BatchNorm weights, biases)."));
  keys.push_back(LTCL_KEY(
      int64_t,
      optim,
      batch_size,
      "Images per step (global batch).",
      at_least<int64_t>(1)));
  // schedule
  keys.push_back(LTCL_KEY(
      int64_t, schedule, epochs, "Training epochs.", at_least<int64_t>(1)));
  keys.push_back(LTCL_KEY(
      int64_t,
      schedule,
      warmup_epochs,
      "Linear warm-up epochs (<= epochs).",
      Check<int64_t>([](const int64_t& v, const Config& c) {
        if (v < 0 || v > c.schedule.epochs) {
          return fmt::format(
              "must be in [0, schedule.epochs = {}], got {}",
              c.schedule.epochs,
              v);
        }
        return std::string();
      })));
  keys.push_back(LTCL_KEY(
      Str, schedule, kind, "Decay after warm-up.", {}, {"cosine", "multistep"}));
  keys.push_back(LTCL_KEY(
      Ints,
      schedule,
      milestones,
      "Multistep: epochs at which lr is multiplied by gamma (increasing, "
      "in [1, epochs]).",
      Check<Ints>([](const Ints& v, const Config& c) {
        if (c.schedule.kind != "multistep") {
          return std::string();
        }
        for (size_t i = 0; i < v.size(); ++i) {
          if (v[i] < 1 || v[i] > c.schedule.epochs ||
              (i > 0 && v[i] <= v[i - 1])) {
            return fmt::format(
                "must be strictly increasing epochs in [1, {}], got {}",
                c.schedule.epochs,
                value_text(v));
          }
        }
        return std::string();
      })));
  keys.push_back(LTCL_KEY(
      double,
      schedule,
      gamma,
      "Multistep factor, in (0, 1].",
      Check<double>([](const double& v, const Config&) {
        return (v > 0 && v <= 1)
            ? std::string()
            : fmt::format("must be in (0, 1], got {}", v);
      })));
  keys.push_back(LTCL_KEY(
      double,
      schedule,
      min_lr,
      "Cosine floor (< optim.lr).",
      Check<double>([](const double& v, const Config& c) {
        return (v >= 0 && v < c.optim.lr)
            ? std::string()
            : fmt::format(
                  "must be in [0, optim.lr = {}), got {}", c.optim.lr, v);
      })));
  // train
  keys.push_back(LTCL_KEY(
      int64_t,
      train,
      seed,
      "Seed of initialisation, sampling and augmentation.",
      at_least<int64_t>(0)));
  keys.push_back(LTCL_KEY(
      int64_t,
      train,
      threads,
      "Intra-op threads (torch and OpenCV; 0: all cores).",
      at_least<int64_t>(0)));
  keys.push_back(LTCL_KEY(
      int64_t,
      train,
      interop_threads,
      "Inter-op threads (0: LibTorch's default).",
      at_least<int64_t>(0)));
  keys.push_back(LTCL_KEY(
      Str, train, device, "Device (auto: cuda when present).", {},
      {"cpu", "cuda", "auto"}));
  keys.push_back(LTCL_KEY(
      Str,
      train,
      amp,
      "Mixed precision of the forward pass (fp16 needs CUDA).",
      {},
      {"none", "bf16", "fp16"}));
  keys.push_back(LTCL_KEY(
      bool, train, channels_last, "Channels-last memory format."));
  keys.push_back(LTCL_KEY(
      int64_t,
      train,
      eval_every,
      "Evaluate every k epochs (the last epoch always).",
      at_least<int64_t>(1)));
  keys.push_back(LTCL_KEY(
      int64_t,
      train,
      eval_batch_size,
      "Batch size at evaluation.",
      at_least<int64_t>(1)));
  keys.push_back(LTCL_KEY(
      int64_t,
      train,
      max_steps_per_epoch,
      "Cap on steps per epoch (0: whole epoch; for tiny runs).",
      at_least<int64_t>(0)));
  keys.push_back(LTCL_KEY(
      int64_t,
      train,
      log_every,
      "Steps between log lines when stdout is not a terminal.",
      at_least<int64_t>(1)));
  keys.push_back(LTCL_KEY(
      int64_t,
      train,
      checkpoint_every,
      "Steps between mid-epoch checkpoints (0: end of epoch only).",
      at_least<int64_t>(0)));
  // dist
  keys.push_back(LTCL_KEY(
      double,
      dist,
      timeout_s,
      "Seconds a collective (or the rendezvous) may wait for the other "
      "ranks before the job fails with an error.",
      positive()));
  keys.push_back(LTCL_KEY(
      bool,
      dist,
      sync_bn,
      "Synchronise BatchNorm statistics across ranks (default: on for the "
      "contrastive methods)."));
  keys.push_back(LTCL_KEY(
      double, dist, bucket_mb, "Gradient all-reduce bucket size in MiB.",
      positive()));
  // output
  keys.push_back(LTCL_KEY(
      Str,
      output,
      dir,
      "Run folder: checkpoints, metrics, CSVs, plots.",
      Check<Str>([](const Str& v, const Config&) {
        return v.empty() ? std::string("must not be empty") : std::string();
      })));
  keys.push_back(LTCL_KEY(bool, output, plots, "Write PNG plots."));
  return keys;
}

#undef LTCL_KEY
#undef LTCL_REF

const std::vector<Key>& schema() {
  static const std::vector<Key> keys = build_schema();
  return keys;
}

const Key* find_key(const std::string& name) {
  for (const auto& k : schema()) {
    if (k.name == name) {
      return &k;
    }
  }
  return nullptr;
}

std::vector<std::string> all_names() {
  std::vector<std::string> names;
  for (const auto& k : schema()) {
    names.push_back(k.name);
  }
  return names;
}

std::vector<std::string> section_names() {
  std::vector<std::string> out;
  for (const auto& k : schema()) {
    std::string s = k.name.substr(0, k.name.find('.'));
    if (std::find(out.begin(), out.end(), s) == out.end()) {
      out.push_back(s);
    }
  }
  return out;
}

// Keys of the loss section that a method uses (others must not be set).
std::vector<std::string> method_loss_keys(const std::string& m) {
  if (m == "la") {
    return {"la_tau"};
  }
  if (m == "ldam_drw") {
    return {"ldam_max_margin", "ldam_scale", "drw_epoch", "drw_beta"};
  }
  if (m == "focal") {
    return {"focal_gamma"};
  }
  if (is_contrastive_core_method(m)) {
    return {
        "alpha",
        "beta",
        "temperature",
        "class_averaging",
        "class_complement",
        "balance",
        "feature_scale",
        "margin_max",
        "la_tau"};
  }
  if (m == "rescom") {
    return {
        "rescom_queue_size",
        "rescom_k_pos",
        "rescom_k_neg",
        "rescom_tau",
        "rescom_weight",
        "rescom_cb_beta"};
  }
  if (m == "hybrid_sc") {
    return {"temperature"};
  }
  if (m == "hybrid_psc") {
    return {"psc_tau"};
  }
  return {};
}

bool key_used(const Config& c, const std::string& name) {
  if (name.rfind("loss.", 0) != 0 || name == "loss.method") {
    return true;
  }
  auto used = method_loss_keys(c.loss.method);
  return std::find(used.begin(), used.end(), name.substr(5)) != used.end();
}

// Where each explicitly set key was set, for messages.
using Sources = std::map<std::string, std::string>;

struct Problems {
  std::vector<std::string> items;
  void add(std::string s) {
    items.push_back(std::move(s));
  }
};

std::string mark_text(const std::string& source, const YAML::Mark& m) {
  if (m.is_null()) {
    return source;
  }
  return fmt::format("{} line {}, column {}", source, m.line + 1, m.column + 1);
}

void set_key(
    Config& config,
    const Key& key,
    const YAML::Node& value,
    const std::string& where,
    Sources& sources,
    Problems& problems) {
  try {
    key.assign(config, value);
    sources[key.name] = where;
  } catch (const TypeError& e) {
    problems.add(fmt::format(
        "{}: {} ({}): {}", where, key.name, key.type, e.message));
  }
}

void unknown_key(
    const std::string& name,
    const std::string& where,
    Problems& problems) {
  std::vector<std::string> candidates = all_names();
  if (name.find('.') == std::string::npos) {
    auto sections = section_names();
    candidates.insert(candidates.end(), sections.begin(), sections.end());
    candidates.push_back("base");
  }
  problems.add(fmt::format(
      "{}: unknown key '{}'; did you mean '{}'?",
      where,
      name,
      closest(name, candidates)));
}

void apply_text(
    Config& config,
    const std::string& text,
    const std::string& source,
    const fs::path& base_dir,
    int depth,
    std::vector<std::string>& chain,
    Sources& sources,
    Problems& problems);

void apply_file(
    Config& config,
    const fs::path& path,
    const std::string& included_from,
    int depth,
    std::vector<std::string>& chain,
    Sources& sources,
    Problems& problems) {
  std::string key = fs::weakly_canonical(path).string();
  if (std::find(chain.begin(), chain.end(), key) != chain.end()) {
    problems.add(fmt::format(
        "{}: base '{}' includes itself (cycle)", included_from, path.string()));
    return;
  }
  if (depth > kMaxBaseDepth) {
    problems.add(fmt::format(
        "{}: base chain deeper than {}", included_from, kMaxBaseDepth));
    return;
  }
  std::ifstream in(path);
  if (!in) {
    problems.add(fmt::format(
        "{}cannot open config file '{}'",
        included_from.empty() ? "" : included_from + ": ",
        path.string()));
    return;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  chain.push_back(key);
  apply_text(
      config,
      ss.str(),
      path.string(),
      path.parent_path(),
      depth,
      chain,
      sources,
      problems);
  chain.pop_back();
}

void apply_text(
    Config& config,
    const std::string& text,
    const std::string& source,
    const fs::path& base_dir,
    int depth,
    std::vector<std::string>& chain,
    Sources& sources,
    Problems& problems) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    problems.add(fmt::format(
        "{}: YAML syntax error: {}", mark_text(source, e.mark), e.msg));
    return;
  }
  if (!root.IsDefined() || root.IsNull()) {
    return;  // an empty file sets nothing
  }
  if (!root.IsMap()) {
    problems.add(fmt::format(
        "{}: a config must be a mapping of sections, got {}",
        mark_text(source, root.Mark()),
        node_text(root)));
    return;
  }
  // The base first, so that this file's keys override it.
  const YAML::Node& croot = root;
  if (croot["base"]) {
    YAML::Node b = croot["base"];
    std::string where = mark_text(source, b.Mark());
    if (!b.IsScalar()) {
      problems.add(fmt::format(
          "{}: base: expected a file name, got {}", where, node_text(b)));
    } else {
      fs::path p = b.Scalar();
      if (p.is_relative()) {
        p = base_dir / p;
      }
      apply_file(config, p, where, depth + 1, chain, sources, problems);
    }
  }
  for (const auto& section : root) {
    std::string name = section.first.Scalar();
    std::string where = mark_text(source, section.first.Mark());
    if (name == "base") {
      continue;
    }
    auto sections = section_names();
    if (std::find(sections.begin(), sections.end(), name) == sections.end()) {
      unknown_key(name, where, problems);
      continue;
    }
    if (!section.second.IsMap()) {
      if (!section.second.IsNull()) {
        problems.add(fmt::format(
            "{}: section '{}' must be a mapping of keys, got {}",
            where,
            name,
            node_text(section.second)));
      }
      continue;
    }
    for (const auto& item : section.second) {
      std::string full = name + "." + item.first.Scalar();
      std::string item_where = mark_text(source, item.first.Mark());
      const Key* key = find_key(full);
      if (!key) {
        unknown_key(full, item_where, problems);
        continue;
      }
      set_key(config, *key, item.second, item_where, sources, problems);
    }
  }
}

void apply_override(
    Config& config,
    const std::string& text,
    Sources& sources,
    Problems& problems) {
  std::string where = fmt::format("--set {}", text);
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    problems.add(fmt::format("{}: expected key.sub=value", where));
    return;
  }
  std::string name = text.substr(0, eq);
  std::string value = text.substr(eq + 1);
  const Key* key = find_key(name);
  if (!key) {
    unknown_key(name, where, problems);
    return;
  }
  YAML::Node node;
  try {
    node = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    problems.add(fmt::format("{}: {}: bad YAML value: {}", where, name, e.msg));
    return;
  }
  set_key(config, *key, node, where, sources, problems);
}

void apply_presets(Config& c, const Sources& sources) {
  const std::string& m = c.loss.method;
  if (!sources.count("dist.sync_bn")) {
    c.dist.sync_bn = is_contrastive_core_method(m) || m == "rescom" ||
        m == "hybrid_sc" || m == "hybrid_psc";
  }
  if (!is_contrastive_core_method(m)) {
    return;
  }
  bool bcl = m == "bcl" || m == "bcl_rcl";
  bool rcl = m == "bcl_rcl" || m == "rcl";
  auto preset = [&](const char* key, auto& field, auto value) {
    if (!sources.count(key)) {
      field = value;
    }
  };
  preset("loss.class_averaging", c.loss.class_averaging, bcl);
  preset("loss.class_complement", c.loss.class_complement, bcl);
  preset("loss.balance", c.loss.balance, rcl ? 1.0 : 0.0);
  preset("loss.feature_scale", c.loss.feature_scale, rcl ? kRclFeatureScale : 1.0);
  preset("loss.margin_max", c.loss.margin_max, rcl ? kRclMarginMax : 0.0);
}

void check_all(const Config& c, const Sources& sources, Problems& problems) {
  auto where = [&](const std::string& key) {
    auto it = sources.find(key);
    return it == sources.end() ? std::string("default") : it->second;
  };
  for (const auto& k : schema()) {
    std::string msg = k.check(c);
    if (!msg.empty()) {
      problems.add(fmt::format("{}: {}: {}", where(k.name), k.name, msg));
    }
    // A loss key the method does not use was set: it would be ignored.
    if (sources.count(k.name) && !key_used(c, k.name)) {
      auto used = method_loss_keys(c.loss.method);
      problems.add(fmt::format(
          "{}: {} has no effect with loss.method '{}' (its keys: {})",
          where(k.name),
          k.name,
          c.loss.method,
          used.empty() ? std::string("none") : fmt::format("{}", fmt::join(used, ", "))));
    }
  }
  const std::string& m = c.loss.method;
  int64_t views = required_views(m);
  if (static_cast<int64_t>(c.data.views.size()) != views) {
    problems.add(fmt::format(
        "{}: data.views: loss.method '{}' needs {} view(s), got {} ({})",
        where("data.views"),
        m,
        views,
        c.data.views.size(),
        value_text(c.data.views)));
  }
  if (m == "ldam_drw" && c.loss.drw_epoch >= c.schedule.epochs) {
    problems.add(fmt::format(
        "{}: loss.drw_epoch must be < schedule.epochs = {}, got {}",
        where("loss.drw_epoch"),
        c.schedule.epochs,
        c.loss.drw_epoch));
  }
  if (m == "ldam_drw" &&
      (c.model.classifier != "cosine" || c.model.cosine_scale != 1.0)) {
    problems.add(fmt::format(
        "{}: loss.method 'ldam_drw' needs model.classifier cosine with "
        "model.cosine_scale 1 (LDAM takes cosine logits and scales them by "
        "loss.ldam_scale), got {} with scale {}",
        where("model.classifier"),
        c.model.classifier,
        c.model.cosine_scale));
  }
  if ((m == "rescom" || m == "hybrid_sc" || m == "hybrid_psc") &&
      c.data.sampler != "random") {
    problems.add(fmt::format(
        "{}: data.sampler: loss.method '{}' needs the instance-balanced "
        "'random' sampler, got '{}'",
        where("data.sampler"),
        m,
        c.data.sampler));
  }
  if (is_contrastive_core_method(m) && c.loss.alpha + c.loss.beta <= 0) {
    problems.add(fmt::format(
        "{}: loss.alpha + loss.beta must be > 0, got {} + {}",
        where("loss.beta"),
        c.loss.alpha,
        c.loss.beta));
  }
  if (c.optim.nesterov && c.optim.momentum <= 0) {
    problems.add(fmt::format(
        "{}: optim.nesterov needs optim.momentum > 0, got {}",
        where("optim.nesterov"),
        c.optim.momentum));
  }
  if (c.train.amp == "fp16" && c.train.device == "cpu") {
    problems.add(fmt::format(
        "{}: train.amp 'fp16' needs train.device cuda or auto (use bf16 on "
        "CPU)",
        where("train.amp")));
  }
  if (c.data.dataset == "list" &&
      (c.data.train_list.empty() || c.data.test_list.empty())) {
    problems.add(fmt::format(
        "{}: data.dataset 'list' needs data.train_list and data.test_list",
        where("data.dataset")));
  }
}

void throw_if(const Problems& problems) {
  if (problems.items.empty()) {
    return;
  }
  std::string msg = fmt::format(
      "config - {} problem{}:", problems.items.size(),
      problems.items.size() > 1 ? "s" : "");
  for (const auto& p : problems.items) {
    msg += "\n  " + p;
  }
  throw Error(msg);
}

Config finish(
    Config config,
    const std::vector<std::string>& overrides,
    Sources& sources,
    Problems& problems) {
  for (const auto& o : overrides) {
    apply_override(config, o, sources, problems);
  }
  apply_presets(config, sources);
  check_all(config, sources, problems);
  throw_if(problems);
  return config;
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    prev[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool is_contrastive_core_method(const std::string& m) {
  return m == "supcon_la" || m == "bcl" || m == "bcl_rcl" || m == "rcl";
}

int64_t required_views(const std::string& m) {
  if (is_contrastive_core_method(m) || m == "hybrid_sc" || m == "hybrid_psc") {
    return 3;
  }
  if (m == "rescom") {
    return 2;
  }
  return 1;
}

const std::vector<KeyInfo>& config_keys() {
  static const std::vector<KeyInfo> infos = [] {
    std::vector<KeyInfo> out;
    Config defaults;
    for (const auto& k : schema()) {
      out.push_back({k.name, k.type, k.text(defaults), k.help});
    }
    return out;
  }();
  return infos;
}

Config load_config(
    const std::string& path,
    const std::vector<std::string>& overrides) {
  Config config;
  Sources sources;
  Problems problems;
  std::vector<std::string> chain;
  apply_file(config, path, "", 0, chain, sources, problems);
  return finish(config, overrides, sources, problems);
}

Config parse_config(
    const std::string& yaml_text,
    const std::string& source_name,
    const std::vector<std::string>& overrides,
    const std::string& base_dir) {
  Config config;
  Sources sources;
  Problems problems;
  std::vector<std::string> chain;
  apply_text(
      config,
      yaml_text,
      source_name,
      base_dir,
      0,
      chain,
      sources,
      problems);
  return finish(config, overrides, sources, problems);
}

void validate(const Config& config) {
  Problems problems;
  Sources sources;
  check_all(config, sources, problems);
  throw_if(problems);
}

std::string to_yaml(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  for (const auto& k : schema()) {
    if (!key_used(config, k.name)) {
      continue;
    }
    auto dot = k.name.find('.');
    std::string s = k.name.substr(0, dot);
    if (s != section) {
      if (!section.empty()) {
        out << YAML::EndMap;
      }
      out << YAML::Key << s << YAML::Value << YAML::BeginMap;
      section = s;
    }
    out << YAML::Key << k.name.substr(dot + 1) << YAML::Value;
    k.emit(out, config);
  }
  if (!section.empty()) {
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace ltcl::train
