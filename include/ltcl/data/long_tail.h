#pragma once
// Long-tailed subsets, selecting exactly the images the reference code does.
//
// The reference (LDAM-DRW's IMBALANCECIFAR10, which every CIFAR-LT number in
// METHODS.md uses) does, with NumPy's legacy global generator:
//
//   np.random.seed(0)
//   img_max = len(data) / cls_num
//   n_c = int(img_max * (imb_factor ** (c / (cls_num - 1.0))))   # 'exp'
//   for c in classes:                    # label order
//       idx = np.where(targets == c)[0]  # the class's indices, file order
//       np.random.shuffle(idx)
//       keep idx[:n_c]                   # concatenated class by class
//
// with imb_factor = 1 / IF. This file ports the parts of NumPy that matter
// bit for bit: MT19937 seeded like `np.random.seed(int)` (init_genrand, which
// is what std::mt19937(seed) does), the legacy `random_interval` (masked
// rejection sampling on 32-bit draws, 64-bit draws above 2^32 - 1) and the
// legacy `RandomState.shuffle` (Fisher-Yates from the end). The test
// tests/data/long_tail.cpp compares all of it against NumPy itself.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

// NumPy's legacy RandomState (Mersenne Twister) for the methods ltcl needs.
class NumpyRandomState {
 public:
  // Same stream as `np.random.seed(seed)` / `np.random.RandomState(seed)`.
  explicit NumpyRandomState(uint32_t seed) : mt_(seed) {}

  // One raw 32-bit draw (`randint(0, 2**32, dtype=np.uint32)` order).
  uint32_t next_uint32() {
    return static_cast<uint32_t>(mt_());
  }
  // Two draws, the first as the high word (NumPy's mt19937_next64).
  uint64_t next_uint64() {
    const uint64_t hi = next_uint32();
    return (hi << 32) | next_uint32();
  }
  // Uniform integer in [0, max], NumPy's legacy `random_interval`.
  uint64_t random_interval(uint64_t max);

  // NumPy's legacy `RandomState.shuffle` of a 1-d sequence, in place.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i-- > 1;) {
      const size_t j = static_cast<size_t>(random_interval(i));
      std::swap(v[i], v[j]);
    }
  }

 private:
  std::mt19937 mt_;
};

// Per-class target counts of a long-tailed profile.
//   "exp":  n_c = int(n_max * (1/IF) ** (c / (C - 1.0)))
//   "step": the first C/2 (rounded down) classes int(n_max), the rest
//           int(n_max * (1/IF)).
// Computed in double exactly as the Python reference does. Throws ltcl::Error
// for an unknown profile, IF < 1, n_max < 0 or num_classes < 1.
std::vector<int64_t> long_tail_counts(
    int64_t num_classes,
    double n_max,
    double imbalance_factor,
    const std::string& profile = "exp");

// Selects indices from `labels` (values in [0, num_classes)): one generator
// seeded once with `seed`; for each class in label order, the class's indices
// in their original order are shuffled and the first counts[c] kept (all of
// them when the class has fewer, as the reference's `idx[:n_c]` does). The
// result lists class 0's picks in shuffled order, then class 1's, etc.
std::vector<size_t> select_long_tail(
    const std::vector<int64_t>& labels,
    int64_t num_classes,
    const std::vector<int64_t>& counts,
    uint32_t seed = 0);

struct LongTailOptions {
  std::string profile = "exp";    // "exp" or "step"
  double imbalance_factor = 100;  // n_max / n_min, >= 1
  uint32_t seed = 0;              // the reference uses 0
  // Balanced per-class count; 0 = size() / num_classes() (as the reference:
  // 5000 for CIFAR-10 train, 500 for CIFAR-100 train).
  double n_max = 0;
};

// The long-tailed view of `base` (reads labels only, never decodes).
std::shared_ptr<Subset> long_tail_subset(
    DatasetPtr base, const LongTailOptions& options);

}  // namespace ltcl::data
