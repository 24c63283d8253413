#pragma once
// Image folders: root/<class>/<image>, the torchvision ImageFolder layout.
//
// Classes are the sub-folders of root sorted by name (byte order), labels
// 0..C-1 in that order; each class's images are its JPEG / PNG files
// (.jpg .jpeg .png, any case) sorted by name. Other files are ignored, as
// torchvision does. Listing is one directory scan per class plus a sort; no
// image is opened until get(i), which reads and decodes that one file.
#include <string>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

class FolderDataset : public Dataset {
 public:
  // Throws ltcl::Error if root is missing, is not a folder, has no class
  // folders, or a class folder holds no image.
  explicit FolderDataset(const std::string& root);

  size_t size() const override {
    return labels_.size();
  }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override;
  const std::vector<std::string>& class_names() const override {
    return class_names_;
  }
  // The image's path (root/<class>/<file>).
  std::string describe(size_t i) const override;

  const std::string& root() const {
    return root_;
  }

 private:
  std::string root_;
  std::vector<std::string> class_names_;
  std::vector<std::string> files_;  // file names within their class folder
  std::vector<int32_t> labels_;
};

// True if `name` ends in .jpg, .jpeg or .png (case-insensitive).
bool has_image_extension(const std::string& name);

}  // namespace ltcl::data
