#pragma once
// List files: one `relative/path label` a line under a data root, the
// ImageNet-LT / Places-LT / iNaturalist format.
//
// The label is the line's last blank-separated field (a non-negative
// integer); everything before it, trimmed, is the path relative to the data
// root. Empty lines are skipped. Class names are the label numbers
// "0".."C-1" (C = largest label + 1), or the lines of an optional names file
// (then every label must be below its line count). Images are decoded on
// get(i) only. With `check_files` (the default) every referenced file is
// checked to exist at open; either way, a file that cannot be read at get()
// is reported with the list file's name and line.
#include <cstdint>
#include <string>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

struct ListFileOptions {
  std::string names_file;   // optional: one class name a line
  bool check_files = true;  // stat every image at open
};

// The lines of a list file, parsed and checked: a label below
// limits::kMaxClasses, a path relative to the data root that does not leave
// it (no absolute path, no ".." part). Errors name the file and the line.
struct ListFileEntries {
  std::vector<std::string> paths;
  std::vector<int32_t> labels;
  std::vector<uint32_t> lines;  // 1-based
  int64_t max_label = -1;
};
ListFileEntries parse_list_file(
    const std::string& text, const std::string& list_file);

class ListFileDataset : public Dataset {
 public:
  // Throws ltcl::Error naming the list file and line for a line with no
  // label, a label that is not an integer or is out of range, and a missing
  // image (with check_files).
  ListFileDataset(
      const std::string& root,
      const std::string& list_file,
      const ListFileOptions& options = {});

  size_t size() const override {
    return labels_.size();
  }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override;
  const std::vector<std::string>& class_names() const override {
    return class_names_;
  }
  // The image's path (root/relative path).
  std::string describe(size_t i) const override;

  // Where sample i is listed: "<list file>:<line>".
  std::string origin(size_t i) const;

 private:
  std::string root_;
  std::string list_file_;
  std::vector<std::string> paths_;  // relative to root
  std::vector<int32_t> labels_;
  std::vector<uint32_t> lines_;  // 1-based line numbers in the list file
  std::vector<std::string> class_names_;
};

}  // namespace ltcl::data
