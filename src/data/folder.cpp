#include "ltcl/data/folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "ltcl/data/image_io.h"
#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/read_file.h"

namespace ltcl::data {

namespace fs = std::filesystem;

bool has_image_extension(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) {
    return false;
  }
  std::string ext = name.substr(dot + 1);
  for (char& ch : ext) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

FolderDataset::FolderDataset(const std::string& root) : root_(root) {
  std::error_code ec;
  if (!fs::exists(root_, ec)) {
    fail("FolderDataset - root does not exist: {}", root_);
  }
  if (!fs::is_directory(root_, ec)) {
    fail("FolderDataset - root is not a folder: {}", root_);
  }
  for (fs::directory_iterator it(root_, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_directory(ec)) {
      const std::string name = it->path().filename().string();
      if (!name.empty() && name[0] != '.') {
        class_names_.push_back(name);
      }
    }
  }
  if (ec) {
    fail("FolderDataset - cannot list folder {}: {}", root_, ec.message());
  }
  std::sort(class_names_.begin(), class_names_.end());
  if (static_cast<int64_t>(class_names_.size()) > limits::kMaxClasses) {
    fail(
        "FolderDataset - {} class folders in root {}, more than the limit of "
        "{}",
        class_names_.size(),
        root_,
        limits::kMaxClasses);
  }
  if (class_names_.empty()) {
    fail("FolderDataset - no class folders in root: {}", root_);
  }
  std::vector<std::string> names;
  for (size_t c = 0; c < class_names_.size(); ++c) {
    const fs::path dir = fs::path(root_) / class_names_[c];
    names.clear();
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.' || !has_image_extension(name)) {
        continue;
      }
      // A folder, FIFO or device named like an image is named now rather
      // than failing (or, for a FIFO, hanging) when it is decoded.
      if (!it->is_regular_file(ec)) {
        fail(
            "FolderDataset - {} is {}, expected a regular image file",
            it->path().string(),
            util::file_kind(it->path().string()));
      }
      names.push_back(std::move(name));
    }
    if (ec) {
      fail(
          "FolderDataset - cannot list folder {}: {}",
          dir.string(),
          ec.message());
    }
    if (names.empty()) {
      fail(
          "FolderDataset - class folder holds no .jpg/.jpeg/.png image: {}",
          dir.string());
    }
    std::sort(names.begin(), names.end());
    for (auto& n : names) {
      files_.push_back(std::move(n));
      labels_.push_back(static_cast<int32_t>(c));
    }
  }
}

int64_t FolderDataset::label(size_t i) const {
  if (i >= labels_.size()) {
    fail(
        "FolderDataset::label - index out of range: {{got {}, size {}}}",
        i,
        labels_.size());
  }
  return labels_[i];
}

std::string FolderDataset::describe(size_t i) const {
  const int64_t y = label(i);
  return (fs::path(root_) / class_names_[y] / files_[i]).string();
}

Example FolderDataset::get(size_t i) const {
  const int64_t y = label(i);
  return Example{read_image(describe(i)), y};
}

}  // namespace ltcl::data
