#include "ltcl/data/list_file.h"

#include <charconv>
#include <filesystem>

#include "ltcl/data/class_names.h"
#include "ltcl/data/image_io.h"
#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/printable.h"
#include "ltcl/util/read_file.h"

namespace ltcl::data {

namespace fs = std::filesystem;

namespace {

// A listed path must stay under the data root: relative, no ".." part, no
// NUL (the OS would cut the name there).
const char* path_problem(const std::string& path) {
  if (path.find('\0') != std::string::npos) {
    return "holds a NUL byte";
  }
  const fs::path p(path);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory()) {
    return "is absolute";
  }
  for (const auto& part : p) {
    if (part == "..") {
      return "has a '..' part (it would leave the data root)";
    }
  }
  return nullptr;
}

}  // namespace

ListFileEntries parse_list_file(
    const std::string& text, const std::string& list_file) {
  ListFileEntries out;
  util::for_each_line(text, [&](const std::string& line, size_t number) {
    const auto e = line.find_last_not_of(" \t\r\n");
    if (e == std::string::npos) {
      return;  // blank line
    }
    const auto b = line.find_first_not_of(" \t");
    const auto split = line.find_last_of(" \t", e);
    if (split == std::string::npos || split < b) {
      fail(
          "ListFileDataset - line has no label: {}:{} {{got '{}', expected "
          "'relative/path label'}}",
          list_file,
          number,
          printable(line.substr(b, e - b + 1)));
    }
    const std::string field = line.substr(split + 1, e - split);
    int64_t y = -1;
    const auto [ptr, err] =
        std::from_chars(field.data(), field.data() + field.size(), y);
    if (err != std::errc() || ptr != field.data() + field.size() || y < 0) {
      fail(
          "ListFileDataset - label is not a non-negative integer: {}:{} "
          "{{got '{}'}}",
          list_file,
          number,
          printable(field));
    }
    if (y >= limits::kMaxClasses) {
      fail(
          "ListFileDataset - label too large: {}:{} {{got {}, the limit is "
          "{} classes}}",
          list_file,
          number,
          printable(field),
          limits::kMaxClasses);
    }
    const auto pe = line.find_last_not_of(" \t", split);
    std::string path = line.substr(b, pe - b + 1);
    if (const char* problem = path_problem(path)) {
      fail(
          "ListFileDataset - path {}: {}:{} {{got '{}', expected a path "
          "relative to the data root}}",
          problem,
          list_file,
          number,
          printable(path));
    }
    out.paths.push_back(std::move(path));
    out.labels.push_back(static_cast<int32_t>(y));
    out.lines.push_back(static_cast<uint32_t>(number));
    out.max_label = std::max(out.max_label, y);
  });
  return out;
}

ListFileDataset::ListFileDataset(
    const std::string& root,
    const std::string& list_file,
    const ListFileOptions& options)
    : root_(root), list_file_(list_file) {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) {
    fail("ListFileDataset - data root is not an existing folder: {}", root_);
  }
  ListFileEntries entries = parse_list_file(
      util::read_regular_text(
          list_file_, limits::kMaxTextFileBytes, "ListFileDataset"),
      list_file_);
  paths_ = std::move(entries.paths);
  labels_ = std::move(entries.labels);
  lines_ = std::move(entries.lines);
  const int64_t max_label = entries.max_label;
  if (labels_.empty()) {
    fail("ListFileDataset - list file has no samples: {}", list_file_);
  }
  if (!options.names_file.empty()) {
    class_names_ = read_names_file(options.names_file);
    for (size_t i = 0; i < labels_.size(); ++i) {
      if (labels_[i] >= static_cast<int64_t>(class_names_.size())) {
        fail(
            "ListFileDataset - label out of range: {}:{} {{got {}, {} class "
            "names in {}}}",
            list_file_,
            lines_[i],
            labels_[i],
            class_names_.size(),
            options.names_file);
      }
    }
  } else {
    class_names_ = numbered_names(static_cast<size_t>(max_label + 1));
  }
  if (options.check_files) {
    for (size_t i = 0; i < paths_.size(); ++i) {
      if (!fs::is_regular_file(fs::path(root_) / paths_[i], ec)) {
        fail(
            "ListFileDataset - missing file {} listed at {}",
            describe(i),
            origin(i));
      }
    }
  }
}

int64_t ListFileDataset::label(size_t i) const {
  if (i >= labels_.size()) {
    fail(
        "ListFileDataset::label - index out of range: {{got {}, size {}}}",
        i,
        labels_.size());
  }
  return labels_[i];
}

std::string ListFileDataset::describe(size_t i) const {
  label(i);
  return (fs::path(root_) / paths_[i]).string();
}

std::string ListFileDataset::origin(size_t i) const {
  label(i);
  return list_file_ + ":" + std::to_string(lines_[i]);
}

Example ListFileDataset::get(size_t i) const {
  const int64_t y = label(i);
  try {
    return Example{read_image(describe(i)), y};
  } catch (const Error& e) {
    fail("{} (listed at {})", e.what(), origin(i));
  }
}

}  // namespace ltcl::data
