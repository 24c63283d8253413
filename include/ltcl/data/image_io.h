#pragma once
// Image files: JPEG (libjpeg-turbo) and PNG (libpng) decoding, PNG writing.
//
// Decoders keep all their state on the stack, so any number of threads may
// decode at once. Corrupt or truncated data throws ltcl::Error naming the
// file (never a crash, never a grey-filled image): libjpeg's and libpng's
// error callbacks jump back to the decoding function, which cleans up and
// throws.
//
// Output: 8-bit interleaved HWC. Grayscale stays 1 channel; everything else
// becomes 3-channel RGB (palette expanded, alpha dropped, 16-bit reduced to
// 8-bit, CMYK/YCCK JPEGs converted to RGB).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ltcl/data/image.h"

namespace ltcl::data {

enum class ImageFormat { kUnknown, kJpeg, kPng };

// Detects the format from the first bytes (JPEG: FF D8 FF; PNG: the 8-byte
// PNG signature).
ImageFormat sniff_image_format(const uint8_t* bytes, size_t n);

// Decodes a JPEG or PNG held in memory. `name_for_errors` (usually the file
// path) is named in every error message.
Image decode_image(
    const uint8_t* bytes, size_t n, const std::string& name_for_errors);

// Reads a whole file into memory; throws ltcl::Error if it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// read_file_bytes + decode_image.
Image read_image(const std::string& path);

// Encodes an image (1 or 3 channels) as PNG / baseline JPEG in memory.
std::vector<uint8_t> encode_png(const Image& image);
std::vector<uint8_t> encode_jpeg(const Image& image, int quality = 95);

// Writes `image` as a PNG file atomically: the bytes go to a temporary file
// in the same folder, which is then renamed over `path`, so readers never see
// a partial file.
void write_png(const std::string& path, const Image& image);

// Writes bytes to `path` atomically (temporary file + rename).
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& b);

}  // namespace ltcl::data
