// The typed-key engine (train/config_schema.h) and the config reader built
// on it (train/config.h): YAML files with `base:` chains, --set overrides,
// method presets, validation, and the resolved config as YAML.
//
// Reading a config is two passes: first every assignment is gathered (bases
// in order, then the file, then the overrides; unknown keys are reported
// here), then the config starts from default_config(loss.method) -- the
// method's presets -- and the assignments are applied in order, so a key set
// anywhere wins over a preset. Every problem is collected and reported
// together.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ltcl/train/config.h"
#include "ltcl/train/config_schema.h"
#include "ltcl/train/method.h"
#include "ltcl/util/error.h"
#include "ltcl/util/printable.h"
#include "document.h"
#include "sections.h"

namespace ltcl::train {
namespace {

namespace fs = std::filesystem;

std::string node_text(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) {
    return "nothing";
  }
  if (node.IsScalar()) {
    return fmt::format("'{}'", printable(node.Scalar(), 200));
  }
  YAML::Emitter out;
  out << YAML::Flow << node;
  return fmt::format(
      "a {} {}",
      node.IsSequence() ? "list" : "mapping",
      printable(out.c_str(), 200));
}

template <typename T>
T convert(const YAML::Node& node);

template <>
double convert<double>(const YAML::Node& node) {
  double v = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, v) ||
      !std::isfinite(v)) {
    throw ConfigTypeError{
        fmt::format("expected a finite number, got {}", node_text(node))};
  }
  return v;
}

template <>
int64_t convert<int64_t>(const YAML::Node& node) {
  int64_t v = 0;
  if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, v)) {
    throw ConfigTypeError{
        fmt::format("expected an integer, got {}", node_text(node))};
  }
  return v;
}

template <>
bool convert<bool>(const YAML::Node& node) {
  bool v = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, v)) {
    throw ConfigTypeError{
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
    throw ConfigTypeError{
        fmt::format("expected a string, got {}", node_text(node))};
  }
  return node.Scalar();
}

template <>
std::vector<int64_t> convert<std::vector<int64_t>>(const YAML::Node& node) {
  if (!node.IsSequence()) {
    throw ConfigTypeError{fmt::format(
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
std::vector<double> convert<std::vector<double>>(const YAML::Node& node) {
  if (!node.IsSequence()) {
    throw ConfigTypeError{fmt::format(
        "expected a list of numbers like [0.5, 0.25], got {}",
        node_text(node))};
  }
  std::vector<double> out;
  for (const auto& item : node) {
    out.push_back(convert<double>(item));
  }
  return out;
}

template <>
std::vector<std::string> convert<std::vector<std::string>>(
    const YAML::Node& node) {
  if (!node.IsSequence()) {
    throw ConfigTypeError{fmt::format(
        "expected a list of strings like [a, b], got {}", node_text(node))};
  }
  std::vector<std::string> out;
  for (const auto& item : node) {
    if (!item.IsScalar()) {
      throw ConfigTypeError{fmt::format(
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
  static const std::set<std::string> kNullish = {
      "", "~", "null", "Null", "NULL"};
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
void emit_value(YAML::Emitter& out, const std::vector<double>& v) {
  out << YAML::Flow << YAML::BeginSeq;
  for (auto x : v) {
    out << format_double(x);
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
std::string type_name<std::vector<double>>() {
  return "list of float";
}
template <>
std::string type_name<std::vector<std::string>>() {
  return "list of string";
}

template <typename T>
std::string yaml_text(const T& v) {
  YAML::Emitter out;
  emit_value(out, v);
  return out.c_str();
}

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

}  // namespace

// ---------------------------------------------------------------------------
// Keys and checks
// ---------------------------------------------------------------------------

template <typename T>
ConfigKey make_key(
    std::string name,
    Field<T> field,
    std::string help,
    Check<T> check,
    std::vector<std::string> choices) {
  ConfigKey k;
  k.name = std::move(name);
  k.type = type_name<T>();
  k.help = std::move(help);
  if (!choices.empty()) {
    k.help += fmt::format(" One of: {}.", fmt::join(choices, ", "));
  }
  k.assign = [field, choices](Config& c, const YAML::Node& node) {
    T value = convert<T>(node);
    if constexpr (std::is_same_v<T, std::string>) {
      if (!choices.empty() &&
          std::find(choices.begin(), choices.end(), value) == choices.end()) {
        throw ConfigTypeError{fmt::format(
            "got '{}', expected one of {} (closest: '{}')",
            value,
            fmt::join(choices, ", "),
            closest(value, choices))};
      }
    }
    field(c) = value;
  };
  k.emit = [field](YAML::Emitter& out, const Config& c) {
    emit_value(out, field(const_cast<Config&>(c)));
  };
  k.check = [field, check](const Config& c) {
    return check ? check(field(const_cast<Config&>(c)), c) : std::string();
  };
  k.text = [field](const Config& c) {
    return yaml_text(field(const_cast<Config&>(c)));
  };
  return k;
}

template ConfigKey make_key<double>(
    std::string, Field<double>, std::string, Check<double>,
    std::vector<std::string>);
template ConfigKey make_key<int64_t>(
    std::string, Field<int64_t>, std::string, Check<int64_t>,
    std::vector<std::string>);
template ConfigKey make_key<bool>(
    std::string, Field<bool>, std::string, Check<bool>,
    std::vector<std::string>);
template ConfigKey make_key<std::string>(
    std::string, Field<std::string>, std::string, Check<std::string>,
    std::vector<std::string>);
template ConfigKey make_key<std::vector<int64_t>>(
    std::string, Field<std::vector<int64_t>>, std::string,
    Check<std::vector<int64_t>>, std::vector<std::string>);
template ConfigKey make_key<std::vector<double>>(
    std::string, Field<std::vector<double>>, std::string,
    Check<std::vector<double>>, std::vector<std::string>);
template ConfigKey make_key<std::vector<std::string>>(
    std::string, Field<std::vector<std::string>>, std::string,
    Check<std::vector<std::string>>, std::vector<std::string>);

Check<double> positive() {
  return [](const double& v, const Config&) {
    return v > 0 ? std::string() : fmt::format("must be > 0, got {}", v);
  };
}

Check<int64_t> int_range(int64_t lo, int64_t hi) {
  return [lo, hi](const int64_t& v, const Config&) {
    return v >= lo && v <= hi
        ? std::string()
        : fmt::format("must be in [{}, {}], got {}", lo, hi, v);
  };
}

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

void ConfigSchema::add(ConfigKey key) {
  if (const ConfigKey* k = find(key.name)) {
    if (k->type != key.type) {
      fail(
          "ConfigSchema::add - key '{}' declared twice with different types "
          "({} and {})",
          key.name,
          k->type,
          key.type);
    }
    return;  // shared by several methods: the first declaration stands
  }
  keys_.push_back(std::move(key));
}

void ConfigSchema::add_rule(ConfigRule rule) {
  rules_.push_back(std::move(rule));
}

const ConfigKey* ConfigSchema::find(const std::string& name) const {
  for (const auto& k : keys_) {
    if (k.name == name) {
      return &k;
    }
  }
  return nullptr;
}

std::vector<std::string> ConfigSchema::names() const {
  std::vector<std::string> out;
  for (const auto& k : keys_) {
    out.push_back(k.name);
  }
  return out;
}

std::vector<std::string> ConfigSchema::sections() const {
  std::vector<std::string> out;
  for (const auto& k : keys_) {
    std::string s = k.name.substr(0, k.name.find('.'));
    if (std::find(out.begin(), out.end(), s) == out.end()) {
      out.push_back(s);
    }
  }
  return out;
}

namespace config_sections {

std::string value_text(const std::vector<std::string>& v) {
  return yaml_text(v);
}
std::string value_text(const std::vector<int64_t>& v) {
  return yaml_text(v);
}

// loss.method, then the keys of every registered method, then the rules
// every method shares (its views and sampler) and each method's own checks.
void add_loss_keys(ConfigSchema& s) {
  s.add(make_key<std::string>(
      "loss.method",
      LTCL_CONFIG_FIELD(std::string, loss.method),
      "Training method (METHODS.md).",
      {},
      method_names()));
  for (const auto& m : methods()) {
    if (m.keys) {
      m.keys(s);
    }
  }
  s.add_rule([](const Config& c, const ConfigReport& report) {
    const MethodInfo& m = method_info(c.loss.method);
    if (static_cast<int64_t>(c.data.views.size()) != m.traits.views) {
      report(
          "data.views",
          fmt::format(
              "data.views: loss.method '{}' needs {} view(s), got {} ({})",
              m.name,
              m.traits.views,
              c.data.views.size(),
              value_text(c.data.views)));
    }
    if (m.traits.instance_sampler && c.data.sampler != "random") {
      report(
          "data.sampler",
          fmt::format(
              "data.sampler: loss.method '{}' needs the instance-balanced "
              "'random' sampler, got '{}'",
              m.name,
              c.data.sampler));
    }
    if (c.optim.accumulation_steps > 1 &&
        m.traits.accumulation == Accumulation::kUnsupported) {
      report(
          "optim.accumulation_steps",
          fmt::format(
              "optim.accumulation_steps: loss.method '{}' does not support "
              "gradient accumulation (its loss couples the images of a "
              "step); use 1, or more processes for a larger batch",
              m.name));
    }
    if (m.check) {
      m.check(c, report);
    }
  });
}

}  // namespace config_sections

namespace {

void check_method_key_name(const std::string& name) {
  if (name.rfind("loss.", 0) != 0 || name.size() <= 5) {
    fail(
        "a method's own key must be named loss.<something>: {{got '{}'}}",
        name);
  }
}

// The fallbacks of the declared method keys (declared while the schema is
// built, before any config is read).
std::map<std::string, double>& number_fallbacks() {
  static std::map<std::string, double> m;
  return m;
}
std::map<std::string, std::string>& text_fallbacks() {
  static std::map<std::string, std::string> m;
  return m;
}

}  // namespace

Field<double> method_number(const std::string& name, double fallback) {
  check_method_key_name(name);
  number_fallbacks()[name] = fallback;
  return [name, fallback](Config& c) -> double& {
    return c.loss.extra_numbers.try_emplace(name, fallback).first->second;
  };
}

Field<std::string> method_text(const std::string& name, std::string fallback) {
  check_method_key_name(name);
  text_fallbacks()[name] = fallback;
  return [name, fallback](Config& c) -> std::string& {
    return c.loss.extra_texts.try_emplace(name, fallback).first->second;
  };
}

namespace {

// The value set in `values`, else the declared fallback.
template <typename T>
T method_value(
    const std::map<std::string, T>& values,
    const std::map<std::string, T>& fallbacks,
    const std::string& name,
    const char* what) {
  config_schema();  // declares the keys
  if (auto it = values.find(name); it != values.end()) {
    return it->second;
  }
  auto it = fallbacks.find(name);
  if (it == fallbacks.end()) {
    fail("no method key '{}' ({}) is declared", name, what);
  }
  return it->second;
}

}  // namespace

double method_number_value(const Config& c, const std::string& name) {
  return method_value(c.loss.extra_numbers, number_fallbacks(), name, "a number");
}

std::string method_text_value(const Config& c, const std::string& name) {
  return method_value(c.loss.extra_texts, text_fallbacks(), name, "a text");
}

const ConfigSchema& config_schema() {
  static const ConfigSchema schema = [] {
    namespace cs = config_sections;
    ConfigSchema s;
    cs::add_data_keys(s);
    cs::add_model_keys(s);
    cs::add_loss_keys(s);
    cs::add_optim_keys(s);
    cs::add_schedule_keys(s);
    cs::add_run_keys(s);
    cs::add_dist_keys(s);
    cs::add_output_keys(s);
    return s;
  }();
  return schema;
}

// ---------------------------------------------------------------------------
// Reading configs
// ---------------------------------------------------------------------------

namespace {

// One `key: value` found in a file or a --set, and where.
struct Assignment {
  const ConfigKey* key;
  YAML::Node value;
  std::string where;
};

struct Reader {
  std::vector<Assignment> assignments;
  std::vector<std::string> problems;
  std::vector<std::string> chain;  // files being read (cycle check)

  void add_problem(std::string s) {
    problems.push_back(std::move(s));
  }

  void unknown_key(const std::string& name, const std::string& where) {
    const ConfigSchema& schema = config_schema();
    std::vector<std::string> candidates = schema.names();
    const auto all_sections = schema.sections();
    if (std::find(all_sections.begin(), all_sections.end(), name) !=
        all_sections.end()) {
      // `--set optim=5`: a section given a value (not "did you mean
      // 'optim'?").
      std::string example;
      for (const auto& key : candidates) {
        if (key.rfind(name + ".", 0) == 0) {
          example = key;
          break;
        }
      }
      add_problem(fmt::format(
          "{}: '{}' is a section, not a key: set one of its keys (e.g. "
          "'{}')",
          where,
          name,
          example));
      return;
    }
    if (name.find('.') == std::string::npos) {
      auto sections = schema.sections();
      candidates.insert(candidates.end(), sections.begin(), sections.end());
      candidates.push_back("base");
    }
    add_problem(fmt::format(
        "{}: unknown key '{}'; did you mean '{}'?",
        where,
        printable(name),
        // Edit distance costs length x length: no suggestion for a key
        // longer than any real one.
        name.size() > 64 ? std::string("?") : closest(name, candidates)));
  }

  // The items of the files (config_doc: bases first) against the schema.
  void take(config_doc::Document& doc) {
    for (auto& p : doc.problems) {
      add_problem(std::move(p));
    }
    const auto sections = config_schema().sections();
    std::set<std::string> unknown;
    for (auto& item : doc.items) {
      const bool known = std::find(
                             sections.begin(),
                             sections.end(),
                             item.section) != sections.end();
      if (item.key.empty()) {
        if (!known) {
          unknown_key(item.section, item.where);
        } else if (!item.value.IsMap() && !item.value.IsNull()) {
          add_problem(fmt::format(
              "{}: section '{}' must be a mapping of keys, got {}",
              item.where,
              item.section,
              node_text(item.value)));
        }
        continue;
      }
      if (!known) {
        continue;  // reported with its section
      }
      const std::string full = item.section + "." + item.key;
      const ConfigKey* key = config_schema().find(full);
      if (!key) {
        unknown_key(full, item.where);
        continue;
      }
      assignments.push_back({key, item.value, item.where});
    }
  }

  void read_file(const fs::path& path) {
    config_doc::Document doc;
    config_doc::Reader(doc).read_file(path);
    take(doc);
  }

  void read_text(
      const std::string& text,
      const std::string& source,
      const fs::path& base_dir) {
    config_doc::Document doc;
    config_doc::Reader(doc).read_text(text, source, base_dir);
    take(doc);
  }

  void read_override(const std::string& text) {
    std::string where = fmt::format("--set {}", text);
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
      add_problem(fmt::format("{}: expected key.sub=value", where));
      return;
    }
    std::string name = text.substr(0, eq);
    std::string value = text.substr(eq + 1);
    const ConfigKey* key = config_schema().find(name);
    if (!key) {
      unknown_key(name, where);
      return;
    }
    config_doc::Document doc;
    YAML::Node node = config_doc::parse_value(value, where, doc);
    if (!doc.problems.empty()) {
      for (auto& p : doc.problems) {
        add_problem(fmt::format("{}: bad YAML value: {}", name, p));
      }
      return;
    }
    assignments.push_back({key, node, where});
  }
};

// Where each explicitly set key was set, for messages.
using Sources = std::map<std::string, std::string>;

bool is_registered(const std::string& method) {
  const auto names = method_names();
  return std::find(names.begin(), names.end(), method) != names.end();
}

bool key_used(const Config& c, const std::string& name) {
  if (name.rfind("loss.", 0) != 0 || name == "loss.method" ||
      !is_registered(c.loss.method)) {
    return true;
  }
  const auto used = method_keys(c.loss.method);
  return std::find(used.begin(), used.end(), name) != used.end();
}

void check_all(
    const Config& c,
    const Sources& sources,
    std::vector<std::string>& problems) {
  auto where = [&](const std::string& key) {
    auto it = sources.find(key);
    return it == sources.end() ? std::string("default") : it->second;
  };
  const ConfigSchema& schema = config_schema();
  for (const auto& k : schema.keys()) {
    std::string msg = k.check(c);
    if (!msg.empty()) {
      problems.push_back(fmt::format("{}: {}: {}", where(k.name), k.name, msg));
    }
    // A loss key the method does not use was set: it would be ignored.
    if (sources.count(k.name) && !key_used(c, k.name)) {
      std::vector<std::string> used;
      for (const auto& u : method_keys(c.loss.method)) {
        used.push_back(u.substr(5));  // without "loss."
      }
      problems.push_back(fmt::format(
          "{}: {} has no effect with loss.method '{}' (its keys: {})",
          where(k.name),
          k.name,
          c.loss.method,
          used.empty() ? std::string("none")
                       : fmt::format("{}", fmt::join(used, ", "))));
    }
  }
  if (!is_registered(c.loss.method)) {
    if (!sources.count("loss.method")) {  // else reported by its key
      problems.push_back(fmt::format(
          "{}: loss.method: got '{}', expected one of {}",
          where("loss.method"),
          c.loss.method,
          fmt::join(method_names(), ", ")));
    }
    return;  // the rules need a registered method
  }
  const ConfigReport report = [&](const std::string& key,
                                  const std::string& message) {
    problems.push_back(fmt::format("{}: {}", where(key), message));
  };
  for (const auto& rule : schema.rules()) {
    rule(c, report);
  }
}

void throw_if(const std::vector<std::string>& problems) {
  if (problems.empty()) {
    return;
  }
  std::string msg = fmt::format(
      "config - {} problem{}:",
      problems.size(),
      problems.size() > 1 ? "s" : "");
  for (const auto& p : problems) {
    msg += "\n  " + p;
  }
  throw Error(msg);
}

// runs/<folder>/<stem> of the top-level config file.
std::string default_output_dir(const fs::path& file) {
  fs::path dir = "runs";
  const fs::path parent = fs::weakly_canonical(file).parent_path();
  if (!parent.filename().empty()) {
    dir /= parent.filename();
  }
  return (dir / file.stem()).string();
}

Config finish(
    Reader& reader,
    const std::vector<std::string>& overrides,
    const fs::path& top_file) {
  for (const auto& o : overrides) {
    reader.read_override(o);
  }
  // The method decides the starting point (its presets).
  std::string method = Config().loss.method;
  for (const auto& a : reader.assignments) {
    if (a.key->name == "loss.method" && a.value.IsScalar()) {
      method = a.value.Scalar();
    }
  }
  Config config = is_registered(method) ? default_config(method) : Config();
  if (!top_file.empty()) {
    config.output.dir = default_output_dir(top_file);
  }
  Sources sources;
  for (const auto& a : reader.assignments) {
    try {
      a.key->assign(config, a.value);
      sources[a.key->name] = a.where;
    } catch (const ConfigTypeError& e) {
      reader.add_problem(fmt::format(
          "{}: {} ({}): {}", a.where, a.key->name, a.key->type, e.message));
    }
  }
  check_all(config, sources, reader.problems);
  throw_if(reader.problems);
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

const std::vector<KeyInfo>& config_keys() {
  static const std::vector<KeyInfo> infos = [] {
    std::vector<KeyInfo> out;
    Config defaults;
    for (const auto& k : config_schema().keys()) {
      out.push_back({k.name, k.type, k.text(defaults), k.help});
    }
    return out;
  }();
  return infos;
}

Config default_config(const std::string& method) {
  const MethodInfo& info = method_info(method);
  Config c;
  c.loss.method = info.name;
  c.dist.sync_bn = info.traits.sync_bn;
  if (info.preset) {
    info.preset(c);
  }
  return c;
}

Config load_config(
    const std::string& path,
    const std::vector<std::string>& overrides) {
  Reader reader;
  reader.read_file(path);
  return finish(reader, overrides, path);
}

Config parse_config(
    const std::string& yaml_text,
    const std::string& source_name,
    const std::vector<std::string>& overrides,
    const std::string& base_dir) {
  Reader reader;
  reader.read_text(yaml_text, source_name, base_dir);
  return finish(reader, overrides, fs::path());
}

void validate(const Config& config) {
  std::vector<std::string> problems;
  check_all(config, Sources(), problems);
  throw_if(problems);
}

std::string to_yaml(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  for (const auto& k : config_schema().keys()) {
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
