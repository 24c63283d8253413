#pragma once
// The file layer of the config reader, free of the schema and of torch (so
// that fuzz/ can build it alone): reads config files safely and turns their
// YAML into an ordered list of `section.key: value` items, following the
// `base:` chain (bases first). Every problem is collected, with the file and
// the line; nothing throws for bad input.
//
// A config file is one YAML document whose root is a mapping of sections,
// each a mapping of keys (or empty). Refused, each with a named problem: a
// file that is not a regular file (a folder, a FIFO, /dev/zero: never opened
// for a blocking read), larger than limits::kMaxConfigFileBytes, empty, with
// more than one document, a duplicate section or key (in any mapping, values
// included), YAML nested deeper than limits::kMaxConfigNesting or holding
// more than limits::kMaxConfigNodes nodes with aliases expanded, a base
// chain deeper than limits::kMaxConfigBaseDepth or longer than
// limits::kMaxConfigFiles files, and a base that includes itself.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <vector>

namespace ltcl::train::config_doc {

struct Item {
  std::string section;
  std::string key;  // empty: the section itself (`value` is its node)
  YAML::Node value;
  std::string where;  // "file line L, column C"
};

struct Document {
  std::vector<Item> items;
  std::vector<std::string> problems;
};

// "source line L, column C" (or `source` where the mark is null).
std::string mark_text(const std::string& source, const YAML::Mark& m);

// Parses one YAML value (a --set override's right-hand side) with the same
// structure checks; adds problems prefixed by `where`. Returns a null node
// on failure.
YAML::Node parse_value(
    const std::string& text, const std::string& where, Document& doc);

class Reader {
 public:
  explicit Reader(Document& doc) : doc_(doc) {}
  // A config file (`included_from`: the base: entry naming it, or "").
  void read_file(
      const std::filesystem::path& path,
      const std::string& included_from = "",
      int depth = 0);
  // Config text; `source` names it in messages, `base:` entries are
  // relative to `base_dir`. An empty text sets nothing (configs built in
  // code; returns false, and read_file reports it as a problem).
  bool read_text(
      const std::string& text,
      const std::string& source,
      const std::filesystem::path& base_dir,
      int depth = 0);

 private:
  void problem(std::string s);
  void read_base(
      const YAML::Node& b,
      const std::string& source,
      const std::filesystem::path& base_dir,
      int depth);

  Document& doc_;
  std::vector<std::string> chain_;  // files being read (cycle check)
  int files_read_ = 0;
};

}  // namespace ltcl::train::config_doc
