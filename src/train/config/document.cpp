#include "document.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/printable.h"
#include "ltcl/util/read_file.h"

namespace ltcl::train::config_doc {

namespace fs = std::filesystem;

std::string mark_text(const std::string& source, const YAML::Mark& m) {
  if (m.is_null()) {
    return source;
  }
  return fmt::format("{} line {}, column {}", source, m.line + 1, m.column + 1);
}

namespace {

// Walks a parsed document once, aliases expanded, with a budget: reports the
// first duplicate key of any mapping, nesting beyond the limit, and more
// nodes than the limit (a "billion laughs" of aliases would otherwise be
// expanded by every later reader of the values: conversions, messages).
struct Checker {
  const std::string& source;
  std::string problem;
  int64_t nodes = 0;

  bool walk(const YAML::Node& node, int depth) {
    if (++nodes > limits::kMaxConfigNodes) {
      problem = fmt::format(
          "{}: more than {} YAML nodes (aliases expanded), the limit",
          source,
          limits::kMaxConfigNodes);
      return false;
    }
    if (depth > limits::kMaxConfigNesting) {
      problem = fmt::format(
          "{}: YAML nested deeper than {} levels",
          mark_text(source, node.Mark()),
          limits::kMaxConfigNesting);
      return false;
    }
    if (node.IsSequence()) {
      for (const auto& item : node) {
        if (!walk(item, depth + 1)) {
          return false;
        }
      }
    } else if (node.IsMap()) {
      std::set<std::string> seen;
      for (const auto& kv : node) {
        if (!walk(kv.first, depth + 1)) {
          return false;
        }
        const std::string key =
            kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
        if (kv.first.IsScalar() && !seen.insert(key).second) {
          problem = fmt::format(
              "{}: duplicate key '{}' (each key may appear once in a "
              "mapping)",
              mark_text(source, kv.first.Mark()),
              printable(key));
          return false;
        }
        if (!walk(kv.second, depth + 1)) {
          return false;
        }
      }
    }
    return true;
  }
};

// Sees parser events and keeps nothing: for counting documents.
struct IgnoreEvents : YAML::EventHandler {
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(
      const YAML::Mark&,
      const std::string&,
      YAML::anchor_t,
      const std::string&) override {}
  void OnSequenceStart(
      const YAML::Mark&,
      const std::string&,
      YAML::anchor_t,
      YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(
      const YAML::Mark&,
      const std::string&,
      YAML::anchor_t,
      YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// The one document of `text`, or a null node with the problem added.
YAML::Node load_one(
    const std::string& text,
    const std::string& source,
    std::vector<std::string>& problems) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
    // A second document? Not YAML::LoadAll: yaml-cpp 0.7 returns empty
    // documents forever after text it cannot consume (e.g. "{a}, x"; found
    // by fuzz_yaml_config), so at most two are asked for.
    std::istringstream in(text);
    YAML::Parser parser(in);
    IgnoreEvents ignore;
    if (parser.HandleNextDocument(ignore) &&
        parser.HandleNextDocument(ignore)) {
      problems.push_back(fmt::format(
          "{}: holds more than one YAML document (a '---' or '...' "
          "separator, or text after the first that is not part of it), "
          "expected one",
          source));
      return YAML::Node();
    }
  } catch (const YAML::Exception& e) {
    problems.push_back(fmt::format(
        "{}: YAML syntax error: {}",
        mark_text(source, e.mark),
        printable(e.msg, 200)));
    return YAML::Node();
  }
  if (!root.IsDefined() || root.IsNull()) {
    return YAML::Node();
  }
  Checker check{source, "", 0};
  if (!check.walk(root, 0)) {
    problems.push_back(check.problem);
    return YAML::Node();
  }
  return root;
}

}  // namespace

YAML::Node parse_value(
    const std::string& text, const std::string& where, Document& doc) {
  return load_one(text, where, doc.problems);
}

void Reader::problem(std::string s) {
  doc_.problems.push_back(std::move(s));
}

void Reader::read_file(
    const fs::path& path, const std::string& included_from, int depth) {
  const std::string prefix = included_from.empty() ? "" : included_from + ": ";
  // The name may come from a file's base: entry: escaped in messages.
  const std::string name = printable(path.string(), 256);
  if (path.empty()) {
    problem(prefix + "config file name is empty");
    return;
  }
  std::error_code ec;
  std::string key = fs::weakly_canonical(path, ec).string();
  if (ec) {
    key = path.lexically_normal().string();
  }
  if (std::find(chain_.begin(), chain_.end(), key) != chain_.end()) {
    problem(fmt::format(
        "{}: base '{}' includes itself (cycle)", included_from, name));
    return;
  }
  if (depth > limits::kMaxConfigBaseDepth) {
    problem(fmt::format(
        "{}: base chain deeper than {}",
        included_from,
        limits::kMaxConfigBaseDepth));
    return;
  }
  if (++files_read_ > limits::kMaxConfigFiles) {
    problem(fmt::format(
        "{}: more than {} config files in one base chain",
        included_from.empty() ? name : included_from,
        limits::kMaxConfigFiles));
    return;
  }
  if (!fs::exists(path, ec)) {
    problem(fmt::format(
        "{}cannot open config file '{}': it does not exist", prefix, name));
    return;
  }
  std::string text;
  try {
    text = util::read_regular_text(
        path.string(), limits::kMaxConfigFileBytes, "config");
  } catch (const Error& e) {
    // "<path> is a directory, expected a regular file", "... cannot open".
    const std::string what = e.what();
    problem(fmt::format(
        "{}config '{}' is not a regular file or cannot be read: {}",
        prefix,
        name,
        printable(
            what.substr(
                what.find(" - ") == std::string::npos ? 0
                                                      : what.find(" - ") + 3),
            512)));
    return;
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    problem(fmt::format(
        "{}config file '{}' is empty, expected a mapping of sections",
        prefix,
        name));
    return;
  }
  chain_.push_back(key);
  if (!read_text(text, name, path.parent_path(), depth)) {
    problem(fmt::format(
        "{}config file '{}' sets nothing (only comments or null), expected "
        "a mapping of sections",
        prefix,
        name));
  }
  chain_.pop_back();
}

void Reader::read_base(
    const YAML::Node& b,
    const std::string& source,
    const fs::path& base_dir,
    int depth) {
  std::vector<YAML::Node> items;
  if (b.IsScalar()) {
    items.push_back(b);
  } else if (b.IsSequence()) {
    for (const auto& item : b) {
      items.push_back(item);
    }
  }
  if (items.empty()) {
    YAML::Emitter out;
    out << YAML::Flow << b;
    problem(fmt::format(
        "{}: base: expected a file name or a list of file names, got {}",
        mark_text(source, b.Mark()),
        b.IsNull() ? std::string("nothing") : printable(out.c_str(), 200)));
    return;
  }
  for (const auto& item : items) {
    std::string where = mark_text(source, item.Mark());
    if (!item.IsScalar() || item.Scalar().empty()) {
      problem(fmt::format(
          "{}: base: expected a file name, got {}",
          where,
          item.IsScalar() ? "''" : "a list or mapping"));
      continue;
    }
    if (item.Scalar().find('\0') != std::string::npos) {
      problem(fmt::format(
          "{}: base: file name '{}' holds a NUL byte",
          where,
          printable(item.Scalar())));
      continue;
    }
    fs::path p = item.Scalar();
    if (p.is_relative()) {
      p = base_dir / p;
    }
    read_file(p, where, depth + 1);
  }
}

bool Reader::read_text(
    const std::string& text,
    const std::string& source,
    const fs::path& base_dir,
    int depth) {
  if (text.size() > limits::kMaxConfigFileBytes) {
    problem(fmt::format(
        "{}: config text is {} bytes, more than the limit of {}",
        source,
        text.size(),
        limits::kMaxConfigFileBytes));
    return true;
  }
  const size_t problems = doc_.problems.size();
  const YAML::Node root = load_one(text, source, doc_.problems);
  if (!root.IsDefined() || root.IsNull()) {
    return doc_.problems.size() > problems;  // false: nothing there
  }
  if (!root.IsMap()) {
    YAML::Emitter out;
    out << YAML::Flow << root;
    problem(fmt::format(
        "{}: a config must be a mapping of sections, got {}",
        mark_text(source, root.Mark()),
        printable(out.c_str(), 200)));
    return true;
  }
  // The bases first, so that this file's keys override them.
  if (root["base"]) {
    read_base(root["base"], source, base_dir, depth);
  }
  for (const auto& section : root) {
    if (!section.first.IsScalar()) {
      problem(fmt::format(
          "{}: a section name must be a plain word",
          mark_text(source, section.first.Mark())));
      continue;
    }
    const std::string name = section.first.Scalar();
    if (name == "base") {
      continue;
    }
    doc_.items.push_back(
        {name, "", section.second, mark_text(source, section.first.Mark())});
    if (!section.second.IsMap()) {
      continue;  // the engine reports a non-mapping section by name
    }
    for (const auto& item : section.second) {
      if (!item.first.IsScalar() || item.first.Scalar().empty()) {
        problem(fmt::format(
            "{}: a key in section '{}' must be a plain word",
            mark_text(source, item.first.Mark()),
            printable(name)));
        continue;
      }
      doc_.items.push_back(
          {name,
           item.first.Scalar(),
           item.second,
           mark_text(source, item.first.Mark())});
    }
  }
  return true;
}

}  // namespace ltcl::train::config_doc
