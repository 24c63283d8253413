#include "ltcl/data/image_io.h"

// clang-format off
#include <csetjmp>
#include <cstdio>
#include <cstring>
// clang-format on
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "ltcl/util/error.h"
#include "ltcl/util/limits.h"
#include "ltcl/util/printable.h"
#include "ltcl/util/read_file.h"

namespace ltcl::data {

namespace {

// Headers that claim absurd sizes are refused before anything is allocated
// (a corrupt header must not turn into a multi-GB allocation).
constexpr uint64_t kMaxPixels = limits::kMaxImagePixels;

// ---------------------------------------------------------------------------
// JPEG
// ---------------------------------------------------------------------------

// libjpeg's error manager extended with a jump target and the message. The
// jump lands in decode_jpeg's own frame, which is still alive, so no C++
// destructor is skipped; only libjpeg's C frames are unwound.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings that mean the data itself is damaged; libjpeg would otherwise
// carry on and fill the missing part with grey.
bool is_corruption_warning(int code) {
  switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
      return true;
    default:
      return false;
  }
}

// Called between scans: a progressive JPEG of thousands of tiny scans would
// otherwise keep the decoder busy for minutes.
void jpeg_progress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > limits::kMaxJpegScans) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(
        err->message,
        sizeof(err->message),
        "more than %d scans",
        limits::kMaxJpegScans);
    std::longjmp(err->jump, 1);
  }
}

void jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0 && is_corruption_warning(cinfo->err->msg_code)) {
    jpeg_error_exit(cinfo);
  }
  // Other warnings (extraneous bytes, unknown JFIF revision) and trace
  // messages are harmless: ignore them.
}

// The setjmp side of JPEG decoding. It owns no C++ object: the image and the
// row buffer live in the caller's frame and are reached through pointers, so
// a jump back here never skips a destructor and never leaves a C++ object
// with an indeterminate value; C++ exceptions (bad_alloc) are caught before
// they could cross libjpeg's C frames. Returns false with err->message set.
bool jpeg_decode_into(
    const uint8_t* bytes,
    size_t n,
    Image* image,
    std::vector<uint8_t>* cmyk_row,
    JpegError* err) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = jpeg_error_exit;
  err->mgr.emit_message = jpeg_emit_message;
  err->message[0] = '\0';
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_progress_mgr progress{};
  progress.progress_monitor = jpeg_progress;
  cinfo.progress = &progress;
  cinfo.mem->max_memory_to_use = limits::kMaxDecoderBytes;
  jpeg_mem_src(&cinfo, bytes, static_cast<unsigned long>(n));
  jpeg_read_header(&cinfo, TRUE);
  // Before jpeg_start_decompress, which allocates for the whole image.
  if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
      uint64_t(cinfo.image_width) * cinfo.image_height > kMaxPixels) {
    std::snprintf(
        err->message,
        sizeof(err->message),
        "declares %u x %u pixels, expected at most %llu in all",
        cinfo.image_width,
        cinfo.image_height,
        static_cast<unsigned long long>(kMaxPixels));
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  bool cmyk = false;
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo.out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo.out_color_space = JCS_CMYK;
      cmyk = true;
      break;
    default:
      cinfo.out_color_space = JCS_RGB;
      break;
  }
  jpeg_start_decompress(&cinfo);
  const uint64_t width = cinfo.output_width;
  const uint64_t height = cinfo.output_height;
  if (width == 0 || height == 0 || width * height > kMaxPixels) {
    std::snprintf(
        err->message,
        sizeof(err->message),
        "bad dimensions %llu x %llu",
        static_cast<unsigned long long>(width),
        static_cast<unsigned long long>(height));
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  const int channels = cinfo.out_color_space == JCS_GRAYSCALE ? 1 : 3;
  try {
    *image = Image(static_cast<int>(height), static_cast<int>(width), channels);
    if (cmyk) {
      cmyk_row->resize(width * 4);
    }
  } catch (const std::bad_alloc&) {
    std::snprintf(err->message, sizeof(err->message), "out of memory");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  const size_t stride = width * channels;
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* dst = image->data() + cinfo.output_scanline * stride;
    uint8_t* src = cmyk ? cmyk_row->data() : dst;
    JSAMPROW row = src;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) {
      // Adobe writes CMYK inverted (0 = full ink), which is what almost all
      // CMYK JPEGs in the wild are; plain CMYK is inverted first.
      const bool inverted = cinfo.saw_Adobe_marker;
      for (size_t x = 0; x < width; ++x) {
        int c = src[4 * x], m = src[4 * x + 1];
        int y = src[4 * x + 2], k = src[4 * x + 3];
        if (!inverted) {
          c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        }
        dst[3 * x] = static_cast<uint8_t>((c * k + 127) / 255);
        dst[3 * x + 1] = static_cast<uint8_t>((m * k + 127) / 255);
        dst[3 * x + 2] = static_cast<uint8_t>((y * k + 127) / 255);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

Image decode_jpeg(const uint8_t* bytes, size_t n, const std::string& name) {
  Image image;
  std::vector<uint8_t> cmyk_row;
  JpegError err;
  if (!jpeg_decode_into(bytes, n, &image, &cmyk_row, &err)) {
    fail(
        "decode_image - corrupt JPEG {}: {{{}}}",
        name,
        printable(err.message, 256));
  }
  return image;
}

// ---------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------

struct PngErrorState {
  char message[256];
};

void png_error_fn(png_structp png, png_const_charp msg) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", msg);
  png_longjmp(png, 1);
}

void png_warning_fn(png_structp, png_const_charp) {
  // Warnings (e.g. unknown chunks, bad gamma) do not damage pixels.
}

struct PngMemoryReader {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

void png_read_from_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<PngMemoryReader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) {
    png_error(png, "truncated PNG data");
  }
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

// The setjmp side of PNG decoding; same rules as jpeg_decode_into.
bool png_decode_into(
    const uint8_t* bytes,
    size_t n,
    Image* image,
    std::vector<png_bytep>* rows,
    PngErrorState* err) {
  err->message[0] = '\0';
  PngMemoryReader reader{bytes, n, 0};
  png_structp png = png_create_read_struct(
      PNG_LIBPNG_VER_STRING, err, png_error_fn, png_warning_fn);
  if (!png) {
    std::snprintf(err->message, sizeof(err->message), "no PNG reader");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(err->message, sizeof(err->message), "no PNG reader");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &reader, png_read_from_memory);
  png_read_info(png, info);
  const uint64_t width = png_get_image_width(png, info);
  const uint64_t height = png_get_image_height(png, info);
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (width == 0 || height == 0 || width * height > kMaxPixels) {
    std::snprintf(
        err->message,
        sizeof(err->message),
        "declares %llu x %llu pixels, expected at most %llu in all",
        static_cast<unsigned long long>(width),
        static_cast<unsigned long long>(height),
        static_cast<unsigned long long>(kMaxPixels));
    png_longjmp(png, 1);
  }
  // The pixel rows are deflate-compressed inside this file, and deflate
  // cannot expand more than 1032:1: a small file that declares a big image
  // is refused here rather than after allocating for it.
  const uint64_t raw =
      height * static_cast<uint64_t>(png_get_rowbytes(png, info));
  if (raw > uint64_t(n) * limits::kMaxInflateRatio + limits::kInflateSlack) {
    std::snprintf(
        err->message,
        sizeof(err->message),
        "declares %llu x %llu pixels (%llu bytes of rows) but the file has "
        "only %llu bytes, more than deflate's 1032:1 allows",
        static_cast<unsigned long long>(width),
        static_cast<unsigned long long>(height),
        static_cast<unsigned long long>(raw),
        static_cast<unsigned long long>(n));
    png_longjmp(png, 1);
  }
  if (depth == 16) {
    png_set_strip_16(png);
  }
  if (color == PNG_COLOR_TYPE_PALETTE) {
    png_set_palette_to_rgb(png);
  }
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  // Alpha from the file, or from a palette's transparency (tRNS) chunk that
  // the palette expansion turns into an alpha channel.
  if ((color & PNG_COLOR_MASK_ALPHA) ||
      (color == PNG_COLOR_TYPE_PALETTE &&
       png_get_valid(png, info, PNG_INFO_tRNS))) {
    png_set_strip_alpha(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  if (channels != 1 && channels != 3) {
    std::snprintf(
        err->message,
        sizeof(err->message),
        "unsupported channel count %d",
        channels);
    png_longjmp(png, 1);
  }
  bool allocated = true;
  try {
    *image = Image(static_cast<int>(height), static_cast<int>(width), channels);
    rows->resize(height);
  } catch (const std::bad_alloc&) {
    allocated = false;
  }
  if (!allocated) {
    std::snprintf(err->message, sizeof(err->message), "out of memory");
    png_longjmp(png, 1);
  }
  for (size_t y = 0; y < height; ++y) {
    (*rows)[y] = image->data() + y * width * channels;
  }
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

Image decode_png(const uint8_t* bytes, size_t n, const std::string& name) {
  Image image;
  std::vector<png_bytep> rows;
  PngErrorState err;
  if (!png_decode_into(bytes, n, &image, &rows, &err)) {
    fail(
        "decode_image - corrupt PNG {}: {{{}}}",
        name,
        printable(err.message, 256));
  }
  return image;
}

void check_encodable(const Image& image, const char* who) {
  if ((image.channels != 1 && image.channels != 3) || image.height <= 0 ||
      image.width <= 0 ||
      image.pixels.size() !=
          static_cast<size_t>(image.height) * image.width * image.channels) {
    fail(
        "{} - cannot encode image: {{got {} x {} x {}, {} bytes}}",
        who,
        image.height,
        image.width,
        image.channels,
        image.pixels.size());
  }
}

struct PngMemoryWriter {
  std::vector<uint8_t>* out;
  bool failed;
};

void png_write_to_memory(png_structp png, png_bytep data, png_size_t n) {
  auto* w = static_cast<PngMemoryWriter*>(png_get_io_ptr(png));
  try {
    w->out->insert(w->out->end(), data, data + n);
  } catch (...) {
    w->failed = true;
  }
  if (w->failed) {
    png_error(png, "out of memory");
  }
}

void png_flush_noop(png_structp) {}

}  // namespace

ImageFormat sniff_image_format(const uint8_t* bytes, size_t n) {
  static const uint8_t kPngSig[8] = {
      0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    return ImageFormat::kJpeg;
  }
  if (n >= 8 && std::memcmp(bytes, kPngSig, 8) == 0) {
    return ImageFormat::kPng;
  }
  return ImageFormat::kUnknown;
}

Image decode_image(
    const uint8_t* bytes, size_t n, const std::string& name_for_errors) {
  switch (sniff_image_format(bytes, n)) {
    case ImageFormat::kJpeg:
      return decode_jpeg(bytes, n, name_for_errors);
    case ImageFormat::kPng:
      return decode_png(bytes, n, name_for_errors);
    default:
      fail(
          "decode_image - not a JPEG or PNG file: {} {{{} bytes}}",
          name_for_errors,
          n);
  }
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  return util::read_regular_file(
      path, limits::kMaxImageFileBytes, "read_file_bytes");
}

Image read_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes.data(), bytes.size(), path);
}

namespace {

// setjmp sides of the encoders: the output lives in the caller's frame.
bool png_encode_into(
    const Image& image,
    const std::vector<png_bytep>* rows,
    std::vector<uint8_t>* out,
    PngErrorState* err) {
  err->message[0] = '\0';
  PngMemoryWriter writer{out, false};
  png_structp png = png_create_write_struct(
      PNG_LIBPNG_VER_STRING, err, png_error_fn, png_warning_fn);
  if (!png) {
    std::snprintf(err->message, sizeof(err->message), "no PNG writer");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(err->message, sizeof(err->message), "no PNG writer");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, &writer, png_write_to_memory, png_flush_noop);
  png_set_IHDR(
      png,
      info,
      image.width,
      image.height,
      8,
      image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
      PNG_INTERLACE_NONE,
      PNG_COMPRESSION_TYPE_DEFAULT,
      PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, const_cast<png_bytepp>(rows->data()));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

struct JpegOutput {
  unsigned char* buffer = nullptr;  // malloc'ed by libjpeg
  unsigned long size = 0;
};

bool jpeg_encode_into(
    const Image& image, int quality, JpegOutput* out, JpegError* err) {
  jpeg_compress_struct cinfo;
  cinfo.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = jpeg_error_exit;
  err->message[0] = '\0';
  if (setjmp(err->jump)) {
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &out->buffer, &out->size);
  cinfo.image_width = image.width;
  cinfo.image_height = image.height;
  cinfo.input_components = image.channels;
  cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row =
        const_cast<JSAMPROW>(image.data() + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& image) {
  check_encodable(image, "encode_png");
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) {
    rows[y] = const_cast<png_bytep>(
        image.data() + static_cast<size_t>(y) * image.width * image.channels);
  }
  std::vector<uint8_t> out;
  PngErrorState err;
  if (!png_encode_into(image, &rows, &out, &err)) {
    fail("encode_png - {}", err.message);
  }
  return out;
}

std::vector<uint8_t> encode_jpeg(const Image& image, int quality) {
  check_encodable(image, "encode_jpeg");
  JpegOutput out;
  JpegError err;
  const bool ok = jpeg_encode_into(image, quality, &out, &err);
  std::vector<uint8_t> bytes;
  if (ok) {
    bytes.assign(out.buffer, out.buffer + out.size);
  }
  std::free(out.buffer);
  if (!ok) {
    fail("encode_jpeg - {}", err.message);
  }
  return bytes;
}

void write_file_atomic(const std::string& path, const std::vector<uint8_t>& b) {
  namespace fs = std::filesystem;
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      fail("write_file_atomic - cannot create file: {}", tmp);
    }
    out.write(reinterpret_cast<const char*>(b.data()), b.size());
    out.flush();
    if (!out) {
      out.close();
      std::error_code ec;
      fs::remove(tmp, ec);
      fail("write_file_atomic - cannot write file: {}", tmp);
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail(
        "write_file_atomic - cannot rename {} to {}: {}",
        tmp,
        path,
        ec.message());
  }
}

void write_png(const std::string& path, const Image& image) {
  write_file_atomic(path, encode_png(image));
}

}  // namespace ltcl::data
