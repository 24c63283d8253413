#pragma once
// The fuzz entry points: one function per input reader, each taking
// arbitrary bytes through the same code the dataset/config readers use. An
// input the reader refuses (ltcl::Error) is a normal outcome; anything else
// escaping (another exception, a crash, a sanitizer report, a leak, a hang)
// is a finding. Built by fuzz/CMakeLists.txt into the libFuzzer harnesses
// (fuzz_<name>, scripts/fuzz.sh) and into test_fuzz_parsers, which replays
// fuzz/corpus/<name>/ through the same functions in the normal test run.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ltcl::fuzz {

using Entry = int (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // also the corpus folder: fuzz/corpus/<name>/
  Entry entry;
};

int pickle(const uint8_t* data, size_t size);        // CIFAR Python batches
int idx(const uint8_t* data, size_t size);           // IDX, plain or gzip
int cifar_binary(const uint8_t* data, size_t size);  // CIFAR .bin records
int list_file(const uint8_t* data, size_t size);     // `path label` lines
int image(const uint8_t* data, size_t size);         // JPEG / PNG decoding
int yaml_config(const uint8_t* data, size_t size);   // config files
int checkpoint(const uint8_t* data, size_t size);    // checkpoint files

const std::vector<Target>& targets();

}  // namespace ltcl::fuzz
