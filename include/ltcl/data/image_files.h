#pragma once
// Images named on a command line, for prediction: no labels, no classes.
//
// collect_image_paths expands each input in order:
//   an image file (.jpg / .jpeg / .png)  -> itself
//   a folder                             -> every image file below it
//                                           (recursively; sorted by path;
//                                           hidden entries skipped)
//   any other file                       -> a list: one image path a line,
//                                           relative to the list's folder
//                                           unless absolute; a trailing
//                                           integer field (a label, as in
//                                           ImageNet-LT lists) is ignored;
//                                           blank lines and '#' lines skipped
// A missing input, a folder without images, or a listed file that does not
// exist throws ltcl::Error naming it (a list's errors name file and line).
#include <string>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

std::vector<std::string> collect_image_paths(
    const std::vector<std::string>& inputs);

// The images at `paths`, decoded on get(i); label(i) is -1 and there are
// no class names. A file that cannot be decoded throws ltcl::Error naming it.
class ImageFilesDataset : public Dataset {
 public:
  explicit ImageFilesDataset(std::vector<std::string> paths);

  size_t size() const override {
    return paths_.size();
  }
  Example get(size_t i) const override;
  int64_t label(size_t i) const override;
  const std::vector<std::string>& class_names() const override {
    return no_names_;
  }
  std::string describe(size_t i) const override;

 private:
  std::vector<std::string> paths_;
  std::vector<std::string> no_names_;
};

}  // namespace ltcl::data
