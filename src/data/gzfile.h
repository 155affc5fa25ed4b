// data/gzfile.h - private to data/: reading files that may be gzipped.
//
// zlib reads a plain file through the same calls, so callers never look at
// the name: data.gz and data read alike.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace knlp {

// The whole (decompressed) content of path. Throws Error (exit 2) naming the
// path when it is missing, cannot be opened or holds corrupt or truncated gzip data.
std::string read_maybe_gzipped(const std::filesystem::path& path);

// Calls fn(line, lineno) for every line of path (decompressed, without the '\n',
// numbered from 1), holding only one line in memory at a time. Throws like above.
void for_each_line(const std::filesystem::path& path,
                   const std::function<void(std::string_view line, int64_t lineno)>& fn);

}  // namespace knlp
