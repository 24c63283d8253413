#pragma once
// Every size limit the input readers enforce, in one place. A file that
// declares more than these is refused with an ltcl::Error naming the file and
// the limit BEFORE anything is allocated for it. The values are far above
// any real dataset ltcl reads (numbers in brackets) and low enough that a
// hostile header cannot make a reader allocate gigabytes or recurse without
// bound. docs/datasets.md ("Limits") lists them for users.
#include <cstddef>
#include <cstdint>

namespace ltcl::limits {

// Classes of one dataset (iNaturalist 2018: 8142; ImageNet-21k: 21841). A
// list-file label or a names file beyond this is refused.
inline constexpr int64_t kMaxClasses = 100000;

// Pixels of one decoded image, width x height (8192 x 8192; ImageNet's
// largest photos are about 5000 x 4000).
inline constexpr uint64_t kMaxImagePixels = uint64_t(1) << 26;

// Decoder working memory (libjpeg's coefficient buffers of a progressive
// JPEG) and scans of one progressive JPEG (real ones have about 10).
inline constexpr long kMaxDecoderBytes = 1L << 30;
inline constexpr int kMaxJpegScans = 1000;

// deflate cannot expand data by more than 1032:1, so a PNG or gzip stream
// that declares more output than this ratio times its compressed size (plus
// kInflateSlack) is a lie, refused before decoding.
inline constexpr uint64_t kMaxInflateRatio = 1032;
inline constexpr uint64_t kInflateSlack = 1 << 16;

// Bytes read from one file: an image (a 12 MP JPEG is ~5 MB), a data file
// (CIFAR-100's pickle: 155 MB; Fashion-MNIST's images: 47 MB unpacked, also
// the limit on what one gzip stream may unpack to), a text file (list
// files: iNaturalist's is ~30 MB; names files) and a config file.
inline constexpr uint64_t kMaxImageFileBytes = uint64_t(256) << 20;
inline constexpr uint64_t kMaxDataFileBytes = uint64_t(2) << 30;
inline constexpr uint64_t kMaxTextFileBytes = uint64_t(512) << 20;
inline constexpr uint64_t kMaxConfigFileBytes = uint64_t(1) << 20;

// Pickles: nesting of containers (CIFAR's: 4; Python's own recursion
// limit is 1000), and how many bytes the parsed values may hold in all
// relative to the file (a memo'd string referenced many times must not be
// copied without bound).
inline constexpr int kMaxPickleDepth = 100;
inline constexpr uint64_t kMaxPickleExpansion = 4;
inline constexpr uint64_t kPickleExpansionSlack = 1 << 20;

// YAML configs: depth of a `base:` chain, files read for one config
// (configs/: at most 3), nesting of YAML collections (configs use 2-3
// levels) and nodes of one document with aliases expanded (a config has
// about 100).
inline constexpr int kMaxConfigBaseDepth = 8;
inline constexpr int kMaxConfigFiles = 64;
inline constexpr int kMaxConfigNesting = 32;
inline constexpr int64_t kMaxConfigNodes = 100000;

// Checkpoints (util/record_file.h): bytes of one file (read whole into
// memory; a ResNet-152 run with momentum: ~0.5 GB), of its JSON table (run
// metadata: config, history, model info; ~100 KB), values in that table
// (each record takes ~10), its nesting (3 levels are used), records (a
// ResNet-152 run: ~2,000), bytes of a record name and dimensions of a
// record.
inline constexpr uint64_t kMaxCheckpointBytes = uint64_t(16) << 30;
inline constexpr uint64_t kMaxCheckpointTableBytes = uint64_t(64) << 20;
inline constexpr int64_t kMaxCheckpointTableValues = int64_t(1) << 22;
inline constexpr int kMaxCheckpointTableDepth = 16;
inline constexpr int64_t kMaxCheckpointRecords = 100000;
inline constexpr size_t kMaxRecordNameBytes = 1024;
inline constexpr size_t kMaxRecordDims = 16;

}  // namespace ltcl::limits
