#include "ltcl/data/image_files.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>

#include "ltcl/data/folder.h"
#include "ltcl/data/image_io.h"
#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/printable.h"
#include "ltcl/util/read_file.h"

namespace ltcl::data {

namespace fs = std::filesystem;

namespace {

void add_folder(const fs::path& root, std::vector<std::string>* out) {
  std::vector<std::string> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(
      root, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    fail("predict inputs - cannot list folder '{}': {}", root.string(),
         ec.message());
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      fail("predict inputs - cannot list folder '{}': {}", root.string(),
           ec.message());
    }
    const auto name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (it->is_regular_file(ec) && has_image_extension(name)) {
      found.push_back(it->path().string());
    }
  }
  if (found.empty()) {
    fail("predict inputs - folder '{}' holds no .jpg/.jpeg/.png image",
         root.string());
  }
  std::sort(found.begin(), found.end());
  out->insert(out->end(), found.begin(), found.end());
}

bool is_integer(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isdigit(c);
  });
}

void add_list(const fs::path& list, std::vector<std::string>* out) {
  const std::string text = util::read_regular_text(
      list.string(), limits::kMaxTextFileBytes, "predict inputs");
  const fs::path base = list.parent_path();
  std::istringstream in(text);
  std::string line;
  size_t number = 0;
  size_t added = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') {
      continue;
    }
    std::string path = line.substr(first);
    path.erase(path.find_last_not_of(" \t") + 1);
    const auto blank = path.find_last_of(" \t");
    if (blank != std::string::npos && is_integer(path.substr(blank + 1))) {
      path = path.substr(0, blank);
      path.erase(path.find_last_not_of(" \t") + 1);
    }
    fs::path p(path);
    if (p.is_relative()) {
      p = base / p;
    }
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      fail("predict inputs - {}:{}: no such image file '{}'", list.string(),
           number, printable(p.string()));
    }
    out->push_back(p.string());
    ++added;
  }
  if (added == 0) {
    fail("predict inputs - list file '{}' names no image", list.string());
  }
}

}  // namespace

std::vector<std::string> collect_image_paths(
    const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& input : inputs) {
    std::error_code ec;
    const fs::path p(input);
    const auto status = fs::status(p, ec);
    if (ec || !fs::exists(status)) {
      fail("predict inputs - no such file or folder: '{}'",
           printable(input));
    }
    if (fs::is_directory(status)) {
      add_folder(p, &out);
    } else if (has_image_extension(p.filename().string())) {
      out.push_back(input);
    } else {
      add_list(p, &out);
    }
  }
  if (out.empty()) {
    fail("predict inputs - no image given");
  }
  return out;
}

ImageFilesDataset::ImageFilesDataset(std::vector<std::string> paths)
    : paths_(std::move(paths)) {}

Example ImageFilesDataset::get(size_t i) const {
  return Example{read_image(paths_.at(i)), -1};
}

int64_t ImageFilesDataset::label(size_t) const {
  return -1;
}

std::string ImageFilesDataset::describe(size_t i) const {
  return paths_.at(i);
}

}  // namespace ltcl::data
