#include "ltcl/pipeline/multi_view.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "ltcl/util/error.h"

namespace ltcl::pipeline {

MultiViewDataset::MultiViewDataset(
    data::DatasetPtr base, std::vector<augment::Recipe> views)
    : base_(std::move(base)), views_(std::move(views)) {
  if (!base_) {
    fail("MultiViewDataset - base dataset is null");
  }
  if (views_.empty()) {
    fail("MultiViewDataset - needs at least one view");
  }
  for (const auto& v : views_) {
    if (v.channels != views_[0].channels) {
      fail(
          "MultiViewDataset - views disagree on channels: {{'{}' has {}, "
          "'{}' has {}}}",
          views_[0].name,
          views_[0].channels,
          v.name,
          v.channels);
    }
    if (!v.augment) {
      fail("MultiViewDataset - view '{}' has no transform", v.name);
    }
  }
}

namespace {

// The file (or "file#index") of a draw, for messages.
std::string describe_draw(const data::Dataset& base, const DrawKey& key) {
  return key.index >= 0 && static_cast<size_t>(key.index) < base.size()
             ? base.describe(static_cast<size_t>(key.index))
             : std::string("?");
}

}  // namespace

data::Example MultiViewDataset::load(size_t index) const {
  if (index >= base_->size()) {
    fail(
        "MultiViewDataset - index out of range: {{got {}, size {}}}",
        index,
        base_->size());
  }
  data::Example e = base_->get(index);
  data::Image& im = e.image;
  const int want = views_[0].channels;
  if (im.channels != want && (im.channels == 1 || im.channels == 3)) {
    data::Image out(im.height, im.width, want);
    cv::Mat src(im.height, im.width, CV_8UC(im.channels), im.data());
    cv::Mat dst(out.height, out.width, CV_8UC(want), out.data());
    cv::cvtColor(src, dst, want == 3 ? cv::COLOR_GRAY2RGB : cv::COLOR_RGB2GRAY);
    im = std::move(out);
  }
  return e;
}

int64_t MultiViewDataset::draw(
    const DrawKey& key,
    const std::function<void(size_t, data::Image&)>& visit) const {
  try {
    data::Example e = load(static_cast<size_t>(key.index));
    for (size_t v = 0; v < views_.size(); ++v) {
      data::Image im = v + 1 == views_.size() ? std::move(e.image) : e.image;
      util::Rng rng = view_rng(key, v);
      views_[v].augment(im, rng);
      visit(v, im);
    }
    return e.label;
  } catch (const std::exception& err) {
    // A transform's error ("RandomCrop - crop size 32 larger than the
    // padded image 9x9") names the sample and its file.
    fail(
        "MultiViewDataset - sample {} ({}): {}",
        key.index,
        describe_draw(*base_, key),
        err.what());
  }
}

std::vector<data::Image> MultiViewDataset::augment(
    const DrawKey& key, int64_t* label) const {
  std::vector<data::Image> out;
  out.reserve(views_.size());
  const int64_t y =
      draw(key, [&](size_t, data::Image& im) { out.push_back(std::move(im)); });
  if (label) {
    *label = y;
  }
  return out;
}

int64_t MultiViewDataset::fill(const DrawKey& key, float* const* outs) const {
  return draw(key, [&](size_t v, data::Image& im) {
    const augment::Recipe& r = views_[v];
    if (im.height != r.height || im.width != r.width ||
        im.channels != r.channels) {
      fail(
          "view {} ('{}') came out {}x{}x{}, expected {}x{}x{}",
          v,
          r.name,
          im.height,
          im.width,
          im.channels,
          r.height,
          r.width,
          r.channels);
    }
    r.normalize.to_chw(im, outs[v]);
  });
}

}  // namespace ltcl::pipeline
