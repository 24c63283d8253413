#pragma once
// The one entry point the trainer and the CLI use to get a dataset:
//
//   DatasetSpec spec;
//   spec.kind = "cifar10";
//   spec.root = "/data/cifar";              // holds cifar-10-batches-bin/
//   auto train = open_dataset(spec);        // 50000 samples
//   LongTailSpec lt;
//   lt.imbalance_factor = 100;
//   auto train_lt = make_long_tailed(train, lt);  // 12406, NumPy-exact
//
// Kinds and what `root` is:
//   cifar10, cifar100  a folder holding the binary or the Python files, or
//                      its parent (cifar-10-batches-bin, cifar-10-batches-py,
//                      cifar-100-binary or cifar-100-python is found inside);
//                      the format is detected from the files present.
//   idx                a folder with {train,t10k}-images-idx3-ubyte[.gz] and
//                      {train,t10k}-labels-idx1-ubyte[.gz] (MNIST and
//                      Fashion-MNIST).
//   folder             root/<class>/<image>; if root/<split> is a folder it is
//                      used instead (so root may be the parent of train/ and
//                      test/).
//   list               the image root; the list file is spec.list_file, by
//                      default <root>/<split>.txt.
// Every error (missing root or file, bad format) is an ltcl::Error naming the
// file.
#include <cstdint>
#include <string>

#include "ltcl/data/dataset.h"

namespace ltcl::data {

struct DatasetSpec {
  std::string kind;  // cifar10 | cifar100 | idx | folder | list
  std::string root;
  // train | test (cifar, idx); folder / list kinds: any name (e.g. val).
  std::string split = "train";
  // list: the list file (default <root>/<split>.txt), an optional class-names
  // file, and whether to check at open that every listed image exists.
  std::string list_file;
  std::string names_file;
  bool check_files = true;
  // cifar100: use the 20 coarse labels instead of the 100 fine ones.
  bool cifar100_coarse = false;
  // idx: class names "auto" | "digits" | "fashion" (see idx.h).
  std::string idx_names = "auto";
};

// Opens the dataset a spec describes. Labels are available at once; images
// are decoded on get() (folder, list) or converted from memory (cifar, idx).
DatasetPtr open_dataset(const DatasetSpec& spec);

struct LongTailSpec {
  std::string profile = "exp";  // exp | step
  // n_max / n_min; 1 = no subsampling (the base dataset is returned as is).
  double imbalance_factor = 1;
  uint32_t seed = 0;  // NumPy legacy seed; the reference uses 0
  // Balanced per-class count; 0 = size / num_classes as the reference does.
  double n_max = 0;
};

// The long-tailed subset of `base` selected exactly as the reference code
// does (long_tail.h). Throws ltcl::Error for a bad profile or a factor < 1.
DatasetPtr make_long_tailed(DatasetPtr base, const LongTailSpec& spec);

}  // namespace ltcl::data
