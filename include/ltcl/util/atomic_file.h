#pragma once
// Crash-safe file replacement: the new content goes to a temporary file in
// the same folder, is flushed and fsync'ed, then renamed over the target and
// the folder fsync'ed. A crash (or an exception from the writer) at any point
// leaves either the old file or the new one, never a mix.
#include <cstddef>
#include <functional>
#include <string>

namespace ltcl::util {

// Appends `size` bytes; throws ltcl::Error on an I/O failure.
using WriteBytes = std::function<void(const void* data, size_t size)>;

// Calls `writer` with a WriteBytes into the temporary file, then commits it
// to `path`. If `writer` throws, the temporary file is removed, `path` is
// untouched and the exception propagates.
void atomic_write(
    const std::string& path,
    const std::function<void(const WriteBytes&)>& writer);

// Convenience: atomically replaces `path` with `content`.
void atomic_write_text(const std::string& path, const std::string& content);

}  // namespace ltcl::util
