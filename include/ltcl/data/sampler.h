#pragma once
// Samplers: which dataset indices each epoch visits, in which order.
//
// Every sampler is a pure function of (options.seed, epoch): set_epoch(e)
// recomputes the epoch's sequence, next(n) hands it out. Its state is plain
// data (SamplerState: epoch + position), so a run checkpointed mid-epoch
// resumes with exactly the remaining draws.
//
// Data parallelism (rank r of W): the epoch's global sequence of N draws is
// made a multiple of W, as torch's DistributedSampler does: padded by
// repeating its first draws (default), or truncated (drop_last). Rank r takes
// draws r, r + W, r + 2W, ... so ranks never overlap within the real N draws
// and all get the same count, ceil(N / W) (floor with drop_last).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

struct SamplerState {
  int64_t epoch = 0;
  int64_t position = 0;  // draws this rank has taken in the epoch

  std::vector<int64_t> to_vector() const {
    return {epoch, position};
  }
  // Throws ltcl::Error unless v is {epoch >= 0, position >= 0}.
  static SamplerState from_vector(const std::vector<int64_t>& v);
  bool operator==(const SamplerState& o) const {
    return epoch == o.epoch && position == o.position;
  }
};

struct SamplerOptions {
  uint64_t seed = 0;
  int64_t rank = 0;
  int64_t world_size = 1;
  // Truncate the epoch to a multiple of world_size instead of padding it.
  bool drop_last = false;
  // Draws per epoch over all ranks for the class-weighted samplers (0 = the
  // dataset size). The random sampler always visits each sample once.
  int64_t num_samples = 0;
};

class Sampler {
 public:
  virtual ~Sampler() = default;

  // Starts epoch `epoch` from its first draw.
  void set_epoch(int64_t epoch);
  int64_t epoch() const {
    return state_.epoch;
  }
  // Draws this rank takes per epoch.
  int64_t size() const;
  // Dataset indices of the next (up to) n draws; empty at the epoch's end.
  std::vector<int64_t> next(size_t n);
  // Where this rank's draw number `local` sits in the epoch's global
  // sequence: rank + local * world_size.
  int64_t global_position(int64_t local) const {
    return options_.rank + local * options_.world_size;
  }

  SamplerState state() const {
    return state_;
  }
  // Resumes at `state` (throws ltcl::Error if the position is past the end).
  void load_state(const SamplerState& state);

  const SamplerOptions& options() const {
    return options_;
  }
  virtual std::string name() const = 0;

 protected:
  Sampler(int64_t dataset_size, SamplerOptions options);
  // Draws per epoch over all ranks, before padding / truncation.
  virtual int64_t global_size() const = 0;
  // The epoch's global sequence (global_size() dataset indices).
  virtual std::vector<int64_t> generate(int64_t epoch) const = 0;

  int64_t dataset_size_;
  SamplerOptions options_;

 private:
  void build() const;

  SamplerState state_;
  mutable bool built_ = false;
  mutable std::vector<int64_t> local_;  // this rank's draws this epoch
};

using SamplerPtr = std::shared_ptr<Sampler>;

// Instance-balanced: a fresh permutation of all samples every epoch.
class RandomSampler : public Sampler {
 public:
  RandomSampler(int64_t dataset_size, SamplerOptions options = {});
  std::string name() const override {
    return "random";
  }

 protected:
  int64_t global_size() const override {
    return dataset_size_;
  }
  std::vector<int64_t> generate(int64_t epoch) const override;
};

// Each draw picks class c with probability proportional to n_c^power, then
// one of its samples uniformly (with replacement across draws).
// power 0: class-balanced; 0.5: square-root; 1: instance-balanced with
// replacement. Classes without samples are never drawn.
class ClassWeightedSampler : public Sampler {
 public:
  ClassWeightedSampler(
      const std::vector<int64_t>& labels,
      double power,
      SamplerOptions options = {});
  std::string name() const override;
  // Probability of drawing each class (length = max label + 1).
  const std::vector<double>& class_probabilities() const {
    return probs_;
  }

 protected:
  int64_t global_size() const override;
  std::vector<int64_t> generate(int64_t epoch) const override;

 private:
  double power_;
  std::vector<std::vector<int64_t>> members_;
  std::vector<double> probs_;
  std::vector<double> cumulative_;
};

// The class-aware sampler of Kang et al.'s official cRT / LWS code
// (METHODS.md section 8): the classes are visited in a shuffled order,
// reshuffled each time every class has had its turn, and each turn takes
// `per_class` consecutive draws (4 in the official code) from the class's
// own list, which is shuffled too and reshuffled whenever it runs out. So
// class frequencies are uniform to within one cycle and no image repeats
// before its class's list is exhausted. An epoch is options.num_samples
// draws (0: the dataset size, as ltcl's other class-weighted samplers; the
// official code draws max class size x classes). Unlike the official
// iterators, which carry their position from one epoch to the next, every
// epoch starts fresh cycles from (seed, epoch), so a resumed run draws
// exactly what it would have. Classes without samples are skipped.
class ClassAwareSampler : public Sampler {
 public:
  ClassAwareSampler(
      const std::vector<int64_t>& labels,
      int64_t per_class = 4,
      SamplerOptions options = {});
  std::string name() const override {
    return "class_aware";
  }
  int64_t per_class() const {
    return per_class_;
  }

 protected:
  int64_t global_size() const override;
  std::vector<int64_t> generate(int64_t epoch) const override;

 private:
  int64_t per_class_;
  std::vector<std::vector<int64_t>> members_;  // non-empty classes only
};

// Hybrid-SC's two streams: an instance-balanced sampler for the contrastive
// branch and a class-balanced one for the classifier branch, advanced in
// step (both draw the dataset size per epoch, so both give the same number
// of batches). Seeds of the two streams are derived from options.seed.
class PairedSampler {
 public:
  PairedSampler(const std::vector<int64_t>& labels, SamplerOptions options);

  void set_epoch(int64_t epoch);
  SamplerPtr instance() const {
    return instance_;
  }
  SamplerPtr balanced() const {
    return balanced_;
  }
  // {instance epoch, position, balanced epoch, position}.
  std::vector<int64_t> state() const;
  void load_state(const std::vector<int64_t>& state);

 private:
  SamplerPtr instance_;
  SamplerPtr balanced_;
};

// Names make_sampler knows: random, class_balanced, sqrt, class_aware.
const std::vector<std::string>& sampler_names();
// Builds a named sampler over `data` (labels read without decoding). Unknown
// names throw ltcl::Error listing the valid ones.
SamplerPtr make_sampler(
    const std::string& name, const Dataset& data, SamplerOptions options = {});

}  // namespace ltcl::data
