// The method registry (train/method.h): the built-in rooms, then any
// method registered from outside.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "ltcl/models/network.h"
#include "ltcl/train/method.h"
#include "ltcl/util/error.h"
#include "rooms.h"

namespace ltcl::train {
namespace {

std::vector<MethodInfo>& registry() {
  static std::vector<MethodInfo> r = [] {
    std::vector<MethodInfo> out;
    rooms::add_ce_family(out);
    rooms::add_ldam_drw(out);
    rooms::add_contrastive_core(out);
    rooms::add_rescom(out);
    rooms::add_hybrid(out);
    rooms::add_proco(out);
    rooms::add_paco(out);
    return out;
  }();
  return r;
}

}  // namespace

std::string default_method() {
  return registry().front().name;
}

const std::vector<MethodInfo>& methods() {
  return registry();
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& m : registry()) {
    names.push_back(m.name);
  }
  return names;
}

const MethodInfo& method_info(const std::string& name) {
  for (const auto& m : registry()) {
    if (m.name == name) {
      return m;
    }
  }
  fail(
      "method_info - unknown method: {{got '{}', registered: {}}}",
      name,
      fmt::join(method_names(), ", "));
}

std::vector<std::string> method_keys(const std::string& name) {
  const MethodInfo& m = method_info(name);
  ConfigSchema s;
  if (m.keys) {
    m.keys(s);
  }
  return s.names();
}

std::unique_ptr<Method> make_method(const Config& config) {
  const MethodInfo& m = method_info(config.loss.method);
  if (!m.make) {
    fail("make_method - method '{}' has no factory", m.name);
  }
  return m.make(config);
}

std::shared_ptr<models::NetworkImpl> build_network(
    const Config& c,
    int64_t channels,
    const std::vector<int64_t>& class_counts,
    Method& method) {
  const auto num_classes = static_cast<int64_t>(class_counts.size());
  const MethodInfo& info = method_info(c.loss.method);
  auto options =
      models::NetworkOptions()
          .arch(c.model.arch)
          .num_classes(num_classes)
          .in_channels(c.model.in_channels > 0 ? c.model.in_channels : channels)
          .classifier(c.model.classifier)
          .cosine_scale(c.model.cosine_scale)
          .proj_hidden(c.model.proj_hidden)
          .init(c.model.init)
          .adjust(c.model.adjust)
          .adjust_tau(c.model.adjust_tau)
          .tau_norm_bias(c.model.tau_norm_bias)
          .class_scale(c.model.class_scale)
          .proj_dim(info.traits.projection ? c.model.proj_dim : 0);
  method.configure(options);
  auto net = std::make_shared<models::NetworkImpl>(options);
  net->set_class_counts(class_counts);
  method.attach(*net);
  return net;
}

void register_method(MethodInfo info) {
  if (info.name.empty() || !info.make) {
    fail("register_method - a method needs a name and a factory");
  }
  for (const auto& m : registry()) {
    if (m.name == info.name) {
      fail("register_method - method '{}' is registered already", info.name);
    }
  }
  registry().push_back(std::move(info));
}

}  // namespace ltcl::train
