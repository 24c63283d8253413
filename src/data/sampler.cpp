#include "ltcl/data/sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ltcl/util/random.h"
#include "ltcl/util/error.h"

namespace ltcl::data {

using util::Rng;

namespace {

// Keeps sampler streams apart from augmentation streams.
constexpr uint64_t kSamplerDomain = 0x53414D504C455253ULL;  // "SAMPLERS"

Rng epoch_rng(uint64_t seed, int64_t epoch) {
  return Rng{kSamplerDomain, seed, static_cast<uint64_t>(epoch)};
}

}  // namespace

SamplerState SamplerState::from_vector(const std::vector<int64_t>& v) {
  if (v.size() != 2 || v[0] < 0 || v[1] < 0) {
    fail(
        "SamplerState::from_vector - expected {{epoch >= 0, position >= 0}}: "
        "{{got {} values: {}}}",
        v.size(),
        fmt::join(v, ", "));
  }
  return SamplerState{v[0], v[1]};
}

Sampler::Sampler(int64_t dataset_size, SamplerOptions options)
    : dataset_size_(dataset_size), options_(options) {
  if (dataset_size_ <= 0) {
    fail("Sampler - the dataset is empty");
  }
  if (options_.world_size < 1) {
    fail("Sampler - world_size must be >= 1: {{got {}}}", options_.world_size);
  }
  if (options_.rank < 0 || options_.rank >= options_.world_size) {
    fail(
        "Sampler - rank must be in [0, {}): {{got {}}}",
        options_.world_size,
        options_.rank);
  }
  if (options_.num_samples < 0) {
    fail(
        "Sampler - num_samples must be >= 0: {{got {}}}", options_.num_samples);
  }
}

void Sampler::set_epoch(int64_t epoch) {
  if (epoch < 0) {
    fail("Sampler::set_epoch - epoch must be >= 0: {{got {}}}", epoch);
  }
  if (epoch != state_.epoch) {
    built_ = false;
  }
  state_ = SamplerState{epoch, 0};
}

int64_t Sampler::size() const {
  const int64_t n = global_size();
  const int64_t w = options_.world_size;
  return options_.drop_last ? n / w : (n + w - 1) / w;
}

void Sampler::build() const {
  if (built_) {
    return;
  }
  std::vector<int64_t> global = generate(state_.epoch);
  const int64_t w = options_.world_size;
  const int64_t total = size() * w;
  if (static_cast<int64_t>(global.size()) < total) {
    // Pad by repeating the first draws (cyclically if padding > N).
    const int64_t n = static_cast<int64_t>(global.size());
    for (int64_t i = n; i < total; ++i) {
      global.push_back(global[(i - n) % n]);
    }
  }
  global.resize(total);
  local_.clear();
  local_.reserve(total / w);
  for (int64_t i = options_.rank; i < total; i += w) {
    local_.push_back(global[i]);
  }
  built_ = true;
}

std::vector<int64_t> Sampler::next(size_t n) {
  build();
  const int64_t left = static_cast<int64_t>(local_.size()) - state_.position;
  const int64_t take = std::min<int64_t>(static_cast<int64_t>(n), left);
  std::vector<int64_t> out(
      local_.begin() + state_.position,
      local_.begin() + state_.position + take);
  state_.position += take;
  return out;
}

void Sampler::load_state(const SamplerState& state) {
  if (state.epoch < 0 || state.position < 0 || state.position > size()) {
    fail(
        "{} sampler::load_state - position out of range: {{got epoch {}, "
        "position {}; {} draws per epoch}}",
        name(),
        state.epoch,
        state.position,
        size());
  }
  if (state.epoch != state_.epoch) {
    built_ = false;
  }
  state_ = state;
}

// ---------------------------------------------------------------------------

RandomSampler::RandomSampler(int64_t dataset_size, SamplerOptions options)
    : Sampler(dataset_size, options) {}

std::vector<int64_t> RandomSampler::generate(int64_t epoch) const {
  std::vector<int64_t> p(dataset_size_);
  for (int64_t i = 0; i < dataset_size_; ++i) {
    p[i] = i;
  }
  Rng rng = epoch_rng(options_.seed, epoch);
  for (int64_t i = dataset_size_ - 1; i > 0; --i) {
    std::swap(p[i], p[rng.below(static_cast<uint64_t>(i) + 1)]);
  }
  return p;
}

// ---------------------------------------------------------------------------

ClassWeightedSampler::ClassWeightedSampler(
    const std::vector<int64_t>& labels, double power, SamplerOptions options)
    : Sampler(static_cast<int64_t>(labels.size()), options), power_(power) {
  if (!(power >= 0)) {
    fail("ClassWeightedSampler - power must be >= 0: {{got {}}}", power);
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t y = labels[i];
    if (y < 0) {
      fail(
          "ClassWeightedSampler - negative label: {{sample {}, got {}}}", i, y);
    }
    if (static_cast<size_t>(y) >= members_.size()) {
      members_.resize(y + 1);
    }
    members_[y].push_back(static_cast<int64_t>(i));
  }
  probs_.assign(members_.size(), 0.0);
  double total = 0;
  for (size_t c = 0; c < members_.size(); ++c) {
    if (!members_[c].empty()) {
      probs_[c] = std::pow(static_cast<double>(members_[c].size()), power_);
      total += probs_[c];
    }
  }
  cumulative_.resize(probs_.size());
  double acc = 0;
  for (size_t c = 0; c < probs_.size(); ++c) {
    probs_[c] /= total;
    acc += probs_[c];
    cumulative_[c] = acc;
  }
}

std::string ClassWeightedSampler::name() const {
  if (power_ == 0.0) {
    return "class_balanced";
  }
  if (power_ == 0.5) {
    return "sqrt";
  }
  return fmt::format("class_weighted(power {})", power_);
}

int64_t ClassWeightedSampler::global_size() const {
  return options_.num_samples > 0 ? options_.num_samples : dataset_size_;
}

std::vector<int64_t> ClassWeightedSampler::generate(int64_t epoch) const {
  Rng rng = epoch_rng(options_.seed, epoch);
  const int64_t n = global_size();
  std::vector<int64_t> out(n);
  const double total = cumulative_.back();
  for (int64_t i = 0; i < n; ++i) {
    const double u = rng.uniform() * total;
    size_t c = std::upper_bound(cumulative_.begin(), cumulative_.end(), u) -
               cumulative_.begin();
    // Guard rounding at the top end and skip empty classes.
    c = std::min(c, cumulative_.size() - 1);
    while (members_[c].empty()) {
      c = c == 0 ? cumulative_.size() - 1 : c - 1;
    }
    const auto& m = members_[c];
    out[i] = m[rng.below(m.size())];
  }
  return out;
}

// ---------------------------------------------------------------------------

ClassAwareSampler::ClassAwareSampler(
    const std::vector<int64_t>& labels, int64_t per_class, SamplerOptions options)
    : Sampler(static_cast<int64_t>(labels.size()), options),
      per_class_(per_class) {
  if (per_class_ < 1) {
    fail("ClassAwareSampler - per_class must be >= 1: {{got {}}}", per_class_);
  }
  std::vector<std::vector<int64_t>> by_class;
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t y = labels[i];
    if (y < 0) {
      fail("ClassAwareSampler - negative label: {{sample {}, got {}}}", i, y);
    }
    if (static_cast<size_t>(y) >= by_class.size()) {
      by_class.resize(y + 1);
    }
    by_class[y].push_back(static_cast<int64_t>(i));
  }
  for (auto& m : by_class) {
    if (!m.empty()) {
      members_.push_back(std::move(m));
    }
  }
}

int64_t ClassAwareSampler::global_size() const {
  return options_.num_samples > 0 ? options_.num_samples : dataset_size_;
}

namespace {

void shuffle(std::vector<int64_t>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    std::swap(v[i - 1], v[rng.below(i)]);
  }
}

}  // namespace

std::vector<int64_t> ClassAwareSampler::generate(int64_t epoch) const {
  Rng rng = epoch_rng(options_.seed, epoch);
  const int64_t n = global_size();
  std::vector<int64_t> out;
  out.reserve(n);
  // The class cycle and each class's cyclic list, with their positions.
  std::vector<int64_t> order(members_.size());
  for (size_t c = 0; c < order.size(); ++c) {
    order[c] = static_cast<int64_t>(c);
  }
  size_t next_class = order.size();  // shuffle before the first turn
  std::vector<std::vector<int64_t>> lists(members_.size());
  std::vector<size_t> next(members_.size(), 0);
  while (static_cast<int64_t>(out.size()) < n) {
    if (next_class == order.size()) {
      shuffle(order, rng);
      next_class = 0;
    }
    const int64_t c = order[next_class++];
    auto& list = lists[c];
    for (int64_t k = 0; k < per_class_ && static_cast<int64_t>(out.size()) < n;
         ++k) {
      if (list.empty() || next[c] == list.size()) {
        list = members_[c];
        shuffle(list, rng);
        next[c] = 0;
      }
      out.push_back(list[next[c]++]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

PairedSampler::PairedSampler(
    const std::vector<int64_t>& labels, SamplerOptions options) {
  SamplerOptions a = options;
  SamplerOptions b = options;
  a.seed = util::splitmix64(options.seed ^ 0x1111);
  b.seed = util::splitmix64(options.seed ^ 0x2222);
  b.num_samples = 0;
  instance_ =
      std::make_shared<RandomSampler>(static_cast<int64_t>(labels.size()), a);
  balanced_ = std::make_shared<ClassWeightedSampler>(labels, 0.0, b);
}

void PairedSampler::set_epoch(int64_t epoch) {
  instance_->set_epoch(epoch);
  balanced_->set_epoch(epoch);
}

std::vector<int64_t> PairedSampler::state() const {
  auto a = instance_->state();
  auto b = balanced_->state();
  return {a.epoch, a.position, b.epoch, b.position};
}

void PairedSampler::load_state(const std::vector<int64_t>& state) {
  if (state.size() != 4) {
    fail(
        "PairedSampler::load_state - expected 4 values: {{got {}}}",
        state.size());
  }
  instance_->load_state(SamplerState::from_vector({state[0], state[1]}));
  balanced_->load_state(SamplerState::from_vector({state[2], state[3]}));
}

// ---------------------------------------------------------------------------

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> names = {
      "random", "class_balanced", "sqrt", "class_aware"};
  return names;
}

SamplerPtr make_sampler(
    const std::string& name, const Dataset& data, SamplerOptions options) {
  if (name == "random") {
    return std::make_shared<RandomSampler>(
        static_cast<int64_t>(data.size()), options);
  }
  if (name == "class_balanced") {
    return std::make_shared<ClassWeightedSampler>(data.labels(), 0.0, options);
  }
  if (name == "sqrt") {
    return std::make_shared<ClassWeightedSampler>(data.labels(), 0.5, options);
  }
  if (name == "class_aware") {
    return std::make_shared<ClassAwareSampler>(data.labels(), 4, options);
  }
  fail(
      "make_sampler - unknown sampler: {{got '{}'; valid: {}}}",
      name,
      fmt::join(sampler_names(), ", "));
}

}  // namespace ltcl::data
