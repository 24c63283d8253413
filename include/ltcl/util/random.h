#pragma once
// The random generator every transform and sampler draws from.
//
// xoshiro256** (Blackman & Vigna 2018) seeded through splitmix64. A stream is
// named by a key of 64-bit words (seed, epoch, sample index, view, ...): the
// words are folded with splitmix64 into the 256-bit state, so every key gives
// its own reproducible, statistically independent stream, whatever thread
// draws it and in whatever order. Header-only and allocation-free: one Rng per
// (sample, view) costs a few nanoseconds to create.
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace ltcl::util {

// splitmix64's output function: a bijective 64-bit mixer.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  using result_type = uint64_t;

  // A stream named by `key` (e.g. {seed, epoch, index, view}).
  explicit Rng(std::initializer_list<uint64_t> key) {
    uint64_t h = 0x6A09E667F3BCC908ULL;  // any fixed start
    for (uint64_t k : key) {
      h = splitmix64(h ^ splitmix64(k));
    }
    for (auto& s : s_) {
      h = splitmix64(h);
      s = h;
    }
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) {
      s_[0] = 1;  // the all-zero state is the one fixed point of xoshiro
    }
  }

  static constexpr uint64_t min() {
    return 0;
  }
  static constexpr uint64_t max() {
    return ~uint64_t{0};
  }

  uint64_t operator()() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() {
    return static_cast<double>((*this)() >> 11) * 0x1.0p-53;
  }
  // Uniform in [lo, hi).
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * uniform();
  }
  // Uniform integer in [0, n), n >= 1, without modulo bias (Lemire 2019).
  uint64_t below(uint64_t n) {
    uint64_t x = (*this)();
    __uint128_t m = static_cast<__uint128_t>(x) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        x = (*this)();
        m = static_cast<__uint128_t>(x) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }
  // Uniform integer in [lo, hi] (inclusive), lo <= hi.
  int64_t uniform_int(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
  }
  // True with probability p (torchvision's `torch.rand(1) < p`).
  bool bernoulli(double p) {
    return uniform() < p;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
  }
  uint64_t s_[4];
};

}  // namespace ltcl::util
