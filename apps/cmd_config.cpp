// `ltcl config show` (the resolved config of a recipe, validated),
// `ltcl config keys` (every key with its type, default and meaning) and
// `ltcl config methods` (the method registry, as a Markdown table).
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "ltcl/train/config.h"
#include "ltcl/train/method.h"

namespace ltcl::apps {

void add_config_command(CLI::App& app) {
  auto* group = app.add_subcommand("config", "Inspect training configs");
  group->require_subcommand(1);

  struct ShowArgs {
    std::string config;
    std::vector<std::string> sets;
  };
  auto show_args = std::make_shared<ShowArgs>();
  auto* show = group->add_subcommand(
      "show", "Validate a config and print it resolved (YAML)");
  show->add_option("--config", show_args->config, "Recipe YAML file")
      ->required();
  show->add_option("--set", show_args->sets, "Override: key.sub=value")
      ->take_all();
  show->callback([show_args] {
    auto cfg = train::load_config(show_args->config, show_args->sets);
    std::cout << train::to_yaml(cfg);
  });

  auto markdown = std::make_shared<bool>(false);
  auto* keys = group->add_subcommand("keys", "List every config key");
  keys->add_flag("--markdown", *markdown, "As a Markdown table");
  keys->callback([markdown] {
    if (*markdown) {
      std::cout << "| key | type | default | meaning |\n|---|---|---|---|\n";
    }
    for (const auto& k : train::config_keys()) {
      if (*markdown) {
        std::string help = k.help;
        for (size_t p = 0; (p = help.find('|', p)) != std::string::npos;
             p += 2) {
          help.replace(p, 1, "\\|");
        }
        std::cout << fmt::format(
            "| `{}` | {} | `{}` | {} |\n", k.key, k.type, k.default_value, help);
      } else {
        std::cout << fmt::format(
            "{:<28} {:<15} {:<14} {}\n",
            k.key,
            k.type,
            k.default_value,
            k.help);
      }
    }
  });

  auto* list = group->add_subcommand(
      "methods", "List the registered training methods and their keys");
  list->callback([] {
    std::cout << "| method | views | streams | projection | keys | what |\n"
                 "|---|---|---|---|---|---|\n";
    for (const auto& m : train::methods()) {
      std::string keys;
      for (const auto& k : train::method_keys(m.name)) {
        keys += (keys.empty() ? "" : ", ") + k.substr(5);  // no "loss."
      }
      std::cout << fmt::format(
          "| `{}` | {} | {} | {} | {} | {} |\n",
          m.name,
          m.traits.views,
          m.traits.streams == train::Streams::kOne ? "one" : "two",
          m.traits.projection ? "yes" : "no",
          keys.empty() ? "-" : keys,
          m.summary);
    }
  });
}

}  // namespace ltcl::apps
