#pragma once
// The typed-key engine behind the training config (train/config.h).
//
// A key binds a dotted name to one field of `Config`, with its type (from
// the field), help text, an optional check and, for strings, the allowed
// choices. The config sections (src/train/config/<section>.cpp) and the
// methods (train/method.h, their loss keys) declare their keys on it:
//
//   schema.add(make_key<double>(
//       "loss.alpha", LTCL_CONFIG_FIELD(double, loss.alpha),
//       "Weight of LA-CE on view 0.", at_least(0.0)));
//
// The YAML reading, writing and listing are the engine's; a key only says
// what it is. Types: double ("float"), int64_t ("int"), bool, std::string,
// std::vector<int64_t>, std::vector<std::string>.
#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace YAML {
class Node;
class Emitter;
}  // namespace YAML

namespace ltcl::train {

struct Config;

// A check of one value: "" when fine, else what is wrong ("must be > 0, got
// -1"). It may look at the rest of the config.
template <typename T>
using Check = std::function<std::string(const T&, const Config&)>;

// Access to the field a key sets.
template <typename T>
using Field = std::function<T&(Config&)>;

// LTCL_CONFIG_FIELD(double, optim.lr): the Field of c.optim.lr.
#define LTCL_CONFIG_FIELD(T, path) \
  ::ltcl::train::Field<T>([](::ltcl::train::Config& c) -> T& { return c.path; })

struct ConfigKey {
  std::string name;  // "optim.lr"
  std::string type;  // "float", "int", "bool", "string", "list of int", ...
  std::string help;
  // Sets the field from a YAML value; throws ConfigTypeError.
  std::function<void(Config&, const YAML::Node&)> assign;
  std::function<void(YAML::Emitter&, const Config&)> emit;
  std::function<std::string(const Config&)> check;  // "" when fine
  std::function<std::string(const Config&)> text;  // the value as YAML
};

// The Field of a number / a text key of a method registered outside ltcl:
// the value lives in Config::loss.extra_numbers / extra_texts under `name`
// (which must start with "loss."), `fallback` until set. E.g. in the
// method's MethodInfo::keys:
//   s.add(make_key<double>("loss.my_eps", method_number("loss.my_eps", 0.1),
//                          "Label smoothing.", in_range(0, 1, true)));
// and in its factory: method_number_value(c, "loss.my_eps").
Field<double> method_number(const std::string& name, double fallback);
Field<std::string> method_text(const std::string& name, std::string fallback);
// The value of such a key in `c`: the one set, else its fallback (also for
// a Config built in code that never saw the key). Throws ltcl::Error when
// no key of that name was declared.
double method_number_value(const Config& c, const std::string& name);
std::string method_text_value(const Config& c, const std::string& name);

// A value of the wrong type or outside the choices.
struct ConfigTypeError {
  std::string message;
};

template <typename T>
ConfigKey make_key(
    std::string name,
    Field<T> field,
    std::string help,
    Check<T> check = {},
    std::vector<std::string> choices = {});

extern template ConfigKey make_key<std::vector<double>>(
    std::string, Field<std::vector<double>>, std::string,
    Check<std::vector<double>>, std::vector<std::string>);
extern template ConfigKey make_key<double>(
    std::string, Field<double>, std::string, Check<double>,
    std::vector<std::string>);
extern template ConfigKey make_key<int64_t>(
    std::string, Field<int64_t>, std::string, Check<int64_t>,
    std::vector<std::string>);
extern template ConfigKey make_key<bool>(
    std::string, Field<bool>, std::string, Check<bool>,
    std::vector<std::string>);
extern template ConfigKey make_key<std::string>(
    std::string, Field<std::string>, std::string, Check<std::string>,
    std::vector<std::string>);
extern template ConfigKey make_key<std::vector<int64_t>>(
    std::string, Field<std::vector<int64_t>>, std::string,
    Check<std::vector<int64_t>>, std::vector<std::string>);
extern template ConfigKey make_key<std::vector<std::string>>(
    std::string, Field<std::vector<std::string>>, std::string,
    Check<std::vector<std::string>>, std::vector<std::string>);

// Common checks.
template <typename T>
Check<T> at_least(T lo) {
  return [lo](const T& v, const Config&) {
    return v >= lo ? std::string()
                   : fmt::format("must be >= {}, got {}", lo, v);
  };
}
Check<double> positive();
// lo <= v <= hi (v < hi when `hi_open`).
Check<double> in_range(double lo, double hi, bool hi_open);
// lo <= v <= hi for the integer keys that size memory, threads or time:
// a value past any real use (train.threads 100000, model.proj_hidden 1e9) is
// a named config error, not a hang or a huge allocation.
Check<int64_t> int_range(int64_t lo, int64_t hi);

// Reports a problem of the config as a whole: `key` says where it was set
// (the engine adds "file.yaml line 4, column 3" or "default").
using ConfigReport =
    std::function<void(const std::string& key, const std::string& message)>;
using ConfigRule = std::function<void(const Config&, const ConfigReport&)>;

// The keys of a config, in declaration order, and its cross-key rules.
class ConfigSchema {
 public:
  // Adds a key; a second key of the same name is ignored when its type
  // matches (methods sharing a loss key), else throws ltcl::Error.
  void add(ConfigKey key);
  void add_rule(ConfigRule rule);

  const ConfigKey* find(const std::string& name) const;
  const std::vector<ConfigKey>& keys() const {
    return keys_;
  }
  const std::vector<ConfigRule>& rules() const {
    return rules_;
  }
  std::vector<std::string> names() const;
  std::vector<std::string> sections() const;  // "data", "model", ...

 private:
  std::vector<ConfigKey> keys_;
  std::vector<ConfigRule> rules_;
};

// The schema of every key ltcl knows: the sections and every registered
// method's loss keys. Built on first use.
const ConfigSchema& config_schema();

}  // namespace ltcl::train
