// util/fs.h - files written so that a crash never leaves half of one behind.
#pragma once

#include <filesystem>
#include <string>

namespace knlp {

namespace fs = std::filesystem;

// Writes text to path through a temp file in the same folder, fsync and rename.
// Throws Error (exit 1) naming the path when any step fails.
void write_file_atomic(const fs::path& path, const std::string& text);

// Reads a whole file; throws Error (exit 2) naming the path when it cannot be read.
std::string read_file(const fs::path& path);

// Points the symbolic link `link` at `target` (relative), replacing it atomically.
void replace_symlink(const fs::path& link, const fs::path& target);

}  // namespace knlp
